//! Generators of the prediction-market tables: events (mixed statuses, closing dates past and
//! future) and user_shares (Zipf-popular markets, heavy traders).

use std::collections::HashSet;

use chrono::TimeDelta;
use fake::faker::company::en::{Bs, CatchPhrase};
use fake::faker::lorem::en::Sentences;
use fake::Fake;
use rand::RngExt;

use super::copy::TableSink;
use super::params::{user_created_at, world_now};
use super::rng::{self, lognormal_count};
use super::world::World;
use super::SeedError;

pub const EVENTS_COLUMNS: &str = "id, title, description, category, closing_date, status, \
    resolved_outcome, market_prob, cumulative_stake, created_by, created_at";
pub const SHARES_COLUMNS: &str = "id, user_id, event_id, yes_shares, no_shares, last_updated";

const CATEGORIES: &[&str] = &[
    "politics",
    "economics",
    "technology",
    "science",
    "sports",
    "climate",
    "health",
    "culture",
];

/// Events: titles and descriptions from `fake`, statuses open/closed/resolved in the shape's
/// ratios; open markets close in the future, the others in the past.
pub fn events(world: &World, sink: &mut TableSink) -> Result<(), SeedError> {
    let mut rng = rng::stream(world.seed, "events", 0);
    let now = world_now();
    let shape = &world.shape;
    for id in 1..=world.counts.events {
        let phrase: String = CatchPhrase().fake_with_rng(&mut rng);
        let bs: String = Bs().fake_with_rng(&mut rng);
        let title = format!("Will {} {} by the closing date?", phrase.to_lowercase(), bs);
        let description: Vec<String> = Sentences(2..5).fake_with_rng(&mut rng);
        let category = CATEGORIES[rng.random_range(0..CATEGORIES.len())];
        let roll: f64 = rng.random();
        let (status, closing, outcome) = if roll < shape.open_share {
            let close = now + TimeDelta::seconds(rng.random_range(3600..180 * 86_400));
            ("open", close, None)
        } else if roll < shape.open_share + shape.closed_share {
            let close = now - TimeDelta::seconds(rng.random_range(3600..30 * 86_400));
            ("closed", close, None)
        } else {
            let close = now - TimeDelta::seconds(rng.random_range(30 * 86_400..365 * 86_400));
            let outcome = if rng.random_bool(0.5) { "yes" } else { "no" };
            ("resolved", close, Some(outcome))
        };
        let prob = match outcome {
            Some("yes") => rng.random_range(0.90..0.9999),
            Some(_) => rng.random_range(0.0001..0.10),
            None => rng.random_range(0.03..0.97),
        };
        let creator = world.popular_user(&mut rng);
        let created = (closing - TimeDelta::seconds(rng.random_range(7 * 86_400..200 * 86_400)))
            .max(user_created_at(creator, world.users()))
            .min(now);
        // Hot markets (low popularity rank) carry the most stake.
        let heat = f64::from(world.event_rank(id));
        let stake = 50_000.0 / (1.0 + heat) * (0.5 * rng::normal(&mut rng)).exp();
        sink.int(id.into())
            .text(&title)
            .text(&description.join(" "))
            .text(category)
            .timestamp(closing)
            .text(status)
            .opt_text(outcome)
            .decimal(prob, 4)
            .decimal(stake, 2)
            .int(creator.into())
            .timestamp(created);
        sink.end_row()?;
    }
    Ok(())
}

/// Positions: dormant users hold none, heavy traders dozens to hundreds, the rest a few.
/// Markets are drawn by Zipf popularity, so a few hot markets hold most positions. A small
/// share of rows are closed-out positions (both sides zero) that the portfolio filters out.
pub fn user_shares(world: &World, sink: &mut TableSink) -> Result<(), SeedError> {
    let mut rng = rng::stream(world.seed, "user_shares", 0);
    let events = world.counts.events;
    let now = world_now();
    let mut next_id: i64 = 1;
    let mut chosen: HashSet<u32> = HashSet::new();
    let mut picks: Vec<u32> = Vec::new();
    for user in 1..=world.users() {
        if world.is_dormant(user) {
            continue;
        }
        let s = &world.shape;
        let k = if world.is_heavy_trader(user) {
            rng.random_range(s.heavy_trader_min..=s.heavy_trader_max.max(s.heavy_trader_min))
        } else {
            lognormal_count(
                &mut rng,
                s.positions_median,
                1.0,
                0,
                s.typical_positions_max,
            )
        }
        .min(u64::from(events));
        chosen.clear();
        let mut attempts = 0;
        while (chosen.len() as u64) < k && attempts < 20 * k + 50 {
            attempts += 1;
            let e = if rng.random_bool(s.market_popular_share.clamp(0.0, 1.0)) {
                world.popular_event(&mut rng)
            } else {
                rng.random_range(1..=events)
            };
            chosen.insert(e);
        }
        picks.clear();
        picks.extend(chosen.iter().copied());
        picks.sort_unstable();
        let joined = user_created_at(user, world.users());
        for &e in &picks {
            let roll: f64 = rng.random();
            let size = 10.0 * (1.2 * rng::normal(&mut rng)).exp();
            // Closed out, then both sides (10%), yes only (45%), no only (the rest).
            let closed = s.closed_out_share;
            let (yes, no) = if roll < closed {
                (0.0, 0.0)
            } else if roll < closed + 0.10 {
                (size, 10.0 * (1.2 * rng::normal(&mut rng)).exp())
            } else if roll < 0.6 {
                (size, 0.0)
            } else {
                (0.0, size)
            };
            let window = (now - joined).num_seconds().max(1);
            let at = joined + TimeDelta::seconds(rng.random_range(0..window));
            sink.int(next_id)
                .int(user.into())
                .int(e.into())
                .decimal(yes, 4)
                .decimal(no, 4)
                .timestamp(at);
            sink.end_row()?;
            next_id += 1;
        }
    }
    Ok(())
}
