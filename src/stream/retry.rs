//! When a record that keeps failing "transiently" is to blame rather than Cassandra: a
//! failed try counts against the record's budget only if another write of the pipeline
//! succeeded since its previous try. During an outage nothing succeeds, so nothing counts
//! and every record waits however long it takes; a record that fails while others are
//! written is dead-lettered (`retries_exhausted`) after `stream.max_record_retries` such
//! tries. It owns that decision only; the retry loop and the backoff are the caller's.

use std::sync::atomic::{AtomicU64, Ordering};

/// Successful writes of one pipeline, shared by its records.
#[derive(Debug, Default)]
pub struct Progress(AtomicU64);

impl Progress {
    pub fn record_success(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn successes(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What to do after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing else succeeded either: an outage; keep waiting, nothing counted.
    Outage,
    /// Others succeed while this record fails: counted, retry again.
    Counted,
    /// Counted, and the budget is spent: dead-letter the record.
    Exhausted,
}

/// One record's budget of tries.
#[derive(Debug)]
pub struct RecordRetries {
    seen: u64,
    counted: u32,
    max: u32,
    /// Failures in a row that counted nothing (for the caller's probe).
    uncounted_streak: u32,
}

impl RecordRetries {
    /// A budget of `max` counted tries (at least one), starting from `progress` now.
    pub fn new(progress: &Progress, max: u32) -> Self {
        RecordRetries {
            seen: progress.successes(),
            counted: 0,
            max: max.max(1),
            uncounted_streak: 0,
        }
    }

    /// Judges one transient failure against the successes of the pipeline so far.
    pub fn failed(&mut self, progress: &Progress) -> Verdict {
        let now = progress.successes();
        let others_succeeded = now != self.seen;
        self.seen = now;
        if !others_succeeded {
            self.uncounted_streak = self.uncounted_streak.saturating_add(1);
            return Verdict::Outage;
        }
        self.uncounted_streak = 0;
        self.counted += 1;
        if self.counted >= self.max {
            Verdict::Exhausted
        } else {
            Verdict::Counted
        }
    }

    /// Tries that counted so far.
    pub fn counted(&self) -> u32 {
        self.counted
    }

    /// Failures in a row while nothing else succeeded.
    pub fn uncounted_streak(&self) -> u32 {
        self.uncounted_streak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn during_an_outage_nothing_counts() {
        let progress = Progress::default();
        let mut r = RecordRetries::new(&progress, 3);
        for _ in 0..1000 {
            assert_eq!(r.failed(&progress), Verdict::Outage);
        }
        assert_eq!(r.counted(), 0);
        assert_eq!(r.uncounted_streak(), 1000);
    }

    #[test]
    fn a_record_failing_while_others_succeed_is_exhausted() {
        let progress = Progress::default();
        let mut r = RecordRetries::new(&progress, 3);
        progress.record_success();
        assert_eq!(r.failed(&progress), Verdict::Counted);
        // No success in between: does not count (the outage may have begun).
        assert_eq!(r.failed(&progress), Verdict::Outage);
        progress.record_success();
        progress.record_success();
        assert_eq!(r.failed(&progress), Verdict::Counted);
        assert_eq!(r.uncounted_streak(), 0);
        progress.record_success();
        assert_eq!(r.failed(&progress), Verdict::Exhausted);
        assert_eq!(r.counted(), 3);
    }

    #[test]
    fn successes_before_the_record_started_do_not_count() {
        let progress = Progress::default();
        progress.record_success();
        let mut r = RecordRetries::new(&progress, 1);
        assert_eq!(r.failed(&progress), Verdict::Outage);
        progress.record_success();
        assert_eq!(r.failed(&progress), Verdict::Exhausted, "a budget of 1");
    }
}
