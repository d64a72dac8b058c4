//! Per-endpoint measurements of a load run: microsecond HdrHistograms and status counts,
//! recorded by the load users themselves, with warm-up samples kept apart.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Highest latency a histogram tracks (60 s); slower samples are clamped to it.
pub const MAX_TRACKABLE_US: u64 = 60_000_000;
/// Significant decimal digits of the histograms.
pub const SIGFIGS: u8 = 3;

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

/// Samples of one endpoint.
#[derive(Debug, Clone)]
pub struct EndpointSamples {
    pub latency: Histogram<u64>,
    pub status: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub warmup: u64,
}

impl Default for EndpointSamples {
    fn default() -> Self {
        Self {
            latency: new_histogram(),
            status: BTreeMap::new(),
            transport_errors: 0,
            warmup: 0,
        }
    }
}

impl EndpointSamples {
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
}

/// Shared by all load users of a run.
#[derive(Debug)]
pub struct Recorder {
    measure_from: Instant,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    endpoints: BTreeMap<&'static str, EndpointSamples>,
    /// When the last measured request ended: the end of the measured window.
    last_end: Option<Instant>,
}

/// Microseconds in a duration, saturating instead of truncating.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Recorder {
    /// Samples of requests that start before `start + warmup` count as warm-up only.
    pub fn new(start: Instant, warmup: Duration) -> Self {
        Self {
            measure_from: start + warmup,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Records a request of the steady-state loop; warm-up requests are only counted.
    pub fn record(
        &self,
        endpoint: &'static str,
        started: Instant,
        took: Duration,
        outcome: Outcome,
    ) {
        self.add(
            endpoint,
            started,
            took,
            outcome,
            started < self.measure_from,
        );
    }

    /// Records a once-per-user request (login) that happens during warm-up by design:
    /// always measured.
    pub fn record_once(
        &self,
        endpoint: &'static str,
        started: Instant,
        took: Duration,
        outcome: Outcome,
    ) {
        self.add(endpoint, started, took, outcome, false);
    }

    fn add(
        &self,
        endpoint: &'static str,
        started: Instant,
        took: Duration,
        outcome: Outcome,
        warmup: bool,
    ) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let e = inner.endpoints.entry(endpoint).or_default();
        if warmup {
            e.warmup += 1;
            return;
        }
        e.latency
            .saturating_record(micros(took).clamp(1, MAX_TRACKABLE_US));
        match outcome {
            Outcome::Status(s) => *e.status.entry(s).or_default() += 1,
            Outcome::Transport => e.transport_errors += 1,
        }
        let end = started + took;
        if started >= self.measure_from && inner.last_end.is_none_or(|l| l < end) {
            inner.last_end = Some(end);
        }
    }

    /// Seconds from the end of warm-up to the end of the last measured request.
    pub fn measured_secs(&self) -> f64 {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.last_end.map_or(0.0, |end| {
            end.duration_since(self.measure_from).as_secs_f64()
        })
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, EndpointSamples> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .endpoints
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_is_excluded_and_errors_counted() {
        let t0 = Instant::now();
        let r = Recorder::new(t0, Duration::from_secs(1));
        r.record("GET /x", t0, Duration::from_millis(5), Outcome::Status(200));
        let later = t0 + Duration::from_secs(2);
        r.record(
            "GET /x",
            later,
            Duration::from_micros(1500),
            Outcome::Status(200),
        );
        r.record(
            "GET /x",
            later,
            Duration::from_micros(2500),
            Outcome::Status(503),
        );
        r.record(
            "GET /x",
            later,
            Duration::from_micros(10),
            Outcome::Transport,
        );
        let s = &r.snapshot()["GET /x"];
        assert_eq!(s.warmup, 1);
        assert_eq!(s.count(), 3);
        assert_eq!(s.errors(), 2);
        assert_eq!(s.status[&200], 1);
        assert!(s.latency.max() >= 2500 && s.latency.max() < 2510);
        assert!((r.measured_secs() - 1.0025).abs() < 1e-3);
        // A login during warm-up is still measured.
        r.record_once(
            "POST /login",
            t0,
            Duration::from_millis(3),
            Outcome::Status(200),
        );
        assert_eq!(r.snapshot()["POST /login"].count(), 1);
    }
}
