//! The index comparison's report: collected results, the side-by-side table (Markdown),
//! report.json and report.html (with a chart).

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::plan::PlanSummary;
use super::stats::{self, Verdict};
use super::strategy::Applied;
use crate::report::Percentiles;
use crate::seed::Manifest;

/// One statement x cohort under one strategy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    pub statement: String,
    pub cohort: String,
    pub strategy: String,
    pub rows: usize,
    pub runs: usize,
    pub latency_us: Percentiles,
    /// Median latency relative to the baseline strategy (1.0 = same).
    pub ratio_to_baseline: f64,
    /// Mann-Whitney U two-sided p-value against the baseline's sample.
    pub p_value: f64,
    pub verdict: Verdict,
    pub plan: Option<PlanSummary>,
    /// Server-side mean execution time (pg_stat_statements), when available.
    pub server_mean_ms: Option<f64>,
    /// One execution exceeded the statement timeout (twice the case's time budget): the
    /// latency shown is that timeout, a lower bound.
    #[serde(default)]
    pub timed_out: bool,
    #[serde(skip)]
    pub samples: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Best {
    pub statement: String,
    pub cohort: String,
    pub strategy: String,
    pub p50_us: u64,
    pub ratio_to_baseline: f64,
    pub costs: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexReport {
    pub schema_version: u32,
    pub kind: String,
    pub run_id: String,
    pub generated_at: String,
    pub config: serde_json::Value,
    pub database: Option<serde_json::Value>,
    pub manifest: Manifest,
    pub baseline: String,
    /// How latencies were taken.
    pub cache_state: String,
    pub method: String,
    pub strategies: Vec<Applied>,
    pub reads: Vec<CaseResult>,
    pub writes: Vec<CaseResult>,
    pub pg_stat_statements: String,
    pub best: Vec<Best>,
}

/// Fills ratios and verdicts against the baseline strategy's samples.
pub fn judge(results: &mut [CaseResult], baseline: &str) {
    let base: Vec<(String, String, Vec<u64>, bool)> = results
        .iter()
        .filter(|r| r.strategy == baseline)
        .map(|r| {
            (
                r.statement.clone(),
                r.cohort.clone(),
                r.samples.clone(),
                r.timed_out,
            )
        })
        .collect();
    for r in results.iter_mut() {
        if r.strategy == baseline {
            r.ratio_to_baseline = 1.0;
            r.p_value = 1.0;
            r.verdict = Verdict::Baseline;
            continue;
        }
        if let Some((_, _, b, base_timed_out)) = base
            .iter()
            .find(|(s, c, _, _)| *s == r.statement && *c == r.cohort)
        {
            let (ratio, p, v) = stats::compare(b, &r.samples);
            r.ratio_to_baseline = (ratio * 1000.0).round() / 1000.0;
            r.p_value = p;
            // A timed-out side has one censored sample: no test, the timeout decides.
            r.verdict = match (*base_timed_out, r.timed_out) {
                (true, true) => Verdict::NoDifference,
                (true, false) => Verdict::Faster,
                (false, true) => Verdict::Slower,
                (false, false) => v,
            };
        }
    }
}

/// The fastest strategy per statement x cohort (by median), with what it costs.
pub fn best(reads: &[CaseResult], strategies: &[Applied], writes: &[CaseResult]) -> Vec<Best> {
    let mut out: Vec<Best> = Vec::new();
    for r in reads {
        if out
            .iter()
            .any(|b| b.statement == r.statement && b.cohort == r.cohort)
        {
            continue;
        }
        let Some(winner) = reads
            .iter()
            .filter(|x| x.statement == r.statement && x.cohort == r.cohort)
            .min_by_key(|x| x.latency_us.p50)
        else {
            continue;
        };
        let size = strategies
            .iter()
            .find(|s| s.strategy == winner.strategy)
            .map_or(0, |s| s.total_size_bytes);
        let write_cost: Vec<String> = writes
            .iter()
            .filter(|w| w.strategy == winner.strategy)
            .map(|w| {
                format!(
                    "{} p50 {} µs (x{:.2})",
                    w.statement, w.latency_us.p50, w.ratio_to_baseline
                )
            })
            .collect();
        out.push(Best {
            statement: winner.statement.clone(),
            cohort: winner.cohort.clone(),
            strategy: winner.strategy.clone(),
            p50_us: winner.latency_us.p50,
            ratio_to_baseline: winner.ratio_to_baseline,
            costs: format!(
                "{:.1} MB of secondary indexes; {}",
                mb(size),
                write_cost.join(", ")
            ),
        });
    }
    out
}

/// A ratio to the baseline for people: `x0.85`, or `÷7400` when it is a large speed-up.
pub fn ratio(r: f64) -> String {
    if r > 0.0 && r < 0.01 {
        format!("÷{:.0}", 1.0 / r)
    } else {
        format!("x{r:.2}")
    }
}

#[allow(clippy::cast_precision_loss)]
pub fn mb(bytes: i64) -> f64 {
    bytes as f64 / 1_048_576.0
}

impl IndexReport {
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating report directory {}", dir.display()))?;
        std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(self)?)
            .context("writing report.json")?;
        let mut md = Vec::new();
        self.markdown(&mut md)?;
        std::fs::write(dir.join("report.md"), md).context("writing report.md")?;
        let mut html = Vec::new();
        super::html::render(self, &mut html)?;
        std::fs::write(dir.join("report.html"), html).context("writing report.html")?;
        Ok(())
    }

    fn strategies_in_order(&self) -> Vec<String> {
        self.strategies.iter().map(|s| s.strategy.clone()).collect()
    }

    /// The side-by-side table: one row per statement x cohort, one column per strategy.
    pub fn markdown(&self, mut out: impl Write) -> std::io::Result<()> {
        let names = self.strategies_in_order();
        writeln!(out, "# Index strategies side by side ({})\n", self.run_id)?;
        writeln!(
            out,
            "Seed {}, scale {}, PostgreSQL {}. Baseline: **{}**. {} {}\n",
            self.manifest.seed,
            self.manifest.scale,
            self.manifest.postgres_version,
            self.baseline,
            self.cache_state,
            self.method
        )?;
        writeln!(
            out,
            "## Reads: p50 / p99 in µs (ratio of medians to baseline, verdict)\n"
        )?;
        write!(out, "| statement | cohort |")?;
        for n in &names {
            write!(out, " {n} |")?;
        }
        writeln!(out)?;
        write!(out, "|---|---|")?;
        for _ in &names {
            write!(out, "---|")?;
        }
        writeln!(out)?;
        let mut keys: Vec<(String, String)> = Vec::new();
        for r in &self.reads {
            let k = (r.statement.clone(), r.cohort.clone());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        for (statement, cohort) in &keys {
            write!(out, "| `{statement}` | {cohort} |")?;
            for n in &names {
                match self
                    .reads
                    .iter()
                    .find(|r| &r.statement == statement && &r.cohort == cohort && &r.strategy == n)
                {
                    Some(r) if r.timed_out => write!(
                        out,
                        " > {} (timed out, {}) |",
                        r.latency_us.p50,
                        r.verdict.label()
                    )?,
                    Some(r) => write!(
                        out,
                        " {} / {} ({}, {}) |",
                        r.latency_us.p50,
                        r.latency_us.p99,
                        ratio(r.ratio_to_baseline),
                        r.verdict.label()
                    )?,
                    None => write!(out, " – |")?,
                }
            }
            writeln!(out)?;
        }
        writeln!(out, "\n## Why: plans\n")?;
        writeln!(out, "| statement | cohort | strategy | plan shape | indexes | rows removed by filter | buffers hit/read |")?;
        writeln!(out, "|---|---|---|---|---|---:|---:|")?;
        for r in &self.reads {
            if let Some(p) = &r.plan {
                writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {} | {:.0} | {}/{} |",
                    r.statement,
                    r.cohort,
                    r.strategy,
                    p.shape,
                    if p.indexes.is_empty() {
                        "–".into()
                    } else {
                        p.indexes.join(", ")
                    },
                    p.rows_removed_by_filter,
                    p.shared_hit_blocks,
                    p.shared_read_blocks
                )?;
            }
        }
        writeln!(out, "\n## Cost: indexes and writes\n")?;
        writeln!(out, "| strategy | secondary indexes | total size | build | VACUUM (ANALYZE) | trade p50/p99 µs | message post p50/p99 µs |")?;
        writeln!(out, "|---|---:|---:|---:|---:|---|---|")?;
        for s in &self.strategies {
            let w = |name: &str| {
                self.writes
                    .iter()
                    .find(|w| w.strategy == s.strategy && w.statement == name)
                    .map_or("–".to_string(), |w| {
                        format!(
                            "{} / {} ({}, {})",
                            w.latency_us.p50,
                            w.latency_us.p99,
                            ratio(w.ratio_to_baseline),
                            w.verdict.label()
                        )
                    })
            };
            writeln!(
                out,
                "| {} | {} | {:.1} MB | {:.2} s | {:.2} s | {} | {} |",
                s.strategy,
                s.indexes.len(),
                mb(s.total_size_bytes),
                s.build_seconds,
                s.vacuum_seconds,
                w("trade"),
                w("messages.post")
            )?;
        }
        writeln!(out, "\n## Best strategy per statement\n")?;
        writeln!(
            out,
            "| statement | cohort | best | p50 µs | vs baseline | what it costs |"
        )?;
        writeln!(out, "|---|---|---|---:|---:|---|")?;
        for b in &self.best {
            writeln!(
                out,
                "| `{}` | {} | **{}** | {} | {} | {} |",
                b.statement,
                b.cohort,
                b.strategy,
                b.p50_us,
                ratio(b.ratio_to_baseline),
                b.costs
            )?;
        }
        writeln!(out, "\n## Index sizes\n")?;
        for s in &self.strategies {
            writeln!(out, "**{}** (`{}`)\n", s.strategy, s.file)?;
            for i in &s.indexes {
                writeln!(
                    out,
                    "- `{}` on {}: {:.2} MB, built in {:.0} ms — `{}`",
                    i.name,
                    i.table,
                    mb(i.size_bytes),
                    i.build_ms,
                    i.definition
                )?;
            }
            if s.indexes.is_empty() {
                writeln!(out, "- (none)")?;
            }
            writeln!(out)?;
        }
        writeln!(out, "pg_stat_statements: {}", self.pg_stat_statements)?;
        Ok(())
    }
}
