//! Generator of the MLS tables from real openmls traffic: key packages; groups whose creator
//! adds most members in the creation commit and invites the rest in later add commits (one
//! Welcome row per added member); application messages encrypted by tracked members in the
//! current epoch; self-update commits. Every commit advances the epoch. Everything is
//! derived from the seed, so the bytes are reproducible.

use std::collections::HashSet;

use chrono::{NaiveDateTime, TimeDelta};
use fake::faker::lorem::en::{Sentence, Words};
use fake::Fake;
use rand::RngExt;

use super::copy::TableSink;
use super::parallel;
use super::params::{user_created_at, world_now, Shape};
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
        rng.random_range(
            s.large_group_min as usize..=s.large_group_max.max(s.large_group_min) as usize,
        )
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
    let mut kp_id: i32 = 1;
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
            kps.int4(kp_id)
                .int4(user_id(user))
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
pub struct GroupRows {
    pub group_id: String,
    pub name: Option<String>,
    pub creator: u32,
    pub created: NaiveDateTime,
    /// (user, joined at), in the order they joined.
    pub members: Vec<(u32, NaiveDateTime)>,
    /// (sender, epoch, content type, bytes, sent at)
    pub messages: Vec<(u32, u64, &'static str, Vec<u8>, NaiveDateTime)>,
    /// (receiver, head of its Welcome, index into `welcome_tails`, sent at); each Welcome
    /// is its head then the tail of the commit that added the receiver.
    pub welcomes: Vec<(u32, Vec<u8>, usize, NaiveDateTime)>,
    pub welcome_tails: Vec<Vec<u8>>,
    /// Members added by the creation commit (then later additions follow in `welcomes`).
    pub initial_joiners: usize,
    /// Application messages another member decrypted while the group was generated
    /// (only with `cross_check`).
    pub cross_checked: usize,
}

/// An id for an INTEGER column (user and group counts stay far below 2^31: scale <= 1000).
fn user_id(id: u32) -> i32 {
    i32::try_from(id).unwrap_or(i32::MAX)
}

fn parse_user(id: &str) -> Result<u32, SeedError> {
    id.parse().map_err(gen_err)
}

/// The members of group `g` besides its creator, in the order they are added: the first
/// `initial` by the creation commit, the rest later.
struct Membership {
    creator: u32,
    joiners: Vec<u32>,
    initial: usize,
}

fn membership(world: &World, rng: &mut GenRng) -> Membership {
    let size = group_size(world, rng);
    let creator = world.active_author(rng);
    let mut chosen: HashSet<u32> = HashSet::new();
    chosen.insert(creator);
    let mut joiners: Vec<u32> = Vec::with_capacity(size);
    let mut attempts = 0;
    while chosen.len() < size && attempts < 50 * size {
        attempts += 1;
        let u = if rng.random_bool(0.5) {
            world.active_author(rng)
        } else {
            world.any_active_user(rng)
        };
        if chosen.insert(u) {
            joiners.push(u);
        }
    }
    // DMs start complete; in a group the creator invites some members later.
    let mut late = Vec::new();
    if joiners.len() >= 2 {
        let mut i = 1;
        while i < joiners.len() {
            if rng.random_bool(world.shape.late_join_share.clamp(0.0, 1.0)) {
                late.push(joiners.remove(i));
            } else {
                i += 1;
            }
        }
    }
    let initial = joiners.len();
    joiners.extend(late);
    Membership {
        creator,
        joiners,
        initial,
    }
}

/// Group `g`, a pure function of (seed, g): real openmls traffic of one group's life.
/// With `cross_check`, every application message is also decrypted by another member
/// (what `verify` does; the rows are the same either way).
pub fn group(
    world: &World,
    cfg: &SimConfig,
    g: u32,
    cross_check: bool,
) -> Result<Option<GroupRows>, SeedError> {
    let now = world_now();
    let mut rng = rng::stream(world.seed, "mls-group", u64::from(g));
    let Membership {
        creator,
        joiners,
        initial,
    } = membership(world, &mut rng);
    if joiners.is_empty() {
        return Ok(None);
    }
    let size = joiners.len() + 1;
    let mode = mode(group_is_live(&world.shape, world.seed, g));
    let group_seed = crate::mls::derive_seed(&[
        b"group".as_slice(),
        &world.seed.to_be_bytes(),
        &g.to_be_bytes(),
    ]);
    let joiner = |i: usize, u: u32| Joiner {
        member: Member::with_mode(world.seed, &u.to_string(), mode),
        kp_index: join_key_package_index(g),
        // The last member of the creation commit, in groups of four or more, only
        // receives: `verify` replays the group as that member.
        track: i < TRACKED_JOINERS.min(initial.saturating_sub(1).max(1)),
    };
    let sim_joiners: Vec<Joiner> = joiners[..initial]
        .iter()
        .enumerate()
        .map(|(i, &u)| joiner(i, u))
        .collect();
    let (mut sim, creation) = create_group(
        cfg,
        group_seed,
        Member::with_mode(world.seed, &creator.to_string(), mode),
        sim_joiners,
    )
    .map_err(gen_err)?;
    // Created once every member's account exists, at least a day before "now".
    let users = world.users();
    let first_possible = std::iter::once(creator)
        .chain(joiners.iter().copied())
        .map(|u| user_created_at(u, users))
        .max()
        .unwrap_or(now)
        + TimeDelta::minutes(1);
    let earliest = first_possible.max(now - TimeDelta::days(2 * 365));
    let latest = (now - TimeDelta::days(1)).max(earliest + TimeDelta::minutes(1));
    let created = earliest
        + TimeDelta::seconds(rng.random_range(0..(latest - earliest).num_seconds().max(1)))
        + TimeDelta::milliseconds(rng.random_range(0..1000));
    let name = if size == 2 {
        None
    } else {
        let words: Vec<String> = Words(1..4).fake_with_rng(&mut rng);
        Some(words.join(" "))
    };
    let mut members: Vec<(u32, NaiveDateTime)> = std::iter::once((creator, created))
        .chain(
            joiners[..initial]
                .iter()
                .map(|&u| (u, created + TimeDelta::seconds(1))),
        )
        .collect();
    // The add commit, sent in epoch 0 by the creator.
    let mut messages = vec![(creator, 0, "commit", creation.commit, created)];
    let mut welcomes = Vec::with_capacity(joiners.len());
    for w in creation.welcomes {
        welcomes.push((parse_user(&w.user_id)?, w.welcome_head, 0, created));
    }
    let mut welcome_tails = vec![creation.welcome_tail];
    // Application traffic, skewed across groups; large groups talk more.
    let s = &world.shape;
    let factor = if size > s.small_group_max as usize {
        s.large_group_message_factor
    } else {
        1.0
    };
    let base = s.messages_per_group * 0.5 * factor;
    let count = lognormal_count(&mut rng, base, s.message_sigma, 0, 5000);
    // Later additions: the invited members in up to `late_adds_max` commits, each just
    // before a random message (or after the last one).
    let late = &joiners[initial..];
    let adds = late.len().min(world.shape.late_adds_max as usize);
    let mut add_at: Vec<u64> = (0..adds).map(|_| rng.random_range(0..=count)).collect();
    add_at.sort_unstable();
    let mut batches = late.chunks(late.len().div_ceil(adds.max(1)).max(1));
    let mut at = created + TimeDelta::seconds(60);
    let step = ((now - at).num_seconds() / i64::try_from(count + 2).unwrap_or(1)).max(1);
    let mut next_add = 0;
    let mut cross_checked = 0;
    for i in 0..=count {
        at += TimeDelta::seconds(rng.random_range(1..=step));
        while next_add < add_at.len() && add_at[next_add] == i {
            next_add += 1;
            let Some(batch) = batches.next() else { break };
            let added: Vec<Joiner> = batch.iter().map(|&u| joiner(usize::MAX, u)).collect();
            let additions = sim.add_members(cfg, &added).map_err(gen_err)?;
            let sent = at - TimeDelta::milliseconds(500);
            messages.push((creator, additions.epoch, "commit", additions.commit, sent));
            for w in additions.welcomes {
                let user = parse_user(&w.user_id)?;
                welcomes.push((user, w.welcome_head, welcome_tails.len(), sent));
                members.push((user, sent + TimeDelta::seconds(1)));
            }
            welcome_tails.push(additions.welcome_tail);
        }
        if i == count {
            break;
        }
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
        if cross_check {
            let receiver = (sender + 1) % sim.tracked_len();
            let plain = sim.receive(receiver, &msg.bytes).map_err(gen_err)?;
            if plain != text.as_bytes() {
                return Err(gen_err(format!(
                    "group {g}: message {i} decrypted by another member differs"
                )));
            }
            cross_checked += 1;
        }
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
        welcome_tails,
        initial_joiners: initial,
        cross_checked,
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
    let (mut member_id, mut message_id, mut welcome_id) = (1i32, 1i32, 1i32);
    let make = |batch: u32| -> Result<Vec<(u32, GroupRows)>, SeedError> {
        let first = batch * GROUP_BATCH;
        let mut out = Vec::new();
        for g in first..(first + GROUP_BATCH).min(total) {
            if let Some(rows) = group(world, &cfg, g, false)? {
                out.push((g, rows));
            }
        }
        Ok(out)
    };
    parallel::ordered(world.jobs, total.div_ceil(GROUP_BATCH), make, |batch| {
        for (g, r) in batch {
            groups
                .int4(user_id(g + 1))
                .text(&r.group_id)
                .opt_text(r.name.as_deref())
                .int4(user_id(r.creator))
                .timestamp(r.created);
            groups.end_row()?;
            for (u, at) in r.members {
                members
                    .int4(member_id)
                    .text(&r.group_id)
                    .int4(user_id(u))
                    .timestamp(at);
                members.end_row()?;
                member_id += 1;
            }
            for (sender, epoch, kind, bytes, at) in r.messages {
                messages
                    .int4(message_id)
                    .text(&r.group_id)
                    .int4(user_id(sender))
                    .int4(i32::try_from(epoch).unwrap_or(i32::MAX))
                    .text(kind)
                    .bytea(&bytes)
                    .timestamp(at);
                messages.end_row()?;
                message_id += 1;
            }
            for (receiver, head, tail, at) in r.welcomes {
                welcomes
                    .int4(welcome_id)
                    .text(&r.group_id)
                    .int4(user_id(receiver))
                    .bytea_parts(&[&head, &r.welcome_tails[tail]])
                    .timestamp(at);
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
