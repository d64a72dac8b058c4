//! `run`: the whole pipeline in one process — database (throwaway unless a URL is given),
//! seed, reference server on a free loopback port, goose load, report.

use std::process::ExitCode;

use tokio::net::TcpListener;

use super::load::{build_report, finish, plan, resolve_scenario};
use crate::cli::RunArgs;
use crate::db::{ConnectOpts, Target};
use crate::load;
use crate::report::{self, SeedSummary, SeedTable};
use crate::server::{self, AppState};

pub async fn run(connect: &ConnectOpts, args: RunArgs) -> anyhow::Result<ExitCode> {
    let scenario = resolve_scenario(&args.load)?;
    let pool_size = args.pool_size.unwrap_or(scenario.pool_size);
    let run_id = report::run_id(Some(args.data.seed));
    let out = args
        .load
        .out
        .clone()
        .unwrap_or_else(|| load::default_out(&run_id));

    let target = Target::open(connect).await?;
    let pool = target.pool(super::seed::SEED_POOL).await?;
    let (manifest, outcome) =
        super::seed::ensure_seeded(&pool, &target.database, &args.data, false).await?;
    let database = serde_json::to_value(target.info(&pool).await?)?;
    pool.close().await;

    let server_pool = target.pool(pool_size).await?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let host = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let state = AppState::new(server_pool.clone(), &super::serve::random_secret())
        .with_feed_variant(args.feed_variant);
    let server = tokio::spawn(server::serve(listener, state, async move {
        let _ = stop_rx.await;
    }));
    eprintln!(
        "reference server on {host}; load: scenario `{}`, {} users, {} s ({} s warm-up)",
        scenario.name, scenario.users, scenario.duration_secs, scenario.warmup_secs
    );

    let config = serde_json::json!({
        "command": "run",
        "seed": args.data.seed,
        "scale": args.data.scale,
        "pool_size": pool_size,
        "feed_variant": args.feed_variant,
        "jobs": args.data.jobs,
        "reset": args.data.reset,
        "database": if connect.database_url.is_some() { "external" } else { "throwaway" },
        "scenario": scenario,
        "out": out,
    });
    let plan = plan(&host, scenario, args.data.seed, &out);
    let result = load::drive(&plan).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    server_pool.close().await;
    let result = result?;
    let seeding = outcome.map(|o| SeedSummary {
        total_seconds: o.total_seconds,
        load_seconds: o.load_seconds,
        index_seconds: o.index_seconds,
        tables: o
            .tables
            .iter()
            .map(|t| SeedTable {
                table: t.table.to_string(),
                rows: t.rows,
                seconds: t.seconds,
                rows_per_sec: t.rows_per_sec,
            })
            .collect(),
    });
    let report = build_report(
        run_id,
        config,
        Some(database),
        Some(manifest),
        seeding,
        &plan,
        &result,
    );
    let code = finish(&report, &out)?;
    drop(target);
    Ok(code)
}
