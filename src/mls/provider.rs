//! The deterministic openmls provider: RustCrypto for every deterministic primitive, a
//! seeded ChaCha20 for every random byte, seeded HPKE ephemeral keys and signature keys.

use std::sync::Mutex;

use super::*;
use openmls::prelude::Ciphersuite;
use openmls_rust_crypto::{MemoryStorage, RandError, RustCrypto};
use openmls_traits::{
    crypto::OpenMlsCrypto,
    random::OpenMlsRand,
    types::{
        CryptoError, ExporterSecret, HashType, HpkeAeadType, HpkeCiphertext, HpkeConfig,
        HpkeKdfType, HpkeKemType, HpkeKeyPair, SignatureScheme,
    },
    OpenMlsProvider,
};
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha20Rng;
use tls_codec::SecretVLBytes;

/// Crypto + randomness provider: `RustCrypto` for all deterministic
/// primitives, a seeded ChaCha20 RNG for every random byte.
pub struct DetCrypto {
    inner: RustCrypto,
    rng: Mutex<ChaCha20Rng>,
    /// Key for deriving HPKE ephemeral secrets (see [`DetCrypto::seeded_hpke`]).
    hpke_key: Mutex<Seed>,
}

impl DetCrypto {
    pub fn new(seed: Seed) -> Self {
        Self {
            // RustCrypto's own (entropy-seeded) RNG is never consulted: every
            // method that would use it is overridden below.
            inner: RustCrypto::default(),
            rng: Mutex::new(ChaCha20Rng::from_seed(seed)),
            hpke_key: Mutex::new(derive_seed(&[b"hpke", &seed])),
        }
    }

    /// Reset the RNG (and the HPKE ephemeral key derivation) to a fresh seed.
    pub fn reseed(&self, seed: Seed) {
        *self.rng.lock().expect("rng lock") = ChaCha20Rng::from_seed(seed);
        *self.hpke_key.lock().expect("hpke key lock") = derive_seed(&[b"hpke", &seed]);
    }

    fn fill(&self, out: &mut [u8]) -> std::result::Result<(), RandError> {
        self.rng
            .lock()
            .map_err(|_| RandError::LockPoisoned)?
            .fill_bytes(out);
        Ok(())
    }

    /// A fresh hpke-rs instance whose ephemeral secret is
    /// `H(hpke_key, inputs...)`.
    ///
    /// Why not draw from `rng`: openmls encrypts UpdatePath secrets with
    /// rayon (`par_iter` in `treesync/treekem.rs` and
    /// `treesync/node/parent_node.rs`), so the *order* of `hpke_seal` calls is
    /// nondeterministic. Deriving the ephemeral key from the per-operation key
    /// and the call's own inputs (recipient key, info, aad, plaintext) makes
    /// each ciphertext independent of call order.
    ///
    /// With the `hpke-test-prng` feature, hpke-rs takes the DH-KEM ephemeral
    /// secret from the bytes given to `seed()` (from their end); 66 bytes
    /// cover every DH-KEM (X25519 needs 32).
    fn seeded_hpke(
        &self,
        config: HpkeConfig,
        inputs: &[&[u8]],
    ) -> std::result::Result<hpke_rs::Hpke<hpke_rs::rustcrypto::HpkeRustCrypto>, CryptoError> {
        let mut hpke = hpke_rs::Hpke::<hpke_rs::rustcrypto::HpkeRustCrypto>::new(
            hpke_rs::Mode::Base,
            kem_mode(config.0)?,
            kdf_mode(config.1),
            aead_mode(config.2),
        );
        let key = *self
            .hpke_key
            .lock()
            .map_err(|_| CryptoError::InsufficientRandomness)?;
        let mut parts: Vec<&[u8]> = vec![b"eph", &key];
        parts.extend_from_slice(inputs);
        let a = derive_seed(&parts);
        let b = derive_seed(&[b"eph2", &a]);
        let c = derive_seed(&[b"eph3", &a]);
        let mut eph = [0u8; 66];
        eph[..32].copy_from_slice(&c);
        eph[32..64].copy_from_slice(&b);
        eph[64..].copy_from_slice(&a[..2]);
        hpke.seed(&eph)
            .map_err(|_| CryptoError::InsufficientRandomness)?;
        Ok(hpke)
    }
}

fn kem_mode(
    kem: HpkeKemType,
) -> std::result::Result<hpke_rs::hpke_types::KemAlgorithm, CryptoError> {
    use hpke_rs::hpke_types::KemAlgorithm as K;
    Ok(match kem {
        HpkeKemType::DhKemP256 => K::DhKemP256,
        HpkeKemType::DhKemP384 => K::DhKemP384,
        HpkeKemType::DhKemP521 => K::DhKemP521,
        HpkeKemType::DhKem25519 => K::DhKem25519,
        HpkeKemType::DhKem448 => K::DhKem448,
        #[allow(unreachable_patterns)]
        _ => return Err(CryptoError::UnsupportedCiphersuite),
    })
}

fn kdf_mode(kdf: HpkeKdfType) -> hpke_rs::hpke_types::KdfAlgorithm {
    use hpke_rs::hpke_types::KdfAlgorithm as K;
    match kdf {
        HpkeKdfType::HkdfSha256 => K::HkdfSha256,
        HpkeKdfType::HkdfSha384 => K::HkdfSha384,
        HpkeKdfType::HkdfSha512 => K::HkdfSha512,
    }
}

fn aead_mode(aead: HpkeAeadType) -> hpke_rs::hpke_types::AeadAlgorithm {
    use hpke_rs::hpke_types::AeadAlgorithm as A;
    match aead {
        HpkeAeadType::AesGcm128 => A::Aes128Gcm,
        HpkeAeadType::AesGcm256 => A::Aes256Gcm,
        HpkeAeadType::ChaCha20Poly1305 => A::ChaCha20Poly1305,
        HpkeAeadType::Export => A::HpkeExport,
    }
}

impl OpenMlsRand for DetCrypto {
    type Error = RandError;

    fn random_array<const N: usize>(&self) -> std::result::Result<[u8; N], Self::Error> {
        let mut out = [0u8; N];
        self.fill(&mut out)?;
        Ok(out)
    }

    fn random_vec(&self, len: usize) -> std::result::Result<Vec<u8>, Self::Error> {
        let mut out = vec![0u8; len];
        self.fill(&mut out)?;
        Ok(out)
    }
}

impl OpenMlsCrypto for DetCrypto {
    fn supports(&self, ciphersuite: Ciphersuite) -> std::result::Result<(), CryptoError> {
        self.inner.supports(ciphersuite)
    }
    fn supported_ciphersuites(&self) -> Vec<Ciphersuite> {
        self.inner.supported_ciphersuites()
    }
    fn hkdf_extract(
        &self,
        hash_type: HashType,
        salt: &[u8],
        ikm: &[u8],
    ) -> std::result::Result<SecretVLBytes, CryptoError> {
        self.inner.hkdf_extract(hash_type, salt, ikm)
    }
    fn hmac(
        &self,
        hash_type: HashType,
        key: &[u8],
        message: &[u8],
    ) -> std::result::Result<SecretVLBytes, CryptoError> {
        self.inner.hmac(hash_type, key, message)
    }
    fn hkdf_expand(
        &self,
        hash_type: HashType,
        prk: &[u8],
        info: &[u8],
        okm_len: usize,
    ) -> std::result::Result<SecretVLBytes, CryptoError> {
        self.inner.hkdf_expand(hash_type, prk, info, okm_len)
    }
    fn hash(&self, hash_type: HashType, data: &[u8]) -> std::result::Result<Vec<u8>, CryptoError> {
        self.inner.hash(hash_type, data)
    }
    fn aead_encrypt(
        &self,
        alg: openmls_traits::types::AeadType,
        key: &[u8],
        data: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> std::result::Result<Vec<u8>, CryptoError> {
        self.inner.aead_encrypt(alg, key, data, nonce, aad)
    }
    fn aead_decrypt(
        &self,
        alg: openmls_traits::types::AeadType,
        key: &[u8],
        ct_tag: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> std::result::Result<Vec<u8>, CryptoError> {
        self.inner.aead_decrypt(alg, key, ct_tag, nonce, aad)
    }

    /// Overridden: Ed25519 keys from the seeded RNG (RustCrypto would use its
    /// entropy-seeded RNG). Other schemes are not needed and are refused.
    fn signature_key_gen(
        &self,
        alg: SignatureScheme,
    ) -> std::result::Result<(Vec<u8>, Vec<u8>), CryptoError> {
        match alg {
            SignatureScheme::ED25519 => {
                let mut sk = [0u8; 32];
                self.fill(&mut sk)
                    .map_err(|_| CryptoError::InsufficientRandomness)?;
                Ok(ed25519_from_secret(sk))
            }
            _ => Err(CryptoError::UnsupportedSignatureScheme),
        }
    }
    fn verify_signature(
        &self,
        alg: SignatureScheme,
        data: &[u8],
        pk: &[u8],
        signature: &[u8],
    ) -> std::result::Result<(), CryptoError> {
        self.inner.verify_signature(alg, data, pk, signature)
    }
    fn sign(
        &self,
        alg: SignatureScheme,
        data: &[u8],
        key: &[u8],
    ) -> std::result::Result<Vec<u8>, CryptoError> {
        // Ed25519 signing is deterministic (RFC 8032).
        self.inner.sign(alg, data, key)
    }

    /// Overridden: deterministic HPKE ephemeral key (see `seeded_hpke`).
    fn hpke_seal(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        aad: &[u8],
        ptxt: &[u8],
    ) -> std::result::Result<HpkeCiphertext, CryptoError> {
        let (kem_output, ciphertext) = self
            .seeded_hpke(config, &[b"seal", pk_r, info, aad, ptxt])?
            .seal(&pk_r.into(), info, aad, ptxt, None, None, None)
            .map_err(|e| match e {
                hpke_rs::HpkeError::InvalidInput => CryptoError::InvalidLength,
                _ => CryptoError::CryptoLibraryError,
            })?;
        Ok(HpkeCiphertext {
            kem_output: kem_output.into(),
            ciphertext: ciphertext.into(),
        })
    }
    fn hpke_open(
        &self,
        config: HpkeConfig,
        input: &HpkeCiphertext,
        sk_r: &[u8],
        info: &[u8],
        aad: &[u8],
    ) -> std::result::Result<Vec<u8>, CryptoError> {
        self.inner.hpke_open(config, input, sk_r, info, aad)
    }

    /// Overridden: deterministic HPKE ephemeral key (only used by external
    /// commits / external init).
    fn hpke_setup_sender_and_export(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> std::result::Result<(Vec<u8>, ExporterSecret), CryptoError> {
        let (kem_output, context) = self
            .seeded_hpke(config, &[b"export", pk_r, info, exporter_context])?
            .setup_sender(&pk_r.into(), info, None, None, None)
            .map_err(|_| CryptoError::SenderSetupError)?;
        let exported = context
            .export(exporter_context, exporter_length)
            .map_err(|_| CryptoError::ExporterError)?;
        Ok((kem_output, exported.into()))
    }
    fn hpke_setup_receiver_and_export(
        &self,
        config: HpkeConfig,
        enc: &[u8],
        sk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> std::result::Result<ExporterSecret, CryptoError> {
        self.inner.hpke_setup_receiver_and_export(
            config,
            enc,
            sk_r,
            info,
            exporter_context,
            exporter_length,
        )
    }
    fn derive_hpke_keypair(
        &self,
        config: HpkeConfig,
        ikm: &[u8],
    ) -> std::result::Result<HpkeKeyPair, CryptoError> {
        self.inner.derive_hpke_keypair(config, ikm)
    }
}

/// (private, public) Ed25519 key bytes from a 32-byte secret.
pub(super) fn ed25519_from_secret(sk: [u8; 32]) -> (Vec<u8>, Vec<u8>) {
    let key = ed25519_dalek::SigningKey::from_bytes(&sk);
    (sk.to_vec(), key.verifying_key().to_bytes().to_vec())
}

/// `OpenMlsProvider` = deterministic crypto/rand + in-memory storage.
pub struct DetProvider {
    crypto: DetCrypto,
    storage: MemoryStorage,
}

impl DetProvider {
    pub fn new(seed: Seed) -> Self {
        Self {
            crypto: DetCrypto::new(seed),
            storage: MemoryStorage::default(),
        }
    }
    /// Reset the randomness stream (call before each logical operation).
    pub fn reseed(&self, seed: Seed) {
        self.crypto.reseed(seed)
    }
}

impl OpenMlsProvider for DetProvider {
    type CryptoProvider = DetCrypto;
    type RandProvider = DetCrypto;
    type StorageProvider = MemoryStorage;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }
    fn crypto(&self) -> &Self::CryptoProvider {
        &self.crypto
    }
    fn rand(&self) -> &Self::RandProvider {
        &self.crypto
    }
}
