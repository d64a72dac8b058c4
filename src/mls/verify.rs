//! Replaying stored MLS traffic as a member: join from a Welcome, process commits in
//! order, decrypt application messages.

use super::*;
use openmls::prelude::{
    tls_codec::Deserialize as _, KeyPackageIn, MlsGroup, MlsMessageBodyIn, MlsMessageIn,
    ProcessedMessageContent, ProtocolVersion, StagedWelcome,
};

/// Join from MLSMessage(Welcome) bytes alone (ratchet tree comes from the
/// extension). Lifetimes of tree leaves are not checked, so stored data
/// stays verifiable after the key packages expired.
pub(super) fn join(cfg: &SimConfig, provider: &DetProvider, welcome: &[u8]) -> Result<MlsGroup> {
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

/// Decodes MLSMessage `bytes` and processes them in `group`: what the message carried.
pub(super) fn process(
    provider: &DetProvider,
    group: &mut MlsGroup,
    bytes: &[u8],
) -> Result<ProcessedMessageContent> {
    let msg = MlsMessageIn::tls_deserialize_exact(bytes)?.try_into_protocol_message()?;
    Ok(group.process_message(provider, msg)?.into_content())
}

pub(super) fn process_commit(
    provider: &DetProvider,
    group: &mut MlsGroup,
    bytes: &[u8],
) -> Result<()> {
    match process(provider, group, bytes)? {
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

/// One stored group message, in delivery order.
pub struct Event<'a> {
    /// Epoch the message was sent in (the `epoch` column). Messages of epochs before the
    /// verifier joined (among them the commit that added it) are not for it.
    pub epoch: u64,
    /// MLSMessage bytes.
    pub bytes: &'a [u8],
    /// `None`: a commit. `Some(prefix)`: an application message whose plaintext must start
    /// with `prefix`. If the verifier sent it itself it can't decrypt it (MLS senders never
    /// can); it is then only counted in [`VerifyReport::own_skipped`].
    pub expected_prefix: Option<&'a [u8]>,
}

/// Result of [`verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyReport {
    /// Epoch the verifier joined at (from its Welcome).
    pub joined_epoch: u64,
    pub commits: usize,
    /// Application messages decrypted and matched.
    pub messages: usize,
    /// Application messages sent by the verifier itself (not decryptable).
    pub own_skipped: usize,
    pub final_epoch: u64,
}

/// Verify stored data as member `user_id` in a fresh provider: re-derive the
/// member and its key package `kp_index` from `world_seed` (restores the
/// private init key), join from `welcome`, apply the `events` from its join epoch on, in
/// order, and check every application plaintext.
///
/// `mode` is [`CryptoMode::Verify`] for data generated with real cryptography (every
/// signature and HPKE ciphertext is checked as a real client would), or
/// [`CryptoMode::Forge`] for forged data: the protocol flow (Welcome, epochs, commit
/// order, message framing and plaintexts) is then replayed through openmls with the
/// forged primitives.
///
/// Limitation: the verifier must not be the author of any commit in
/// `events` (a fresh state cannot process its own UpdatePath); pick a member
/// that only receives (e.g. an untracked joiner) for verification.
pub fn verify(
    cfg: &SimConfig,
    mode: CryptoMode,
    world_seed: u64,
    user_id: &str,
    kp_index: u64,
    welcome: &[u8],
    events: &[Event<'_>],
) -> Result<VerifyReport> {
    let member = Member::with_mode(world_seed, user_id, mode);
    member.key_package(cfg, kp_index)?;
    let mut group = join(cfg, &member.provider, welcome)?;
    let joined_epoch = group.epoch().as_u64();
    let mut report = VerifyReport {
        joined_epoch,
        commits: 0,
        messages: 0,
        own_skipped: 0,
        final_epoch: 0,
    };
    for (i, ev) in events.iter().enumerate() {
        if ev.epoch < joined_epoch {
            // Not for this member: sent before it joined.
            continue;
        }
        if group.epoch().as_u64() != ev.epoch {
            return Err(format!(
                "event {i}: stored as sent in epoch {}, but the group is at epoch {}",
                ev.epoch,
                group.epoch().as_u64()
            )
            .into());
        }
        let Some(expected_prefix) = ev.expected_prefix else {
            process_commit(&member.provider, &mut group, ev.bytes)?;
            report.commits += 1;
            continue;
        };
        match process(&member.provider, &mut group, ev.bytes)? {
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
    report.final_epoch = group.epoch().as_u64();
    Ok(report)
}

/// Whether `bytes` (a TLS-serialized `KeyPackage`, as stored) is a valid key package:
/// parsed and its signatures checked with real cryptography, as a server or client
/// receiving it would. Lifetimes are not compared with the wall clock.
pub fn key_package_valid(bytes: &[u8]) -> bool {
    let Ok(kp) = KeyPackageIn::tls_deserialize_exact(bytes) else {
        return false;
    };
    kp.validate(&DetCrypto::new([0; 32]), ProtocolVersion::Mls10)
        .is_ok()
}
