//! Command-line interface: one subcommand per job, shared option groups flattened in.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::db::ConnectOpts;
use crate::workload::FeedVariant;

#[derive(Debug, Parser)]
#[command(
    name = "intellacc-bench",
    version,
    about = "Seed, serve, load and measure the Intellacc PostgreSQL schema",
    long_about = "Seeds PostgreSQL with deterministic synthetic Intellacc data, serves the \
                  hot read and write paths over HTTP, drives them with goose and reports \
                  latency distributions. Without --database-url/DATABASE_URL it runs on a \
                  throwaway cluster started from local PostgreSQL binaries."
)]
pub struct Cli {
    #[command(flatten)]
    pub connect: ConnectOpts,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Seed the database: all ten tables, deterministic for a given --seed and --scale.
    Seed(SeedArgs),
    /// Serve the reference API (axum) on a loopback address.
    Serve(ServeArgs),
    /// Drive a goose load scenario against a running server and write a report.
    Load(LoadArgs),
    /// The whole pipeline: throwaway Postgres, seed, serve, load, report.
    Run(RunArgs),
    /// Replay a sample of the seeded MLS groups: join, process commits, decrypt messages.
    Verify(VerifyArgs),
    /// Compare index strategies side by side on the same data (latency, plans, sizes, writes).
    Indexes(IndexesArgs),
    /// Merge the reports of several runs (e.g. several load generators) into one.
    Merge(MergeArgs),
}

/// Data shape options shared by `seed`, `serve` and `run`.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Scale factor: 1 = 10,000 users; fractions allowed (0.1 = 1,000 users).
    #[arg(long, default_value_t = 1.0, value_parser = parse_scale, allow_negative_numbers = true)]
    pub scale: f64,
    /// Seed of every random choice; the same seed, scale and MLS live share give the same
    /// rows.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Drop and re-seed a database that already holds intellacc-bench data.
    #[arg(long)]
    pub reset: bool,
    /// Generator threads for the MLS tables, 1-64 (default: one per core). The data does
    /// not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64), allow_negative_numbers = true)]
    pub jobs: Option<u16>,
    /// Share of MLS groups and key packages beyond scale 1 generated with real
    /// cryptography (everything up to scale 1 always is); the rest use forged asymmetric
    /// primitives (see the README). 1 makes every row verifiable, and seeding slower.
    #[arg(
        long,
        default_value_t = 0.1,
        value_parser = parse_share,
        allow_negative_numbers = true
    )]
    pub mls_live_share: f64,
}

fn parse_share(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not a share between 0 and 1"))
    }
}

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Also write the data manifest (seed, scale, row counts, checksums) as JSON here.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Connections in the server's sqlx pool.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub pool_size: u32,
    /// HS256 secret for issued tokens (default: random per process).
    #[arg(long, env = "INTELLACC_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Stop by itself after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub for_secs: Option<u64>,
    /// Which feed statement GET /api/feed runs.
    #[arg(long, value_enum, default_value_t = FeedVariant::Seed)]
    pub feed_variant: FeedVariant,
    /// Enable the calibration endpoints GET /debug/delay?ms= and POST /debug/stall?ms=.
    #[arg(long)]
    pub debug_endpoints: bool,
    /// Seeding options, used when the database is a fresh throwaway one.
    #[command(flatten)]
    pub data: DataArgs,
}

/// Load options shared by `load` and `run`; unset values come from the scenario file.
#[derive(Debug, Clone, Args)]
pub struct LoadOpts {
    /// Scenario file (TOML); default: the shipped scenarios/mixed.toml.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Seconds of load, warm-up included.
    #[arg(long)]
    pub duration: Option<u64>,
    /// Seconds at the start whose samples are excluded from the latencies.
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Concurrent goose users (each logs in once as a distinct seeded user).
    #[arg(long)]
    pub users: Option<usize>,
    /// Open model: start requests at this rate (per second, whole mix) on a shared schedule
    /// and measure latency from each request's intended start. Without it: closed model.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open model's arrival process.
    #[arg(long, value_enum)]
    pub arrival: Option<crate::load::schedule::Arrival>,
    /// Report directory (default: reports/<run-id>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Base URL of the server, e.g. http://127.0.0.1:8080 (loopback only).
    #[arg(long)]
    pub host: String,
    #[command(flatten)]
    pub load: LoadOpts,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub load: LoadOpts,
    /// Connections in the reference server's pool (default: from the scenario).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub pool_size: Option<u32>,
    /// Which feed statement the reference server runs.
    #[arg(long, value_enum, default_value_t = FeedVariant::Seed)]
    pub feed_variant: FeedVariant,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// How many groups to replay (an even sample over all groups).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub groups: u32,
    /// One line per group.
    #[arg(long, short)]
    pub verbose: bool,
    /// Seeding options, used when the database is a fresh throwaway one.
    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Debug, Clone, Args)]
pub struct IndexesArgs {
    /// Strategies to compare, the first is the baseline (files <dir>/<name>.sql).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "seed,none,composite,covering"
    )]
    pub strategies: Vec<String>,
    /// Directory of strategy files (default: migrations/strategies).
    #[arg(long)]
    pub strategies_dir: Option<PathBuf>,
    /// Feed variants to measure.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "seed,lateral,keyset"
    )]
    pub variants: Vec<FeedVariant>,
    /// Timed executions per statement, cohort and strategy.
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
    /// Time budget per statement x cohort x strategy: stop early (with at least 5 runs)
    /// once spent.
    #[arg(long, default_value_t = 10.0)]
    pub max_case_secs: f64,
    /// Report directory (default: reports/indexes-<run-id>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// report.json files (or run directories) to merge.
    #[arg(required = true, num_args = 1..)]
    pub inputs: Vec<PathBuf>,
    /// Directory of the merged report.
    #[arg(long)]
    pub out: PathBuf,
}

/// A scale that gives a sane number of users, checked before anything starts.
fn parse_scale(text: &str) -> Result<f64, String> {
    let scale: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    crate::seed::Shape::default()
        .counts(scale)
        .map(|_| scale)
        .map_err(|e| e.to_string())
}
