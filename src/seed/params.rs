//! Scale and shape parameters: how many rows each table gets and how skewed they are.
//! Every knob is named here with its default, and the README documents them.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use serde::{Deserialize, Serialize};

/// Version of the generators; bump when their output changes for a given seed.
pub const GENERATOR_VERSION: u32 = 3;

/// The documented password of every seeded user.
pub const PASSWORD: &str = "intellacc-bench";

/// bcrypt cost of the single precomputed password hash. Low so that login is cheap under
/// load; logins are not what this harness measures.
pub const BCRYPT_COST: u32 = 6;

/// "Now" of the synthetic world: every seeded timestamp is relative to it, never to the
/// wall clock, so the same seed gives the same bytes on any day.
pub fn world_now() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

/// Shape parameters, with their defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Shape {
    /// Users per unit of scale.
    pub users_per_scale: f64,
    /// Share of users who never post, trade or chat (they may follow a few accounts).
    pub dormant_share: f64,
    /// Zipf exponent of follow-target popularity (rank k gets weight 1/k^s).
    pub follow_zipf: f64,
    /// Median number of accounts a typical user follows (log-normal).
    pub follow_median: f64,
    /// Log-normal spread of following counts.
    pub follow_sigma: f64,
    /// Share of "power followers" who follow thousands (capped by user count), and how many
    /// they follow (uniform in the range).
    pub power_follower_share: f64,
    pub power_follower_min: u64,
    pub power_follower_max: u64,
    /// Cap on the log-normal following count of everyone else.
    pub typical_following_max: u64,
    /// Share of follow targets drawn by Zipf popularity; the rest are uniform (the long
    /// tail).
    pub follow_popular_share: f64,
    /// Posts per user on average.
    pub posts_per_user: f64,
    /// Zipf exponent of posting activity among active authors.
    pub post_zipf: f64,
    /// Days of post history; density grows toward "now" (quadratic recency).
    pub post_history_days: i64,
    /// Markets per user.
    pub events_per_user: f64,
    /// Zipf exponent of market popularity (positions per market).
    pub market_zipf: f64,
    /// Share of markets open / closed (the rest resolved).
    pub open_share: f64,
    pub closed_share: f64,
    /// Median positions per active trader (log-normal, capped at `typical_positions_max`),
    /// and the share of heavy traders with `heavy_trader_min..=heavy_trader_max` positions.
    pub positions_median: f64,
    pub typical_positions_max: u64,
    pub heavy_trader_share: f64,
    pub heavy_trader_min: u64,
    pub heavy_trader_max: u64,
    /// Share of position picks drawn by Zipf market popularity; the rest are uniform.
    pub market_popular_share: f64,
    /// Share of positions that are closed out (both sides zero; the portfolio filters them).
    pub closed_out_share: f64,
    /// MLS groups per user; shares of DMs and large groups (the rest small groups).
    pub groups_per_user: f64,
    pub dm_share: f64,
    pub large_group_share: f64,
    /// Size of small groups (3 to `small_group_max`) and large groups (`large_group_min` to
    /// `large_group_max`), inclusive.
    pub small_group_max: u32,
    pub large_group_min: u32,
    pub large_group_max: u32,
    /// Mean application messages per group (log-normal with sigma 1.2 across groups, so
    /// the median is about half of it; large groups 3x), and a creator self-update commit
    /// after every `messages_per_commit` messages.
    pub messages_per_group: f64,
    /// Log-normal spread of messages per group, and the factor for groups of more than
    /// `small_group_max` members.
    pub message_sigma: f64,
    pub large_group_message_factor: f64,
    pub messages_per_commit: u32,
    /// Share of a group's members (besides the creator and the first member) who are
    /// invited after creation, in later add commits, rather than by the creation commit.
    /// DMs are complete from the start.
    pub late_join_share: f64,
    /// At most this many later add commits per group (invitees are batched into them).
    pub late_adds_max: u32,
    /// Share of non-dormant users with an uploaded key package.
    pub key_package_share: f64,
    /// MLS groups generated with real cryptography (verifiable by any MLS client): the
    /// first `mls_live_groups` groups (all of them up to scale 1) and `mls_live_share` of
    /// the rest. The others run the same openmls code with forged asymmetric primitives
    /// (see `mls::CryptoMode::Forge`): real structure, epochs and lengths, not decryptable.
    pub mls_live_groups: u32,
    /// Uploaded key packages generated with real cryptography: users with id up to this
    /// (all of them up to scale 1) and `mls_live_share` of the rest.
    pub mls_live_key_packages: u32,
    pub mls_live_share: f64,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            users_per_scale: 10_000.0,
            dormant_share: 0.25,
            follow_zipf: 1.0,
            follow_median: 20.0,
            follow_sigma: 0.9,
            power_follower_share: 0.005,
            power_follower_min: 1000,
            power_follower_max: 3000,
            typical_following_max: 1000,
            follow_popular_share: 0.7,
            posts_per_user: 6.0,
            post_zipf: 0.9,
            post_history_days: 365,
            events_per_user: 0.05,
            market_zipf: 1.1,
            open_share: 0.6,
            closed_share: 0.25,
            positions_median: 3.0,
            typical_positions_max: 40,
            heavy_trader_share: 0.02,
            heavy_trader_min: 30,
            heavy_trader_max: 200,
            market_popular_share: 0.8,
            closed_out_share: 0.05,
            groups_per_user: 0.1,
            dm_share: 0.7,
            large_group_share: 0.03,
            small_group_max: 12,
            large_group_min: 20,
            large_group_max: 300,
            messages_per_group: 12.0,
            message_sigma: 1.2,
            large_group_message_factor: 3.0,
            messages_per_commit: 25,
            late_join_share: 0.25,
            late_adds_max: 3,
            key_package_share: 0.9,
            mls_live_groups: 1_000,
            mls_live_key_packages: 10_000,
            mls_live_share: 0.1,
        }
    }
}

/// Row-count targets derived from scale and shape.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Counts {
    pub users: u32,
    pub events: u32,
    pub posts: u64,
    pub groups: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    #[error("scale must be a positive number, got {0}")]
    NotPositive(f64),
    #[error("scale {0} gives fewer than 20 users; use at least 0.002")]
    TooSmall(f64),
    #[error("scale {0} is beyond what one machine should seed (max 1000)")]
    TooLarge(f64),
    #[error("shape parameter {name} is out of range: {detail}")]
    Shape { name: &'static str, detail: String },
}

impl Shape {
    /// Checks the parameters a generator would otherwise trip on (a share outside 0..=1
    /// or a size range that cannot hold).
    pub fn validate(&self) -> Result<(), ScaleError> {
        let shares = [
            ("dormant_share", self.dormant_share),
            ("power_follower_share", self.power_follower_share),
            ("follow_popular_share", self.follow_popular_share),
            ("open_share", self.open_share),
            ("closed_share", self.closed_share),
            (
                "open_share + closed_share",
                self.open_share + self.closed_share,
            ),
            ("heavy_trader_share", self.heavy_trader_share),
            ("market_popular_share", self.market_popular_share),
            (
                "closed_out_share (at most 0.5)",
                self.closed_out_share * 2.0,
            ),
            ("dm_share", self.dm_share),
            (
                "dm_share + large_group_share",
                self.dm_share + self.large_group_share,
            ),
            ("late_join_share", self.late_join_share),
            ("key_package_share", self.key_package_share),
            ("mls_live_share", self.mls_live_share),
        ];
        for (name, v) in shares {
            if !(0.0..=1.0).contains(&v) {
                return Err(ScaleError::Shape {
                    name,
                    detail: format!("{v} is not a share between 0 and 1"),
                });
            }
        }
        let ranges = [
            ("small_group_max", 3, u64::from(self.small_group_max)),
            (
                "large_group_min",
                u64::from(self.small_group_max) + 1,
                u64::from(self.large_group_min),
            ),
            (
                "large_group_max",
                u64::from(self.large_group_min),
                u64::from(self.large_group_max),
            ),
            (
                "power_follower_max",
                self.power_follower_min,
                self.power_follower_max,
            ),
            (
                "heavy_trader_max",
                self.heavy_trader_min,
                self.heavy_trader_max,
            ),
        ];
        for (name, min, v) in ranges {
            if v < min {
                return Err(ScaleError::Shape {
                    name,
                    detail: format!("{v} is below {min}"),
                });
            }
        }
        Ok(())
    }

    pub fn counts(&self, scale: f64) -> Result<Counts, ScaleError> {
        self.validate()?;
        if !(scale.is_finite() && scale > 0.0) {
            return Err(ScaleError::NotPositive(scale));
        }
        if scale > 1000.0 {
            return Err(ScaleError::TooLarge(scale));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let users = (scale * self.users_per_scale).round() as u32;
        if users < 20 {
            return Err(ScaleError::TooSmall(scale));
        }
        let per_user = |x: f64| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = (f64::from(users) * x).round() as u64;
            n
        };
        Ok(Counts {
            users,
            events: u32::try_from(per_user(self.events_per_user).max(10)).unwrap_or(u32::MAX),
            posts: per_user(self.posts_per_user),
            groups: u32::try_from(per_user(self.groups_per_user).max(4)).unwrap_or(u32::MAX),
        })
    }
}

/// When user `id` (1-based) joined: ids grow with time over three years before "now".
pub fn user_created_at(id: u32, users: u32) -> NaiveDateTime {
    let span = 3 * 365 * 86_400_i64;
    let offset = span * i64::from(id) / i64::from(users.max(1));
    world_now() - TimeDelta::seconds(span) + TimeDelta::seconds(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_out_of_range_are_errors_not_panics() {
        assert!(Shape::default().validate().is_ok());
        let nan = Shape {
            dm_share: f64::NAN,
            ..Shape::default()
        };
        assert!(nan
            .counts(1.0)
            .unwrap_err()
            .to_string()
            .contains("dm_share"));
        let overlapping = Shape {
            large_group_min: 5,
            ..Shape::default()
        };
        let err = overlapping.validate().unwrap_err().to_string();
        assert!(err.contains("large_group_min"), "{err}");
        let too_many = Shape {
            open_share: 0.8,
            closed_share: 0.3,
            ..Shape::default()
        };
        assert!(too_many.validate().is_err());
    }

    #[test]
    fn scale_one_is_ten_thousand_users() {
        let c = Shape::default().counts(1.0).unwrap();
        assert_eq!(c.users, 10_000);
        assert_eq!(Shape::default().counts(0.1).unwrap().users, 1_000);
        assert!(Shape::default().counts(0.0).is_err());
        assert!(Shape::default().counts(f64::NAN).is_err());
        assert!(Shape::default().counts(0.0001).is_err());
    }

    #[test]
    fn users_join_in_id_order() {
        assert!(user_created_at(1, 100) < user_created_at(2, 100));
        assert!(user_created_at(100, 100) <= world_now());
    }
}
