//! Ordered parallel generation: batches are produced on `jobs` worker threads and consumed
//! strictly in batch order, so the output is the same whatever the number of threads.
//! At most `2 × jobs` batches are in flight, which bounds memory.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Condvar, Mutex};

/// Runs `make(batch)` for every batch in `0..batches` on `jobs` threads and feeds the results
/// to `consume` in batch order. The first error (from either side) stops the run.
pub fn ordered<T, E>(
    jobs: usize,
    batches: u32,
    make: impl Fn(u32) -> Result<T, E> + Sync,
    mut consume: impl FnMut(T) -> Result<(), E>,
) -> Result<(), E>
where
    T: Send,
    E: Send,
{
    let jobs = jobs.max(1);
    let window = u32::try_from(2 * jobs).unwrap_or(u32::MAX);
    let next = AtomicU32::new(0);
    let stop = AtomicBool::new(false);
    // The next batch `consume` expects; workers wait while they are too far ahead of it.
    let written = (Mutex::new(0u32), Condvar::new());
    let (tx, rx) = mpsc::channel::<(u32, Result<T, E>)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, stop, written, make) = (&next, &stop, &written, &make);
            scope.spawn(move || {
                // If `make` panics, stop everyone (under the lock, so no waiter misses it).
                let _guard = StopOnPanic { stop, written };
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= batches || stop.load(Ordering::SeqCst) {
                        break;
                    }
                    {
                        let mut w = written.0.lock().unwrap_or_else(|p| p.into_inner());
                        while k >= *w + window && !stop.load(Ordering::SeqCst) {
                            w = written.1.wait(w).unwrap_or_else(|p| p.into_inner());
                        }
                    }
                    if tx.send((k, make(k))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<u32, Result<T, E>> = BTreeMap::new();
        let mut expected = 0u32;
        let mut outcome = Ok(());
        'recv: for (k, result) in rx.iter() {
            pending.insert(k, result);
            while let Some(result) = pending.remove(&expected) {
                let step = result.and_then(&mut consume);
                if let Err(e) = step {
                    outcome = Err(e);
                    break 'recv;
                }
                expected += 1;
                *written.0.lock().unwrap_or_else(|p| p.into_inner()) = expected;
                written.1.notify_all();
            }
        }
        if outcome.is_err() {
            {
                let _held = written.0.lock().unwrap_or_else(|p| p.into_inner());
                stop.store(true, Ordering::SeqCst);
            }
            written.1.notify_all();
            // Drain so that workers blocked on send finish.
            for _ in rx.iter() {}
        }
        outcome
    })
}

/// Sets `stop` and wakes the waiting workers when a worker unwinds.
struct StopOnPanic<'a> {
    stop: &'a AtomicBool,
    written: &'a (Mutex<u32>, Condvar),
}

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            {
                let _held = self.written.0.lock().unwrap_or_else(|p| p.into_inner());
                self.stop.store(true, Ordering::SeqCst);
            }
            self.written.1.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_order_does_not_depend_on_threads() {
        for jobs in [1, 2, 5] {
            let mut seen = Vec::new();
            ordered::<u32, ()>(
                jobs,
                50,
                |k| Ok(k * 3),
                |v| {
                    seen.push(v);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(seen, (0..50).map(|k| k * 3).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_panicking_batch_does_not_hang_the_others() {
        let r = std::panic::catch_unwind(|| {
            ordered::<u32, ()>(
                2,
                200,
                |k| {
                    assert!(k != 3, "batch 3 fails");
                    Ok(k)
                },
                |_| Ok(()),
            )
        });
        assert!(r.is_err());
    }

    #[test]
    fn first_error_stops() {
        let mut seen = 0;
        let r = ordered(
            2,
            100,
            |k| if k == 7 { Err(k) } else { Ok(k) },
            |_| {
                seen += 1;
                Ok(())
            },
        );
        assert_eq!(r, Err(7));
        assert_eq!(seen, 7);
    }
}
