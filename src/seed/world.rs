//! The shared, read-only facts every generator agrees on: who is popular, who is dormant,
//! which markets are hot. Built once per seeding run from the seed alone, in O(1) memory
//! whatever the scale: orders are seeded permutations computed on demand, samplers need
//! no tables, and per-user flags are hashes of (seed, user).

use super::params::{Counts, Shape, BCRYPT_COST, PASSWORD};
use super::rng::{self, unit, GenRng, Permutation, Zipf};
use rand::RngExt;

/// Draws before a rejection sampler falls back to a value that is always acceptable.
const MAX_REJECTIONS: u32 = 1_000;

pub struct World {
    pub seed: u64,
    pub scale: f64,
    pub shape: Shape,
    pub counts: Counts,
    /// Popularity rank <-> user id - 1: rank 0 is the biggest celebrity.
    popularity_order: Permutation,
    /// Draws follow targets (ranks) with Zipf skew.
    popularity: Zipf,
    /// Draws authors (ranks, dormant users rejected) with Zipf activity skew.
    author_activity: Zipf,
    /// Users who are not dormant.
    active_users: u32,
    /// Market popularity rank <-> event id - 1, and the Zipf over ranks.
    market_order: Permutation,
    market_popularity: Zipf,
    /// The one bcrypt hash all seeded users share (fixed salt: deterministic).
    pub password_hash: String,
    /// Worker threads for the parallel generators (output does not depend on it).
    pub jobs: usize,
}

impl World {
    pub fn new(seed: u64, scale: f64, shape: Shape, jobs: usize) -> Result<Self, super::SeedError> {
        let counts = shape.counts(scale)?;
        let n = counts.users as usize;
        let mut world = Self {
            seed,
            scale,
            popularity_order: Permutation::new(seed, "popularity", counts.users),
            popularity: Zipf::new(n, shape.follow_zipf),
            // Authors are ranked by popularity too: celebrities post more than most.
            author_activity: Zipf::new(n, shape.post_zipf),
            active_users: 0,
            market_order: Permutation::new(seed, "market-popularity", counts.events),
            market_popularity: Zipf::new(counts.events as usize, shape.market_zipf),
            password_hash: String::new(),
            jobs: jobs.max(1),
            counts,
            shape,
        };
        world.active_users = u32::try_from(
            (1..=counts.users)
                .filter(|&id| !world.is_dormant(id))
                .count(),
        )
        .unwrap_or(u32::MAX);
        let salt: [u8; 16] = rng::mix(seed, "bcrypt-salt", 0)
            .to_le_bytes()
            .repeat(2)
            .try_into()
            .unwrap_or([7; 16]);
        world.password_hash = bcrypt::hash_with_salt(PASSWORD, BCRYPT_COST, salt)
            .map(|h| h.to_string())
            .map_err(|e| super::SeedError::Generator(format!("bcrypt: {e}")))?;
        Ok(world)
    }

    pub fn users(&self) -> u32 {
        self.counts.users
    }

    /// Popularity rank of a user (0 = most followed).
    pub fn rank(&self, id: u32) -> u32 {
        self.popularity_order.invert(id - 1)
    }

    /// The user at popularity rank `rank`.
    pub fn user_at_rank(&self, rank: u32) -> u32 {
        self.popularity_order.apply(rank) + 1
    }

    /// A user drawn by popularity (Zipf over ranks): follow targets, market creators.
    pub fn popular_user(&self, rng: &mut GenRng) -> u32 {
        let rank = u32::try_from(self.popularity.sample(rng)).unwrap_or(0);
        self.user_at_rank(rank)
    }

    /// Users who are not dormant (they post, trade and chat).
    pub fn active_users(&self) -> u32 {
        self.active_users
    }

    /// An active user drawn by activity: Zipf over popularity ranks, dormant users
    /// rejected, so celebrities are among the most active authors.
    pub fn active_author(&self, rng: &mut GenRng) -> u32 {
        for _ in 0..MAX_REJECTIONS {
            let rank = u32::try_from(self.author_activity.sample(rng)).unwrap_or(0);
            let id = self.user_at_rank(rank);
            if !self.is_dormant(id) {
                return id;
            }
        }
        // The top celebrity is never dormant.
        self.user_at_rank(0)
    }

    /// An active user drawn uniformly.
    pub fn any_active_user(&self, rng: &mut GenRng) -> u32 {
        for _ in 0..MAX_REJECTIONS {
            let id = rng.random_range(1..=self.users());
            if !self.is_dormant(id) {
                return id;
            }
        }
        self.user_at_rank(0)
    }

    /// A market drawn by popularity (Zipf over market ranks).
    pub fn popular_event(&self, rng: &mut GenRng) -> u32 {
        let rank = u32::try_from(self.market_popularity.sample(rng)).unwrap_or(0);
        self.market_order.apply(rank) + 1
    }

    /// Popularity rank of market `event` (0 = hottest).
    pub fn event_rank(&self, event: u32) -> u32 {
        self.market_order.invert(event - 1)
    }

    /// Celebrities: the top 1% by popularity (at least one).
    pub fn is_celebrity(&self, id: u32) -> bool {
        self.rank(id) < (self.users() / 100).max(1)
    }

    /// Dormant users never post, trade or chat. Celebrities are never dormant.
    pub fn is_dormant(&self, id: u32) -> bool {
        // The hash first: it settles most users without the rank lookup.
        unit(self.seed, "dormant", u64::from(id)) < self.shape.dormant_share
            && !self.is_celebrity(id)
    }

    /// Power followers follow thousands of accounts.
    pub fn is_power_follower(&self, id: u32) -> bool {
        !self.is_dormant(id)
            && unit(self.seed, "power-follower", u64::from(id)) < self.shape.power_follower_share
    }

    /// Heavy traders hold positions in many markets.
    pub fn is_heavy_trader(&self, id: u32) -> bool {
        !self.is_dormant(id)
            && unit(self.seed, "heavy-trader", u64::from(id)) < self.shape.heavy_trader_share
    }
}
