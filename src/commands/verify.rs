//! `verify`: replay a sample of the seeded MLS groups from the database as their members
//! (join from the stored Welcome, process stored commits, decrypt stored messages).

use std::process::ExitCode;

use anyhow::bail;

use crate::cli::VerifyArgs;
use crate::db::{ConnectOpts, Target};
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
    let mut shape: Shape = serde_json::from_value(m.shape.clone())
        .map_err(|e| anyhow::anyhow!("the stored manifest's shape is unreadable: {e}"))?;
    if m.generator_version < 2 {
        // Generator version 1 made every group with real cryptography.
        shape.mls_live_groups = u32::MAX;
    }
    let (mut ok, mut failed, mut decrypted, mut commits, mut forged) = (0, 0, 0, 0, 0);
    for g in &groups {
        match verify::verify_group(&pool, m.seed, &shape, g).await {
            Ok(v) => {
                ok += 1;
                if !v.real_crypto {
                    forged += 1;
                }
                decrypted += v.decrypted;
                commits += v.commits;
                if args.verbose {
                    eprintln!(
                        "  ok  {g}: as user {}, {} commits, {} decrypted, {} own skipped, epoch {}{}",
                        v.verifier,
                        v.commits,
                        v.decrypted,
                        v.own_skipped,
                        v.final_epoch,
                        if v.real_crypto { "" } else { " (forged)" }
                    );
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("  FAIL {e}");
            }
        }
    }
    eprintln!(
        "{ok} groups verified ({commits} commits processed, {decrypted} messages decrypted), {failed} failed"
    );
    if forged > 0 {
        eprintln!(
            "  of which {} with real cryptography and {forged} forged (outside the live share: \
             replayed through openmls with the forged primitives; structure, epochs and \
             plaintexts checked, not the cryptography)",
            ok - forged
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
