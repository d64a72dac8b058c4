//! The open model's shared schedule: request slots at a constant or Poisson rate for the
//! whole mix. A goose user takes the next slot when it is free to send, waits for the slot's
//! time if it is early, and its latency is measured from the slot — so when the server stalls
//! and every user is busy, the slots that pass meanwhile are sent late and their wait counts
//! (no coordinated omission).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{mpsc, Mutex};
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
        let offset = Duration::try_from_secs_f64(s.next).ok()?;
        let at = self.start.checked_add(offset)?;
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

    /// Slots of the schedule that were never handed out (every user was still busy when
    /// the run ended): requests the server never saw, counted so they are not silently lost.
    pub fn unsent(&self) -> u64 {
        let mut n = 0;
        while self.next().is_some() {
            n += 1;
        }
        n
    }

    /// Slots handed out so far.
    pub fn issued(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).issued
    }
}

/// Wakes tasks at their slot with the OS timer's precision (tens of µs) instead of tokio's
/// 1 ms timer wheel, whose rounding alone would make every request ~1 ms late. One thread
/// keeps the pending wake-ups in a heap and sleeps until the earliest.
#[derive(Debug)]
pub struct PreciseTimer {
    tx: Mutex<mpsc::Sender<Wake>>,
}

type Wake = (Instant, u64, tokio::sync::oneshot::Sender<()>);

impl Default for PreciseTimer {
    fn default() -> Self {
        Self::new()
    }
}

impl PreciseTimer {
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel::<Wake>();
        std::thread::spawn(move || {
            let mut heap: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
            let mut waiting: std::collections::HashMap<u64, tokio::sync::oneshot::Sender<()>> =
                std::collections::HashMap::new();
            loop {
                let next = heap.peek().map(|Reverse((at, _))| *at);
                let msg = match next {
                    Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now()))
                    {
                        Ok(m) => Some(m),
                        Err(mpsc::RecvTimeoutError::Timeout) => None,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    },
                    None => match rx.recv() {
                        Ok(m) => Some(m),
                        Err(_) => break,
                    },
                };
                if let Some((at, id, tx)) = msg {
                    heap.push(Reverse((at, id)));
                    waiting.insert(id, tx);
                }
                let now = Instant::now();
                while let Some(Reverse((at, id))) = heap.peek().copied() {
                    if at > now {
                        break;
                    }
                    heap.pop();
                    if let Some(tx) = waiting.remove(&id) {
                        let _ = tx.send(());
                    }
                }
            }
            // The timer is gone: release everyone still waiting.
            for (_, tx) in waiting {
                let _ = tx.send(());
            }
        });
        Self { tx: Mutex::new(tx) }
    }

    /// Waits until `at`.
    pub async fn sleep_until(&self, at: Instant) {
        if at <= Instant::now() {
            return;
        }
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = self
            .tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send((at, id, tx));
        if sent.is_err() {
            tokio::time::sleep_until(at.into()).await;
            return;
        }
        let _ = rx.await;
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

    #[tokio::test]
    async fn precise_timer_wakes_at_the_slot_not_after_it() {
        let timer = PreciseTimer::new();
        let mut worst = Duration::ZERO;
        for i in 0..20u64 {
            let at = Instant::now() + Duration::from_micros(2000 + i * 137);
            timer.sleep_until(at).await;
            let now = Instant::now();
            assert!(now >= at, "woke early");
            worst = worst.max(now - at);
        }
        // tokio's wheel alone rounds up to the next millisecond; the OS timer does better.
        // Generous: a busy 2-core machine can delay any thread.
        assert!(worst < Duration::from_millis(50), "{worst:?}");
    }

    #[test]
    fn an_absurdly_slow_rate_ends_instead_of_overflowing() {
        let s = Schedule::new(
            Instant::now(),
            Duration::from_secs(1),
            1e-300,
            Arrival::Constant,
            1,
        );
        assert!(s.next().is_some());
        assert!(s.next().is_none());
        assert_eq!(s.unsent(), 0);
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
