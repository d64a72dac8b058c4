//! Generator of the MLS tables from real openmls traffic: key packages, groups whose creator
//! adds every member in one commit (one Welcome row per added member), application messages
//! encrypted by tracked members in the current epoch, and self-update commits that advance
//! the epoch. Everything is derived from the seed, so the bytes are reproducible.

use std::collections::HashSet;

use chrono::TimeDelta;
use fake::faker::lorem::en::{Sentence, Words};
use fake::Fake;
use rand::RngExt;

use super::copy::TableSink;
use super::params::world_now;
use super::rng::{self, lognormal_count, unit, GenRng};
use super::world::World;
use super::SeedError;
use crate::mls::{create_group, Joiner, Member, SimConfig};

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
    let active = world.authors.len().max(2);
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

/// Key packages: most active users have one uploaded (index 0 of their key packages).
pub fn key_packages(world: &World, kps: &mut TableSink) -> Result<(), SeedError> {
    let cfg = SimConfig::fixed();
    let now = world_now();
    let mut kp_id: i64 = 1;
    for user in 1..=world.users() {
        if world.is_dormant(user)
            || unit(world.seed, "key-package", u64::from(user)) >= world.shape.key_package_share
        {
            continue;
        }
        let member = Member::new(world.seed, &user.to_string());
        let kp = member.key_package(&cfg, 0).map_err(gen_err)?;
        let age = rng::mix(world.seed, "kp-age", u64::from(user)) % (90 * 86_400);
        let at = now - TimeDelta::seconds(i64::try_from(age).unwrap_or(0));
        kps.int(kp_id)
            .int(user.into())
            .text("default")
            .bytea(&kp.bytes)
            .text(&kp.hash_ref_hex())
            .timestamp(at);
        kps.end_row()?;
        kp_id += 1;
    }
    Ok(())
}

/// Groups, members, messages and welcomes, group by group.
pub fn groups(world: &World, sinks: Vec<TableSink>) -> Result<(), SeedError> {
    let mut sinks = sinks.into_iter();
    let (Some(mut groups), Some(mut members), Some(mut messages), Some(mut welcomes)) =
        (sinks.next(), sinks.next(), sinks.next(), sinks.next())
    else {
        return Err(gen_err("expected four sinks"));
    };
    let cfg = SimConfig::fixed();
    let now = world_now();
    let mut member_id: i64 = 1;
    let mut message_id: i64 = 1;
    let mut welcome_id: i64 = 1;
    let mut chosen: HashSet<u32> = HashSet::new();
    for g in 0..world.counts.groups {
        let mut rng = rng::stream(world.seed, "mls-group", u64::from(g));
        let size = group_size(world, &mut rng);
        let creator = world.authors[world.author_activity.sample(&mut rng)];
        chosen.clear();
        chosen.insert(creator);
        let mut joiners: Vec<u32> = Vec::with_capacity(size);
        let mut attempts = 0;
        while chosen.len() < size && attempts < 50 * size {
            attempts += 1;
            let u = if rng.random_bool(0.5) {
                world.authors[world.author_activity.sample(&mut rng)]
            } else {
                world.authors[rng.random_range(0..world.authors.len())]
            };
            if chosen.insert(u) {
                joiners.push(u);
            }
        }
        if joiners.is_empty() {
            continue;
        }
        let group_seed = crate::mls::derive_seed(&[
            b"group".as_slice(),
            &world.seed.to_be_bytes(),
            &g.to_be_bytes(),
        ]);
        let sim_joiners: Vec<Joiner> = joiners
            .iter()
            .enumerate()
            .map(|(i, &u)| Joiner {
                member: Member::new(world.seed, &u.to_string()),
                kp_index: join_key_package_index(g),
                track: i < TRACKED_JOINERS,
            })
            .collect();
        let (mut sim, creation) = create_group(
            &cfg,
            group_seed,
            Member::new(world.seed, &creator.to_string()),
            sim_joiners,
        )
        .map_err(gen_err)?;
        let group_id = hex::encode(&creation.group_id);
        let created = now
            - TimeDelta::seconds(rng.random_range(86_400..2 * 365 * 86_400))
            - TimeDelta::milliseconds(rng.random_range(0..1000));
        let name = if size == 2 {
            None
        } else {
            let words: Vec<String> = Words(1..4).fake_with_rng(&mut rng);
            Some(words.join(" "))
        };
        groups
            .int(i64::from(g) + 1)
            .text(&group_id)
            .opt_text(name.as_deref())
            .int(creator.into())
            .timestamp(created);
        groups.end_row()?;
        for (u, at) in std::iter::once((creator, created)).chain(
            joiners
                .iter()
                .map(|&u| (u, created + TimeDelta::seconds(1))),
        ) {
            members
                .int(member_id)
                .text(&group_id)
                .int(u.into())
                .timestamp(at);
            members.end_row()?;
            member_id += 1;
        }
        // The add commit, sent in epoch 0 by the creator.
        messages
            .int(message_id)
            .text(&group_id)
            .int(creator.into())
            .int(0)
            .text("commit")
            .bytea(&creation.commit)
            .timestamp(created);
        messages.end_row()?;
        message_id += 1;
        for w in &creation.welcomes {
            welcomes
                .int(welcome_id)
                .text(&group_id)
                .int(w.user_id.parse::<i64>().map_err(gen_err)?)
                .bytea(&w.welcome)
                .timestamp(created);
            welcomes.end_row()?;
            welcome_id += 1;
        }
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
                let by = 0;
                let epoch = sim.epoch();
                let commit = sim.commit_update(by).map_err(gen_err)?;
                messages
                    .int(message_id)
                    .text(&group_id)
                    .int(sim.tracked_user(by).parse::<i64>().map_err(gen_err)?)
                    .int(i64::try_from(epoch).unwrap_or(i64::MAX))
                    .text("commit")
                    .bytea(&commit)
                    .timestamp(at);
                messages.end_row()?;
                message_id += 1;
            }
            let sender = rng.random_range(0..sim.tracked_len());
            let sentence: String = Sentence(3..25).fake_with_rng(&mut rng);
            let text = format!("{}{sentence}", plaintext_prefix(g, i));
            let msg = sim.send(sender, text.as_bytes()).map_err(gen_err)?;
            messages
                .int(message_id)
                .text(&group_id)
                .int(msg.sender.parse::<i64>().map_err(gen_err)?)
                .int(i64::try_from(msg.epoch).unwrap_or(i64::MAX))
                .text("application")
                .bytea(&msg.bytes)
                .timestamp(at);
            messages.end_row()?;
            message_id += 1;
        }
    }
    groups.finish()?;
    members.finish()?;
    messages.finish()?;
    welcomes.finish()?;
    Ok(())
}
