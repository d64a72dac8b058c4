//! The open model's shared schedule: request slots at a constant or Poisson rate for the
//! whole mix. A goose user takes the next slot when it is free to send, waits for the slot's
//! time if it is early, and its latency is measured from the slot — so when the server stalls
//! and every user is busy, the slots that pass meanwhile are sent late and their wait counts
//! (no coordinated omission).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::seed::rng::{self, GenRng};

/// Inter-arrival times of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    /// Evenly spaced slots (wrk2, pgbench --rate without jitter).
    #[default]
    Constant,
    /// Exponential gaps: a Poisson process of the same mean rate.
    Poisson,
}

#[derive(Debug)]
pub struct Schedule {
    start: Instant,
    end: Instant,
    rate: f64,
    arrival: Arrival,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    issued: u64,
    /// Seconds from `start` of the next slot.
    next: f64,
    rng: GenRng,
}

impl Schedule {
    /// Slots at `rate` per second from `start` until `start + duration`.
    pub fn new(start: Instant, duration: Duration, rate: f64, arrival: Arrival, seed: u64) -> Self {
        Self {
            start,
            end: start + duration,
            rate,
            arrival,
            state: Mutex::new(State {
                issued: 0,
                next: 0.0,
                rng: rng::stream(seed, "arrivals", 0),
            }),
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The next slot's intended start, or `None` once the schedule is over.
    pub fn next(&self) -> Option<Instant> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let at = self.start + Duration::from_secs_f64(s.next);
        if at >= self.end {
            return None;
        }
        s.issued += 1;
        let gap = match self.arrival {
            Arrival::Constant => 1.0 / self.rate,
            Arrival::Poisson => {
                let u: f64 = s.rng.random::<f64>().max(f64::MIN_POSITIVE);
                -u.ln() / self.rate
            }
        };
        s.next += gap;
        Some(at)
    }

    /// Slots handed out so far.
    pub fn issued(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).issued
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_slots_are_evenly_spaced_and_bounded() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, Duration::from_secs(1), 100.0, Arrival::Constant, 1);
        let slots: Vec<Instant> = std::iter::from_fn(|| s.next()).collect();
        assert_eq!(slots.len(), 100);
        assert_eq!(slots[1] - slots[0], Duration::from_millis(10));
        assert!(slots.iter().all(|&t| t < t0 + Duration::from_secs(1)));
        assert_eq!(s.issued(), 100);
    }

    #[test]
    fn poisson_slots_have_the_mean_rate() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, Duration::from_secs(100), 200.0, Arrival::Poisson, 9);
        let n = std::iter::from_fn(|| s.next()).count();
        // 20,000 expected; a Poisson count's sd is ~141.
        assert!((19_300..=20_700).contains(&n), "{n}");
    }
}
