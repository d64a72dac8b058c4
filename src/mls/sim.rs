//! Simulated MLS clients: configuration, members and their key packages, group creation
//! (one add commit, per-member Welcomes), later add commits, self-update commits, and
//! application messages sent and received.

use super::*;
use openmls::prelude::{
    tls_codec::{Deserialize as _, Serialize as _},
    BasicCredential, CredentialWithKey, EncryptedGroupSecrets, GroupId, KeyPackage,
    LeafNodeParameters, Lifetime, MlsGroup, MlsGroupCreateConfig, MlsGroupJoinConfig,
    MlsMessageBodyIn, MlsMessageIn, MlsMessageOut, ProcessedMessageContent, WireFormatPolicy,
    MIXED_PLAINTEXT_WIRE_FORMAT_POLICY, PURE_CIPHERTEXT_WIRE_FORMAT_POLICY,
};
use openmls_traits::{
    signatures::{Signer, SignerError},
    types::SignatureScheme,
    OpenMlsProvider,
};
use tls_codec::{TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

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

    pub(super) fn join_config(&self) -> MlsGroupJoinConfig {
        MlsGroupJoinConfig::builder()
            .wire_format_policy(self.wire_format_policy())
            .use_ratchet_tree_extension(true)
            .build()
    }
}

/// A member's Ed25519 signing key, expanded once (openmls' `SignatureKeyPair` re-derives
/// the public key on every signature). In [`CryptoMode::Forge`] it signs with the forged
/// keyed hash instead.
pub struct MemberSigner {
    secret: [u8; 32],
    public: Vec<u8>,
    key: Option<ed25519_dalek::SigningKey>,
}

impl MemberSigner {
    fn new(secret: Seed, mode: CryptoMode) -> Self {
        if mode == CryptoMode::Forge {
            return Self {
                secret,
                public: forge_public(&secret),
                key: None,
            };
        }
        let key = ed25519_dalek::SigningKey::from_bytes(&secret);
        Self {
            secret,
            public: key.verifying_key().to_bytes().to_vec(),
            key: Some(key),
        }
    }

    pub fn to_public_vec(&self) -> Vec<u8> {
        self.public.clone()
    }
}

impl Signer for MemberSigner {
    fn sign(&self, payload: &[u8]) -> std::result::Result<Vec<u8>, SignerError> {
        use ed25519_dalek::Signer as _;
        Ok(match &self.key {
            Some(key) => key.sign(payload).to_bytes().to_vec(),
            None => forge_signature(&self.secret, payload),
        })
    }

    fn signature_scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}

/// A client: identity, signature key, credential, own provider/storage.
pub struct Member {
    pub user_id: String,
    root: Seed,
    pub signer: MemberSigner,
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
        Self::with_mode(world_seed, user_id, CryptoMode::Verify)
    }

    /// The same member with its provider in `mode`: [`CryptoMode::Generate`] gives the
    /// same bytes as [`Member::new`], faster; [`CryptoMode::Forge`] gives stand-ins.
    pub fn with_mode(world_seed: u64, user_id: &str, mode: CryptoMode) -> Self {
        let root = derive_seed(&[b"member", &world_seed.to_be_bytes(), user_id.as_bytes()]);
        let signer = MemberSigner::new(derive_seed(&[b"sig", &root]), mode);
        let credential = CredentialWithKey {
            credential: BasicCredential::new(user_id.as_bytes().to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        Self {
            user_id: user_id.to_string(),
            provider: DetProvider::with_mode(derive_seed(&[b"provider", &root]), mode),
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
    /// The member's own part of its MLSMessage(Welcome): header, cipher suite and its
    /// EncryptedGroupSecrets. The whole Welcome is this followed by
    /// [`GroupCreation::welcome_tail`] (see [`GroupCreation::welcome`]).
    pub welcome_head: Vec<u8>,
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
    /// The encrypted GroupInfo (with the ratchet tree) every member's Welcome ends with:
    /// kept once, not once per member (about 100 KB in a 300-member group).
    pub welcome_tail: Vec<u8>,
}

impl GroupCreation {
    /// The complete MLSMessage(Welcome) of joiner `i`: enough on its own to join.
    pub fn welcome(&self, i: usize) -> Vec<u8> {
        [self.welcomes[i].welcome_head.as_slice(), &self.welcome_tail].concat()
    }
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
    let SplitWelcome { heads, tail } = split_welcome(&welcome_all)?;
    let mut welcomes = Vec::with_capacity(joiners.len());
    let mut tracked = vec![Tracked {
        member: creator,
        group,
    }];
    for (j, kp) in joiners.into_iter().zip(kps) {
        let welcome = welcome_for(&heads, &j, kp)?;
        if j.track {
            let bytes = [welcome.welcome_head.as_slice(), &tail].concat();
            let group = join(cfg, &j.member.provider, &bytes)?;
            tracked.push(Tracked {
                member: j.member,
                group,
            });
        }
        welcomes.push(welcome);
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
            welcome_tail: tail,
        },
    ))
}

/// A joiner's own Welcome head, found by its key package reference.
fn welcome_for(
    heads: &[(Vec<u8>, Vec<u8>)],
    joiner: &Joiner,
    key_package: GeneratedKeyPackage,
) -> Result<WelcomeFor> {
    let welcome_head = heads
        .iter()
        .find(|(r, _)| *r == key_package.hash_ref)
        .map(|(_, h)| h.clone())
        .ok_or("welcome has no secrets for a joiner")?;
    Ok(WelcomeFor {
        user_id: joiner.member.user_id.clone(),
        kp_index: joiner.kp_index,
        key_package,
        welcome_head,
    })
}

/// Output of [`GroupSim::add_members`]: a later add commit and the added members'
/// Welcomes.
#[derive(Clone, Debug)]
pub struct Additions {
    /// MLSMessage carrying the Commit that adds the members.
    pub commit: Vec<u8>,
    /// Epoch the commit was sent in; the added members join at the next one.
    pub epoch: u64,
    /// One per-member Welcome per added member, in order.
    pub welcomes: Vec<WelcomeFor>,
    /// The encrypted GroupInfo every one of these Welcomes ends with.
    pub welcome_tail: Vec<u8>,
}

impl GroupSim {
    /// The creator adds `joiners` in one commit, advancing the epoch; every tracked member
    /// processes it. The added members are not tracked (they join, receive, never send).
    pub fn add_members(&mut self, cfg: &SimConfig, joiners: &[Joiner]) -> Result<Additions> {
        let seed = self.next_op_seed(b"add");
        let mut kps = Vec::with_capacity(joiners.len());
        for j in joiners {
            kps.push(j.member.key_package(cfg, j.kp_index)?);
        }
        let key_packages: Vec<KeyPackage> = kps.iter().map(|k| k.key_package.clone()).collect();
        let t = &mut self.tracked[0];
        let epoch = t.group.epoch().as_u64();
        t.member.provider.reseed(seed);
        let (commit, welcome, _group_info) =
            t.group
                .add_members(&t.member.provider, &t.member.signer, &key_packages)?;
        t.group.merge_pending_commit(&t.member.provider)?;
        let commit = commit.to_bytes()?;
        for other in self.tracked.iter_mut().skip(1) {
            process_commit(&other.member.provider, &mut other.group, &commit)?;
        }
        let SplitWelcome { heads, tail } = split_welcome(&welcome.to_bytes()?)?;
        let welcomes = joiners
            .iter()
            .zip(kps)
            .map(|(j, kp)| welcome_for(&heads, j, kp))
            .collect::<Result<Vec<_>>>()?;
        Ok(Additions {
            commit,
            epoch,
            welcomes,
            welcome_tail: tail,
        })
    }

    /// Tracked member `receiver` decrypts an application message (another member's) and
    /// returns its plaintext. Receiving touches only the receiver's ratchet for that
    /// sender, so what the receiver sends or commits afterwards is unchanged.
    pub fn receive(&mut self, receiver: usize, bytes: &[u8]) -> Result<Vec<u8>> {
        let t = &mut self.tracked[receiver];
        match process(&t.member.provider, &mut t.group, bytes)? {
            ProcessedMessageContent::ApplicationMessage(m) => Ok(m.into_bytes()),
            _ => Err("expected an application message from another member".into()),
        }
    }

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

/// Wire mirror of `Welcome` (RFC 9420 §12.4.3.1); openmls' `Welcome::new` is
/// crate-private, so per-member Welcomes are re-encoded through this.
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
struct WelcomeWire {
    cipher_suite: u16,
    secrets: Vec<EncryptedGroupSecrets>,
    encrypted_group_info: VLBytes,
}

/// An MLSMessage(Welcome) split into one Welcome per EncryptedGroupSecrets: member `i`'s
/// Welcome is `heads[i].1` followed by `tail`.
pub struct SplitWelcome {
    /// (KeyPackageRef bytes, head: MLSMessage header, cipher suite, the one secret)
    pub heads: Vec<(Vec<u8>, Vec<u8>)>,
    /// The serialized encrypted GroupInfo, shared by every member's Welcome.
    pub tail: Vec<u8>,
}

/// Split an MLSMessage(Welcome) into one MLSMessage(Welcome) per
/// EncryptedGroupSecrets. This is valid MLS: the GroupInfo is encrypted with the shared
/// welcome key/nonce and signed independently of the `secrets` list.
pub fn split_welcome(msg: &[u8]) -> Result<SplitWelcome> {
    let welcome = match MlsMessageIn::tls_deserialize_exact(msg)?.extract() {
        MlsMessageBodyIn::Welcome(w) => w,
        _ => return Err("not a welcome".into()),
    };
    let wire = WelcomeWire::tls_deserialize_exact(welcome.tls_serialize_detached()?)?;
    // What `MlsMessageOut::from_welcome(single, mls10).to_bytes()` writes, field by field
    // (a TLS struct is its fields in order): the MLSMessage header (mls10, wire format
    // mls_welcome), cipher suite, the one-element secrets vector, then the encrypted
    // GroupInfo, serialized once for all members.
    let tail = wire.encrypted_group_info.tls_serialize_detached()?;
    let mut heads = Vec::with_capacity(wire.secrets.len());
    for s in &wire.secrets {
        let mut head = vec![0, 1, 0, 3];
        wire.cipher_suite.tls_serialize(&mut head)?;
        vec![s.clone()].tls_serialize(&mut head)?;
        heads.push((s.new_member().as_slice().to_vec(), head));
    }
    Ok(SplitWelcome { heads, tail })
}
