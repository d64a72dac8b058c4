//! Replays seeded MLS groups from the database. Two checks per group:
//!
//! 1. **From the database, as a fresh client**: re-derive a member's key package from the
//!    seed, join from its stored Welcome, process the stored commits in order and decrypt
//!    every stored application message from its join epoch on — as the last member of the
//!    creation commit and, where the group has later additions, as the last member added.
//! 2. **Against the generator**: regenerate the group from the seed with every application
//!    message decrypted by a member other than its sender, and compare every regenerated
//!    row (members, messages, Welcomes) with the stored one, byte for byte. This covers
//!    the messages the fresh client sent itself (MLS senders cannot decrypt their own).
//!
//! Together: every stored application message of a verified group decrypted to its
//! expected plaintext for a member who did not send it.

use chrono::NaiveDateTime;
use serde::Serialize;
use sqlx::PgPool;

use super::mls::{group, group_is_live, join_key_package_index, plaintext_prefix, GroupRows};
use super::params::world_now;
use super::world::World;
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
    #[error("group {group_id}: {message}")]
    Mismatch { group_id: String, message: String },
}

/// What a replay checked.
#[derive(Debug, Clone, Serialize)]
pub struct GroupVerified {
    pub group_id: String,
    /// The members the group was replayed as from the database (one of the creation
    /// commit, then the last one added later, if any).
    pub verifiers: Vec<i32>,
    /// Commits processed and messages decrypted by those fresh clients.
    pub commits: usize,
    pub decrypted: usize,
    /// Messages those clients had sent themselves (decrypted in check 2 instead).
    pub own_skipped: usize,
    /// Application messages decrypted by another member in the regeneration (all of them).
    pub cross_checked: usize,
    /// Rows compared with the regenerated ones (members, messages, Welcomes).
    pub rows_compared: usize,
    pub final_epoch: u64,
    /// The group was generated with real cryptography and verified as a real client
    /// would; `false`: a forged group, replayed with the forged primitives.
    pub real_crypto: bool,
}

type MessageRow = (i32, String, i32, Vec<u8>, NaiveDateTime);
type WelcomeRow = (i32, Vec<u8>, NaiveDateTime);

/// The seeded rows of one group. Only rows written by the seeder (those the load posts
/// later carry wall-clock timestamps past the synthetic "now" and are opaque bytes).
struct Stored {
    index: i32,
    members: Vec<(i32, NaiveDateTime)>,
    messages: Vec<MessageRow>,
    welcomes: Vec<WelcomeRow>,
}

async fn stored(pool: &PgPool, group_id: &str) -> Result<Stored, sqlx::Error> {
    let (index,): (i32,) = sqlx::query_as("SELECT id FROM mls_groups WHERE group_id = $1")
        .bind(group_id)
        .fetch_one(pool)
        .await?;
    let members = sqlx::query_as(
        "SELECT user_id, joined_at FROM mls_group_members WHERE group_id = $1 ORDER BY id",
    )
    .bind(group_id)
    .fetch_all(pool)
    .await?;
    let messages = sqlx::query_as(
        "SELECT sender_id, content_type::text, epoch, data, created_at FROM mls_group_messages \
         WHERE group_id = $1 AND created_at <= $2 ORDER BY id",
    )
    .bind(group_id)
    .bind(world_now())
    .fetch_all(pool)
    .await?;
    let welcomes = sqlx::query_as(
        "SELECT receiver_id, data, created_at FROM mls_welcome_messages WHERE group_id = $1 ORDER BY id",
    )
    .bind(group_id)
    .fetch_all(pool)
    .await?;
    Ok(Stored {
        index,
        members,
        messages,
        welcomes,
    })
}

/// Replays `group_id` of the data `world` describes (seed, scale, shape).
pub async fn verify_group(
    pool: &PgPool,
    world: &std::sync::Arc<World>,
    group_id: &str,
) -> Result<GroupVerified, VerifyError> {
    let rows = stored(pool, group_id)
        .await
        .map_err(|source| VerifyError::Sql {
            group_id: group_id.to_string(),
            source,
        })?;
    let world = std::sync::Arc::clone(world);
    let group_id = group_id.to_string();
    let id = group_id.clone();
    tokio::task::spawn_blocking(move || replay(&world, &group_id, &rows))
        .await
        .unwrap_or_else(|e| {
            Err(VerifyError::Mismatch {
                group_id: id,
                message: format!("replay panicked: {e}"),
            })
        })
}

fn replay(world: &World, group_id: &str, rows: &Stored) -> Result<GroupVerified, VerifyError> {
    let mismatch = |message: String| VerifyError::Mismatch {
        group_id: group_id.to_string(),
        message,
    };
    let g = u32::try_from(rows.index - 1).map_err(|_| mismatch("bad group id".into()))?;
    let real_crypto = group_is_live(&world.shape, world.seed, g);
    let cfg = SimConfig::fixed();

    // Check 2: regenerate (with cross-decryption) and compare.
    let regenerated = group(world, &cfg, g, true)
        .map_err(|e| mismatch(format!("regenerating: {e}")))?
        .ok_or_else(|| mismatch("the seed gives no such group".into()))?;
    let rows_compared = compare(&regenerated, rows).map_err(&mismatch)?;

    // Check 1: fresh clients from the stored bytes.
    let mut prefixes = Vec::new();
    let mut app = 0u64;
    for (_, kind, ..) in &rows.messages {
        if kind == "commit" {
            prefixes.push(None);
        } else {
            prefixes.push(Some(plaintext_prefix(g, app)));
            app += 1;
        }
    }
    let events: Vec<Event<'_>> = rows
        .messages
        .iter()
        .zip(&prefixes)
        .map(|((_, _, epoch, data, _), prefix)| Event {
            epoch: u64::try_from(*epoch).unwrap_or(u64::MAX),
            bytes: data,
            expected_prefix: prefix.as_deref().map(str::as_bytes),
        })
        .collect();
    let initial = regenerated.initial_joiners;
    let mut picks = vec![initial - 1];
    if rows.welcomes.len() > initial {
        picks.push(rows.welcomes.len() - 1);
    }
    let mode = if real_crypto {
        CryptoMode::Verify
    } else {
        CryptoMode::Forge
    };
    let mut out = GroupVerified {
        group_id: group_id.to_string(),
        verifiers: Vec::new(),
        commits: 0,
        decrypted: 0,
        own_skipped: 0,
        cross_checked: regenerated.cross_checked,
        rows_compared,
        final_epoch: 0,
        real_crypto,
    };
    for pick in picks {
        let Some((user, welcome, _)) = rows.welcomes.get(pick) else {
            return Err(VerifyError::NoWelcome {
                group_id: group_id.to_string(),
            });
        };
        let report = mls::verify(
            &cfg,
            mode,
            world.seed,
            &user.to_string(),
            join_key_package_index(g),
            welcome,
            &events,
        )
        .map_err(|e| VerifyError::Mls {
            group_id: group_id.to_string(),
            user: *user,
            message: e.to_string(),
        })?;
        out.verifiers.push(*user);
        out.commits += report.commits;
        out.decrypted += report.messages;
        out.own_skipped += report.own_skipped;
        out.final_epoch = out.final_epoch.max(report.final_epoch);
    }
    if regenerated.cross_checked != app as usize {
        return Err(mismatch(format!(
            "{} of {app} application messages were decrypted by another member",
            regenerated.cross_checked
        )));
    }
    Ok(out)
}

/// Compares the regenerated rows with the stored ones; returns how many were compared.
fn compare(r: &GroupRows, s: &Stored) -> Result<usize, String> {
    let count = |table: &str, want: usize, got: usize| {
        if want == got {
            Ok(())
        } else {
            Err(format!("{table}: {got} rows stored, {want} regenerated"))
        }
    };
    count("mls_group_members", r.members.len(), s.members.len())?;
    count("mls_group_messages", r.messages.len(), s.messages.len())?;
    count("mls_welcome_messages", r.welcomes.len(), s.welcomes.len())?;
    for (i, ((u, at), (su, sat))) in r.members.iter().zip(&s.members).enumerate() {
        if i64::from(*u) != i64::from(*su) || at != sat {
            return Err(format!("member row {i} differs from the regenerated one"));
        }
    }
    for (i, ((u, epoch, kind, bytes, at), (su, skind, sepoch, sbytes, sat))) in
        r.messages.iter().zip(&s.messages).enumerate()
    {
        if i64::from(*u) != i64::from(*su)
            || i64::try_from(*epoch).ok() != Some(i64::from(*sepoch))
            || kind != skind
            || bytes != sbytes
            || at != sat
        {
            return Err(format!(
                "message row {i} ({skind}, epoch {sepoch}) differs from the regenerated one"
            ));
        }
    }
    for (i, ((u, head, tail, at), (su, sbytes, sat))) in
        r.welcomes.iter().zip(&s.welcomes).enumerate()
    {
        let tail = &r.welcome_tails[*tail];
        let same_bytes = sbytes.len() == head.len() + tail.len()
            && sbytes.starts_with(head)
            && sbytes.ends_with(tail);
        if i64::from(*u) != i64::from(*su) || !same_bytes || at != sat {
            return Err(format!("welcome row {i} differs from the regenerated one"));
        }
    }
    Ok(r.members.len() + r.messages.len() + r.welcomes.len())
}
