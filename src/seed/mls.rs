//! Generator of the MLS tables from real openmls traffic: key packages, groups whose creator
//! adds every member in one commit (one Welcome row per added member), application messages
//! encrypted by tracked members in the current epoch, and self-update commits that advance
//! the epoch. Everything is derived from the seed, so the bytes are reproducible.

use std::collections::HashSet;

use chrono::{NaiveDateTime, TimeDelta};
use fake::faker::lorem::en::{Sentence, Words};
use fake::Fake;
use rand::RngExt;

use super::copy::TableSink;
use super::parallel;
use super::params::world_now;
use super::params::Shape;
use super::rng::{self, lognormal_count, unit, GenRng};
use super::world::World;
use super::SeedError;
use crate::mls::{create_group, CryptoMode, Joiner, Member, SimConfig};

pub const KEY_PACKAGES_COLUMNS: &str =
    "id, user_id, device_id, package_data, hash, last_updated_at";

/// The group tables, filled together by [`groups`].
pub const TABLES: &[(&str, &str)] = &[
    ("mls_groups", "id, group_id, name, created_by, created_at"),
    ("mls_group_members", "id, group_id, user_id, joined_at"),
    (
        "mls_group_messages",
        "id, group_id, sender_id, epoch, content_type, data, created_at",
    ),
    (
        "mls_welcome_messages",
        "id, group_id, receiver_id, data, created_at",
    ),
];

/// Members (besides the creator) whose group state is kept so they can send and commit.
const TRACKED_JOINERS: usize = 2;

/// The key package index a user spends to join group `g` (index 0 is the uploaded one).
pub fn join_key_package_index(group: u32) -> u64 {
    u64::from(group) + 1
}

/// Whether group `g` is generated with real cryptography (see [`Shape::mls_live_groups`]).
pub fn group_is_live(shape: &Shape, seed: u64, g: u32) -> bool {
    g < shape.mls_live_groups || unit(seed, "mls-live-group", u64::from(g)) < shape.mls_live_share
}

/// Whether `user`'s uploaded key package is real (see [`Shape::mls_live_key_packages`]).
pub fn key_package_is_live(shape: &Shape, seed: u64, user: u32) -> bool {
    user <= shape.mls_live_key_packages
        || unit(seed, "mls-live-key-package", u64::from(user)) < shape.mls_live_share
}

/// The generator's crypto mode for live and forged data.
fn mode(live: bool) -> CryptoMode {
    if live {
        CryptoMode::Generate
    } else {
        CryptoMode::Forge
    }
}

/// Plaintext prefix of message `i` of group `g`: lets `verify` check order and identity.
pub fn plaintext_prefix(group: u32, i: u64) -> String {
    format!("g{group}#m{i}:")
}

fn gen_err(e: impl std::fmt::Display) -> SeedError {
    SeedError::Generator(format!("mls: {e}"))
}

/// Group size class: DM, small group or large group.
fn group_size(world: &World, rng: &mut GenRng) -> usize {
    let s = &world.shape;
    let active = (world.active_users() as usize).max(2);
    let roll: f64 = rng.random();
    let size = if roll < s.dm_share {
        2
    } else if roll < s.dm_share + s.large_group_share {
        rng.random_range(20..=s.large_group_max.max(20) as usize)
    } else {
        rng.random_range(3..=s.small_group_max.max(3) as usize)
    };
    size.min(active)
}

/// Users per key-package batch and groups per group batch (units of parallel work).
const KP_BATCH: u32 = 256;
const GROUP_BATCH: u32 = 16;

/// (user, serialized KeyPackage, hash ref in hex, age in seconds)
type KeyPackageRow = (u32, Vec<u8>, String, i64);

/// Key packages: most active users have one uploaded (index 0 of their key packages).
/// Generated in parallel batches of users, written in user order.
pub fn key_packages(world: &World, kps: &mut TableSink) -> Result<(), SeedError> {
    let cfg = SimConfig::fixed();
    let now = world_now();
    let users = world.users();
    let mut kp_id: i64 = 1;
    let make = |batch: u32| -> Result<Vec<KeyPackageRow>, SeedError> {
        let first = batch * KP_BATCH + 1;
        let last = (first + KP_BATCH - 1).min(users);
        let mut out = Vec::new();
        for user in first..=last {
            if world.is_dormant(user)
                || unit(world.seed, "key-package", u64::from(user)) >= world.shape.key_package_share
            {
                continue;
            }
            let live = key_package_is_live(&world.shape, world.seed, user);
            let member = Member::with_mode(world.seed, &user.to_string(), mode(live));
            let kp = member.key_package(&cfg, 0).map_err(gen_err)?;
            let age = rng::mix(world.seed, "kp-age", u64::from(user)) % (90 * 86_400);
            out.push((
                user,
                kp.bytes.clone(),
                kp.hash_ref_hex(),
                i64::try_from(age).unwrap_or(0),
            ));
        }
        Ok(out)
    };
    parallel::ordered(world.jobs, users.div_ceil(KP_BATCH), make, |rows| {
        for (user, bytes, hash, age) in rows {
            kps.int(kp_id)
                .int(user.into())
                .text("default")
                .bytea(&bytes)
                .text(&hash)
                .timestamp(now - TimeDelta::seconds(age));
            kps.end_row()?;
            kp_id += 1;
        }
        Ok(())
    })
}

/// One generated group, before ids are assigned.
struct GroupRows {
    group_id: String,
    name: Option<String>,
    creator: u32,
    created: NaiveDateTime,
    members: Vec<(u32, NaiveDateTime)>,
    /// (sender, epoch, content type, bytes, sent at)
    messages: Vec<(u32, u64, &'static str, Vec<u8>, NaiveDateTime)>,
    /// (receiver, head of its Welcome); each Welcome is its head then `welcome_tail`.
    welcomes: Vec<(u32, Vec<u8>)>,
    welcome_tail: Vec<u8>,
}

fn parse_user(id: &str) -> Result<u32, SeedError> {
    id.parse().map_err(gen_err)
}

/// Group `g`, a pure function of (seed, g): real openmls traffic of one group's life.
fn group(world: &World, cfg: &SimConfig, g: u32) -> Result<Option<GroupRows>, SeedError> {
    let now = world_now();
    let mut rng = rng::stream(world.seed, "mls-group", u64::from(g));
    let size = group_size(world, &mut rng);
    let creator = world.active_author(&mut rng);
    let mut chosen: HashSet<u32> = HashSet::new();
    chosen.insert(creator);
    let mut joiners: Vec<u32> = Vec::with_capacity(size);
    let mut attempts = 0;
    while chosen.len() < size && attempts < 50 * size {
        attempts += 1;
        let u = if rng.random_bool(0.5) {
            world.active_author(&mut rng)
        } else {
            world.any_active_user(&mut rng)
        };
        if chosen.insert(u) {
            joiners.push(u);
        }
    }
    if joiners.is_empty() {
        return Ok(None);
    }
    let mode = mode(group_is_live(&world.shape, world.seed, g));
    let group_seed = crate::mls::derive_seed(&[
        b"group".as_slice(),
        &world.seed.to_be_bytes(),
        &g.to_be_bytes(),
    ]);
    let sim_joiners: Vec<Joiner> = joiners
        .iter()
        .enumerate()
        .map(|(i, &u)| Joiner {
            member: Member::with_mode(world.seed, &u.to_string(), mode),
            kp_index: join_key_package_index(g),
            track: i < TRACKED_JOINERS,
        })
        .collect();
    let (mut sim, creation) = create_group(
        cfg,
        group_seed,
        Member::with_mode(world.seed, &creator.to_string(), mode),
        sim_joiners,
    )
    .map_err(gen_err)?;
    let created = now
        - TimeDelta::seconds(rng.random_range(86_400..2 * 365 * 86_400))
        - TimeDelta::milliseconds(rng.random_range(0..1000));
    let name = if size == 2 {
        None
    } else {
        let words: Vec<String> = Words(1..4).fake_with_rng(&mut rng);
        Some(words.join(" "))
    };
    let members = std::iter::once((creator, created))
        .chain(
            joiners
                .iter()
                .map(|&u| (u, created + TimeDelta::seconds(1))),
        )
        .collect();
    // The add commit, sent in epoch 0 by the creator.
    let mut messages = vec![(creator, 0, "commit", creation.commit, created)];
    let mut welcomes = Vec::with_capacity(creation.welcomes.len());
    for w in creation.welcomes {
        welcomes.push((parse_user(&w.user_id)?, w.welcome_head));
    }
    let welcome_tail = creation.welcome_tail;
    // Application traffic, skewed across groups; large groups talk more.
    let base = world.shape.messages_per_group * 0.5 * if size > 12 { 3.0 } else { 1.0 };
    let count = lognormal_count(&mut rng, base, 1.2, 0, 5000);
    let mut at = created + TimeDelta::seconds(60);
    let step = ((now - at).num_seconds() / i64::try_from(count + 1).unwrap_or(1)).max(1);
    for i in 0..count {
        at += TimeDelta::seconds(rng.random_range(1..=step));
        if i > 0 && i % u64::from(world.shape.messages_per_commit.max(1)) == 0 {
            // Only the creator commits: every joiner can then replay the whole history
            // from its Welcome (a member cannot process its own commits afresh).
            let epoch = sim.epoch();
            let commit = sim.commit_update(0).map_err(gen_err)?;
            messages.push((creator, epoch, "commit", commit, at));
        }
        let sender = rng.random_range(0..sim.tracked_len());
        let sentence: String = Sentence(3..25).fake_with_rng(&mut rng);
        let text = format!("{}{sentence}", plaintext_prefix(g, i));
        let msg = sim.send(sender, text.as_bytes()).map_err(gen_err)?;
        messages.push((
            parse_user(&msg.sender)?,
            msg.epoch,
            "application",
            msg.bytes,
            at,
        ));
    }
    Ok(Some(GroupRows {
        group_id: hex::encode(&creation.group_id),
        name,
        creator,
        created,
        members,
        messages,
        welcomes,
        welcome_tail,
    }))
}

/// Groups, members, messages and welcomes: groups generated in parallel batches, written in
/// group order with sequential ids.
pub fn groups(world: &World, sinks: Vec<TableSink>) -> Result<(), SeedError> {
    let mut sinks = sinks.into_iter();
    let (Some(mut groups), Some(mut members), Some(mut messages), Some(mut welcomes)) =
        (sinks.next(), sinks.next(), sinks.next(), sinks.next())
    else {
        return Err(gen_err("expected four sinks"));
    };
    let cfg = SimConfig::fixed();
    let total = world.counts.groups;
    let (mut member_id, mut message_id, mut welcome_id) = (1i64, 1i64, 1i64);
    let make = |batch: u32| -> Result<Vec<(u32, GroupRows)>, SeedError> {
        let first = batch * GROUP_BATCH;
        let mut out = Vec::new();
        for g in first..(first + GROUP_BATCH).min(total) {
            if let Some(rows) = group(world, &cfg, g)? {
                out.push((g, rows));
            }
        }
        Ok(out)
    };
    parallel::ordered(world.jobs, total.div_ceil(GROUP_BATCH), make, |batch| {
        for (g, r) in batch {
            groups
                .int(i64::from(g) + 1)
                .text(&r.group_id)
                .opt_text(r.name.as_deref())
                .int(r.creator.into())
                .timestamp(r.created);
            groups.end_row()?;
            for (u, at) in r.members {
                members
                    .int(member_id)
                    .text(&r.group_id)
                    .int(u.into())
                    .timestamp(at);
                members.end_row()?;
                member_id += 1;
            }
            for (sender, epoch, kind, bytes, at) in r.messages {
                messages
                    .int(message_id)
                    .text(&r.group_id)
                    .int(sender.into())
                    .int(i64::try_from(epoch).unwrap_or(i64::MAX))
                    .text(kind)
                    .bytea(&bytes)
                    .timestamp(at);
                messages.end_row()?;
                message_id += 1;
            }
            for (receiver, head) in r.welcomes {
                welcomes
                    .int(welcome_id)
                    .text(&r.group_id)
                    .int(receiver.into())
                    .bytea_parts(&[&head, &r.welcome_tail])
                    .timestamp(r.created);
                welcomes.end_row()?;
                welcome_id += 1;
            }
        }
        Ok(())
    })?;
    groups.finish()?;
    members.finish()?;
    messages.finish()?;
    welcomes.finish()?;
    Ok(())
}
