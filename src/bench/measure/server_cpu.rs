//! The Cassandra server's own CPU over a sink run: a pipeline that writes with less CPU of
//! its own may cost the server more (batches, many small requests), so beside each run's
//! pipeline CPU the report shows what the Cassandra JVM used from the pipeline's start
//! until its last row was readable: `utime + stime` of the JVM (every thread) from
//! `/proc/<pid>/stat`, before and after. The JVM's pid is the local stack's pid file of
//! each Cassandra node (`local.data_dir`, as `cassflow local status` finds it); a Cassandra
//! the local stack does not run has no figure.
//!
//! The server also works when no pipeline writes: GC, flushes and compactions of earlier
//! runs' tables. That background grows with wall time, so it would charge a slow run more
//! per million rows. Before each sink run (its fresh table created, its pipeline not yet
//! started) the bench reads the server's idle CPU rate over [`IDLE_WINDOW`], and a run's
//! figure is net of it: used CPU minus that rate times the run's duration, never below
//! zero ([`net_of_idle`]). The background is not steady, so this is an estimate; what the
//! server did for the bench's own reads (the sentinel polls, a count when rows were still
//! missing) stays in the figure.

use super::procstat;
use crate::config::Config;
use crate::local::{LocalStack, Server};
use std::time::{Duration, Instant};

/// How long the server's idle CPU rate is read before each sink run.
pub const IDLE_WINDOW: Duration = Duration::from_secs(3);

/// The servers' CPU seconds at an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub cpu_seconds: f64,
    pub at: Instant,
}

/// The Cassandra JVMs of the bench's stack.
#[derive(Debug, Clone, Default)]
pub struct ServerCpu {
    pids: Vec<u32>,
}

impl ServerCpu {
    /// The running Cassandra nodes of the local stack of `config` (none when Cassandra is
    /// not the local stack's).
    pub fn find(config: &Config) -> ServerCpu {
        let stack = LocalStack::new(config);
        ServerCpu {
            pids: stack
                .running(Server::Cassandra)
                .into_iter()
                .map(|(_, pid)| pid)
                .collect(),
        }
    }

    /// Whether there is a server to read.
    pub fn found(&self) -> bool {
        !self.pids.is_empty()
    }

    /// CPU seconds the servers have used since they started; None without a server, or when
    /// one is gone (a restarted server's count starts again, so no difference would hold).
    pub fn seconds(&self) -> Option<f64> {
        if self.pids.is_empty() {
            return None;
        }
        self.pids
            .iter()
            .map(|pid| procstat::cpu_seconds(*pid))
            .sum()
    }

    /// The servers' CPU seconds now, with the instant read.
    pub fn read(&self) -> Option<Reading> {
        Some(Reading {
            cpu_seconds: self.seconds()?,
            at: Instant::now(),
        })
    }

    /// The servers' CPU seconds per second over `window` from now, while nothing of the
    /// bench writes (None without a server, or when one is gone meanwhile).
    pub async fn idle_rate(&self, window: Duration) -> Option<f64> {
        let before = self.read()?;
        tokio::time::sleep(window).await;
        let after = self.read()?;
        let seconds = after.at.saturating_duration_since(before.at).as_secs_f64();
        let used = used(Some(before.cpu_seconds), Some(after.cpu_seconds))?;
        (seconds > 0.0).then_some(used / seconds)
    }
}

/// Server CPU seconds between two readings, net of `idle_rate` (CPU seconds per second,
/// read just before the run) over the time between them, never below zero; None unless
/// all three were read (a gross figure would not say what it holds).
pub fn net_of_idle(
    before: Option<Reading>,
    after: Option<Reading>,
    idle_rate: Option<f64>,
) -> Option<f64> {
    let (before, after, rate) = (before?, after?, idle_rate?);
    let used = used(Some(before.cpu_seconds), Some(after.cpu_seconds))?;
    let seconds = after.at.saturating_duration_since(before.at).as_secs_f64();
    Some((used - rate * seconds).max(0.0))
}

/// Server CPU seconds between two readings (None unless both were read and it did not go
/// backwards).
pub fn used(before: Option<f64>, after: Option<f64>) -> Option<f64> {
    let (before, after) = (before?, after?);
    (after >= before).then_some(after - before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_server_no_figure() {
        assert_eq!(ServerCpu::default().seconds(), None);
        assert!(!ServerCpu::default().found());
    }

    #[test]
    fn reads_a_live_process_and_drops_a_gone_one() {
        let own = ServerCpu {
            pids: vec![std::process::id()],
        };
        assert!(own.seconds().is_some());
        // Pid 0 has no /proc entry: a server that is gone gives no figure.
        let gone = ServerCpu {
            pids: vec![std::process::id(), 0],
        };
        assert_eq!(gone.seconds(), None);
    }

    #[test]
    fn the_idle_rate_is_taken_off_never_below_zero() {
        let t = Instant::now();
        let at = |cpu_seconds: f64, after: u64| {
            Some(Reading {
                cpu_seconds,
                at: t + Duration::from_secs(after),
            })
        };
        // 12 s used over 10 s, 0.5 s/s of it idle: 7 s for the run.
        assert_eq!(
            net_of_idle(at(100.0, 0), at(112.0, 10), Some(0.5)),
            Some(7.0)
        );
        // More idle than used: zero, not a negative cost.
        assert_eq!(
            net_of_idle(at(100.0, 0), at(101.0, 10), Some(0.5)),
            Some(0.0)
        );
        // Without the idle rate, or either reading, no figure.
        assert_eq!(net_of_idle(at(100.0, 0), at(112.0, 10), None), None);
        assert_eq!(net_of_idle(None, at(112.0, 10), Some(0.5)), None);
        assert_eq!(net_of_idle(at(100.0, 0), at(99.0, 10), Some(0.5)), None);
    }

    #[tokio::test]
    async fn an_idle_rate_needs_a_server() {
        assert_eq!(ServerCpu::default().idle_rate(Duration::ZERO).await, None);
        let own = ServerCpu {
            pids: vec![std::process::id()],
        };
        let rate = own.idle_rate(Duration::from_millis(20)).await;
        assert!(rate.is_some_and(|r| r >= 0.0), "{rate:?}");
    }

    #[test]
    fn a_difference_needs_both_readings() {
        assert_eq!(used(Some(10.0), Some(12.5)), Some(2.5));
        assert_eq!(used(None, Some(12.5)), None);
        assert_eq!(used(Some(10.0), None), None);
        assert_eq!(used(Some(10.0), Some(9.0)), None);
    }
}
