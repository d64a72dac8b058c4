//! Workload cases: a named statement bound to parameters drawn from the seeded cohorts
//! (a celebrity's follower, a typical user, a power follower, a dormant user, deep pages, a
//! heavy trader, big and small groups). The criterion benches and the index comparison run
//! exactly these.

use serde::Serialize;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, PgPool, Postgres};

use crate::seed::Manifest;
use crate::workload::{self, Statement};

/// A statement's parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Params {
    /// Offset-paged feed: user, limit, offset.
    Feed { user: i32, limit: i64, offset: i64 },
    /// Keyset feed, first page: user, limit.
    FeedKeyset { user: i32, limit: i64 },
    /// Portfolio or groups of a user.
    User { user: i32 },
    /// Messages of a group after an id.
    Messages {
        group: String,
        after: i32,
        limit: i64,
    },
    /// Open events.
    Limit { limit: i64 },
}

/// One statement with one cohort's parameters.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub statement: &'static str,
    pub cohort: String,
    #[serde(skip)]
    pub sql: &'static str,
    pub params: Params,
}

impl Case {
    fn new(s: Statement, cohort: &str, params: Params) -> Self {
        Self {
            statement: s.name,
            cohort: cohort.to_string(),
            sql: s.sql,
            params,
        }
    }

    /// `statement/cohort`, the bench id.
    pub fn id(&self) -> String {
        format!("{}/{}", self.statement, self.cohort)
    }

    /// The statement with its parameters bound (also usable behind `EXPLAIN`).
    pub fn bind<'q>(&'q self, sql: &'q str) -> Query<'q, Postgres, PgArguments> {
        let q = sqlx::query(sqlx::AssertSqlSafe(sql));
        match &self.params {
            Params::Feed {
                user,
                limit,
                offset,
            } => q.bind(*user).bind(*limit).bind(*offset),
            Params::FeedKeyset { user, limit } => q
                .bind(*user)
                .bind(chrono::NaiveDateTime::MAX)
                .bind(i32::MAX)
                .bind(*limit),
            Params::User { user } => q.bind(*user),
            Params::Messages {
                group,
                after,
                limit,
            } => q.bind(group.as_str()).bind(*after).bind(*limit),
            Params::Limit { limit } => q.bind(*limit),
        }
    }

    /// Runs the case once; returns the number of rows.
    pub async fn execute(&self, conn: &mut PgConnection) -> Result<usize, sqlx::Error> {
        Ok(self.bind(self.sql).fetch_all(conn).await?.len())
    }
}

fn first_i32(v: &serde_json::Value, key: &str) -> Option<i32> {
    v.get(key)?
        .as_array()?
        .first()?
        .as_i64()
        .and_then(|x| i32::try_from(x).ok())
}

#[derive(Debug, thiserror::Error)]
#[error("the manifest has no `{0}` cohort: re-seed with this version of intellacc-bench")]
pub struct MissingCohort(&'static str);

/// The cases of the read workload, with parameters from the manifest's cohorts; `feed`
/// restricts the feed variants measured.
pub async fn reads(
    pool: &PgPool,
    manifest: &Manifest,
    feed: &[workload::FeedVariant],
) -> anyhow::Result<Vec<Case>> {
    let c = &manifest.cohorts;
    let get = |k: &'static str| first_i32(c, k).ok_or(MissingCohort(k));
    let celebrity = get("celebrities")?;
    let typical = get("typical")?;
    let power = get("power_followers")?;
    let dormant = get("dormant")?;
    let trader = get("heavy_traders")?;
    // A follower of the top celebrity with a typical following count.
    let fan: i32 = sqlx::query_scalar(
        "SELECT f.follower_id FROM follows f WHERE f.following_id = $1 \
         ORDER BY abs((SELECT count(*) FROM follows g WHERE g.follower_id = f.follower_id) - 20), f.follower_id LIMIT 1",
    )
    .bind(celebrity)
    .fetch_one(pool)
    .await?;
    let large_group = c
        .get("large_groups")
        .and_then(|g| g.as_array()?.first()?.as_str().map(str::to_string))
        .ok_or(MissingCohort("large_groups"))?;
    let (small_group, member): (String, i32) = sqlx::query_as(
        "SELECT m.group_id::text, min(m.user_id) FROM mls_group_members m GROUP BY m.group_id \
         HAVING count(*) = 2 ORDER BY m.group_id LIMIT 1",
    )
    .fetch_one(pool)
    .await?;
    let big_member: i32 = sqlx::query_scalar(
        "SELECT user_id FROM mls_group_members WHERE group_id = $1 ORDER BY user_id LIMIT 1",
    )
    .bind(&large_group)
    .fetch_one(pool)
    .await?;

    let mut cases = Vec::new();
    let people = [
        ("celebrity_follower", fan),
        ("typical", typical),
        ("power_follower", power),
        ("dormant", dormant),
    ];
    for variant in feed {
        let s = variant.statement();
        for (cohort, user) in people {
            let params = match variant {
                workload::FeedVariant::Keyset => Params::FeedKeyset { user, limit: 20 },
                _ => Params::Feed {
                    user,
                    limit: 20,
                    offset: 0,
                },
            };
            cases.push(Case::new(s, cohort, params));
        }
        if *variant != workload::FeedVariant::Keyset {
            cases.push(Case::new(
                s,
                "power_follower_page_10",
                Params::Feed {
                    user: power,
                    limit: 20,
                    offset: 200,
                },
            ));
        }
    }
    for (cohort, user) in [("heavy_trader", trader), ("typical", typical)] {
        cases.push(Case::new(
            workload::PORTFOLIO,
            cohort,
            Params::User { user },
        ));
    }
    for (cohort, user) in [("large_group_member", big_member), ("dm_member", member)] {
        cases.push(Case::new(workload::GROUPS, cohort, Params::User { user }));
    }
    for (cohort, group) in [("large_group", large_group), ("dm", small_group)] {
        cases.push(Case::new(
            workload::MESSAGES_FETCH,
            cohort,
            Params::Messages {
                group,
                after: 0,
                limit: 100,
            },
        ));
    }
    cases.push(Case::new(
        workload::EVENTS_OPEN,
        "closing_soonest",
        Params::Limit { limit: 50 },
    ));
    Ok(cases)
}
