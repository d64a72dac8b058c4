//! `seed`: fill the database, print per-table figures, optionally write the manifest.

use std::process::ExitCode;

use anyhow::Context;
use sqlx::PgPool;

use crate::cli::{DataArgs, SeedArgs};
use crate::db::{ConnectOpts, Target};
use crate::seed::{self, manifest, Manifest, SeedOptions, SeedOutcome, Shape};

/// Connections used while seeding: one per table plus headroom for index builds.
pub const SEED_POOL: u32 = crate::seed::MIN_POOL;

pub async fn run(connect: &ConnectOpts, args: SeedArgs) -> anyhow::Result<ExitCode> {
    let target = Target::open(connect).await?;
    if target.cluster.is_some() {
        eprintln!(
            "note: no --database-url/DATABASE_URL: seeding a throwaway cluster that is removed \
             on exit (useful to measure seeding; use a URL to keep the data)"
        );
    }
    let pool = target.pool(SEED_POOL).await?;
    let outcome = seed_now(&pool, &target.database, &args.data, args.quiet).await?;
    print_outcome(&outcome);
    if let Some(path) = &args.manifest {
        let json = serde_json::to_vec_pretty(&outcome.manifest)?;
        std::fs::write(path, json)
            .with_context(|| format!("writing manifest {}", path.display()))?;
        eprintln!("manifest written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn seed_now(
    pool: &PgPool,
    database: &str,
    data: &DataArgs,
    quiet: bool,
) -> anyhow::Result<SeedOutcome> {
    let opts = SeedOptions {
        seed: data.seed,
        scale: data.scale,
        reset: data.reset,
        quiet,
        shape: Shape {
            mls_live_share: data.mls_live_share,
            ..Shape::default()
        },
        jobs: data.jobs.map_or_else(default_jobs, usize::from),
    };
    if !quiet {
        eprintln!(
            "seeding `{database}` at scale {} with seed {}",
            data.scale, data.seed
        );
    }
    Ok(seed::seed(pool, database, &opts).await?)
}

/// Reuses a database already seeded with the same seed, scale, generator version and (where
/// it matters) MLS live share; seeds otherwise.
/// Returns the manifest and, when this call seeded, the seeding figures.
pub async fn ensure_seeded(
    pool: &PgPool,
    database: &str,
    data: &DataArgs,
    quiet: bool,
) -> anyhow::Result<(Manifest, Option<SeedOutcome>)> {
    if !data.reset {
        if let Some(m) = manifest::stored(pool).await? {
            #[allow(clippy::float_cmp)]
            let same = m.seed == data.seed
                && m.scale == data.scale
                && m.generator_version == crate::seed::params::GENERATOR_VERSION
                && (!live_share_matters(data.scale)
                    || m.shape["mls_live_share"].as_f64() == Some(data.mls_live_share));
            if same {
                // Earlier load runs write (trades, posted messages): say so when the data
                // is no longer what the manifest describes.
                if manifest::modified_since(pool, &m).await? {
                    eprintln!(
                        "warning: `{database}` was modified since it was seeded (earlier load \
                         runs?); the report's manifest describes the seeded data. Pass --reset \
                         for pristine data."
                    );
                } else if !quiet {
                    eprintln!(
                        "`{database}` is already seeded with seed {} at scale {}: reusing it",
                        m.seed, m.scale
                    );
                }
                return Ok((m, None));
            }
        }
    }
    let outcome = seed_now(pool, database, data, quiet).await?;
    Ok((outcome.manifest.clone(), Some(outcome)))
}

/// Whether `--mls-live-share` changes the data at `scale`: only beyond the groups and key
/// packages that are always live (scale 1's worth).
fn live_share_matters(scale: f64) -> bool {
    let shape = Shape::default();
    shape.counts(scale).map_or(true, |c| {
        c.groups > shape.mls_live_groups || c.users > shape.mls_live_key_packages
    })
}

/// One generator thread per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}

pub fn print_outcome(o: &SeedOutcome) {
    eprintln!(
        "seeded in {:.1} s (world {:.1} s, load {:.1} s, indexes/constraints/VACUUM {:.1} s, \
         manifest and cohorts {:.1} s)",
        o.total_seconds, o.world_seconds, o.load_seconds, o.index_seconds, o.manifest_seconds
    );
    #[allow(clippy::cast_precision_loss)]
    let mb = o.database_bytes as f64 / 1_048_576.0;
    eprintln!("database size {mb:.0} MB");
    for t in &o.manifest.tables {
        eprintln!(
            "  {:<22} {:>10} rows  checksum {}",
            t.name, t.rows, t.checksum
        );
    }
}
