//! The workload SQL, in one place: the reference server, the criterion benches and the plan
//! capture all run these statements, so they all measure the same thing.
//!
//! Numeric columns are returned as `float8` so that callers need no decimal type; the cast is
//! applied to the selected columns only and does not change the plan's access paths.

/// A named statement of the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement {
    pub name: &'static str,
    pub sql: &'static str,
}

/// The seed's feed: posts by the people `$1` follows, or by `$1`, newest first, offset paging.
/// Parameters: user id, limit, offset. (`p.id DESC` breaks ties so that every variant returns
/// the same page; the seed query orders by `created_at` alone.)
pub const FEED_SEED: Statement = Statement {
    name: "feed.seed",
    sql: "SELECT p.id, p.author_id, u.username::text, p.content, p.like_count, p.comment_count, p.created_at \
          FROM posts p JOIN users u ON u.id = p.author_id \
          WHERE p.author_id IN (SELECT following_id FROM follows WHERE follower_id = $1) OR p.author_id = $1 \
          ORDER BY p.created_at DESC, p.id DESC LIMIT $2 OFFSET $3",
};

/// The DBA's rewrite: the newest `limit + offset` posts of each followed author (and of the
/// user) via LATERAL, merged with UNION ALL, so an index on posts(author_id, created_at)
/// serves every author with a short range scan. Same parameters and rows as `feed.seed`.
pub const FEED_LATERAL: Statement = Statement {
    name: "feed.lateral",
    sql: "SELECT p.id, p.author_id, u.username::text, p.content, p.like_count, p.comment_count, p.created_at \
          FROM (SELECT q.* FROM follows f CROSS JOIN LATERAL \
                  (SELECT * FROM posts x WHERE x.author_id = f.following_id \
                   ORDER BY x.created_at DESC, x.id DESC LIMIT $2 + $3) q \
                WHERE f.follower_id = $1 \
                UNION ALL \
                (SELECT * FROM posts x WHERE x.author_id = $1 ORDER BY x.created_at DESC, x.id DESC LIMIT $2 + $3)) p \
          JOIN users u ON u.id = p.author_id \
          ORDER BY p.created_at DESC, p.id DESC LIMIT $2 OFFSET $3",
};

/// Keyset paging: the page after the cursor (`$2` = created_at, `$3` = id of the last post
/// seen; the first page passes 'infinity' and 0). Parameters: user, cursor time, cursor id,
/// limit. Deep pages cost the same as the first.
pub const FEED_KEYSET: Statement = Statement {
    name: "feed.keyset",
    sql: "SELECT p.id, p.author_id, u.username::text, p.content, p.like_count, p.comment_count, p.created_at \
          FROM posts p JOIN users u ON u.id = p.author_id \
          WHERE (p.author_id IN (SELECT following_id FROM follows WHERE follower_id = $1) OR p.author_id = $1) \
            AND (p.created_at, p.id) < ($2::timestamp, $3) \
          ORDER BY p.created_at DESC, p.id DESC LIMIT $4",
};

/// How the feed is paged and planned; the server runs the one it is configured with.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum FeedVariant {
    /// The seed query (OR + IN-subquery, OFFSET).
    #[default]
    Seed,
    /// LATERAL per followed author + UNION ALL, OFFSET.
    Lateral,
    /// The seed predicate with keyset paging instead of OFFSET.
    Keyset,
}

impl FeedVariant {
    pub const ALL: [FeedVariant; 3] = [Self::Seed, Self::Lateral, Self::Keyset];

    pub fn statement(self) -> Statement {
        match self {
            Self::Seed => FEED_SEED,
            Self::Lateral => FEED_LATERAL,
            Self::Keyset => FEED_KEYSET,
        }
    }
}

/// The seed's portfolio: open positions of `$1` with their markets, most recently traded first.
pub const PORTFOLIO: Statement = Statement {
    name: "portfolio",
    sql: "SELECT us.event_id, e.title, e.closing_date, e.market_prob::float8, e.cumulative_stake::float8, \
          us.yes_shares::float8, us.no_shares::float8, us.last_updated \
          FROM user_shares us JOIN events e ON e.id = us.event_id \
          WHERE us.user_id = $1 AND (us.yes_shares > 0 OR us.no_shares > 0) \
          ORDER BY us.last_updated DESC",
};

/// The seed's groups query: the MLS groups `$1` belongs to, newest first.
pub const GROUPS: Statement = Statement {
    name: "groups",
    sql: "SELECT g.group_id::text, g.name::text, g.created_by, g.created_at \
          FROM mls_groups g JOIN mls_group_members m ON m.group_id = g.group_id \
          WHERE m.user_id = $1 ORDER BY g.created_at DESC",
};

/// Messages of group `$1` after message id `$2`, oldest first, at most `$3`.
pub const MESSAGES_FETCH: Statement = Statement {
    name: "messages.fetch",
    sql: "SELECT id, sender_id, epoch, content_type::text, data, created_at \
          FROM mls_group_messages WHERE group_id = $1 AND id > $2 ORDER BY id LIMIT $3",
};

/// Membership check guarding every group read and write: is `$2` a member of `$1`?
pub const MEMBERSHIP: Statement = Statement {
    name: "membership",
    sql: "SELECT EXISTS (SELECT 1 FROM mls_group_members WHERE group_id = $1 AND user_id = $2)",
};

/// Stores an MLS message: group, sender, epoch, content type, data.
pub const MESSAGES_POST: Statement = Statement {
    name: "messages.post",
    sql: "INSERT INTO mls_group_messages (group_id, sender_id, epoch, content_type, data) \
          VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at",
};

/// Open markets closing soonest (the seed's partial index on closing_date serves this).
pub const EVENTS_OPEN: Statement = Statement {
    name: "events.open",
    sql: "SELECT id, title, closing_date, market_prob::float8, cumulative_stake::float8 \
          FROM events WHERE status = 'open' ORDER BY closing_date LIMIT $1",
};

/// Login lookup by email.
pub const LOGIN: Statement = Statement {
    name: "login",
    sql: "SELECT id, password_hash::text FROM users WHERE email = $1",
};

/// The trade, step by step, inside one transaction (see `server::trade`).
pub mod trade {
    use super::Statement;

    /// Locks the market row.
    pub const LOCK_EVENT: Statement = Statement {
        name: "trade.lock_event",
        sql: "SELECT market_prob::float8, status::text FROM events WHERE id = $1 FOR UPDATE",
    };
    /// Debits the stake only if the balance stays >= 0; no row means insufficient funds.
    pub const DEBIT: Statement = Statement {
        name: "trade.debit",
        sql: "UPDATE users SET rp_balance = rp_balance - $2::float8::numeric(15,2), updated_at = now() \
              WHERE id = $1 AND rp_balance >= $2::float8::numeric(15,2) RETURNING rp_balance::float8",
    };
    /// Moves the market price and adds the stake.
    pub const UPDATE_EVENT: Statement = Statement {
        name: "trade.update_event",
        sql: "UPDATE events SET market_prob = $2::float8::numeric(5,4), \
              cumulative_stake = cumulative_stake + $3::float8::numeric(15,2) WHERE id = $1",
    };
    /// Adds the bought shares to the user's position.
    pub const UPSERT_SHARES: Statement = Statement {
        name: "trade.upsert_shares",
        sql: "INSERT INTO user_shares (user_id, event_id, yes_shares, no_shares, last_updated) \
              VALUES ($1, $2, $3::float8::numeric(15,4), $4::float8::numeric(15,4), now()) \
              ON CONFLICT (user_id, event_id) DO UPDATE SET \
              yes_shares = user_shares.yes_shares + EXCLUDED.yes_shares, \
              no_shares = user_shares.no_shares + EXCLUDED.no_shares, last_updated = now() \
              RETURNING yes_shares::float8, no_shares::float8",
    };
}

/// Every read statement of the workload, for benches and plan capture.
pub const READS: &[Statement] = &[
    FEED_SEED,
    FEED_LATERAL,
    FEED_KEYSET,
    PORTFOLIO,
    GROUPS,
    MESSAGES_FETCH,
    EVENTS_OPEN,
];

/// Looks a statement up by name (`feed.seed`, `portfolio`, ...).
pub fn by_name(name: &str) -> Option<Statement> {
    READS
        .iter()
        .chain([MESSAGES_POST, MEMBERSHIP, LOGIN].iter())
        .find(|s| s.name == name)
        .copied()
}
