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
    mode: CryptoMode,
    rng: Mutex<ChaCha20Rng>,
    /// Key for deriving HPKE ephemeral secrets (see [`DetCrypto::seeded_hpke`]).
    hpke_key: Mutex<Seed>,
}

/// How a provider treats the asymmetric primitives (X25519 HPKE, Ed25519).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoMode {
    /// Real cryptography, every signature checked: what a real client does (`verify`).
    Verify,
    /// Real cryptography; signatures are made but not re-checked, because the generator
    /// only ever receives what it signed itself. The bytes are identical to `Verify`'s.
    Generate,
    /// Structure-faithful stand-ins: X25519 and Ed25519 are replaced by SHA-256
    /// constructions with the same input and output lengths (a consistent toy KEM, so
    /// members can still join and process commits), and signatures are not checked.
    /// Everything symmetric (key schedule, AES-GCM, hashes, TLS encoding) is openmls'
    /// real code, so the messages have real headers, epochs and exact lengths, but they
    /// are not decryptable by a real MLS client. Used for the non-verifiable share of
    /// groups at large scales.
    Forge,
}

/// SHA-256 over domain-separated parts (forged primitives only).
fn forge_hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
    all.push(b"forge");
    all.extend_from_slice(parts);
    derive_seed(&all)
}

/// The forged "public key" of a 32-byte secret (HPKE or signature key).
pub(super) fn forge_public(secret: &[u8]) -> Vec<u8> {
    forge_hash(&[b"pk", secret]).to_vec()
}

/// A forged 64-byte signature: a keyed hash of the payload.
pub(super) fn forge_signature(secret: &[u8], payload: &[u8]) -> Vec<u8> {
    let a = forge_hash(&[b"sig1", secret, payload]);
    let b = forge_hash(&[b"sig2", secret, payload]);
    [a, b].concat()
}

impl DetCrypto {
    pub fn new(seed: Seed) -> Self {
        Self::with_mode(seed, CryptoMode::Verify)
    }

    pub fn with_mode(seed: Seed, mode: CryptoMode) -> Self {
        Self {
            // RustCrypto's own (entropy-seeded) RNG is never consulted: every
            // method that would use it is overridden below.
            inner: RustCrypto::default(),
            mode,
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

    /// The forged KEM: the "shared secret" is a hash of the recipient's public key and
    /// the 32-byte encapsulation, from which an AES-128-GCM key and nonce are derived.
    fn forged_key(pk_r: &[u8], enc: &[u8], info: &[u8]) -> ([u8; 16], [u8; 12]) {
        let k = forge_hash(&[b"kem", pk_r, enc, info]);
        let mut key = [0u8; 16];
        let mut nonce = [0u8; 12];
        key.copy_from_slice(&k[..16]);
        nonce.copy_from_slice(&k[16..28]);
        (key, nonce)
    }

    /// The current per-operation key of HPKE ephemeral derivations.
    fn hpke_key(&self) -> std::result::Result<Seed, CryptoError> {
        self.hpke_key
            .lock()
            .map(|k| *k)
            .map_err(|_| CryptoError::InsufficientRandomness)
    }

    fn forged_enc(&self, inputs: &[&[u8]]) -> std::result::Result<[u8; 32], CryptoError> {
        let key = self.hpke_key()?;
        let mut parts: Vec<&[u8]> = vec![b"enc", &key];
        parts.extend_from_slice(inputs);
        Ok(forge_hash(&parts))
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
        let key = self.hpke_key()?;
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
                if self.mode == CryptoMode::Forge {
                    return Ok((sk.to_vec(), forge_public(&sk)));
                }
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
        match self.mode {
            CryptoMode::Verify => self.inner.verify_signature(alg, data, pk, signature),
            CryptoMode::Generate | CryptoMode::Forge => Ok(()),
        }
    }
    fn sign(
        &self,
        alg: SignatureScheme,
        data: &[u8],
        key: &[u8],
    ) -> std::result::Result<Vec<u8>, CryptoError> {
        if self.mode == CryptoMode::Forge {
            return Ok(forge_signature(key, data));
        }
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
        if self.mode == CryptoMode::Forge {
            let enc = self.forged_enc(&[b"seal", pk_r, &info_tag(info), aad, ptxt])?;
            let (key, nonce) = Self::forged_key(pk_r, &enc, &info_tag(info));
            let ciphertext = self.inner.aead_encrypt(
                openmls_traits::types::AeadType::Aes128Gcm,
                &key,
                ptxt,
                &nonce,
                aad,
            )?;
            return Ok(HpkeCiphertext {
                kem_output: enc.to_vec().into(),
                ciphertext: ciphertext.into(),
            });
        }
        let (kem_output, ciphertext) = self
            .seeded_hpke(config, &[b"seal", pk_r, &info_tag(info), aad, ptxt])?
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
        if self.mode == CryptoMode::Forge {
            let pk_r = forge_public(sk_r);
            let (key, nonce) =
                Self::forged_key(&pk_r, input.kem_output.as_slice(), &info_tag(info));
            return self.inner.aead_decrypt(
                openmls_traits::types::AeadType::Aes128Gcm,
                &key,
                input.ciphertext.as_slice(),
                &nonce,
                aad,
            );
        }
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
        if self.mode == CryptoMode::Forge {
            let enc = self.forged_enc(&[b"export", pk_r, info, exporter_context])?;
            let secret = forged_export(pk_r, &enc, info, exporter_context, exporter_length);
            return Ok((enc.to_vec(), secret.into()));
        }
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
        if self.mode == CryptoMode::Forge {
            let pk_r = forge_public(sk_r);
            let secret = forged_export(&pk_r, enc, info, exporter_context, exporter_length);
            return Ok(secret.into());
        }
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
        if self.mode == CryptoMode::Forge {
            let private = forge_hash(&[b"hpke-sk", ikm]);
            return Ok(HpkeKeyPair {
                private: private.to_vec().into(),
                public: forge_public(&private),
            });
        }
        self.inner.derive_hpke_keypair(config, ikm)
    }
}

/// What of an HPKE `info` goes into derived keys: its length and first 64 bytes. A
/// Welcome's `info` holds the whole encrypted GroupInfo (about 100 KB in a 300-member
/// group), and hashing it again for every member dominated large-group creation; the
/// recipient key and plaintext, which are hashed in full, already make each call unique.
fn info_tag(info: &[u8]) -> Vec<u8> {
    let head = &info[..info.len().min(64)];
    let mut tag = Vec::with_capacity(head.len() + 8);
    tag.extend_from_slice(&(info.len() as u64).to_be_bytes());
    tag.extend_from_slice(head);
    tag
}

/// Exporter output of the forged KEM, `len` bytes.
fn forged_export(pk_r: &[u8], enc: &[u8], info: &[u8], context: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block: u64 = 0;
    while out.len() < len {
        out.extend_from_slice(&forge_hash(&[
            b"export",
            pk_r,
            enc,
            info,
            context,
            &block.to_be_bytes(),
        ]));
        block += 1;
    }
    out.truncate(len);
    out
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
        Self::with_mode(seed, CryptoMode::Verify)
    }

    pub fn with_mode(seed: Seed, mode: CryptoMode) -> Self {
        Self {
            crypto: DetCrypto::with_mode(seed, mode),
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
