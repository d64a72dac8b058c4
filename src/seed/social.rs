//! Generators of the social tables: users, follows (power-law graph) and posts (skewed
//! activity and recency).

use std::collections::HashSet;

use chrono::TimeDelta;
use fake::faker::internet::en::FreeEmailProvider;
use fake::faker::lorem::en::{Sentence, Words};
use fake::faker::name::en::{FirstName, LastName};
use fake::Fake;
use rand::RngExt;

use super::copy::TableSink;
use super::params::{user_created_at, world_now};
use super::rng::{self, lognormal_count};
use super::world::World;
use super::SeedError;

pub const USERS_COLUMNS: &str =
    "id, username, email, password_hash, role, rp_balance, created_at, updated_at";
pub const FOLLOWS_COLUMNS: &str = "id, follower_id, following_id, created_at";
pub const POSTS_COLUMNS: &str = "id, author_id, content, like_count, comment_count, created_at";

/// Users: fake names, unique usernames and emails (the id keeps them unique), one shared
/// password hash, balances spread around the 1000 RP starting grant.
pub fn users(world: &World, sink: &mut TableSink) -> Result<(), SeedError> {
    let mut rng = rng::stream(world.seed, "users", 0);
    for id in 1..=world.users() {
        let first: String = FirstName().fake_with_rng(&mut rng);
        let last: String = LastName().fake_with_rng(&mut rng);
        let domain: String = FreeEmailProvider().fake_with_rng(&mut rng);
        let handle: String = format!("{first}.{last}")
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .take(36)
            .collect();
        let username = format!("{handle}{id}");
        let email = format!("{handle}{id}@{domain}");
        let role = if id == 1 { "admin" } else { "user" };
        let balance = if world.is_dormant(id) {
            1000.0
        } else {
            (1000.0 * (0.6 * rng::normal(&mut rng)).exp()).min(1e6)
        };
        let created = user_created_at(id, world.users());
        let updated = created + TimeDelta::seconds(rng.random_range(0..86_400 * 30));
        sink.int(id.into())
            .text(&username)
            .text(&email)
            .text(&world.password_hash)
            .text(role)
            .decimal(balance, 2)
            .timestamp(created)
            .timestamp(updated.min(world_now()));
        sink.end_row()?;
    }
    Ok(())
}

/// How many accounts a user follows: dormant users a handful, power followers thousands,
/// everyone else log-normal around the median.
fn following_count(world: &World, id: u32, rng: &mut rng::GenRng) -> u64 {
    let max = u64::from(world.users() - 1);
    let s = &world.shape;
    if world.is_dormant(id) {
        rng.random_range(0..=3u64).min(max)
    } else if world.is_power_follower(id) {
        rng.random_range(s.power_follower_min..=s.power_follower_max.max(s.power_follower_min))
            .min(max)
    } else {
        lognormal_count(
            rng,
            s.follow_median,
            s.follow_sigma,
            1,
            s.typical_following_max.min(max),
        )
    }
}

/// Follows: targets drawn by Zipf popularity (so a few celebrities collect a large share),
/// mixed with uniform picks for the long tail. Rows ordered by follower, then target.
pub fn follows(world: &World, sink: &mut TableSink) -> Result<(), SeedError> {
    let mut rng = rng::stream(world.seed, "follows", 0);
    let n = world.users();
    let now = world_now();
    let mut next_id: i64 = 1;
    let mut chosen: HashSet<u32> = HashSet::new();
    let mut targets: Vec<u32> = Vec::new();
    for follower in 1..=n {
        let k = following_count(world, follower, &mut rng);
        chosen.clear();
        let mut attempts = 0u64;
        while (chosen.len() as u64) < k && attempts < 20 * k + 100 {
            attempts += 1;
            let target = if rng.random_bool(world.shape.follow_popular_share.clamp(0.0, 1.0)) {
                world.popular_user(&mut rng)
            } else {
                rng.random_range(1..=n)
            };
            if target != follower {
                chosen.insert(target);
            }
        }
        targets.clear();
        targets.extend(chosen.iter().copied());
        targets.sort_unstable();
        for &t in &targets {
            let since = user_created_at(follower.max(t), n);
            let window = (now - since).num_seconds().max(1);
            let at = since + TimeDelta::seconds(rng.random_range(0..window));
            sink.int(next_id)
                .int(follower.into())
                .int(t.into())
                .timestamp(at);
            sink.end_row()?;
            next_id += 1;
        }
    }
    Ok(())
}

/// Posts in time order (ids grow with time, as in production): density rises toward "now",
/// authors drawn by Zipf activity among non-dormant users, never before they joined.
pub fn posts(world: &World, sink: &mut TableSink) -> Result<(), SeedError> {
    let mut rng = rng::stream(world.seed, "posts", 0);
    let total = world.counts.posts;
    if world.active_users() == 0 {
        return Ok(());
    }
    let span = world.shape.post_history_days * 86_400;
    let now = world_now();
    let n = world.users();
    for i in 0..total {
        #[allow(clippy::cast_precision_loss)]
        let progress = (i as f64 + 0.5) / total as f64;
        // Quadratic recency: half the posts fall in the last ~29% of the history.
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let age = ((1.0 - progress).powi(2) * span as f64) as i64;
        let at = now - TimeDelta::seconds(age) - TimeDelta::milliseconds(rng.random_range(0..1000));
        let mut author = world.active_author(&mut rng);
        for _ in 0..8 {
            if user_created_at(author, n) <= at {
                break;
            }
            author = world.active_author(&mut rng);
        }
        let content: String = if rng.random_bool(0.3) {
            let words: Vec<String> = Words(3..8).fake_with_rng(&mut rng);
            words.join(" ")
        } else {
            Sentence(6..30).fake_with_rng(&mut rng)
        };
        // Likes follow the author's reach: celebrities' posts collect far more.
        let reach = 1.0 / (1.0 + f64::from(world.rank(author)) / 50.0);
        let likes = lognormal_count(&mut rng, 2.0 + 200.0 * reach, 1.0, 0, 1_000_000);
        let comments = lognormal_count(&mut rng, 0.5 + 20.0 * reach, 1.0, 0, 100_000);
        sink.int(i64::try_from(i + 1).unwrap_or(i64::MAX))
            .int(author.into())
            .text(&content)
            .int(i64::try_from(likes).unwrap_or(i64::MAX))
            .int(i64::try_from(comments).unwrap_or(i64::MAX))
            .timestamp(at);
        sink.end_row()?;
    }
    Ok(())
}
