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
    // pg_stat_statements (throwaway clusters preload it): reset, so that the figures after
    // the load are the load's.
    let pgss = crate::indexes::measure::pg_stat_statements(&server_pool).await;
    let plan = plan(&host, scenario, args.data.seed, &out);
    let result = load::drive(&plan).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    let result = result?;
    let client_vs_server = match &pgss {
        Ok(()) => client_vs_server(&server_pool, &result, args.feed_variant).await,
        Err(note) => {
            eprintln!("note: {note}");
            Vec::new()
        }
    };
    server_pool.close().await;
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
    let mut report = report;
    report.client_vs_server = client_vs_server;
    let code = finish(&report, &out)?;
    drop(target);
    Ok(code)
}

/// Each endpoint's client latency beside the server's mean execution time of the statements
/// it runs (pg_stat_statements, reset just before the load).
async fn client_vs_server(
    pool: &sqlx::PgPool,
    result: &load::LoadResult,
    feed: crate::workload::FeedVariant,
) -> Vec<report::ClientServer> {
    use crate::load::personas as p;
    use crate::workload::{self as w, trade};
    let map: Vec<(&str, Vec<w::Statement>)> = vec![
        (p::FEED, vec![feed.statement()]),
        (p::POSITIONS, vec![w::PORTFOLIO]),
        (p::EVENTS, vec![w::EVENTS_OPEN]),
        (
            p::TRADE,
            vec![
                trade::LOCK_EVENT,
                trade::DEBIT,
                trade::UPDATE_EVENT,
                trade::UPSERT_SHARES,
            ],
        ),
        (p::GROUPS, vec![w::GROUPS]),
        (p::MESSAGES, vec![w::MEMBERSHIP, w::MESSAGES_FETCH]),
        (p::POST_MESSAGE, vec![w::MEMBERSHIP, w::MESSAGES_POST]),
        (p::LOGIN, vec![w::LOGIN]),
    ];
    let mut out = Vec::new();
    for (endpoint, statements) in map {
        let Some(samples) = result.snapshot.endpoints.get(endpoint) else {
            continue;
        };
        let (mut calls, mut server_ms) = (0i64, 0.0f64);
        for s in &statements {
            if let Some((c, mean)) = crate::indexes::measure::server_stats(pool, s.sql).await {
                calls = calls.max(c);
                server_ms += mean;
            }
        }
        if calls == 0 {
            continue;
        }
        let client_mean = samples.service.mean();
        out.push(report::ClientServer {
            endpoint: endpoint.to_string(),
            statement: statements
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(" + "),
            calls,
            server_mean_us: (server_ms * 1000.0 * 10.0).round() / 10.0,
            client_p50_us: samples.service.value_at_quantile(0.5),
            client_mean_us: (client_mean * 10.0).round() / 10.0,
            overhead_us: ((client_mean - server_ms * 1000.0) * 10.0).round() / 10.0,
        });
    }
    out
}
