//! `verify`: replay a sample of the seeded MLS groups from the database as their members
//! (join from the stored Welcome, process stored commits, decrypt stored messages).

use std::process::ExitCode;

use anyhow::bail;

use crate::cli::VerifyArgs;
use crate::db::{ConnectOpts, Target};
use std::sync::Arc;

use crate::seed::params::GENERATOR_VERSION;
use crate::seed::world::World;
use crate::seed::{manifest, verify, Shape};

pub async fn run(connect: &ConnectOpts, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let target = Target::open(connect).await?;
    let pool = target.pool(super::seed::SEED_POOL).await?;
    let m = match manifest::stored(&pool).await? {
        Some(m) => m,
        None if target.cluster.is_some() => {
            super::seed::ensure_seeded(&pool, &target.database, &args.data, false)
                .await?
                .0
        }
        None => bail!(
            "database `{}` has no complete intellacc-bench seeding to verify",
            target.database
        ),
    };
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM mls_groups")
        .fetch_one(&pool)
        .await?;
    let wanted = i64::from(args.groups).min(total).max(1);
    // An even sample over group ids: small DMs and large groups alike.
    let groups: Vec<String> = sqlx::query_scalar(
        "SELECT group_id::text FROM mls_groups WHERE (id - 1) % greatest($1 / $2, 1) = 0 ORDER BY id LIMIT $2",
    )
    .bind(total)
    .bind(wanted)
    .fetch_all(&pool)
    .await?;
    eprintln!(
        "replaying {} of {total} groups (seed {}, scale {})",
        groups.len(),
        m.seed,
        m.scale
    );
    let shape: Shape = serde_json::from_value(m.shape.clone())
        .map_err(|e| anyhow::anyhow!("the stored manifest's shape is unreadable: {e}"))?;
    if m.generator_version != GENERATOR_VERSION {
        bail!(
            "database `{}` was seeded by generator version {}; this build regenerates version \
             {GENERATOR_VERSION} only. Re-seed it (seed --reset) to verify",
            target.database,
            m.generator_version
        );
    }
    let world = Arc::new(World::new(m.seed, m.scale, shape, 1)?);
    let mut t = Totals::default();
    for g in &groups {
        match verify::verify_group(&pool, &world, g).await {
            Ok(v) => {
                t.add(&v);
                if args.verbose {
                    eprintln!(
                        "  ok  {g}: as user(s) {:?}: {} commits, {} decrypted, {} own; {} \
                         decrypted by another member on regeneration, {} rows identical; \
                         epoch {}{}",
                        v.verifiers,
                        v.commits,
                        v.decrypted,
                        v.own_skipped,
                        v.cross_checked,
                        v.rows_compared,
                        v.final_epoch,
                        if v.real_crypto { "" } else { " (forged)" }
                    );
                }
            }
            Err(e) => {
                t.failed += 1;
                eprintln!("  FAIL {e}");
            }
        }
    }
    let failed = t.failed;
    eprintln!(
        "{} groups verified, {failed} failed: {} commits processed and {} messages decrypted \
         by members joining from the stored Welcomes ({} replays; {} messages they had sent \
         themselves); all {} application messages decrypted by a member other than their \
         sender; {} rows identical to the regenerated ones",
        t.ok, t.commits, t.decrypted, t.replays, t.own, t.cross, t.rows
    );
    if t.forged > 0 {
        eprintln!(
            "  of which {} with real cryptography and {} forged (outside the live share: \
             replayed through openmls with the forged primitives; structure, epochs and \
             plaintexts checked, not the cryptography)",
            t.ok - t.forged,
            t.forged
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Sums over the verified groups.
#[derive(Default)]
struct Totals {
    ok: usize,
    failed: usize,
    forged: usize,
    replays: usize,
    commits: usize,
    decrypted: usize,
    own: usize,
    cross: usize,
    rows: usize,
}

impl Totals {
    fn add(&mut self, v: &verify::GroupVerified) {
        self.ok += 1;
        if !v.real_crypto {
            self.forged += 1;
        }
        self.replays += v.verifiers.len();
        self.commits += v.commits;
        self.decrypted += v.decrypted;
        self.own += v.own_skipped;
        self.cross += v.cross_checked;
        self.rows += v.rows_compared;
    }
}
