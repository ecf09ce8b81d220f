//! The Cassandra server's stop-the-world GC pauses during a latency phase: a write that
//! arrives while the JVM is paused waits for the pause to end, and the records behind it
//! wait for the backlog to drain, so a pause shows in the tail of every pipeline alike.
//! Beside each phase's percentiles the report shows how often the server paused, its
//! longest pause and their sum, so a tail can be told from the pipeline's own queueing.
//!
//! Read from the JVM's GC log of each Cassandra node the local stack runs (`logs/gc.log`,
//! written with `-Xlog:gc` and its `time` decoration: one line per pause, stamped when the
//! pause ended). A Cassandra the local stack does not run has no figure.

use crate::config::Config;
use crate::local::{LocalStack, Server};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// The pauses of a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Pauses {
    pub count: usize,
    pub longest_ms: f64,
    pub total_ms: f64,
}

impl Pauses {
    /// "3 GC pauses, longest 152 ms, 310 ms in all": in the report, the targets and the log.
    pub fn describe(&self) -> String {
        match self.count {
            0 => "no GC pause".into(),
            1 => format!("1 GC pause of {:.0} ms", self.longest_ms),
            n => format!(
                "{n} GC pauses, longest {:.0} ms, {:.0} ms in all",
                self.longest_ms, self.total_ms
            ),
        }
    }
}

/// The GC logs of the bench's Cassandra nodes.
#[derive(Debug, Clone, Default)]
pub struct ServerPauses {
    logs: Vec<PathBuf>,
}

impl ServerPauses {
    /// The GC logs of the running Cassandra nodes of the local stack of `config` (none when
    /// Cassandra is not the local stack's).
    pub fn find(config: &Config) -> ServerPauses {
        let stack = LocalStack::new(config);
        ServerPauses {
            logs: stack
                .running(Server::Cassandra)
                .into_iter()
                .map(|(node, _)| stack.node_log_path(node).with_file_name("gc.log"))
                .filter(|path| path.exists())
                .collect(),
        }
    }

    /// The pauses of every node that overlap `from..to`; None without a log to read.
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<Pauses> {
        if self.logs.is_empty() {
            return None;
        }
        let mut pauses = Pauses::default();
        for log in &self.logs {
            // A log rotated meanwhile: its older part is `gc.log.0` and on.
            let rotated = (0..8).map(|i| log.with_extension(format!("log.{i}")));
            for path in std::iter::once(log.clone()).chain(rotated) {
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                for (ended, took) in text.lines().filter_map(pause) {
                    let ended = ended.with_timezone(&Utc);
                    let started = ended - took;
                    if ended < from || started > to {
                        continue;
                    }
                    let ms = took.as_seconds_f64() * 1000.0;
                    pauses.count += 1;
                    pauses.total_ms += ms;
                    pauses.longest_ms = pauses.longest_ms.max(ms);
                }
            }
        }
        Some(pauses)
    }
}

/// A stop-the-world pause of a `-Xlog:gc` line with the `time` decoration: when it ended
/// and how long it took, e.g. `[2026-12-07T14:52:40.147+0000][17.629s] GC(7) Pause Young
/// (Normal) (G1 Evacuation Pause) 132M->52M(2048M) 27.002ms`. Other lines: None.
fn pause(line: &str) -> Option<(DateTime<FixedOffset>, chrono::TimeDelta)> {
    let stamp = line.strip_prefix('[')?.split(']').next()?;
    let ended = DateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%S%.3f%z").ok()?;
    let text = line.rsplit(']').next()?;
    if !text.contains(" Pause ") {
        return None;
    }
    let ms: f64 = text.rsplit(' ').next()?.strip_suffix("ms")?.parse().ok()?;
    let took = Duration::try_from_secs_f64(ms / 1000.0).ok()?;
    Some((ended, chrono::TimeDelta::from_std(took).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn pause_lines_give_their_end_and_length_and_other_lines_nothing() {
        let (ended, took) = pause("[2026-12-07T14:52:40.147+0000][17.629s] GC(7) Pause Young (Normal) (G1 Evacuation Pause) 132M->52M(2048M) 27.002ms").unwrap();
        assert_eq!(ended.with_timezone(&Utc), at("2026-12-07T14:52:40.147Z"));
        assert_eq!(took.num_microseconds(), Some(27_002));
        let remark = pause("[2026-12-07T14:55:44.203+0000][201.684s] GC(36) Pause Remark 1479M->942M(2048M) 26.009ms");
        assert!(remark.is_some());
        for other in [
            "[2026-12-07T14:55:44.203+0000][201.684s] GC(36) Concurrent Mark Cycle 3154.177ms",
            "[2026-12-07T14:55:44.203+0000][201.684s] Using G1",
            "[0.005s] GC(1) Pause Young (Normal) 10M->5M(20M) 1.000ms",
            "",
        ] {
            assert_eq!(pause(other), None, "{other}");
        }
    }

    #[test]
    fn a_window_counts_the_pauses_that_overlap_it_on_every_node() {
        let dir = tempfile::tempdir().unwrap();
        let node = |name: &str, text: &str| {
            let path = dir.path().join(name).join("gc.log");
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            path
        };
        let line = |end: &str, ms: &str| {
            format!("[2026-12-07T14:00:{end}+0000][1.0s] GC(1) Pause Young (Normal) (G1 Evacuation Pause) 9M->1M(20M) {ms}ms\n")
        };
        let one = node(
            "a",
            &[
                line("09.000", "50.0"),
                line("10.100", "150.0"),
                line("12.000", "20.0"),
            ]
            .concat(),
        );
        // Ended after the window, started within it: counted; the rotated part too.
        let two = node("b", &line("11.050", "100.0"));
        std::fs::write(two.with_extension("log.0"), line("10.500", "30.0")).unwrap();
        let pauses = ServerPauses {
            logs: vec![one, two],
        };
        let got = pauses
            .between(at("2026-12-07T14:00:10Z"), at("2026-12-07T14:00:11Z"))
            .unwrap();
        assert_eq!(got.count, 3, "{got:?}");
        assert_eq!(got.longest_ms, 150.0);
        assert!((got.total_ms - 280.0).abs() < 1e-6, "{got:?}");
        assert_eq!(
            ServerPauses::default().between(at("2026-12-07T14:00:10Z"), at("2026-12-07T14:00:11Z")),
            None
        );
    }
}
