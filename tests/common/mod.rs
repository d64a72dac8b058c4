//! Test fixtures: a throwaway cluster started once per test binary (and reaped when the
//! binary exits), fresh empty databases, and copies of a database seeded once.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use intellacc_bench::db::{Cluster, PgBinaries};
use intellacc_bench::seed::{self, SeedOptions};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgPool};

/// Scale and seed of the shared seeded template: 200 users, 20 MLS groups.
pub const SCALE: f64 = 0.02;
pub const SEED: u64 = 7;

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static TEMPLATE: OnceLock<String> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        let bins = PgBinaries::locate(
            std::env::var_os("INTELLACC_PG_BIN")
                .map(std::path::PathBuf::from)
                .as_deref(),
        )
        .expect("PostgreSQL server binaries (apt-get install postgresql)");
        Cluster::start(bins, &[]).expect("start the throwaway cluster")
    })
}

async fn admin() -> sqlx::PgConnection {
    PgConnectOptions::from_str(&cluster().url("postgres"))
        .unwrap()
        .connect()
        .await
        .expect("connect to the test cluster")
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A new, empty database; returns its URL.
pub async fn fresh_db() -> String {
    let name = unique("t");
    let mut c = admin().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.ok();
    cluster().url(&name)
}

pub async fn pool(url: &str) -> PgPool {
    intellacc_bench::db::target::pool(url, intellacc_bench::seed::MIN_POOL)
        .await
        .unwrap()
}

/// A new database the harness has claimed and migrated, but not seeded: its URL and a pool.
pub async fn migrated_db() -> (String, PgPool) {
    let url = fresh_db().await;
    let pool = pool(&url).await;
    intellacc_bench::db::marker::claim_and_migrate(&pool, "migrated")
        .await
        .unwrap();
    (url, pool)
}

/// Seeds `url` with the given seed and scale.
pub async fn seed_into(url: &str, seed: u64, scale: f64) -> seed::SeedOutcome {
    seed_with_jobs(url, seed, scale, 2).await
}

pub async fn seed_with_jobs(url: &str, seed: u64, scale: f64, jobs: usize) -> seed::SeedOutcome {
    let pool = pool(url).await;
    let opts = SeedOptions {
        jobs,
        ..SeedOptions::new(seed, scale)
    };
    let out = seed::seed(&pool, "test", &opts).await.expect("seeding");
    pool.close().await;
    out
}

/// A copy of the shared seeded database (SEED, SCALE): cheap, isolated, writable.
pub async fn seeded_db() -> String {
    let template = TEMPLATE.get_or_init(|| {
        // Seed on a runtime of its own: the caller's runtime may be single-threaded and
        // OnceLock blocks it.
        std::thread::spawn(|| {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let url = fresh_db().await;
                seed_into(&url, SEED, SCALE).await;
                url.rsplit('/').next().unwrap().to_string()
            })
        })
        .join()
        .expect("seeding the template")
    });
    let name = unique("s");
    let mut c = admin().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {name} TEMPLATE {template}"
    )))
    .execute(&mut c)
    .await
    .unwrap();
    c.close().await.ok();
    cluster().url(&name)
}
