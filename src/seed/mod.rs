//! `intellacc-bench seed`: deterministic synthetic data, streamed into Postgres with COPY.
//!
//! Order of work: claim + migrate the database, drop the keys, foreign keys and secondary
//! indexes of the Intellacc tables, generate and COPY every table concurrently (one
//! generator thread and one connection per table; the MLS generator feeds its four group
//! tables at once); as each table's COPY ends, build its keys and indexes and
//! `VACUUM (ANALYZE)` it, and restore each foreign key once both its tables are built
//! (see [`deferred`]); then restore the sequences and record row counts and checksums of
//! what was sent (each COPY's stored row count is checked against the rows sent) in the
//! manifest.

mod cohorts;
pub mod copy;
mod deferred;
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
pub use deferred::secondary_indexes;
pub use manifest::{Manifest, TableManifest, TABLES};
pub use params::Shape;
use world::World;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Scale(#[from] params::ScaleError),
    #[error(transparent)]
    Marker(#[from] MarkerError),
    #[error("loading table {table}")]
    Load {
        table: &'static str,
        source: sqlx::Error,
    },
    #[error("{step}")]
    Sql {
        step: &'static str,
        source: sqlx::Error,
    },
    #[error("generator failed: {0}")]
    Generator(String),
    #[error("the generator of table {table} stopped before the end of its rows")]
    GeneratorStopped { table: &'static str },
    #[error("{what}")]
    Build { what: String, source: sqlx::Error },
    #[error(
        "seeding needs a pool of at least {need} connections (one per table while they \
         load, and builds beside them); this one has {have}"
    )]
    Pool { have: u32, need: u32 },
    #[error(
        "table {table} already holds rows that intellacc-bench did not seed; seed a fresh \
         database, or drop this data with --reset"
    )]
    NotEmpty { table: &'static str },
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

impl SeedOptions {
    /// Quiet seeding of `seed` at `scale` with the default shape, no reset, two generator
    /// threads; adjust the fields for anything else.
    pub fn new(seed: u64, scale: f64) -> Self {
        Self {
            seed,
            scale,
            reset: false,
            quiet: true,
            shape: Shape::default(),
            jobs: 2,
        }
    }
}

/// Timings of one table's load.
#[derive(Debug, Clone, Serialize)]
pub struct TableTiming {
    pub table: &'static str,
    pub rows: u64,
    #[serde(skip)]
    pub checksum: String,
    pub seconds: f64,
    pub rows_per_sec: f64,
}

/// The result of a seeding run.
#[derive(Debug, Clone, Serialize)]
pub struct SeedOutcome {
    pub manifest: Manifest,
    pub tables: Vec<TableTiming>,
    /// Building the in-memory world (user activity, popularity, cohorts).
    pub world_seconds: f64,
    pub load_seconds: f64,
    pub index_seconds: f64,
    /// The manifest: database size, transaction id and cohorts, read from the database.
    pub manifest_seconds: f64,
    /// On-disk size of the database after seeding (`pg_database_size`).
    pub database_bytes: i64,
    pub total_seconds: f64,
}

/// Connections a seeding pool needs: one per table while they all load, and two for the
/// builds that start as the first tables finish.
pub const MIN_POOL: u32 = TABLES.len() as u32 + 2;

/// One table's generator: writes its rows into the sink.
type Generator = fn(&World, &mut copy::TableSink) -> Result<(), SeedError>;

/// The tables with a generator of their own.
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

/// The COPY format of `table`'s stream: binary for the MLS tables, whose BYTEA is most of
/// the bytes, text for the others (see [`copy`]).
pub fn copy_format(table: &str) -> copy::Format {
    if table.starts_with("mls_") {
        copy::Format::Binary
    } else {
        copy::Format::Text
    }
}

/// Seeds the database behind `pool` (named `database` in messages).
pub async fn seed(
    pool: &PgPool,
    database: &str,
    opts: &SeedOptions,
) -> Result<SeedOutcome, SeedError> {
    let started = Instant::now();
    // Validate the scale and the pool before touching anything.
    opts.shape.counts(opts.scale)?;
    let have = pool.options().get_max_connections();
    if have < MIN_POOL {
        return Err(SeedError::Pool {
            have,
            need: MIN_POOL,
        });
    }
    match marker::inspect(pool).await? {
        DbState::Foreign(_) | DbState::Empty => {}
        DbState::Ours { state, .. } if state == "migrated" => {}
        DbState::Ours { state, .. } => {
            if !opts.reset {
                let state = match manifest::stored(pool).await {
                    Ok(Some(m)) => format!(
                        "{state}, seed {} at scale {}, generator version {}, MLS live share {}",
                        m.seed,
                        m.scale,
                        m.generator_version,
                        m.shape["mls_live_share"]
                            .as_f64()
                            .map_or_else(|| "1 (all)".to_string(), |v| v.to_string())
                    ),
                    _ => state,
                };
                return Err(MarkerError::AlreadySeeded {
                    database: database.into(),
                    state,
                }
                .into());
            }
            marker::reset(pool, database).await?;
        }
    }
    marker::claim_and_migrate(pool, database).await?;
    // A migrated, never-seeded database may have been written to (by `serve`, say): the
    // load truncates each table, so refuse rather than lose those rows.
    for &table in TABLES {
        if copy::has_rows(pool, table)
            .await
            .map_err(sql("checking the tables are empty"))?
        {
            return Err(SeedError::NotEmpty { table });
        }
    }
    sqlx::query(
        "INSERT INTO intellacc_bench_manifest (id, state) VALUES (1, 'seeding') \
         ON CONFLICT (id) DO UPDATE SET state = 'seeding', manifest = NULL, updated_at = now()",
    )
    .execute(pool)
    .await
    .map_err(sql("marking the seeding run"))?;

    let deferred = deferred::Deferred::take(pool).await?;

    let world_started = Instant::now();
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
    let world_seconds = world_started.elapsed().as_secs_f64();

    let load_started = Instant::now();
    let mut progress = progress::Progress::new(progress::Mode::detect(opts.quiet));
    let plain = progress.mode() == progress::Mode::Lines;
    let restore = deferred.start(pool, &progress);
    let mut loaders = Vec::new();
    // A table's loader (its COPY, progress bar and rebuild), and the sink that feeds it.
    let mut open = |table: &'static str, columns: &'static str| {
        let format = copy_format(table);
        let (tx, rx) = mpsc::channel(copy::CHANNEL_CHUNKS);
        let bar = progress.table(table);
        loaders.push(spawn_loader(
            pool,
            (table, columns, format),
            rx,
            (bar, plain),
            Arc::clone(&restore),
        ));
        copy::TableSink::with_format(table, format, tx)
    };
    let mut generators = Vec::new();
    for &(table, columns, generate) in SIMPLE_TABLES {
        let mut sink = open(table, columns);
        let w = Arc::clone(&world);
        generators.push(tokio::task::spawn_blocking(move || {
            generate(&w, &mut sink)?;
            sink.finish()?;
            Ok::<(), SeedError>(())
        }));
    }
    let mls_sinks: Vec<_> = mls::TABLES
        .iter()
        .map(|&(table, columns)| open(table, columns))
        .collect();
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
            Ok(Err(e @ SeedError::GeneratorStopped { .. })) => {
                // The generator's own error says why.
                failure.get_or_insert(e);
            }
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
        restore.abort().await;
        return Err(e);
    }
    let load_seconds = load_started.elapsed().as_secs_f64();

    // Keys, indexes and VACUUM of the tables that finished early ran during the load; this
    // is what remains after the last table.
    let index_started = Instant::now();
    if let Err(e) = deferred::fix_sequences(pool).await {
        restore.abort().await;
        return Err(e);
    }
    restore.finish().await?;
    let index_seconds = index_started.elapsed().as_secs_f64();

    let manifest_started = Instant::now();
    // Size, server version and the transaction id after which any write is a later change
    // (see `manifest::modified_since`), in one round trip.
    let (database_bytes, postgres_version, seeded_xid): (i64, String, String) = sqlx::query_as(
        "SELECT pg_database_size(current_database()), current_setting('server_version'), \
         (txid_current() % 4294967296)::text",
    )
    .fetch_one(pool)
    .await
    .map_err(sql(
        "reading the database size, server version and transaction id",
    ))?;
    let tables_manifest = TABLES
        .iter()
        .map(|&name| {
            let t = tables.iter().find(|t| t.table == name);
            TableManifest {
                name: name.to_string(),
                rows: t.map_or(0, |t| i64::try_from(t.rows).unwrap_or(i64::MAX)),
                checksum: t.map(|t| t.checksum.clone()).unwrap_or_default(),
            }
        })
        .collect();
    let cohorts = cohorts::cohorts(pool, &world).await?;
    let manifest = Manifest {
        generator_version: params::GENERATOR_VERSION,
        seed: opts.seed,
        scale: opts.scale,
        postgres_version,
        tables: tables_manifest,
        seeded_xid: Some(seeded_xid),
        cluster_id: manifest::cluster_id(pool).await,
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
        world_seconds,
        load_seconds,
        index_seconds,
        manifest_seconds: manifest_started.elapsed().as_secs_f64(),
        database_bytes,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

pub(crate) fn sql(step: &'static str) -> impl FnOnce(sqlx::Error) -> SeedError {
    move |source| SeedError::Sql { step, source }
}

fn spawn_loader(
    pool: &PgPool,
    (table, columns, format): (&'static str, &'static str, copy::Format),
    rx: mpsc::Receiver<copy::Chunk>,
    (bar, plain): (indicatif::ProgressBar, bool),
    restore: Arc<deferred::Restore>,
) -> tokio::task::JoinHandle<Result<TableTiming, SeedError>> {
    let pool = pool.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let copy::Loaded { rows, checksum } = copy::load(pool, table, columns, format, rx, &bar)
            .await
            .map_err(|e| match e {
                copy::LoadFailure::Sql(source) => SeedError::Load { table, source },
                copy::LoadFailure::Stopped => SeedError::GeneratorStopped { table },
                copy::LoadFailure::NotEmpty => SeedError::NotEmpty { table },
            })?;
        let seconds = started.elapsed().as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let rows_per_sec = rows as f64 / seconds.max(1e-9);
        bar.set_position(rows);
        bar.finish_with_message("done");
        restore.table_loaded(table);
        if plain {
            // On a terminal the finished bar is the summary line.
            eprintln!(
                "  loaded {table:<22} {rows:>10} rows in {seconds:>6.2} s ({rows_per_sec:>9.0} rows/s)"
            );
        }
        Ok(TableTiming {
            table,
            rows,
            checksum,
            seconds,
            rows_per_sec,
        })
    })
}
