//! Run reports: `report.json` (versioned, machine-readable) and `report.md` (for people),
//! written side by side in the run's directory with goose's own HTML report.

pub mod markdown;
pub mod merge;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::load::record::EndpointSamples;
use crate::seed::Manifest;

/// Bumped when report.json changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub min: u64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> Self {
        Self {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            min: h.min(),
            mean: (h.mean() * 10.0).round() / 10.0,
        }
    }
}

/// An HdrHistogram in the standard V2 serialized form, base64-encoded.
pub fn encode_histogram(h: &hdrhistogram::Histogram<u64>) -> String {
    use base64::Engine;
    let mut buf = Vec::new();
    use hdrhistogram::serialization::Serializer;
    match hdrhistogram::serialization::V2Serializer::new().serialize(h, &mut buf) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(buf),
        Err(_) => String::new(),
    }
}

/// The inverse of [`encode_histogram`].
pub fn decode_histogram(text: &str) -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .context("histogram is not base64")?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("histogram is not a V2 HdrHistogram: {e:?}"))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointReport {
    /// The endpoint template, e.g. `GET /api/feed`.
    pub name: String,
    /// Measured requests (warm-up excluded).
    pub count: u64,
    /// Requests that failed: no response, or a 4xx/5xx status.
    pub errors: u64,
    /// Responses by HTTP status.
    pub status: BTreeMap<String, u64>,
    /// Requests that ended without a response.
    pub transport_errors: u64,
    /// Requests sent during warm-up (not in the latencies).
    pub warmup_count: u64,
    /// Requests per second over the measured window.
    pub throughput: f64,
    /// Latency in microseconds, from an HdrHistogram (3 significant digits): from the
    /// intended start (open model: the schedule's slot; closed model: the send).
    pub latency_us: Percentiles,
    /// Service time in microseconds: from the actual send.
    pub service_us: Percentiles,
    /// The latency histogram (V2 serialized, base64), for merging runs.
    pub histogram: String,
    /// The service-time histogram (V2 serialized, base64).
    pub service_histogram: String,
}

impl EndpointReport {
    pub fn from_samples(name: &str, s: &EndpointSamples, measured_secs: f64) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let throughput = s.count() as f64 / measured_secs.max(1e-9);
        Self {
            name: name.to_string(),
            count: s.count(),
            errors: s.errors(),
            status: s.status.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            transport_errors: s.transport_errors,
            warmup_count: s.warmup,
            throughput: (throughput * 10.0).round() / 10.0,
            latency_us: Percentiles::of(&s.latency),
            service_us: Percentiles::of(&s.service),
            histogram: encode_histogram(&s.latency),
            service_histogram: encode_histogram(&s.service),
        }
    }
}

/// What the load phase did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadSummary {
    /// `closed`: each user waits for its response, then thinks, then sends again.
    /// `open`: requests start on a shared schedule at `target_rate`, whatever the responses.
    pub load_model: String,
    /// Open model: requests per second asked for (whole mix) and the arrival process.
    pub target_rate: Option<f64>,
    pub arrival: Option<String>,
    /// Measured requests per second.
    pub achieved_rate: f64,
    /// Open model: how late requests started after their slot (µs), and how many started
    /// more than 1 ms late.
    pub schedule_lag_us: Option<Percentiles>,
    pub late_requests: u64,
    /// Open model: slots of the schedule that were never sent (every user still busy at the
    /// end of the run).
    #[serde(default)]
    pub unsent_slots: u64,
    pub host: String,
    pub scenario: String,
    pub users: usize,
    pub duration_secs: u64,
    pub warmup_secs: u64,
    /// Seconds over which the reported samples were taken.
    pub measured_secs: f64,
    pub total_requests: u64,
    pub total_errors: u64,
    pub throughput: f64,
    /// Stopped early by Ctrl-C: the figures cover the part that ran.
    #[serde(default)]
    pub interrupted: bool,
}

/// Seeding figures, when this run seeded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedSummary {
    pub total_seconds: f64,
    pub load_seconds: f64,
    pub index_seconds: f64,
    pub tables: Vec<SeedTable>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedTable {
    pub table: String,
    pub rows: u64,
    pub seconds: f64,
    pub rows_per_sec: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub run_id: String,
    pub tool_version: String,
    pub generated_at: String,
    /// The resolved configuration of the run (flags > scenario file > defaults).
    pub config: serde_json::Value,
    /// The database server: kind (throwaway or external), version, settings.
    pub database: Option<serde_json::Value>,
    pub manifest: Option<Manifest>,
    pub seeding: Option<SeedSummary>,
    pub load: LoadSummary,
    pub endpoints: Vec<EndpointReport>,
    /// `GET /api/feed` per user cohort (the mean over all users hides the worst feeds).
    #[serde(default)]
    pub feed_by_cohort: Vec<EndpointReport>,
    /// Client latency beside the server's mean execution time per statement, when
    /// pg_stat_statements is available.
    #[serde(default)]
    pub client_vs_server: Vec<ClientServer>,
    /// Other files of the run (goose's report), relative to the report directory.
    pub files: Vec<String>,
}

/// A statement's server-side time beside the client latency of the endpoint that runs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientServer {
    pub endpoint: String,
    pub statement: String,
    pub calls: i64,
    pub server_mean_us: f64,
    pub client_p50_us: u64,
    pub client_mean_us: f64,
    /// Client mean minus server mean: HTTP, JSON, pool and driver overhead.
    pub overhead_us: f64,
}

impl Report {
    /// Writes report.json and report.md into `dir`, returning their paths.
    pub fn write(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating report directory {}", dir.display()))?;
        let json_path = dir.join("report.json");
        let json = serde_json::to_vec_pretty(self).context("serializing report.json")?;
        std::fs::write(&json_path, json)
            .with_context(|| format!("writing {}", json_path.display()))?;
        let md_path = dir.join("report.md");
        let mut md = Vec::new();
        markdown::render(self, &mut md)?;
        std::fs::write(&md_path, md).with_context(|| format!("writing {}", md_path.display()))?;
        Ok(vec![json_path, md_path])
    }

    /// Reads a report.json.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("reading report {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("parsing report {}", path.display()))
    }

    /// A short terminal summary.
    pub fn summary(&self, mut out: impl Write) -> std::io::Result<()> {
        writeln!(
            out,
            "{:<42} {:>8} {:>6} {:>9} {:>9} {:>9} {:>9}",
            "endpoint", "count", "errors", "p50 µs", "p90 µs", "p99 µs", "max µs"
        )?;
        for e in &self.endpoints {
            writeln!(
                out,
                "{:<42} {:>8} {:>6} {:>9} {:>9} {:>9} {:>9}",
                e.name,
                e.count,
                e.errors,
                e.latency_us.p50,
                e.latency_us.p90,
                e.latency_us.p99,
                e.latency_us.max
            )?;
        }
        Ok(())
    }
}

/// A run id: UTC time plus the seed, sortable and unique enough per machine.
pub fn run_id(seed: Option<u64>) -> String {
    let now = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    match seed {
        Some(s) => format!("{now}-seed{s}"),
        None => now.to_string(),
    }
}
