//! Per-endpoint measurements of a load run: microsecond HdrHistograms of latency (from the
//! *intended* start: the schedule's slot in the open model, the send in the closed model) and
//! of service time (from the actual send), status counts, schedule lag, and warm-up samples
//! kept apart.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Highest latency a histogram tracks (60 s); slower samples are clamped to it.
pub const MAX_TRACKABLE_US: u64 = 60_000_000;
/// Significant decimal digits of the histograms.
pub const SIGFIGS: u8 = 3;
/// A request that starts this much after its slot counts as late.
pub const LATE_AFTER: Duration = Duration::from_millis(1);

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKABLE_US, SIGFIGS)
        .unwrap_or_else(|_| unreachable!("constant bounds are valid"))
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP response with this status.
    Status(u16),
    /// No response: connection refused, reset, timeout...
    Transport,
}

/// When one request was meant to start, started and ended.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub intended: Instant,
    pub sent: Instant,
    pub ended: Instant,
}

impl Timing {
    /// A closed-model request: intended when sent.
    pub fn closed(sent: Instant, ended: Instant) -> Self {
        Self {
            intended: sent,
            sent,
            ended,
        }
    }
}

/// Samples of one endpoint.
#[derive(Debug, Clone)]
pub struct EndpointSamples {
    /// From the intended start to the last byte.
    pub latency: Histogram<u64>,
    /// From the actual send to the last byte.
    pub service: Histogram<u64>,
    pub status: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub warmup: u64,
}

impl Default for EndpointSamples {
    fn default() -> Self {
        Self {
            latency: new_histogram(),
            service: new_histogram(),
            status: BTreeMap::new(),
            transport_errors: 0,
            warmup: 0,
        }
    }
}

impl EndpointSamples {
    /// Requests that got a response (the latency histograms' samples).
    pub fn count(&self) -> u64 {
        self.latency.len()
    }

    /// Failed requests: no response, or a 4xx/5xx status.
    pub fn errors(&self) -> u64 {
        self.transport_errors
            + self
                .status
                .iter()
                .filter(|(s, _)| **s >= 400)
                .map(|(_, n)| n)
                .sum::<u64>()
    }

    fn add(&mut self, t: Timing, outcome: Outcome) {
        // A request without a response has no latency to report: it is counted apart.
        if outcome == Outcome::Transport {
            self.transport_errors += 1;
            return;
        }
        let us = |d: Duration| micros(d).clamp(1, MAX_TRACKABLE_US);
        self.latency
            .saturating_record(us(t.ended.saturating_duration_since(t.intended)));
        self.service
            .saturating_record(us(t.ended.saturating_duration_since(t.sent)));
        if let Outcome::Status(s) = outcome {
            *self.status.entry(s).or_default() += 1;
        }
    }
}

/// Shared by all load users of a run.
#[derive(Debug)]
pub struct Recorder {
    measure_from: Instant,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoints: BTreeMap<&'static str, EndpointSamples>,
    /// Feed latency per user cohort.
    cohorts: BTreeMap<&'static str, EndpointSamples>,
    /// Schedule lag (actual send - intended start) of measured requests, µs.
    lag: Histogram<u64>,
    late: u64,
    /// When the last measured request ended: the end of the measured window.
    last_end: Option<Instant>,
}

/// Microseconds in a duration, saturating instead of truncating.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// What a run's recorder holds at the end.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub endpoints: BTreeMap<&'static str, EndpointSamples>,
    pub cohorts: BTreeMap<&'static str, EndpointSamples>,
    pub lag: Histogram<u64>,
    pub late: u64,
}

impl Recorder {
    /// Requests intended to start before `start + warmup` count as warm-up only.
    pub fn new(start: Instant, warmup: Duration) -> Self {
        Self {
            measure_from: start + warmup,
            inner: Mutex::new(Inner {
                endpoints: BTreeMap::new(),
                cohorts: BTreeMap::new(),
                lag: new_histogram(),
                late: 0,
                last_end: None,
            }),
        }
    }

    /// Records a request of the steady-state loop; warm-up requests are only counted.
    pub fn record(&self, endpoint: &'static str, t: Timing, outcome: Outcome) {
        self.add(endpoint, None, t, outcome, t.intended < self.measure_from);
    }

    /// Records a feed request, also under its user's cohort.
    pub fn record_cohort(
        &self,
        endpoint: &'static str,
        cohort: &'static str,
        t: Timing,
        outcome: Outcome,
    ) {
        self.add(
            endpoint,
            Some(cohort),
            t,
            outcome,
            t.intended < self.measure_from,
        );
    }

    /// Records a once-per-user request (login) that happens during warm-up by design:
    /// always measured.
    pub fn record_once(&self, endpoint: &'static str, t: Timing, outcome: Outcome) {
        self.add(endpoint, None, t, outcome, false);
    }

    fn add(
        &self,
        endpoint: &'static str,
        cohort: Option<&'static str>,
        t: Timing,
        outcome: Outcome,
        warmup: bool,
    ) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let e = inner.endpoints.entry(endpoint).or_default();
        if warmup {
            e.warmup += 1;
            return;
        }
        e.add(t, outcome);
        if let Some(c) = cohort {
            inner.cohorts.entry(c).or_default().add(t, outcome);
        }
        let lag = t.sent.saturating_duration_since(t.intended);
        inner
            .lag
            .saturating_record(micros(lag).min(MAX_TRACKABLE_US));
        if lag > LATE_AFTER {
            inner.late += 1;
        }
        if t.intended >= self.measure_from && inner.last_end.is_none_or(|l| l < t.ended) {
            inner.last_end = Some(t.ended);
        }
    }

    /// Seconds from the end of warm-up to the end of the last measured request.
    pub fn measured_secs(&self) -> f64 {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.last_end.map_or(0.0, |end| {
            end.duration_since(self.measure_from).as_secs_f64()
        })
    }

    pub fn snapshot(&self) -> Snapshot {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Snapshot {
            endpoints: inner.endpoints.clone(),
            cohorts: inner.cohorts.clone(),
            lag: inner.lag.clone(),
            late: inner.late,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_is_excluded_and_errors_counted() {
        let t0 = Instant::now();
        let r = Recorder::new(t0, Duration::from_secs(1));
        let closed =
            |start: Instant, us: u64| Timing::closed(start, start + Duration::from_micros(us));
        r.record("GET /x", closed(t0, 5000), Outcome::Status(200));
        let later = t0 + Duration::from_secs(2);
        r.record("GET /x", closed(later, 1500), Outcome::Status(200));
        r.record("GET /x", closed(later, 2500), Outcome::Status(503));
        r.record("GET /x", closed(later, 10), Outcome::Transport);
        let snap = r.snapshot();
        let s = &snap.endpoints["GET /x"];
        assert_eq!(s.warmup, 1);
        assert_eq!(s.count(), 2, "transport errors have no latency");
        assert_eq!(s.transport_errors, 1);
        assert_eq!(s.errors(), 2);
        assert_eq!(s.status[&200], 1);
        assert!(s.latency.max() >= 2500 && s.latency.max() < 2510);
        assert!((r.measured_secs() - 1.0025).abs() < 1e-3);
        // A login during warm-up is still measured.
        r.record_once("POST /login", closed(t0, 3000), Outcome::Status(200));
        assert_eq!(r.snapshot().endpoints["POST /login"].count(), 1);
    }

    #[test]
    fn open_model_latency_counts_from_the_intended_start() {
        let t0 = Instant::now();
        let r = Recorder::new(t0, Duration::ZERO);
        // Meant to start at t0, sent 300 ms late (the schedule stalled), served in 2 ms.
        let t = Timing {
            intended: t0,
            sent: t0 + Duration::from_millis(300),
            ended: t0 + Duration::from_millis(302),
        };
        r.record_cohort("GET /api/feed", "typical", t, Outcome::Status(200));
        let snap = r.snapshot();
        let e = &snap.endpoints["GET /api/feed"];
        assert!(
            (e.latency.max() as i64 - 302_000).abs() < 400,
            "{}",
            e.latency.max()
        );
        assert!(
            (e.service.max() as i64 - 2_000).abs() < 10,
            "{}",
            e.service.max()
        );
        assert_eq!(snap.late, 1);
        assert_eq!(snap.cohorts["typical"].count(), 1);
    }
}
