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
//! * Signature keys derived from the seed ([`MemberSigner`]).
//! * Explicit key-package / leaf-node lifetimes (`Lifetime::init`) instead of
//!   `Lifetime::default()` which reads the wall clock.
//! * Re-seeding the acting member's RNG before every operation from
//!   `(group seed, op counter)`, so outputs of one group never depend on what
//!   other groups were generated before it (order / parallelism independent).
//!
//! [`CryptoMode`] picks the asymmetric primitives: real ones (`Verify`, and `Generate`,
//! which gives the same bytes without re-checking its own signatures), or the forged
//! SHA-256 stand-ins (`Forge`) used for the non-verifiable share of large seeds: same
//! openmls code paths and lengths, no confidentiality or authenticity.
//!
//! Ciphersuite: MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519.

mod provider;
mod sim;
mod verify;

pub use provider::*;
pub use sim::*;
pub use verify::*;

use std::error::Error;

use openmls::prelude::Ciphersuite;
use sha2::{Digest, Sha256};

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
