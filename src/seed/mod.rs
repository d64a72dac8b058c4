//! `intellacc-bench seed`: deterministic synthetic data, streamed into Postgres with COPY.
//!
//! Order of work: claim + migrate the database, drop foreign keys and secondary indexes,
//! generate and COPY every table concurrently (one generator thread and one connection per
//! table; the MLS generator feeds its five tables at once), restore sequences, foreign keys
//! and indexes, `VACUUM (ANALYZE)`, then checksum what was stored into the manifest.

pub mod copy;
pub mod manifest;
pub mod markets;
pub mod mls;
pub mod parallel;
pub mod params;
pub mod progress;
pub mod rng;
pub mod social;
pub mod verify;
pub mod world;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::mpsc;

use crate::db::marker::{self, DbState, MarkerError};
pub use manifest::{Manifest, TableManifest, TABLES};
pub use params::Shape;
use world::World;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Scale(#[from] params::ScaleError),
    #[error(transparent)]
    Marker(#[from] MarkerError),
    #[error("loading table {table}: {source}")]
    Load {
        table: &'static str,
        source: sqlx::Error,
    },
    #[error("{step}: {source}")]
    Sql {
        step: &'static str,
        source: sqlx::Error,
    },
    #[error("generator failed: {0}")]
    Generator(String),
}

impl From<copy::SinkClosed> for SeedError {
    fn from(e: copy::SinkClosed) -> Self {
        Self::Generator(e.to_string())
    }
}

/// What to seed.
#[derive(Debug, Clone, Serialize)]
pub struct SeedOptions {
    pub seed: u64,
    pub scale: f64,
    pub reset: bool,
    pub quiet: bool,
    pub shape: Shape,
    /// Generator threads for the MLS tables (the output is the same for any value).
    pub jobs: usize,
}

/// Timings of one table's load.
#[derive(Debug, Clone, Serialize)]
pub struct TableTiming {
    pub table: &'static str,
    pub rows: u64,
    pub seconds: f64,
    pub rows_per_sec: f64,
}

/// The result of a seeding run.
#[derive(Debug, Clone, Serialize)]
pub struct SeedOutcome {
    pub manifest: Manifest,
    pub tables: Vec<TableTiming>,
    pub load_seconds: f64,
    pub index_seconds: f64,
    pub total_seconds: f64,
}

/// One table's generator: writes its rows into the sink.
type Generator = fn(&World, &mut copy::TableSink) -> Result<(), SeedError>;

const SIMPLE_TABLES: &[(&str, &str, Generator)] = &[
    ("users", social::USERS_COLUMNS, social::users),
    ("events", markets::EVENTS_COLUMNS, markets::events),
    ("user_shares", markets::SHARES_COLUMNS, markets::user_shares),
    ("posts", social::POSTS_COLUMNS, social::posts),
    ("follows", social::FOLLOWS_COLUMNS, social::follows),
    (
        "mls_key_packages",
        mls::KEY_PACKAGES_COLUMNS,
        mls::key_packages,
    ),
];

/// Seeds the database behind `pool` (named `database` in messages).
pub async fn seed(
    pool: &PgPool,
    database: &str,
    opts: &SeedOptions,
) -> Result<SeedOutcome, SeedError> {
    let started = Instant::now();
    // Validate the scale before touching anything.
    opts.shape.counts(opts.scale)?;
    match marker::inspect(pool).await? {
        DbState::Foreign(_) | DbState::Empty => {}
        DbState::Ours { state, .. } if state == "migrated" => {}
        DbState::Ours { state, .. } => {
            if !opts.reset {
                return Err(MarkerError::AlreadySeeded {
                    database: database.into(),
                    state,
                }
                .into());
            }
            let mut conn = pool.acquire().await.map_err(sql("connecting"))?;
            marker::reset(&mut conn, database).await?;
        }
    }
    marker::claim_and_migrate(pool, database).await?;
    sqlx::query(
        "INSERT INTO intellacc_bench_manifest (id, state) VALUES (1, 'seeding') \
         ON CONFLICT (id) DO UPDATE SET state = 'seeding', manifest = NULL, updated_at = now()",
    )
    .execute(pool)
    .await
    .map_err(sql("marking the seeding run"))?;

    let deferred = Deferred::take(pool).await?;

    let world_opts = opts.clone();
    let world = tokio::task::spawn_blocking(move || {
        World::new(
            world_opts.seed,
            world_opts.scale,
            world_opts.shape,
            world_opts.jobs,
        )
    })
    .await
    .map_err(|e| SeedError::Generator(e.to_string()))??;
    let world = Arc::new(world);

    let load_started = Instant::now();
    let mut progress = progress::Progress::new(progress::Mode::detect(opts.quiet));
    let plain = progress.mode() == progress::Mode::Lines;
    let progress_ref = &mut progress;
    let mut loaders = Vec::new();
    let mut generators = Vec::new();
    for &(table, columns, generate) in SIMPLE_TABLES {
        let (tx, rx) = mpsc::channel(copy::CHANNEL_CHUNKS);
        let bar = progress_ref.table(table);
        loaders.push(spawn_loader(pool, table, columns, rx, bar, plain));
        let w = Arc::clone(&world);
        generators.push(tokio::task::spawn_blocking(move || {
            let mut sink = copy::TableSink::new(table, tx);
            generate(&w, &mut sink)?;
            sink.finish()?;
            Ok::<(), SeedError>(())
        }));
    }
    let mut mls_sinks = Vec::new();
    for &(table, columns) in mls::TABLES {
        let (tx, rx) = mpsc::channel(copy::CHANNEL_CHUNKS);
        let bar = progress_ref.table(table);
        loaders.push(spawn_loader(pool, table, columns, rx, bar, plain));
        mls_sinks.push(copy::TableSink::new(table, tx));
    }
    let w = Arc::clone(&world);
    let mls_gen = tokio::task::spawn_blocking(move || mls::groups(&w, mls_sinks));
    let ticker = progress.spawn_ticker(Duration::from_secs(5));

    let mut failure: Option<SeedError> = None;
    for g in generators {
        match g.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failure.get_or_insert(e);
            }
            Err(e) => {
                failure.get_or_insert(SeedError::Generator(e.to_string()));
            }
        }
    }
    match mls_gen.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            failure.get_or_insert(e);
        }
        Err(e) => {
            failure.get_or_insert(SeedError::Generator(e.to_string()));
        }
    }
    let mut tables = Vec::new();
    for l in loaders {
        match l.await {
            Ok(Ok(t)) => tables.push(t),
            Ok(Err(e)) => {
                // A loader error explains a generator's "channel closed": prefer it.
                failure = Some(e);
            }
            Err(e) => {
                failure.get_or_insert(SeedError::Generator(e.to_string()));
            }
        }
    }
    if let Some(t) = ticker {
        t.abort();
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let load_seconds = load_started.elapsed().as_secs_f64();

    let index_started = Instant::now();
    fix_sequences(pool).await?;
    deferred.restore(pool, &progress).await?;
    sqlx::query("VACUUM (ANALYZE)")
        .execute(pool)
        .await
        .map_err(sql("VACUUM (ANALYZE)"))?;
    let index_seconds = index_started.elapsed().as_secs_f64();

    let postgres_version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(pool)
        .await
        .map_err(sql("reading the server version"))?;
    let tables_manifest = manifest::checksums(pool)
        .await
        .map_err(sql("computing checksums"))?;
    let cohorts = cohorts(pool, &world).await?;
    let manifest = Manifest {
        generator_version: params::GENERATOR_VERSION,
        seed: opts.seed,
        scale: opts.scale,
        postgres_version,
        tables: tables_manifest,
        shape: serde_json::to_value(&opts.shape).unwrap_or_default(),
        cohorts,
    };
    sqlx::query(
        "UPDATE intellacc_bench_manifest SET state = 'complete', manifest = $1, updated_at = now() WHERE id = 1",
    )
    .bind(serde_json::to_value(&manifest).unwrap_or_default())
    .execute(pool)
    .await
    .map_err(sql("storing the manifest"))?;
    Ok(SeedOutcome {
        manifest,
        tables,
        load_seconds,
        index_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

fn sql(step: &'static str) -> impl FnOnce(sqlx::Error) -> SeedError {
    move |source| SeedError::Sql { step, source }
}

fn spawn_loader(
    pool: &PgPool,
    table: &'static str,
    columns: &'static str,
    rx: mpsc::Receiver<Vec<u8>>,
    bar: indicatif::ProgressBar,
    plain: bool,
) -> tokio::task::JoinHandle<Result<TableTiming, SeedError>> {
    let pool = pool.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let rows = copy::load(pool, table, columns, rx, &bar)
            .await
            .map_err(|source| SeedError::Load { table, source })?;
        let seconds = started.elapsed().as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let rows_per_sec = rows as f64 / seconds.max(1e-9);
        bar.set_position(rows);
        bar.finish_with_message("done");
        if plain {
            // On a terminal the finished bar is the summary line.
            eprintln!(
                "  loaded {table:<22} {rows:>10} rows in {seconds:>6.2} s ({rows_per_sec:>9.0} rows/s)"
            );
        }
        Ok(TableTiming {
            table,
            rows,
            seconds,
            rows_per_sec,
        })
    })
}

/// Concurrent index builds after the load.
const INDEX_BUILDS: usize = 4;

/// Foreign keys and secondary (non-constraint) indexes, dropped for the load and restored
/// after it, as pg_restore does: building an index once is far cheaper than maintaining it
/// row by row, and foreign keys let the tables load concurrently in any order.
struct Deferred {
    foreign_keys: Vec<(String, String, String)>,
    indexes: Vec<(String, String)>,
}

impl Deferred {
    async fn take(pool: &PgPool) -> Result<Self, SeedError> {
        let foreign_keys: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) \
             FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace \
             ORDER BY conrelid::regclass::text, conname",
        )
        .fetch_all(pool)
        .await
        .map_err(sql("listing foreign keys"))?;
        let indexes = secondary_indexes(pool)
            .await
            .map_err(sql("listing indexes"))?;
        let mut tx = pool.begin().await.map_err(sql("dropping constraints"))?;
        for (table, name, _) in &foreign_keys {
            let stmt = format!("ALTER TABLE {table} DROP CONSTRAINT {name}");
            sqlx::query(sqlx::AssertSqlSafe(stmt))
                .execute(&mut *tx)
                .await
                .map_err(sql("dropping foreign keys"))?;
        }
        for (name, _) in &indexes {
            let stmt = format!("DROP INDEX {name}");
            sqlx::query(sqlx::AssertSqlSafe(stmt))
                .execute(&mut *tx)
                .await
                .map_err(sql("dropping indexes"))?;
        }
        tx.commit().await.map_err(sql("dropping constraints"))?;
        Ok(Self {
            foreign_keys,
            indexes,
        })
    }

    async fn restore(self, pool: &PgPool, progress: &progress::Progress) -> Result<(), SeedError> {
        // Indexes a few at a time (more would only queue on two cores and could exhaust the
        // pool), then foreign keys, which validate against the now-built unique indexes.
        let gate = Arc::new(tokio::sync::Semaphore::new(INDEX_BUILDS));
        let mut handles = Vec::new();
        for (name, def) in self.indexes {
            let pool = pool.clone();
            let gate = Arc::clone(&gate);
            handles.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                let started = Instant::now();
                sqlx::query(sqlx::AssertSqlSafe(def))
                    .execute(&pool)
                    .await
                    .map(|_| (name, started.elapsed()))
            }));
        }
        for h in handles {
            let (name, took): (String, Duration) = h
                .await
                .map_err(|e| SeedError::Generator(e.to_string()))?
                .map_err(sql("building indexes"))?;
            progress.println(&format!(
                "  index  {name:<28} built in {:>6.2} s",
                took.as_secs_f64()
            ));
        }
        for (table, name, def) in self.foreign_keys {
            let stmt = format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}");
            sqlx::query(sqlx::AssertSqlSafe(stmt))
                .execute(pool)
                .await
                .map_err(sql("restoring foreign keys"))?;
        }
        Ok(())
    }
}

/// Secondary indexes of the Intellacc tables: (name, definition), excluding those that back
/// a constraint (primary keys, UNIQUE).
pub async fn secondary_indexes(pool: &PgPool) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ic.relname::text, pg_get_indexdef(i.indexrelid) \
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_class t ON t.oid = i.indrelid \
         WHERE t.relnamespace = 'public'::regnamespace AND t.relname = ANY($1) \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) \
         ORDER BY 1",
    )
    .bind(TABLES)
    .fetch_all(pool)
    .await
}

/// Points every id sequence past the loaded ids, so later INSERTs (trades, posted messages)
/// get fresh ids.
async fn fix_sequences(pool: &PgPool) -> Result<(), SeedError> {
    for &table in TABLES {
        let stmt = format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT max(id) FROM {table}), 1), \
             (SELECT max(id) IS NOT NULL FROM {table}))"
        );
        sqlx::query(sqlx::AssertSqlSafe(stmt))
            .execute(pool)
            .await
            .map_err(sql("restoring sequences"))?;
    }
    Ok(())
}

/// Users and groups of interest, by cohort, for benches and load scenarios to draw from.
async fn cohorts(pool: &PgPool, world: &World) -> Result<serde_json::Value, SeedError> {
    let pick = |q: &'static str| async move {
        sqlx::query_scalar::<_, i32>(q)
            .fetch_all(pool)
            .await
            .map_err(sql("recording cohorts"))
    };
    let celebrities = pick(
        "SELECT following_id FROM follows GROUP BY following_id ORDER BY count(*) DESC, following_id LIMIT 10",
    )
    .await?;
    let power_followers = pick(
        "SELECT follower_id FROM follows GROUP BY follower_id ORDER BY count(*) DESC, follower_id LIMIT 10",
    )
    .await?;
    let heavy_traders = pick(
        "SELECT user_id FROM user_shares GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 10",
    )
    .await?;
    let large_groups: Vec<String> = sqlx::query_scalar(
        "SELECT group_id::text FROM mls_group_members GROUP BY group_id ORDER BY count(*) DESC, group_id LIMIT 10",
    )
    .fetch_all(pool)
    .await
    .map_err(sql("recording cohorts"))?;
    let dormant: Vec<u32> = (1..=world.users())
        .filter(|&id| world.is_dormant(id))
        .take(10)
        .collect();
    let typical: Vec<u32> = (1..=world.users())
        .filter(|&id| {
            !world.is_dormant(id)
                && !world.is_celebrity(id)
                && !world.is_power_follower(id)
                && !world.is_heavy_trader(id)
        })
        .take(10)
        .collect();
    Ok(serde_json::json!({
        "celebrities": celebrities,
        "power_followers": power_followers,
        "heavy_traders": heavy_traders,
        "dormant": dormant,
        "typical": typical,
        "large_groups": large_groups,
    }))
}
