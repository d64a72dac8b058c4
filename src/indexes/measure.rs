//! Timing under one strategy: each read case run `runs` times on one connection after a
//! warm-up (warm cache: the state is labelled in the report), and the write statements
//! (trade, message post) run inside transactions that are rolled back, so every strategy
//! sees the same data.

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection, PgPool};

use crate::cases::Case;
use crate::load::record::micros;
use crate::workload::{self, trade};

/// Fewest timed executions of a case, whatever the time budget.
pub const MIN_RUNS: usize = 5;

/// Latencies of up to `runs` executions of a case, in µs, after up to `warmup` untimed ones.
/// A case stops early once it has used `budget` and has at least [`MIN_RUNS`] samples (a
/// sequential scan per followed author can take seconds at scale 10).
pub async fn time_case(
    conn: &mut PgConnection,
    case: &Case,
    warmup: usize,
    runs: usize,
    budget: Duration,
) -> Result<(Vec<u64>, usize), sqlx::Error> {
    let started = Instant::now();
    let mut rows = 0;
    for _ in 0..warmup {
        rows = case.execute(conn).await?;
        if started.elapsed() > budget / 4 {
            break;
        }
    }
    let started = Instant::now();
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        rows = case.execute(conn).await?;
        samples.push(micros(t.elapsed()).max(1));
        if samples.len() >= MIN_RUNS && started.elapsed() > budget {
            break;
        }
    }
    Ok((samples, rows))
}

/// A write statement of the workload, timed inside a rolled-back transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// The trade's four statements (lock, debit, move the market, upsert the position).
    Trade,
    /// Storing one MLS message.
    MessagePost,
}

impl Write {
    pub const ALL: [Write; 2] = [Self::Trade, Self::MessagePost];

    pub fn name(self) -> &'static str {
        match self {
            Self::Trade => "trade",
            Self::MessagePost => "messages.post",
        }
    }
}

/// Parameters of the write cases: a trader, an open market, a group and its member.
#[derive(Debug, Clone)]
pub struct WriteParams {
    pub user: i32,
    pub event: i32,
    pub group: String,
    pub member: i32,
}

impl WriteParams {
    pub async fn pick(pool: &PgPool) -> Result<Self, sqlx::Error> {
        let (user, event): (i32, i32) = sqlx::query_as(
            "SELECT (SELECT id FROM users WHERE rp_balance > 100 ORDER BY id LIMIT 1), \
                    (SELECT id FROM events WHERE status = 'open' ORDER BY id LIMIT 1)",
        )
        .fetch_one(pool)
        .await?;
        let (group, member): (String, i32) = sqlx::query_as(
            "SELECT group_id::text, user_id FROM mls_group_members ORDER BY id LIMIT 1",
        )
        .fetch_one(pool)
        .await?;
        Ok(Self {
            user,
            event,
            group,
            member,
        })
    }
}

/// Latencies of `runs` executions of a write (µs), each in its own rolled-back transaction.
pub async fn time_write(
    conn: &mut PgConnection,
    write: Write,
    p: &WriteParams,
    runs: usize,
) -> Result<Vec<u64>, sqlx::Error> {
    let payload = vec![0xa5u8; 346];
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs + 5 {
        let mut tx = conn.begin().await?;
        let t = Instant::now();
        match write {
            Write::Trade => {
                sqlx::query(trade::LOCK_EVENT.sql)
                    .bind(p.event)
                    .fetch_optional(&mut *tx)
                    .await?;
                sqlx::query(trade::DEBIT.sql)
                    .bind(p.user)
                    .bind(1.0f64)
                    .fetch_optional(&mut *tx)
                    .await?;
                sqlx::query(trade::UPDATE_EVENT.sql)
                    .bind(p.event)
                    .bind(0.5f64)
                    .bind(1.0f64)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(trade::UPSERT_SHARES.sql)
                    .bind(p.user)
                    .bind(p.event)
                    .bind(1.0f64)
                    .bind(0.0f64)
                    .fetch_one(&mut *tx)
                    .await?;
            }
            Write::MessagePost => {
                sqlx::query(workload::MESSAGES_POST.sql)
                    .bind(&p.group)
                    .bind(p.member)
                    .bind(1i32)
                    .bind("application")
                    .bind(&payload)
                    .fetch_one(&mut *tx)
                    .await?;
            }
        }
        let took = micros(t.elapsed()).max(1);
        tx.rollback().await?;
        // The first few warm the cache and the plan.
        if i >= 5 {
            samples.push(took);
        }
    }
    Ok(samples)
}

/// pg_stat_statements, when the server has it preloaded.
pub async fn pg_stat_statements(pool: &PgPool) -> Result<(), String> {
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(pool)
        .await
        .map_err(|e| format!("pg_stat_statements unavailable: {e}"))?;
    sqlx::query("SELECT pg_stat_statements_reset()")
        .execute(pool)
        .await
        .map_err(|e| {
            format!(
                "pg_stat_statements unavailable (needs shared_preload_libraries = 'pg_stat_statements'): {e}"
            )
        })?;
    Ok(())
}

/// Server-side (calls, mean execution ms) of a statement since the last reset.
pub async fn server_stats(pool: &PgPool, sql: &str) -> Option<(i64, f64)> {
    sqlx::query_as(
        "SELECT sum(calls)::int8, (sum(total_exec_time) / greatest(sum(calls), 1))::float8 \
         FROM pg_stat_statements WHERE query = $1 HAVING sum(calls) > 0",
    )
    .bind(sql)
    .fetch_optional(pool)
    .await
    .ok()
    .flatten()
}
