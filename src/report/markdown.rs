//! report.md: the run at a glance, for people.

use std::io::Write;

use super::Report;

pub fn render(r: &Report, mut out: impl Write) -> std::io::Result<()> {
    writeln!(out, "# intellacc-bench run {}\n", r.run_id)?;
    writeln!(
        out,
        "Generated {} by intellacc-bench {} (report schema {}).\n",
        r.generated_at, r.tool_version, r.schema_version
    )?;
    let l = &r.load;
    writeln!(out, "## Load\n")?;
    if l.interrupted {
        writeln!(
            out,
            "**Interrupted by Ctrl-C: these figures cover only the part that ran.**\n"
        )?;
    }
    match l.target_rate {
        Some(rate) => {
            writeln!(
                out,
                "- model: **open** — requests start on a shared {} schedule at {rate} req/s; \
                 latency counts from each request's intended start (no coordinated omission), \
                 service time from its actual send",
                l.arrival.as_deref().unwrap_or("constant")
            )?;
            writeln!(
                out,
                "- target {rate} req/s, achieved {:.1} req/s; {} requests started more than 1 ms late; \
                 {} slots never sent (every user busy at the end)",
                l.achieved_rate, l.late_requests, l.unsent_slots
            )?;
            if let Some(lag) = &l.schedule_lag_us {
                writeln!(
                    out,
                    "- schedule lag µs: p50 {}, p90 {}, p99 {}, max {}",
                    lag.p50, lag.p90, lag.p99, lag.max
                )?;
            }
        }
        None => writeln!(
            out,
            "- model: **closed** (each user waits for its response, then thinks)"
        )?,
    }
    writeln!(out, "- scenario: `{}` against {}", l.scenario, l.host)?;
    writeln!(
        out,
        "- {} users, {} s ({} s warm-up excluded, {:.1} s measured)",
        l.users, l.duration_secs, l.warmup_secs, l.measured_secs
    )?;
    writeln!(
        out,
        "- {} requests, {} errors, {:.1} requests/s\n",
        l.total_requests, l.total_errors, l.throughput
    )?;
    writeln!(out, "## Endpoints (latency in µs)\n")?;
    writeln!(
        out,
        "| endpoint | count | errors | req/s | p50 | p90 | p99 | p99.9 | max | statuses |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")?;
    for e in &r.endpoints {
        let statuses: Vec<String> = e.status.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        writeln!(
            out,
            "| `{}` | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} |",
            e.name,
            e.count,
            e.errors,
            e.throughput,
            e.latency_us.p50,
            e.latency_us.p90,
            e.latency_us.p99,
            e.latency_us.p999,
            e.latency_us.max,
            statuses.join(", ")
        )?;
    }
    if l.target_rate.is_some() {
        writeln!(out, "\n### Service time (from the actual send), µs\n")?;
        writeln!(out, "| endpoint | p50 | p90 | p99 | max |")?;
        writeln!(out, "|---|---:|---:|---:|---:|")?;
        for e in &r.endpoints {
            let s = &e.service_us;
            writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                e.name, s.p50, s.p90, s.p99, s.max
            )?;
        }
    }
    if !r.feed_by_cohort.is_empty() {
        writeln!(out, "\n### Feed latency by user cohort, µs\n")?;
        writeln!(out, "| cohort | count | p50 | p90 | p99 | max |")?;
        writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
        for e in &r.feed_by_cohort {
            let s = &e.latency_us;
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                e.name, e.count, s.p50, s.p90, s.p99, s.max
            )?;
        }
    }
    if !r.client_vs_server.is_empty() {
        writeln!(
            out,
            "\n### Client latency vs server execution (pg_stat_statements), µs\n"
        )?;
        writeln!(
            out,
            "| endpoint | statement | calls | server mean | client mean | client p50 | overhead |"
        )?;
        writeln!(out, "|---|---|---:|---:|---:|---:|---:|")?;
        for c in &r.client_vs_server {
            writeln!(
                out,
                "| `{}` | `{}` | {} | {:.0} | {:.0} | {} | {:.0} |",
                c.endpoint,
                c.statement,
                c.calls,
                c.server_mean_us,
                c.client_mean_us,
                c.client_p50_us,
                c.overhead_us
            )?;
        }
    }
    if let Some(m) = &r.manifest {
        writeln!(out, "\n## Data\n")?;
        writeln!(
            out,
            "Seed **{}**, scale **{}**, PostgreSQL {}, generator v{}.\n",
            m.seed, m.scale, m.postgres_version, m.generator_version
        )?;
        writeln!(out, "| table | rows | checksum |")?;
        writeln!(out, "|---|---:|---|")?;
        for t in &m.tables {
            writeln!(out, "| {} | {} | `{}` |", t.name, t.rows, t.checksum)?;
        }
    }
    if let Some(s) = &r.seeding {
        writeln!(
            out,
            "\nSeeded in {:.1} s (load {:.1} s, indexes and constraints {:.1} s).\n",
            s.total_seconds, s.load_seconds, s.index_seconds
        )?;
        writeln!(out, "| table | rows | seconds | rows/s |")?;
        writeln!(out, "|---|---:|---:|---:|")?;
        for t in &s.tables {
            writeln!(
                out,
                "| {} | {} | {:.2} | {:.0} |",
                t.table, t.rows, t.seconds, t.rows_per_sec
            )?;
        }
    }
    if let Some(db) = &r.database {
        writeln!(out, "\n## Database server\n")?;
        writeln!(
            out,
            "```json\n{}\n```",
            serde_json::to_string_pretty(db).unwrap_or_default()
        )?;
    }
    writeln!(out, "\n## Configuration\n")?;
    writeln!(
        out,
        "```json\n{}\n```",
        serde_json::to_string_pretty(&r.config).unwrap_or_default()
    )?;
    if !r.files.is_empty() {
        writeln!(out, "\nAlso here: {}", r.files.join(", "))?;
    }
    Ok(())
}
