//! Replays seeded MLS groups from the database as one of their members: re-derive the
//! member's key package from the seed, join from its stored Welcome, process the stored
//! commits in order and decrypt every stored application message.

use serde::Serialize;
use sqlx::PgPool;

use super::mls::{group_is_live, join_key_package_index, plaintext_prefix};
use super::params::{world_now, Shape};
use crate::mls::{self, CryptoMode, Event, SimConfig};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("reading group {group_id}")]
    Sql {
        group_id: String,
        source: sqlx::Error,
    },
    #[error("group {group_id} has no Welcome to join from")]
    NoWelcome { group_id: String },
    #[error("group {group_id}, as user {user}: {message}")]
    Mls {
        group_id: String,
        user: i32,
        message: String,
    },
}

/// What a replay checked.
#[derive(Debug, Clone, Serialize)]
pub struct GroupVerified {
    pub group_id: String,
    pub verifier: i32,
    pub commits: usize,
    pub decrypted: usize,
    pub own_skipped: usize,
    pub final_epoch: u64,
    /// The group was generated with real cryptography and verified as a real client
    /// would; `false`: a forged group, replayed with the forged primitives.
    pub real_crypto: bool,
}

/// Replays `group_id` as the last member that joined it by Welcome (in groups of four or
/// more, one whose state the generator did not keep, so it sent nothing and decrypts all). Only rows written by
/// the seeder are replayed (those the load posts later are opaque bytes).
pub async fn verify_group(
    pool: &PgPool,
    seed: u64,
    shape: &Shape,
    group_id: &str,
) -> Result<GroupVerified, VerifyError> {
    let sql_err = |source| VerifyError::Sql {
        group_id: group_id.to_string(),
        source,
    };
    let (index,): (i32,) = sqlx::query_as("SELECT id FROM mls_groups WHERE group_id = $1")
        .bind(group_id)
        .fetch_one(pool)
        .await
        .map_err(sql_err)?;
    let welcome: Option<(i32, Vec<u8>)> = sqlx::query_as(
        "SELECT receiver_id, data FROM mls_welcome_messages WHERE group_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(group_id)
    .fetch_optional(pool)
    .await
    .map_err(sql_err)?;
    let Some((verifier, welcome)) = welcome else {
        return Err(VerifyError::NoWelcome {
            group_id: group_id.to_string(),
        });
    };
    let rows: Vec<(String, i32, Vec<u8>)> = sqlx::query_as(
        "SELECT content_type::text, epoch, data FROM mls_group_messages \
         WHERE group_id = $1 AND created_at <= $2 ORDER BY id",
    )
    .bind(group_id)
    .bind(world_now())
    .fetch_all(pool)
    .await
    .map_err(sql_err)?;
    let g = u32::try_from(index - 1).unwrap_or(0);
    let real_crypto = group_is_live(shape, seed, g);
    let mode = if real_crypto {
        CryptoMode::Verify
    } else {
        CryptoMode::Forge
    };
    let group = group_id.to_string();
    tokio::task::spawn_blocking(move || {
        // The joiner arrives at epoch 1 through its Welcome: the epoch-0 add commit is not
        // for it to process.
        let prefixes: Vec<String> = (0..rows.len() as u64)
            .map(|i| plaintext_prefix(g, i))
            .collect();
        let mut app = 0usize;
        let mut events = Vec::with_capacity(rows.len());
        for (content_type, epoch, data) in &rows {
            match content_type.as_str() {
                "commit" if *epoch == 0 => {}
                "commit" => events.push(Event::Commit(data)),
                _ => {
                    events.push(Event::App {
                        bytes: data,
                        expected_prefix: prefixes[app].as_bytes(),
                    });
                    app += 1;
                }
            }
        }
        let report = mls::verify(
            &SimConfig::fixed(),
            mode,
            seed,
            &verifier.to_string(),
            join_key_package_index(g),
            &welcome,
            &events,
        )
        .map_err(|e| VerifyError::Mls {
            group_id: group.clone(),
            user: verifier,
            message: e.to_string(),
        })?;
        Ok(GroupVerified {
            group_id: group,
            verifier,
            commits: report.commits,
            decrypted: report.messages,
            own_skipped: report.own_skipped,
            final_epoch: report.final_epoch,
            real_crypto,
        })
    })
    .await
    .unwrap_or_else(|e| {
        Err(VerifyError::Mls {
            group_id: group_id.to_string(),
            user: verifier,
            message: e.to_string(),
        })
    })
}
