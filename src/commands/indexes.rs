//! `indexes`: apply each strategy in turn to the same seeded data and compare them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;

use crate::cases;
use crate::cli::IndexesArgs;
use crate::db::{ConnectOpts, Target};
use crate::indexes::measure::{self, Write, WriteParams};
use crate::indexes::report::{self, CaseResult, IndexReport};
use crate::indexes::stats::Verdict;
use crate::indexes::{plan, Strategy};
use crate::load::record::new_histogram;
use crate::report::Percentiles;

/// The strategies directory: as given, else `migrations/strategies` here or in the source tree.
fn strategies_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(d) = explicit {
        return d.to_path_buf();
    }
    let here = PathBuf::from(crate::indexes::strategy::DEFAULT_DIR);
    if here.is_dir() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(crate::indexes::strategy::DEFAULT_DIR)
}

fn percentiles(samples: &[u64]) -> Percentiles {
    let mut h = new_histogram();
    for &s in samples {
        h.saturating_record(s);
    }
    Percentiles::of(&h)
}

fn result(
    statement: &str,
    cohort: &str,
    strategy: &str,
    samples: Vec<u64>,
    rows: usize,
) -> CaseResult {
    CaseResult {
        statement: statement.to_string(),
        cohort: cohort.to_string(),
        strategy: strategy.to_string(),
        rows,
        runs: samples.len(),
        latency_us: percentiles(&samples),
        ratio_to_baseline: 1.0,
        p_value: 1.0,
        verdict: Verdict::NoDifference,
        plan: None,
        server_mean_ms: None,
        timed_out: false,
        samples,
    }
}

/// statement_timeout fired (SQLSTATE 57014, query_canceled).
fn is_timeout(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "57014")
}

pub async fn run(connect: &ConnectOpts, args: IndexesArgs) -> anyhow::Result<ExitCode> {
    let dir = strategies_dir(args.strategies_dir.as_deref());
    let strategies: Vec<Strategy> = args
        .strategies
        .iter()
        .map(|name| Strategy::load(&dir, name.trim()))
        .collect::<Result<_, _>>()?;
    if strategies.is_empty() {
        bail!("--strategies needs at least one strategy");
    }
    if args.runs < measure::MIN_RUNS {
        bail!("--runs must be at least {}", measure::MIN_RUNS);
    }
    if !(args.max_case_secs.is_finite() && args.max_case_secs > 0.0) {
        bail!("--max-case-secs must be a positive number of seconds");
    }
    let run_id = crate::report::run_id(Some(args.data.seed));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(format!("indexes-{run_id}")));

    let target = Target::open(connect).await?;
    let pool = target.pool(super::seed::SEED_POOL).await?;
    let (manifest, _) =
        super::seed::ensure_seeded(&pool, &target.database, &args.data, false).await?;
    let database = serde_json::to_value(target.info(&pool).await?)?;
    let pgss = measure::pg_stat_statements(&pool).await;
    let cases = cases::reads(&pool, &manifest, &args.variants).await?;
    let write_params = WriteParams::pick(&pool).await?;
    eprintln!(
        "comparing {} strategies on {} cases and {} writes ({} runs each, warm cache)",
        strategies.len(),
        cases.len(),
        Write::ALL.len(),
        args.runs
    );

    let mut applied = Vec::new();
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    for s in &strategies {
        let a = s.apply(&pool).await?;
        eprintln!(
            "strategy {}: {} indexes, {:.1} MB, built in {:.2} s",
            s.name,
            a.indexes.len(),
            report::mb(a.total_size_bytes),
            a.build_seconds
        );
        applied.push(a);
        if pgss.is_ok() {
            let _ = measure::pg_stat_statements(&pool).await;
        }
        let mut conn = pool.acquire().await?;
        // One execution may not take more than twice the case's budget: a plan that needs
        // minutes (a sequential scan per followed author) is reported as timed out.
        let timeout_ms = (args.max_case_secs * 2000.0).ceil();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SET statement_timeout = {timeout_ms}"
        )))
        .execute(&mut *conn)
        .await?;
        for case in &cases {
            let budget = std::time::Duration::from_secs_f64(args.max_case_secs);
            let r = match measure::time_case(&mut conn, case, 10, args.runs, budget).await {
                Ok((samples, rows)) => {
                    let mut r = result(case.statement, &case.cohort, &s.name, samples, rows);
                    r.plan = plan::capture(&mut conn, case).await.ok();
                    r
                }
                Err(e) if is_timeout(&e) => {
                    eprintln!(
                        "  {} under {}: one execution exceeded {} ms, reported as timed out",
                        case.id(),
                        s.name,
                        timeout_ms
                    );
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let at = (timeout_ms * 1000.0) as u64;
                    let mut r = result(case.statement, &case.cohort, &s.name, vec![at; 1], 0);
                    r.timed_out = true;
                    r
                }
                Err(e) => {
                    return Err(anyhow::Error::from(e).context(format!(
                        "running {} under {}",
                        case.id(),
                        s.name
                    )))
                }
            };
            reads.push(r);
        }
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut *conn)
            .await?;
        for w in Write::ALL {
            let samples = measure::time_write(&mut conn, w, &write_params, args.runs).await?;
            writes.push(result(w.name(), "one row", &s.name, samples, 1));
        }
        drop(conn);
        if pgss.is_ok() {
            for r in reads.iter_mut().filter(|r| r.strategy == s.name) {
                if let Some(c) = cases.iter().find(|c| c.statement == r.statement) {
                    r.server_mean_ms = measure::server_stats(&pool, c.sql).await.map(|(_, m)| m);
                }
            }
        }
    }
    // Leave the database with the seed's indexes, as seeding made it.
    if let Ok(seed) = Strategy::load(&dir, "seed") {
        seed.apply(&pool).await?;
    }

    let baseline = strategies[0].name.clone();
    report::judge(&mut reads, &baseline);
    report::judge(&mut writes, &baseline);
    let best = report::best(&reads, &applied, &writes);
    let r = IndexReport {
        schema_version: 1,
        kind: "indexes".into(),
        run_id,
        generated_at: chrono::Utc::now().to_rfc3339(),
        config: serde_json::json!({
            "command": "indexes",
            "strategies": args.strategies,
            "strategies_dir": dir,
            "variants": args.variants,
            "runs": args.runs,
            "max_case_secs": args.max_case_secs,
            "seed": args.data.seed,
            "scale": args.data.scale,
            "out": out,
        }),
        database: Some(database),
        manifest,
        baseline,
        cache_state: format!(
            "Warm cache: up to 10 untimed executions before the timed ones, one connection, nothing else running; \
             a case stops after {} s once it has {} samples (`runs` per result says how many it got).",
            args.max_case_secs,
            measure::MIN_RUNS
        ),
        method: format!(
            "Verdict: two-sided Mann-Whitney U test against the baseline's {} samples (p < {}) and a median change of at least {:.0}%.",
            args.runs,
            crate::indexes::stats::ALPHA,
            crate::indexes::stats::MIN_EFFECT * 100.0
        ),
        strategies: applied,
        reads,
        writes,
        pg_stat_statements: match &pgss {
            Ok(()) => "available: server mean execution times are in reads[].server_mean_ms".into(),
            Err(note) => note.clone(),
        },
        best,
    };
    r.write(&out)?;
    r.markdown(std::io::stderr())?;
    eprintln!("wrote {}/report.{{md,json,html}}", out.display());
    Ok(ExitCode::SUCCESS)
}
