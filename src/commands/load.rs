//! `load`: drive a scenario against a running server and write the report.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{LoadArgs, LoadOpts};
use crate::load::{self, LoadPlan, LoadResult, Scenario};
use crate::report::{self, EndpointReport, LoadSummary, Report};
use crate::seed::Manifest;

pub async fn run(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let host = load::validate_host(&args.host)?;
    let scenario = resolve_scenario(&args.load)?;
    let manifest = load::fetch_manifest(&host).await;
    let seed = manifest.as_ref().map(|m| m.seed);
    let run_id = report::run_id(seed);
    let out = args
        .load
        .out
        .clone()
        .unwrap_or_else(|| load::default_out(&run_id));
    let config = serde_json::json!({
        "command": "load",
        "host": host,
        "scenario": scenario,
        "out": out,
    });
    let plan = plan(&host, scenario, seed.unwrap_or(0), &out);
    let result = load::drive(&plan).await?;
    let report = build_report(run_id, config, None, manifest, None, &plan, &result);
    finish(&report, &out)
}

/// Scenario file (or the shipped mix), then flags on top.
pub fn resolve_scenario(opts: &LoadOpts) -> anyhow::Result<Scenario> {
    let base = match &opts.scenario {
        Some(path) => Scenario::load(path)?,
        None => Scenario::builtin_mixed(),
    };
    Ok(base
        .with_overrides(opts.users, opts.duration, opts.warmup)?
        .with_rate(opts.rate, opts.arrival)?)
}

pub fn plan(host: &str, scenario: Scenario, seed: u64, out: &std::path::Path) -> LoadPlan {
    LoadPlan {
        host: host.to_string(),
        scenario,
        seed,
        goose_report: Some(out.join("goose.html")),
    }
}

pub fn build_report(
    run_id: String,
    config: serde_json::Value,
    database: Option<serde_json::Value>,
    manifest: Option<Manifest>,
    seeding: Option<report::SeedSummary>,
    plan: &LoadPlan,
    result: &LoadResult,
) -> Report {
    let snap = &result.snapshot;
    let endpoints: Vec<EndpointReport> = snap
        .endpoints
        .iter()
        .map(|(name, s)| EndpointReport::from_samples(name, s, result.measured_secs))
        .collect();
    let feed_by_cohort: Vec<EndpointReport> = snap
        .cohorts
        .iter()
        .map(|(cohort, s)| {
            EndpointReport::from_samples(
                &format!("GET /api/feed [{cohort}]"),
                s,
                result.measured_secs,
            )
        })
        .collect();
    // Logins happen once at the start: not part of the steady-state rate.
    let total_requests: u64 = endpoints.iter().map(|e| e.count).sum();
    let steady: u64 = endpoints
        .iter()
        .filter(|e| e.name != crate::load::personas::LOGIN)
        .map(|e| e.count)
        .sum();
    let total_errors: u64 = endpoints.iter().map(|e| e.errors).sum();
    #[allow(clippy::cast_precision_loss)]
    let throughput = steady as f64 / result.measured_secs;
    let open = result.target_rate.is_some();
    Report {
        schema_version: report::SCHEMA_VERSION,
        run_id,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        generated_at: chrono::Utc::now().to_rfc3339(),
        config,
        database,
        manifest,
        seeding,
        load: LoadSummary {
            load_model: plan.scenario.load_model().into(),
            target_rate: result.target_rate,
            arrival: open.then(|| format!("{:?}", plan.scenario.arrival).to_lowercase()),
            achieved_rate: (throughput * 10.0).round() / 10.0,
            schedule_lag_us: open.then(|| report::Percentiles::of(&snap.lag)),
            late_requests: if open { snap.late } else { 0 },
            unsent_slots: result.unsent,
            host: plan.host.clone(),
            scenario: plan.scenario.name.clone(),
            users: plan.scenario.users,
            duration_secs: plan.scenario.duration_secs,
            warmup_secs: plan.scenario.warmup_secs,
            measured_secs: (result.measured_secs * 100.0).round() / 100.0,
            total_requests,
            total_errors,
            throughput: (throughput * 10.0).round() / 10.0,
            interrupted: result.interrupted,
        },
        endpoints,
        feed_by_cohort,
        client_vs_server: Vec::new(),
        files: vec!["goose.html".into()],
    }
}

/// Writes the report, prints the summary and where it went. Exit code: 130 if the run was
/// interrupted, 1 if the server failed (5xx or requests without a response), else 0.
pub fn finish(report: &Report, out: &std::path::Path) -> anyhow::Result<ExitCode> {
    let written: Vec<PathBuf> = report.write(out)?;
    report.summary(std::io::stderr())?;
    for p in written {
        eprintln!("wrote {}", p.display());
    }
    for f in &report.files {
        let p = out.join(f);
        if p.is_file() {
            eprintln!("wrote {}", p.display());
        }
    }
    if report.load.interrupted {
        eprintln!("interrupted: the report covers the part of the run before Ctrl-C");
        return Ok(ExitCode::from(130));
    }
    let transport: u64 = report.endpoints.iter().map(|e| e.transport_errors).sum();
    let server: u64 = report
        .endpoints
        .iter()
        .flat_map(|e| e.status.iter())
        .filter(|(s, _)| s.starts_with('5'))
        .map(|(_, n)| n)
        .sum();
    if transport + server > 0 {
        eprintln!("failed: {server} responses were 5xx and {transport} requests got no response");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
