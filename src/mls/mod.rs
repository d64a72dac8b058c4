//! Deterministic generation (and re-verification) of real MLS data with
//! openmls 0.9.
//!
//! Every byte produced here (key packages, commits, welcomes, application
//! messages) is a pure function of the inputs (world seed, user ids, group
//! seeds, plaintexts, [`SimConfig`]). This is achieved by:
//!
//! * [`DetProvider`]: an `OpenMlsProvider` whose `rand()` is a seeded ChaCha20
//!   RNG and whose crypto wraps `openmls_rust_crypto::RustCrypto`, overriding
//!   the three operations that draw randomness *outside* of `rand()`:
//!   `hpke_seal` / `hpke_setup_sender_and_export` (HPKE ephemeral key, derived
//!   from a per-operation key + the call's inputs because openmls issues these
//!   calls from rayon worker threads in nondeterministic order) and
//!   `signature_key_gen`.
//! * Signature keys derived from the seed (`SignatureKeyPair::from_raw`).
//! * Explicit key-package / leaf-node lifetimes (`Lifetime::init`) instead of
//!   `Lifetime::default()` which reads the wall clock.
//! * Re-seeding the acting member's RNG before every operation from
//!   `(group seed, op counter)`, so outputs of one group never depend on what
//!   other groups were generated before it (order / parallelism independent).
//!
//! Ciphersuite: MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519.

use std::error::Error;
use std::sync::Mutex;

use openmls::prelude::{
    tls_codec::{Deserialize as _, Serialize as _},
    BasicCredential, Ciphersuite, CredentialWithKey, EncryptedGroupSecrets, GroupId, KeyPackage,
    LeafNodeParameters, Lifetime, MlsGroup, MlsGroupCreateConfig, MlsGroupJoinConfig,
    MlsMessageBodyIn, MlsMessageIn, MlsMessageOut, ProcessedMessageContent, ProtocolVersion,
    StagedWelcome, Welcome, WireFormatPolicy, MIXED_PLAINTEXT_WIRE_FORMAT_POLICY,
    PURE_CIPHERTEXT_WIRE_FORMAT_POLICY,
};
use openmls_basic_credential::SignatureKeyPair;
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
use sha2::{Digest, Sha256};
use tls_codec::{SecretVLBytes, TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

/// The only ciphersuite used.
pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// Boxed error; every openmls error type implements `std::error::Error`.
/// `Send + Sync` so that groups can be generated on worker threads.
pub type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// A 32-byte seed.
pub type Seed = [u8; 32];

/// Domain-separated seed derivation: SHA-256 over length-prefixed parts.
pub fn derive_seed(parts: &[&[u8]]) -> Seed {
    let mut h = Sha256::new();
    h.update(b"mlsprobe/v1");
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

// ---------------------------------------------------------------------------
// Deterministic provider
// ---------------------------------------------------------------------------

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
fn ed25519_from_secret(sk: [u8; 32]) -> (Vec<u8>, Vec<u8>) {
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

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// Everything besides seeds that influences the produced bytes.
#[derive(Clone, Copy, Debug)]
pub struct SimConfig {
    /// `not_before` of every key-package lifetime (unix seconds);
    /// `not_after = not_before + LIFETIME_SECS`. openmls checks key packages
    /// against the wall clock when they are *added* (group creation), so
    /// generation must happen inside the window. Verification (joining)
    /// skips the lifetime check, so it works at any later time.
    pub lifetime_not_before: u64,
    /// Length of the lifetime window.
    pub lifetime_secs: u64,
    /// `false`: commits are PrivateMessages (openmls default, PURE_CIPHERTEXT).
    /// `true`: commits are PublicMessages (MIXED_PLAINTEXT). Application
    /// messages are always PrivateMessages.
    pub plaintext_commits: bool,
}

/// Key-package lifetime length: openmls' maximum accepted range (84 days + 1 h).
pub const LIFETIME_SECS: u64 = 60 * 60 * 24 * 28 * 3 + 60 * 60;

/// `not_before` of every seeded key package: one hour before the synthetic world's "now"
/// (2026-01-01). With [`FIXED_LIFETIME_SECS`] the window stays valid for decades, so the
/// bytes do not depend on the day the seed runs. (openmls defines a maximum range but
/// does not enforce it on key packages it builds or receives in a Welcome.)
pub const FIXED_NOT_BEFORE: u64 = 1_767_225_600 - 3600;
/// 50 years.
pub const FIXED_LIFETIME_SECS: u64 = 50 * 365 * 24 * 3600;

impl SimConfig {
    /// The configuration the seeder uses: fixed lifetimes, ciphertext commits.
    pub fn fixed() -> Self {
        Self {
            lifetime_not_before: FIXED_NOT_BEFORE,
            lifetime_secs: FIXED_LIFETIME_SECS,
            plaintext_commits: false,
        }
    }

    /// A config whose lifetime window starts at `now` floored to a 28-day
    /// bucket: byte-identical output for all runs inside the same bucket, and
    /// always a window that contains "now".
    pub fn for_now(plaintext_commits: bool) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        const BUCKET: u64 = 60 * 60 * 24 * 28;
        Self {
            lifetime_not_before: now / BUCKET * BUCKET,
            lifetime_secs: LIFETIME_SECS,
            plaintext_commits,
        }
    }

    fn lifetime(&self) -> Lifetime {
        Lifetime::init(
            self.lifetime_not_before,
            self.lifetime_not_before + self.lifetime_secs,
        )
    }

    fn wire_format_policy(&self) -> WireFormatPolicy {
        if self.plaintext_commits {
            MIXED_PLAINTEXT_WIRE_FORMAT_POLICY
        } else {
            PURE_CIPHERTEXT_WIRE_FORMAT_POLICY
        }
    }

    fn join_config(&self) -> MlsGroupJoinConfig {
        MlsGroupJoinConfig::builder()
            .wire_format_policy(self.wire_format_policy())
            .use_ratchet_tree_extension(true)
            .build()
    }
}

// ---------------------------------------------------------------------------
// Members and key packages
// ---------------------------------------------------------------------------

/// A client: identity, signature key, credential, own provider/storage.
pub struct Member {
    pub user_id: String,
    root: Seed,
    pub signer: SignatureKeyPair,
    pub credential: CredentialWithKey,
    pub provider: DetProvider,
}

/// A generated key package.
#[derive(Clone, Debug)]
pub struct GeneratedKeyPackage {
    pub key_package: KeyPackage,
    /// TLS serialization of the RFC 9420 `KeyPackage` struct (no MLSMessage
    /// header).
    pub bytes: Vec<u8>,
    /// Same key package wrapped as `MLSMessage` (wire_format mls_key_package,
    /// = 4 header bytes + `bytes`).
    pub message_bytes: Vec<u8>,
    /// KeyPackageRef (RefHash "MLS 1.0 KeyPackage Reference"), 32 bytes.
    pub hash_ref: Vec<u8>,
}

impl GeneratedKeyPackage {
    pub fn hash_ref_hex(&self) -> String {
        hex::encode(&self.hash_ref)
    }
}

impl Member {
    /// Deterministic member: everything derives from `(world_seed, user_id)`,
    /// so the same member (same signature key) can be rebuilt in a fresh
    /// process.
    pub fn new(world_seed: u64, user_id: &str) -> Self {
        let root = derive_seed(&[b"member", &world_seed.to_be_bytes(), user_id.as_bytes()]);
        let (sk, pk) = ed25519_from_secret(derive_seed(&[b"sig", &root]));
        let signer = SignatureKeyPair::from_raw(SignatureScheme::ED25519, sk, pk);
        let credential = CredentialWithKey {
            credential: BasicCredential::new(user_id.as_bytes().to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        Self {
            user_id: user_id.to_string(),
            provider: DetProvider::new(derive_seed(&[b"provider", &root])),
            root,
            signer,
            credential,
        }
    }

    /// Key package number `index` of this member. Deterministic in
    /// `(world_seed, user_id, index, cfg)`. The private init/encryption keys
    /// are stored in this member's provider storage (needed to join from a
    /// Welcome), so calling this again in a fresh process re-creates them.
    pub fn key_package(&self, cfg: &SimConfig, index: u64) -> Result<GeneratedKeyPackage> {
        self.provider
            .reseed(derive_seed(&[b"kp", &self.root, &index.to_be_bytes()]));
        let bundle = KeyPackage::builder()
            .key_package_lifetime(cfg.lifetime())
            .build(
                CIPHERSUITE,
                &self.provider,
                &self.signer,
                self.credential.clone(),
            )?;
        let key_package = bundle.key_package().clone();
        let bytes = key_package.tls_serialize_detached()?;
        let message_bytes = MlsMessageOut::from(key_package.clone()).to_bytes()?;
        let hash_ref = key_package
            .hash_ref(self.provider.crypto())?
            .as_slice()
            .to_vec();
        Ok(GeneratedKeyPackage {
            key_package,
            bytes,
            message_bytes,
            hash_ref,
        })
    }
}

// ---------------------------------------------------------------------------
// Group simulation
// ---------------------------------------------------------------------------

/// A member to add at group creation.
pub struct Joiner {
    pub member: Member,
    /// Which of the member's key packages is consumed (needed again for
    /// verification).
    pub kp_index: u64,
    /// Keep this member's group state so it can send / commit later.
    /// Untracked members are dropped right after their key package is made.
    pub track: bool,
}

/// Welcome data for one added member.
#[derive(Clone, Debug)]
pub struct WelcomeFor {
    pub user_id: String,
    pub kp_index: u64,
    pub key_package: GeneratedKeyPackage,
    /// MLSMessage(Welcome) containing only this member's EncryptedGroupSecrets
    /// (plus the shared encrypted GroupInfo incl. ratchet-tree extension).
    /// Enough on its own to join.
    pub welcome: Vec<u8>,
}

/// Output of [`create_group`].
#[derive(Clone, Debug)]
pub struct GroupCreation {
    pub group_id: Vec<u8>,
    /// MLSMessage carrying the Commit that adds all joiners (epoch 0 -> 1).
    pub commit: Vec<u8>,
    /// Epoch after the commit (= 1).
    pub epoch: u64,
    /// The single Welcome openmls produces for all joiners (MLSMessage).
    pub welcome_all: Vec<u8>,
    /// One per-member Welcome per joiner, in joiner order.
    pub welcomes: Vec<WelcomeFor>,
}

/// An application message produced by [`GroupSim::send`].
#[derive(Clone, Debug)]
pub struct AppMessage {
    pub sender: String,
    /// Epoch the message was encrypted in.
    pub epoch: u64,
    /// MLSMessage(PrivateMessage, content_type application).
    pub bytes: Vec<u8>,
}

struct Tracked {
    member: Member,
    group: MlsGroup,
}

/// A live group. Only tracked members (index 0 = creator, then tracked
/// joiners in order) hold state; only they can send or commit.
pub struct GroupSim {
    pub group_id: Vec<u8>,
    seed: Seed,
    op: u64,
    tracked: Vec<Tracked>,
}

/// Create a group: `creator` makes the group and, in one commit, adds every
/// joiner; tracked joiners join from their per-member Welcome.
/// Output is a pure function of `(cfg, group_seed, member seeds/ids, kp
/// indexes)`.
pub fn create_group(
    cfg: &SimConfig,
    group_seed: Seed,
    creator: Member,
    joiners: Vec<Joiner>,
) -> Result<(GroupSim, GroupCreation)> {
    // Key packages of all joiners.
    let mut kps = Vec::with_capacity(joiners.len());
    for j in &joiners {
        kps.push(j.member.key_package(cfg, j.kp_index)?);
    }

    // Creator's group (epoch 0). Group id: 16 bytes from the group seed.
    let group_id = derive_seed(&[b"group-id", &group_seed])[..16].to_vec();
    creator
        .provider
        .reseed(derive_seed(&[b"create", &group_seed]));
    let create_cfg = MlsGroupCreateConfig::builder()
        .ciphersuite(CIPHERSUITE)
        .use_ratchet_tree_extension(true)
        .wire_format_policy(cfg.wire_format_policy())
        .lifetime(cfg.lifetime())
        .build();
    let mut group = MlsGroup::new_with_group_id(
        &creator.provider,
        &creator.signer,
        &create_cfg,
        GroupId::from_slice(&group_id),
        creator.credential.clone(),
    )?;

    // Add commit (epoch 0 -> 1) + Welcome.
    let key_packages: Vec<KeyPackage> = kps.iter().map(|k| k.key_package.clone()).collect();
    let (commit, welcome, _group_info) =
        group.add_members(&creator.provider, &creator.signer, &key_packages)?;
    group.merge_pending_commit(&creator.provider)?;
    let commit = commit.to_bytes()?;
    let welcome_all = welcome.to_bytes()?;

    // Split the Welcome per member.
    let split = split_welcome(&welcome_all)?;
    let mut welcomes = Vec::with_capacity(joiners.len());
    let mut tracked = vec![Tracked {
        member: creator,
        group,
    }];
    for (j, kp) in joiners.into_iter().zip(kps) {
        let welcome = split
            .iter()
            .find(|(r, _)| *r == kp.hash_ref)
            .map(|(_, w)| w.clone())
            .ok_or("welcome has no secrets for a joiner")?;
        let user_id = j.member.user_id.clone();
        if j.track {
            let group = join(cfg, &j.member.provider, &welcome)?;
            tracked.push(Tracked {
                member: j.member,
                group,
            });
        }
        welcomes.push(WelcomeFor {
            user_id,
            kp_index: j.kp_index,
            key_package: kp,
            welcome,
        });
    }

    let epoch = tracked[0].group.epoch().as_u64();
    let sim = GroupSim {
        group_id: group_id.clone(),
        seed: group_seed,
        op: 0,
        tracked,
    };
    Ok((
        sim,
        GroupCreation {
            group_id,
            commit,
            epoch,
            welcome_all,
            welcomes,
        },
    ))
}

impl GroupSim {
    /// Number of members with state.
    pub fn tracked_len(&self) -> usize {
        self.tracked.len()
    }

    /// User id of tracked member `i` (0 = creator).
    pub fn tracked_user(&self, i: usize) -> &str {
        &self.tracked[i].member.user_id
    }

    /// Current epoch.
    pub fn epoch(&self) -> u64 {
        self.tracked[0].group.epoch().as_u64()
    }

    fn next_op_seed(&mut self, what: &[u8]) -> Seed {
        self.op += 1;
        derive_seed(&[what, &self.seed, &self.op.to_be_bytes()])
    }

    /// Tracked member `by` commits a self-update (new leaf HPKE key + path),
    /// advancing the epoch; all other tracked members process and merge it.
    /// Returns the MLSMessage(commit) bytes.
    pub fn commit_update(&mut self, by: usize) -> Result<Vec<u8>> {
        let seed = self.next_op_seed(b"commit");
        let t = &mut self.tracked[by];
        t.member.provider.reseed(seed);
        let bundle = t.group.self_update(
            &t.member.provider,
            &t.member.signer,
            LeafNodeParameters::default(),
        )?;
        t.group.merge_pending_commit(&t.member.provider)?;
        let bytes = bundle.into_messages().0.to_bytes()?;
        for (i, other) in self.tracked.iter_mut().enumerate() {
            if i != by {
                process_commit(&other.member.provider, &mut other.group, &bytes)?;
            }
        }
        Ok(bytes)
    }

    /// Tracked member `sender` encrypts `plaintext` in the current epoch.
    /// (Other tracked members do not process it; not needed for their state.)
    pub fn send(&mut self, sender: usize, plaintext: &[u8]) -> Result<AppMessage> {
        let seed = self.next_op_seed(b"send");
        let t = &mut self.tracked[sender];
        t.member.provider.reseed(seed);
        let msg = t
            .group
            .create_message(&t.member.provider, &t.member.signer, plaintext)?;
        Ok(AppMessage {
            sender: t.member.user_id.clone(),
            epoch: t.group.epoch().as_u64(),
            bytes: msg.to_bytes()?,
        })
    }
}

// ---------------------------------------------------------------------------
// Welcome splitting
// ---------------------------------------------------------------------------

/// Wire mirror of `Welcome` (RFC 9420 §12.4.3.1); openmls' `Welcome::new` is
/// crate-private, so per-member Welcomes are re-encoded through this.
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
struct WelcomeWire {
    cipher_suite: u16,
    secrets: Vec<EncryptedGroupSecrets>,
    encrypted_group_info: VLBytes,
}

/// Split an MLSMessage(Welcome) into one MLSMessage(Welcome) per
/// EncryptedGroupSecrets. Returns `(KeyPackageRef bytes, welcome bytes)`.
/// This is valid MLS: the GroupInfo is encrypted with the shared welcome
/// key/nonce and signed independently of the `secrets` list.
pub fn split_welcome(msg: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let welcome = match MlsMessageIn::tls_deserialize_exact(msg)?.extract() {
        MlsMessageBodyIn::Welcome(w) => w,
        _ => return Err("not a welcome".into()),
    };
    let wire = WelcomeWire::tls_deserialize_exact(welcome.tls_serialize_detached()?)?;
    let mut out = Vec::with_capacity(wire.secrets.len());
    for s in &wire.secrets {
        let single = WelcomeWire {
            cipher_suite: wire.cipher_suite,
            secrets: vec![s.clone()],
            encrypted_group_info: wire.encrypted_group_info.clone(),
        };
        let w = Welcome::tls_deserialize_exact(single.tls_serialize_detached()?)?;
        let bytes = MlsMessageOut::from_welcome(w, ProtocolVersion::Mls10).to_bytes()?;
        out.push((s.new_member().as_slice().to_vec(), bytes));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Joining, processing, verification
// ---------------------------------------------------------------------------

/// Join from MLSMessage(Welcome) bytes alone (ratchet tree comes from the
/// extension). Lifetimes of tree leaves are not checked, so stored data
/// stays verifiable after the key packages expired.
fn join(cfg: &SimConfig, provider: &DetProvider, welcome: &[u8]) -> Result<MlsGroup> {
    let welcome = match MlsMessageIn::tls_deserialize_exact(welcome)?.extract() {
        MlsMessageBodyIn::Welcome(w) => w,
        _ => return Err("not a welcome".into()),
    };
    let group = StagedWelcome::build_from_welcome(provider, &cfg.join_config(), welcome)?
        .skip_lifetime_validation()
        .build()?
        .into_group(provider)?;
    Ok(group)
}

fn process_commit(provider: &DetProvider, group: &mut MlsGroup, bytes: &[u8]) -> Result<()> {
    let msg = MlsMessageIn::tls_deserialize_exact(bytes)?.try_into_protocol_message()?;
    match group.process_message(provider, msg)?.into_content() {
        ProcessedMessageContent::StagedCommitMessage(staged) => {
            group.merge_staged_commit(provider, *staged)?;
            Ok(())
        }
        // A fresh state can't process a commit it authored itself (its
        // UpdatePath secrets only ever existed in the committer's memory).
        ProcessedMessageContent::OwnPrivateMessage => {
            Err("commit was authored by the verifying member itself".into())
        }
        _ => Err("expected a commit".into()),
    }
}

/// One stored message after the verifier joined, in delivery order.
pub enum Event<'a> {
    /// MLSMessage(commit).
    Commit(&'a [u8]),
    /// MLSMessage(application) and the prefix its plaintext must start with
    /// (the whole plaintext for an exact check). If the verifier itself sent
    /// it, it can't be decrypted (MLS senders never can); it is then only
    /// counted in `VerifyReport::own_skipped`.
    App {
        bytes: &'a [u8],
        expected_prefix: &'a [u8],
    },
}

/// Result of [`verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyReport {
    pub commits: usize,
    /// Application messages decrypted and matched.
    pub messages: usize,
    /// Application messages sent by the verifier itself (not decryptable).
    pub own_skipped: usize,
    pub final_epoch: u64,
}

/// Verify stored data as member `user_id` in a fresh provider: re-derive the
/// member and its key package `kp_index` from `world_seed` (restores the
/// private init key), join from `welcome`, apply `events` in order and check
/// every application plaintext.
///
/// Limitation: the verifier must not be the author of any commit in
/// `events` (a fresh state cannot process its own UpdatePath); pick a member
/// that only receives (e.g. an untracked joiner) for verification.
pub fn verify(
    cfg: &SimConfig,
    world_seed: u64,
    user_id: &str,
    kp_index: u64,
    welcome: &[u8],
    events: &[Event<'_>],
) -> Result<VerifyReport> {
    let member = Member::new(world_seed, user_id);
    member.key_package(cfg, kp_index)?;
    let mut group = join(cfg, &member.provider, welcome)?;
    let mut report = VerifyReport {
        commits: 0,
        messages: 0,
        own_skipped: 0,
        final_epoch: 0,
    };
    for (i, ev) in events.iter().enumerate() {
        match ev {
            Event::Commit(bytes) => {
                process_commit(&member.provider, &mut group, bytes)?;
                report.commits += 1;
            }
            Event::App {
                bytes,
                expected_prefix,
            } => {
                let msg =
                    MlsMessageIn::tls_deserialize_exact(*bytes)?.try_into_protocol_message()?;
                match group.process_message(&member.provider, msg)?.into_content() {
                    ProcessedMessageContent::ApplicationMessage(m) => {
                        if !m.into_bytes().starts_with(expected_prefix) {
                            return Err(format!("event {i}: plaintext mismatch").into());
                        }
                        report.messages += 1;
                    }
                    ProcessedMessageContent::OwnPrivateMessage => report.own_skipped += 1,
                    _ => return Err(format!("event {i}: not an application message").into()),
                }
            }
        }
    }
    report.final_epoch = group.epoch().as_u64();
    Ok(report)
}
