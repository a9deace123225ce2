//! Costly work (a report's slices, a large read) run off the async threads, and stopped when
//! whoever asked for it goes away.
//!
//! A web handler's future is dropped when its client disconnects (the server does not keep
//! half-closed connections, see `web::Web::build`), but a blocking task started by it would run
//! to the end regardless and hold its memory meanwhile. [`run`] hands the work a [`Stop`] that
//! is raised the moment the awaiting future is dropped; the work checks it between steps and
//! gives up. Nothing here knows about HTTP: the CLI's work stops the same way on Ctrl-C.
//!
//! Must never: stop work that writes (only reads and computations are abandoned).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Raised when the work's result is no longer wanted.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Whether the work should give up now.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Raises its [`Stop`] when dropped unless disarmed: the future that owns it was abandoned.
#[derive(Debug)]
pub struct StopOnDrop {
    stop: Stop,
    armed: bool,
}

impl StopOnDrop {
    /// A guard over a fresh [`Stop`].
    pub fn new() -> Self {
        Self { stop: Stop::default(), armed: true }
    }

    /// The flag the work checks.
    pub fn stop(&self) -> Stop {
        self.stop.clone()
    }

    /// The work finished and its result was taken: dropping the guard raises nothing.
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Default for StopOnDrop {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.stop.raise();
        }
    }
}

/// Why blocking work produced nothing.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// The work saw its [`Stop`] raised and gave up (only observable by a caller that raised
    /// it itself: an abandoned caller is gone).
    #[error("{what} was abandoned")]
    Abandoned {
        /// What was being done.
        what: &'static str,
    },
    /// The work panicked or the runtime is shutting down.
    #[error("{what} ended unexpectedly: {message}")]
    Failed {
        /// What was being done.
        what: &'static str,
        /// The join error.
        message: String,
    },
}

/// Runs `work` on a blocking thread. `work` returns `None` when it saw the stop raised; the
/// stop is raised when the returned future is dropped before it finished. Each abandonment is
/// counted (`mes_work_abandoned_total{work}`), so an operator sees clients that gave up.
pub async fn run<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce(&Stop) -> Option<T> + Send + 'static,
) -> Result<T, WorkError> {
    let guard = StopOnDrop::new();
    let stop = guard.stop();
    let joined = tokio::task::spawn_blocking(move || {
        let out = work(&stop);
        if out.is_none() {
            metrics::counter!(crate::telemetry::WORK_ABANDONED, "work" => what).increment(1);
            tracing::debug!(work = what, "abandoned: nobody waits for it any more");
        }
        out
    })
    .await;
    guard.disarm();
    match joined {
        Ok(Some(out)) => Ok(out),
        Ok(None) => Err(WorkError::Abandoned { what }),
        Err(e) => Err(WorkError::Failed { what, message: e.to_string() }),
    }
}

/// Maps `items` through `step`, checking `stop` before each: `None` as soon as it is raised.
pub fn map_until_stopped<I, T>(stop: &Stop, items: I, mut step: impl FnMut(I::Item) -> T) -> Option<Vec<T>>
where
    I: IntoIterator,
{
    let mut out = Vec::new();
    for item in items {
        if stop.requested() {
            return None;
        }
        out.push(step(item));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_caller_stops_the_work_at_its_next_check() {
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let caller = tokio::spawn(run("test work", move |stop| {
            started_tx.send(()).ok();
            // Would never end on its own.
            while !stop.requested() {
                std::thread::yield_now();
            }
            seen_tx.send(()).ok();
            None::<()>
        }));
        tokio::task::spawn_blocking(move || started_rx.recv()).await.unwrap().unwrap();
        caller.abort();
        let seen = tokio::task::spawn_blocking(move || seen_rx.recv_timeout(std::time::Duration::from_secs(60)));
        assert!(seen.await.unwrap().is_ok(), "the work saw its stop raised when its caller was dropped");
    }

    #[tokio::test]
    async fn work_that_finishes_returns_its_result_and_raises_nothing() {
        let out = run("test work", |stop| {
            assert!(!stop.requested());
            map_until_stopped(stop, 1..=3, |x| x * 2)
        })
        .await
        .unwrap();
        assert_eq!(out, vec![2, 4, 6]);
    }

    #[test]
    fn a_raised_stop_ends_a_map_before_its_next_item() {
        let guard = StopOnDrop::new();
        let stop = guard.stop();
        let mut seen = 0;
        drop(guard);
        assert_eq!(
            map_until_stopped(&stop, 0..10, |_| {
                seen += 1;
            }),
            None
        );
        assert_eq!(seen, 0);
    }
}
