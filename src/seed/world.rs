//! The shared, read-only facts every generator agrees on: who is popular, who is dormant,
//! which markets are hot. Built once per seeding run from the seed alone.

use super::params::{Counts, Shape, BCRYPT_COST, PASSWORD};
use super::rng::{self, permutation, unit, Zipf};

pub struct World {
    pub seed: u64,
    pub scale: f64,
    pub shape: Shape,
    pub counts: Counts,
    /// Popularity rank -> user id (1-based): rank 0 is the biggest celebrity.
    pub by_popularity: Vec<u32>,
    /// User id - 1 -> popularity rank.
    pub rank_of: Vec<u32>,
    /// Draws follow targets (ranks) with Zipf skew.
    pub popularity: Zipf,
    /// Active authors in activity order (most active first), and the Zipf over them.
    pub authors: Vec<u32>,
    pub author_activity: Zipf,
    /// Market popularity rank -> event id (1-based), and the Zipf over it.
    pub events_by_popularity: Vec<u32>,
    pub market_popularity: Zipf,
    /// The one bcrypt hash all seeded users share (fixed salt: deterministic).
    pub password_hash: String,
    /// Worker threads for the parallel generators (output does not depend on it).
    pub jobs: usize,
}

impl World {
    pub fn new(seed: u64, scale: f64, shape: Shape, jobs: usize) -> Result<Self, super::SeedError> {
        let counts = shape.counts(scale)?;
        let n = counts.users as usize;
        let by_popularity: Vec<u32> = permutation(&mut rng::stream(seed, "popularity", 0), n)
            .into_iter()
            .map(|i| i + 1)
            .collect();
        let mut rank_of = vec![0u32; n];
        for (rank, &id) in by_popularity.iter().enumerate() {
            rank_of[id as usize - 1] = u32::try_from(rank).unwrap_or(u32::MAX);
        }
        let mut world = Self {
            seed,
            scale,
            popularity: Zipf::new(n, shape.follow_zipf),
            by_popularity,
            rank_of,
            authors: Vec::new(),
            author_activity: Zipf::new(0, 1.0),
            events_by_popularity: Vec::new(),
            market_popularity: Zipf::new(0, 1.0),
            password_hash: String::new(),
            jobs: jobs.max(1),
            counts,
            shape,
        };
        // Authors ranked by popularity too: celebrities post more than most.
        world.authors = world
            .by_popularity
            .iter()
            .copied()
            .filter(|&id| !world.is_dormant(id))
            .collect();
        world.author_activity = Zipf::new(world.authors.len(), world.shape.post_zipf);
        let e = counts.events as usize;
        world.events_by_popularity = permutation(&mut rng::stream(seed, "market-pop", 0), e)
            .into_iter()
            .map(|i| i + 1)
            .collect();
        world.market_popularity = Zipf::new(e, world.shape.market_zipf);
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
        self.rank_of[id as usize - 1]
    }

    /// Celebrities: the top 1% by popularity (at least one).
    pub fn is_celebrity(&self, id: u32) -> bool {
        self.rank(id) < (self.users() / 100).max(1)
    }

    /// Dormant users never post, trade or chat. Celebrities are never dormant.
    pub fn is_dormant(&self, id: u32) -> bool {
        !self.is_celebrity(id)
            && unit(self.seed, "dormant", u64::from(id)) < self.shape.dormant_share
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
