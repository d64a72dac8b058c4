//! Merging runs: the same endpoints measured by several load generators become one report,
//! with counts added and percentiles recomputed from the added histograms (never averaged).

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use hdrhistogram::Histogram;

use super::{decode_histogram, encode_histogram, EndpointReport, Percentiles, Report};

fn add(into: &mut Option<Histogram<u64>>, encoded: &str, what: &str) -> anyhow::Result<()> {
    let h =
        decode_histogram(encoded).with_context(|| format!("reading the histogram of {what}"))?;
    match into {
        Some(acc) => acc
            .add(&h)
            .map_err(|e| anyhow::anyhow!("adding the histograms of {what}: {e:?}"))?,
        None => *into = Some(h),
    }
    Ok(())
}

#[derive(Default)]
struct Acc {
    latency: Option<Histogram<u64>>,
    service: Option<Histogram<u64>>,
    status: BTreeMap<String, u64>,
    errors: u64,
    transport_errors: u64,
    warmup: u64,
}

fn merge_endpoints(lists: &[&[EndpointReport]], secs: f64) -> anyhow::Result<Vec<EndpointReport>> {
    let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
    for list in lists {
        for e in *list {
            let a = acc.entry(e.name.clone()).or_default();
            add(&mut a.latency, &e.histogram, &e.name)?;
            add(&mut a.service, &e.service_histogram, &e.name)?;
            for (k, v) in &e.status {
                *a.status.entry(k.clone()).or_default() += v;
            }
            a.errors += e.errors;
            a.transport_errors += e.transport_errors;
            a.warmup += e.warmup_count;
        }
    }
    Ok(acc
        .into_iter()
        .map(|(name, a)| {
            let latency = a.latency.unwrap_or_else(crate::load::record::new_histogram);
            let service = a.service.unwrap_or_else(crate::load::record::new_histogram);
            #[allow(clippy::cast_precision_loss)]
            let throughput = latency.len() as f64 / secs.max(1e-9);
            EndpointReport {
                name,
                count: latency.len(),
                errors: a.errors,
                status: a.status,
                transport_errors: a.transport_errors,
                warmup_count: a.warmup,
                throughput: (throughput * 10.0).round() / 10.0,
                latency_us: Percentiles::of(&latency),
                service_us: Percentiles::of(&service),
                histogram: encode_histogram(&latency),
                service_histogram: encode_histogram(&service),
            }
        })
        .collect())
}

/// Merges reports of runs that loaded the same server at the same time.
pub fn merge(reports: &[Report]) -> anyhow::Result<Report> {
    let Some(first) = reports.first() else {
        bail!("nothing to merge");
    };
    for r in reports {
        if r.schema_version != first.schema_version {
            bail!(
                "run {} has report schema {}, run {} has {}",
                r.run_id,
                r.schema_version,
                first.run_id,
                first.schema_version
            );
        }
    }
    // Runs side by side: the window is the longest, the rates add up.
    let secs = reports
        .iter()
        .map(|r| r.load.measured_secs)
        .fold(0.0f64, f64::max);
    let endpoints = merge_endpoints(
        &reports
            .iter()
            .map(|r| r.endpoints.as_slice())
            .collect::<Vec<_>>(),
        secs,
    )?;
    let feed_by_cohort = merge_endpoints(
        &reports
            .iter()
            .map(|r| r.feed_by_cohort.as_slice())
            .collect::<Vec<_>>(),
        secs,
    )?;
    let mut load = first.load.clone();
    load.users = reports.iter().map(|r| r.load.users).sum();
    load.total_requests = endpoints.iter().map(|e| e.count).sum();
    load.total_errors = endpoints.iter().map(|e| e.errors).sum();
    load.target_rate = first
        .load
        .target_rate
        .map(|_| reports.iter().filter_map(|r| r.load.target_rate).sum());
    load.late_requests = reports.iter().map(|r| r.load.late_requests).sum();
    load.unsent_slots = reports.iter().map(|r| r.load.unsent_slots).sum();
    // Lag percentiles cannot be added up without their histograms: keep them only when
    // there is a single run.
    if reports.len() > 1 {
        load.schedule_lag_us = None;
    }
    load.achieved_rate = reports.iter().map(|r| r.load.achieved_rate).sum();
    load.throughput = load.achieved_rate;
    load.measured_secs = secs;
    load.interrupted = reports.iter().any(|r| r.load.interrupted);
    Ok(Report {
        schema_version: first.schema_version,
        run_id: format!(
            "merged-{}",
            super::run_id(first.manifest.as_ref().map(|m| m.seed))
        ),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        generated_at: chrono::Utc::now().to_rfc3339(),
        config: serde_json::json!({
            "command": "merge",
            "merged_runs": reports.iter().map(|r| r.run_id.clone()).collect::<Vec<_>>(),
            "configs": reports.iter().map(|r| r.config.clone()).collect::<Vec<_>>(),
        }),
        database: first.database.clone(),
        manifest: first.manifest.clone(),
        seeding: None,
        load,
        endpoints,
        feed_by_cohort,
        client_vs_server: Vec::new(),
        files: Vec::new(),
    })
}
