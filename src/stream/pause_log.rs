//! What a pipeline says while an outage lasts (Cassandra refusing writes, Kafka not
//! answering): a summary line every [`SUMMARY_EVERY`] (failures so far, records waiting,
//! last error) and, when it ends, how long it lasted and how many records waited. The line when the pause starts is the
//! pipeline's (`Shared::pause_for`); each record's own retries log at debug only, so an
//! outage reads as a few lines however many records are in flight.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a pause that lasts is summarised.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(30);

/// One pipeline's current pause, if any.
#[derive(Debug, Default)]
pub struct PauseLog {
    current: Mutex<Option<Pause>>,
}

#[derive(Debug)]
struct Pause {
    since: Instant,
    last_summary: Instant,
    failures: u64,
    /// The most records in flight (waiting for the write) seen during the pause.
    waiting: u64,
    last_error: String,
}

/// A pause that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseEnded {
    pub lasted: Duration,
    pub failures: u64,
    pub waiting: u64,
}

impl PauseLog {
    /// A pause starts with its first failure.
    pub fn started(&self, error: &str, waiting: u64) {
        let now = Instant::now();
        if let Ok(mut current) = self.current.lock() {
            *current = Some(Pause {
                since: now,
                last_summary: now,
                failures: 1,
                waiting,
                last_error: error.to_string(),
            });
        }
    }

    /// Whether a pause is going on.
    pub fn is_on(&self) -> bool {
        self.current.lock().map(|c| c.is_some()).unwrap_or(false)
    }

    /// Another failure while paused; logs the summary when one is due.
    pub fn failed(&self, pipeline: &str, reason: &str, error: &str, waiting: u64) {
        let Ok(mut current) = self.current.lock() else {
            return;
        };
        let Some(pause) = current.as_mut() else {
            return;
        };
        pause.failures += 1;
        pause.waiting = pause.waiting.max(waiting);
        error.clone_into(&mut pause.last_error);
        if pause.last_summary.elapsed() >= SUMMARY_EVERY {
            pause.last_summary = Instant::now();
            tracing::warn!(
                pipeline,
                reason,
                paused_s = pause.since.elapsed().as_secs(),
                failures = pause.failures,
                records_waiting = waiting,
                last_error = %pause.last_error,
                "pipeline still waiting: the outage goes on"
            );
        }
    }

    /// The pause is over: what it amounted to (None when none was logged as started).
    pub fn ended(&self) -> Option<PauseEnded> {
        let pause = self.current.lock().ok()?.take()?;
        Some(PauseEnded {
            lasted: pause.since.elapsed(),
            failures: pause.failures,
            waiting: pause.waiting,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_counts_its_failures_and_the_most_records_waiting() {
        let log = PauseLog::default();
        assert_eq!(log.ended(), None);
        log.started("timed out", 10);
        log.failed("p", "cassandra_unavailable", "refused", 64);
        log.failed("p", "cassandra_unavailable", "refused", 5);
        let ended = log.ended().expect("a pause");
        assert_eq!((ended.failures, ended.waiting), (3, 64));
        assert_eq!(log.ended(), None, "said once");
    }

    #[test]
    fn failures_without_a_pause_are_not_counted() {
        let log = PauseLog::default();
        log.failed("p", "schema", "no table", 1);
        assert_eq!(log.ended(), None);
    }
}
