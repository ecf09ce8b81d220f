//! The Cassandra server's own CPU over a sink run: a pipeline that writes with less CPU of
//! its own may cost the server more (batches, many small requests), so beside each run's
//! pipeline CPU the report shows what the Cassandra JVM used from the pipeline's start
//! until its last row was readable: `utime + stime` of the JVM (every thread) from
//! `/proc/<pid>/stat`, before and after. The JVM's pid is the local stack's pid file of
//! each Cassandra node (`local.data_dir`, as `cassflow local status` finds it); a Cassandra
//! the local stack does not run has no figure.
//!
//! The server's figure includes everything it did meanwhile: the bench's own reads (the
//! sentinel polls, and a count when rows were still missing), and flushes and compactions
//! of earlier runs' tables.

use super::procstat;
use crate::config::Config;
use crate::local::{LocalStack, Server};

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
                .nodes(Server::Cassandra)
                .into_iter()
                .filter_map(|node| stack.node_pid(node))
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
    fn a_difference_needs_both_readings() {
        assert_eq!(used(Some(10.0), Some(12.5)), Some(2.5));
        assert_eq!(used(None, Some(12.5)), None);
        assert_eq!(used(Some(10.0), None), None);
        assert_eq!(used(Some(10.0), Some(9.0)), None);
    }
}
