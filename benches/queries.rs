//! Criterion benchmarks of every named workload statement on a seeded database, with
//! parameters from the seeded cohorts. Bench ids are `statement/cohort`.
//!
//! Database: `DATABASE_URL` if set (seeded on first use if empty), else a cluster kept in
//! `target/intellacc-bench-cluster/` between runs, with one database per (seed, scale),
//! seeded once. `INTELLACC_BENCH_SCALE` (default 1) and `INTELLACC_BENCH_SEED` (default 42)
//! choose the data. A case whose single execution takes longer than
//! `INTELLACC_BENCH_MAX_CASE_SECS` (default 1) is skipped with a note.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use intellacc_bench::cases::{self, Case};
use intellacc_bench::db::{target, Cluster, PgBinaries};
use intellacc_bench::indexes::measure::{self, Write, WriteParams};
use intellacc_bench::seed::params::GENERATOR_VERSION;
use intellacc_bench::seed::{self, manifest, Manifest, SeedOptions};
use intellacc_bench::workload::FeedVariant;
use sqlx::PgPool;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Bench {
    pool: PgPool,
    manifest: Manifest,
    _cluster: Option<Cluster>,
}

/// Reuses the data when it was seeded with the same seed, scale and generator version.
/// Otherwise seeds; `ours` (the kept bench cluster) allows replacing older harness data,
/// a `DATABASE_URL` database is never reset from here.
async fn seeded(pool: &PgPool, seed: u64, scale: f64, ours: bool) -> Manifest {
    let mut reset = false;
    if let Some(m) = manifest::stored(pool).await.expect("read manifest") {
        #[allow(clippy::float_cmp)]
        if m.seed == seed && m.scale == scale && m.generator_version == GENERATOR_VERSION {
            return m;
        }
        assert!(
            ours,
            "DATABASE_URL holds intellacc-bench data (seed {}, scale {}, generator version {}) \
             other than what this bench needs (seed {seed}, scale {scale}, version \
             {GENERATOR_VERSION}): re-seed it with `intellacc-bench seed --reset`",
            m.seed, m.scale, m.generator_version
        );
        reset = true;
    }
    eprintln!("seeding the bench database (seed {seed}, scale {scale}); later runs reuse it");
    let opts = SeedOptions {
        reset,
        ..SeedOptions::new(seed, scale)
    };
    seed::seed(pool, "bench", &opts)
        .await
        .expect("seeding the bench database (a database with other data is never touched)")
        .manifest
}

async fn setup(seed: u64, scale: f64) -> Bench {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let pool = target::pool(&url, 12).await.expect("DATABASE_URL");
        let manifest = seeded(&pool, seed, scale, false).await;
        return Bench {
            pool,
            manifest,
            _cluster: None,
        };
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/intellacc-bench-cluster");
    let bins = PgBinaries::locate(None).expect("PostgreSQL server binaries");
    let cluster = tokio::task::spawn_blocking(move || Cluster::start_persistent(bins, root))
        .await
        .unwrap()
        .expect("starting the bench cluster");
    let db = format!("bench_s{seed}_x{}", scale.to_string().replace('.', "_"));
    let admin = target::pool(&cluster.url("postgres"), 1).await.unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&db)
            .fetch_one(&admin)
            .await
            .unwrap();
    if !exists {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(&admin)
            .await
            .unwrap();
    }
    admin.close().await;
    let pool = target::pool(&cluster.url(&db), 12).await.unwrap();
    let manifest = seeded(&pool, seed, scale, true).await;
    Bench {
        pool,
        manifest,
        _cluster: Some(cluster),
    }
}

fn queries(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let seed = env_or("INTELLACC_BENCH_SEED", 42u64);
    let scale = env_or("INTELLACC_BENCH_SCALE", 1.0f64);
    let bench = rt.block_on(setup(seed, scale));
    let reads: Vec<Case> = rt
        .block_on(cases::reads(
            &bench.pool,
            &bench.manifest,
            &FeedVariant::ALL,
        ))
        .expect("cohort parameters");
    let mut group = c.benchmark_group(format!("reads_s{seed}_x{scale}"));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let max_case = Duration::from_secs_f64(env_or("INTELLACC_BENCH_MAX_CASE_SECS", 1.0f64));
    for case in &reads {
        // One execution first: a plan that needs seconds per run (the LATERAL feed of a power
        // follower without an author index) would take minutes of samples; `indexes` reports
        // those with a timeout instead.
        let one = rt.block_on(async {
            let mut conn = bench.pool.acquire().await.unwrap();
            let t = Instant::now();
            case.execute(&mut conn).await.unwrap();
            t.elapsed()
        });
        if one > max_case {
            eprintln!(
                "skipping {}: one execution took {:.1} s (> INTELLACC_BENCH_MAX_CASE_SECS = {:.1})",
                case.id(),
                one.as_secs_f64(),
                max_case.as_secs_f64()
            );
            continue;
        }
        let pool = bench.pool.clone();
        group.bench_function(case.id(), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let pool = pool.clone();
                async move {
                    let mut conn = pool.acquire().await.unwrap();
                    let started = Instant::now();
                    for _ in 0..iters {
                        case.execute(&mut conn).await.unwrap();
                    }
                    started.elapsed()
                }
            });
        });
    }
    group.finish();

    let params = rt.block_on(WriteParams::pick(&bench.pool)).unwrap();
    let mut group = c.benchmark_group(format!("writes_s{seed}_x{scale}"));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for w in Write::ALL {
        let pool = bench.pool.clone();
        let params = params.clone();
        group.bench_function(w.name(), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let pool = pool.clone();
                let params = params.clone();
                async move {
                    let mut conn = pool.acquire().await.unwrap();
                    // Each write runs in its own rolled-back transaction; only the
                    // statements are timed.
                    let runs = usize::try_from(iters).unwrap_or(usize::MAX);
                    let samples = measure::time_write(&mut conn, w, &params, runs)
                        .await
                        .unwrap();
                    Duration::from_micros(samples.iter().sum())
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, queries);
criterion_main!(benches);
