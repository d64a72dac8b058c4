//! `load`: goose scenarios against the reference API. Each goose user logs in once as a
//! distinct seeded account, then loops its persona's requests with think time (closed
//! model). Latencies are measured by the users themselves, to the last byte of the body,
//! into microsecond HdrHistograms (see [`record`]); goose's own report is written beside ours.

pub mod personas;
pub mod record;
pub mod scenario;
pub mod schedule;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use goose::config::GooseConfiguration;
use goose::prelude::*;

use crate::server::bench::Account;
pub use record::{EndpointSamples, Recorder};
pub use scenario::Scenario;

/// What a load run needs.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub host: String,
    pub scenario: Scenario,
    /// Seed of the users' request choices (which page, which market, which group).
    pub seed: u64,
    /// Where goose writes its own report (HTML).
    pub goose_report: Option<PathBuf>,
}

/// What a load run measured.
#[derive(Debug)]
pub struct LoadResult {
    pub snapshot: record::Snapshot,
    pub measured_secs: f64,
    pub goose_requests: u64,
    /// Open model: the rate asked for and the slots handed out.
    pub target_rate: Option<f64>,
    pub scheduled: u64,
    /// Open model: slots never handed out because every user was busy when the run ended.
    pub unsent: u64,
    /// The run was stopped by Ctrl-C before its end.
    pub interrupted: bool,
}

/// Removes the report directory a failed run created, if nothing was written to it.
fn remove_if_empty(goose_report: Option<&Path>) {
    if let Some(dir) = goose_report.and_then(Path::parent) {
        let _ = std::fs::remove_dir(dir);
    }
}

/// Checks that `host` is an http URL on a loopback address.
pub fn validate_host(host: &str) -> anyhow::Result<String> {
    let (scheme, rest) = host.split_once("://").with_context(|| {
        format!("bad --host `{host}`: expected a URL like http://127.0.0.1:8080")
    })?;
    if scheme != "http" {
        bail!("bad --host `{host}`: only http:// is supported");
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let hostname = match authority.rsplit_once(':') {
        Some((h, port)) if !h.ends_with(']') || authority.starts_with('[') => {
            if !port.is_empty() && port.parse::<u16>().is_err() {
                bail!("bad --host `{host}`: `{port}` is not a port number");
            }
            h
        }
        _ => authority,
    };
    let hostname = hostname.trim_start_matches('[').trim_end_matches(']');
    let loopback = hostname == "localhost"
        || hostname
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("--host `{host}` is not a loopback address: intellacc-bench only sends load to 127.0.0.0/8, [::1] or localhost");
    }
    Ok(host.trim_end_matches('/').to_string())
}

/// Fetches the seeded accounts to log in as: `users` of any kind, as many group members and
/// as many feed readers balanced across cohorts.
async fn fetch_accounts(host: &str, users: usize) -> anyhow::Result<[Vec<Account>; 3]> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut lists = Vec::new();
    for kind in ["any", "member", "feed"] {
        let url = format!("{host}/api/bench/accounts?kind={kind}&limit={users}");
        let resp = client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {host}"))?;
        if !resp.status().is_success() {
            bail!(
                "{url} answered {}: is this an intellacc-bench server on a seeded database?",
                resp.status()
            );
        }
        let list: Vec<Account> = resp
            .json()
            .await
            .with_context(|| format!("{url} did not return a list of accounts"))?;
        lists.push(list);
    }
    let feed = lists.pop().unwrap_or_default();
    let member = lists.pop().unwrap_or_default();
    let any = lists.pop().unwrap_or_default();
    if any.is_empty() {
        bail!("the server at {host} has no seeded users");
    }
    Ok([any, member, feed])
}

/// Fetches the server's data manifest, if it has one.
pub async fn fetch_manifest(host: &str) -> Option<crate::seed::Manifest> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .ok()?;
    let resp = client
        .get(format!("{host}/api/bench/manifest"))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json().await.ok()
}

/// Runs the scenario with goose until its duration is over; returns the measurements.
pub async fn drive(plan: &LoadPlan) -> anyhow::Result<LoadResult> {
    install_logger();
    if let Some(dir) = plan.goose_report.as_deref().and_then(Path::parent) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating report directory {}", dir.display()))?;
    }
    let s = &plan.scenario;
    let [any, member, feed] = match fetch_accounts(&plan.host, s.users).await {
        Ok(lists) => lists,
        Err(e) => {
            remove_if_empty(plan.goose_report.as_deref());
            return Err(e);
        }
    };
    if any.len() < s.users {
        bail!(
            "the server has {} seeded accounts for {} load users: use fewer --users or a larger --scale",
            any.len(),
            s.users
        );
    }
    let start = Instant::now();
    let recorder = Arc::new(Recorder::new(start, Duration::from_secs(s.warmup_secs)));
    let shared = Arc::new(personas::Shared {
        recorder: Arc::clone(&recorder),
        accounts: std::sync::Mutex::new(personas::Accounts::new(any, member, feed)),
        schedules: schedules(s, start, plan.seed),
        timer: schedule::PreciseTimer::new(),
        next_user: std::sync::atomic::AtomicUsize::new(0),
        seed: plan.seed,
    });
    let mut config = GooseConfiguration::default();
    config.host = Some(plan.host.clone());
    config.users = Some(s.users);
    // Start every user at once: the warm-up window, not a ramp, absorbs cold caches.
    config.increase_rate = Some("1000".into());
    config.run_time = Some(format!("{}s", s.duration_secs));
    config.no_telnet = true;
    config.websocket = false;
    config.quiet = 1;
    config.no_print_metrics = true;
    config.no_reset_metrics = true;
    config.timeout = Some("10".into());
    config.report_file = plan
        .goose_report
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut attack = GooseAttack::initialize_with_config(config)?;
    for persona in &s.personas {
        attack = attack.register_scenario(personas::scenario(persona, &shared)?);
    }
    let metrics = match attack.execute().await {
        Ok(m) => m,
        Err(e) => {
            remove_if_empty(plan.goose_report.as_deref());
            bail!("running the goose attack: {e:?}");
        }
    };
    // goose turns the first Ctrl-C of the run into its killswitch and stops the users.
    let interrupted = goose::is_killswitch_triggered();
    let measured = recorder.measured_secs();
    let goose_requests = metrics
        .requests
        .values()
        .map(|a| a.success_count + a.fail_count)
        .sum::<usize>() as u64;
    Ok(LoadResult {
        snapshot: recorder.snapshot(),
        measured_secs: measured.max(1e-3),
        goose_requests,
        target_rate: s.target_rate(),
        interrupted,
        // Handed-out slots first: counting the unsent ones drains the schedules.
        scheduled: shared.schedules.iter().map(|(_, sch)| sch.issued()).sum(),
        unsent: shared.schedules.iter().map(|(_, sch)| sch.unsent()).sum(),
    })
}

/// The open model's schedules: per persona where a persona sets its own rate, and one for
/// the rest of the mix when the scenario sets a rate.
fn schedules(
    s: &Scenario,
    start: Instant,
    seed: u64,
) -> Vec<(Option<scenario::PersonaKind>, Arc<schedule::Schedule>)> {
    let duration = Duration::from_secs(s.duration_secs);
    let mut out: Vec<_> = s
        .personas
        .iter()
        .filter_map(|p| {
            let rate = p.rate?;
            let sch =
                schedule::Schedule::new(start, duration, rate, s.arrival, seed ^ rng_label(p.kind));
            Some((Some(p.kind), Arc::new(sch)))
        })
        .collect();
    if let Some(rate) = s.rate {
        let sch = schedule::Schedule::new(start, duration, rate, s.arrival, seed);
        out.push((None, Arc::new(sch)));
    }
    out
}

/// A per-persona salt for its schedule's random gaps.
fn rng_label(kind: scenario::PersonaKind) -> u64 {
    crate::seed::rng::mix(0, kind.name(), 0)
}

/// goose installs a global logger that prints warnings to stdout; ours goes first and sends
/// warnings and errors to stderr.
fn install_logger() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.level() <= log::Level::Error
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                eprintln!("[{}] {}", r.level(), r.args());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Error);
    }
}

/// Default report directory: reports/<run-id>.
pub fn default_out(run_id: &str) -> PathBuf {
    Path::new("reports").join(run_id)
}
