//! Watching the servers `cassflow up` started, node by node, as Compose's `restart:
//! unless-stopped` does: a node that dies without being stopped (`cassflow local stop` is a stop, a crash or a
//! `kill -9` is not) is reported at once with the end of its log and started again after a
//! growing backoff. After [`RestartPolicy::max_crashes`] crashes within
//! [`RestartPolicy::window`] it is given up, loudly, and the rest of `up` keeps running (the
//! stream job waits and retries, `/health` says degraded); once the server runs again,
//! started by hand, it is watched again.
//!
//! Owns the restart policy and the watch loop; what to do with each [`Event`] (print it) is
//! the caller's. Servers `up` did not start are never handed to it.

use super::{process, LocalStack, Node, Server};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// When to restart a dead server, and when to stop trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// This many crashes within `window` and the server is given up.
    pub max_crashes: usize,
    pub window: Duration,
    /// Wait before the first restart; doubled for each further crash in the window.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// How often the servers are looked at.
    pub poll: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            max_crashes: 5,
            window: Duration::from_secs(600),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            poll: Duration::from_secs(1),
        }
    }
}

/// What to do after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Restart after this wait; `crash` is its number within the window.
    Restart {
        after: Duration,
        crash: usize,
    },
    GiveUp {
        crashes: usize,
    },
}

/// The crashes of one server within the policy's window.
#[derive(Debug, Default)]
pub struct CrashHistory {
    times: VecDeque<Instant>,
}

impl CrashHistory {
    /// Counts a crash at `now` and says what to do about it.
    pub fn record(&mut self, now: Instant, policy: &RestartPolicy) -> Verdict {
        while self
            .times
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= policy.window)
        {
            self.times.pop_front();
        }
        self.times.push_back(now);
        let crashes = self.times.len();
        if crashes >= policy.max_crashes {
            return Verdict::GiveUp { crashes };
        }
        let doublings = u32::try_from(crashes - 1).unwrap_or(u32::MAX).min(16);
        let after = policy
            .initial_backoff
            .saturating_mul(1 << doublings)
            .min(policy.max_backoff);
        Verdict::Restart {
            after,
            crash: crashes,
        }
    }

    pub fn clear(&mut self) {
        self.times.clear();
    }
}

/// Something the supervisor saw or did; its `Display` is the line to show a user.
#[derive(Debug, Clone)]
pub enum Event {
    /// The server is gone without a stop.
    Died {
        node: Node,
        pid: u32,
        /// "killed by signal 9 (SIGKILL)", when this process spawned it.
        how: Option<String>,
        log: PathBuf,
        /// The last lines of its log.
        tail: Vec<String>,
    },
    Restarting {
        node: Node,
        after: Duration,
        crash: usize,
        policy: RestartPolicy,
    },
    Restarted {
        node: Node,
        pid: u32,
        took: Duration,
    },
    RestartFailed {
        node: Node,
        error: String,
    },
    GaveUp {
        node: Node,
        crashes: usize,
        window: Duration,
        log: PathBuf,
    },
    /// Stopped by `cassflow local stop`: not restarted.
    Stopped {
        node: Node,
    },
    /// Running again after a stop or a give-up (started by hand): watched again.
    Watching {
        node: Node,
        pid: u32,
    },
}

/// Lines of the log shown with a death.
const TAIL_LINES: usize = 5;
/// Characters of one shown log line.
const TAIL_WIDTH: usize = 300;

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Died {
                node,
                pid,
                how,
                log,
                tail,
            } => {
                let how = how.as_deref().unwrap_or("exited");
                write!(
                    f,
                    "{} (pid {pid}) died: {how}; last lines of {}:",
                    node.display_name(),
                    log.display()
                )?;
                if tail.is_empty() {
                    write!(f, "\n    (the log is empty)")?;
                }
                for line in tail {
                    write!(f, "\n    {line}")?;
                }
                Ok(())
            }
            Event::Restarting {
                node,
                after,
                crash,
                policy,
            } => write!(
                f,
                "restarting {} in {} (crash {crash} within {}; gives up at {})",
                node.display_name(),
                humantime::format_duration(*after),
                humantime::format_duration(policy.window),
                policy.max_crashes
            ),
            Event::Restarted { node, pid, took } => write!(
                f,
                "{} restarted: pid {pid}, answering after {:.1}s",
                node.display_name(),
                took.as_secs_f64()
            ),
            Event::RestartFailed { node, error } => {
                write!(f, "{} did not come back: {error}", node.display_name())
            }
            Event::GaveUp {
                node,
                crashes,
                window,
                log,
            } => write!(
                f,
                "{} crashed {crashes} times within {}; not restarting it again, the rest of \
                 cassflow keeps running without it (fix: read {}, then start it with \
                 `cassflow local start`; up watches it again once it runs)",
                node.display_name(),
                humantime::format_duration(*window),
                log.display()
            ),
            Event::Stopped { node } => write!(
                f,
                "{} was stopped (cassflow local stop); not restarting it (start it again \
                 with `cassflow local start`)",
                node.display_name()
            ),
            Event::Watching { node, pid } => write!(
                f,
                "{} runs again (pid {pid}); watching it again",
                node.display_name()
            ),
        }
    }
}

/// Where events go.
pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// Watches every node of `servers` of `stack` until `shutdown`, restarting any that dies.
pub async fn supervise(
    stack: LocalStack,
    servers: Vec<Server>,
    policy: RestartPolicy,
    events: EventSink,
    shutdown: CancellationToken,
) {
    let nodes: Vec<Node> = servers.iter().flat_map(|&s| stack.nodes(s)).collect();
    let watches = nodes.into_iter().map(|node| {
        watch(
            stack.clone(),
            node,
            policy,
            events.clone(),
            shutdown.clone(),
        )
    });
    futures::future::join_all(watches).await;
}

/// One node's watch: alive, dead and restarting, or idle (stopped or given up).
async fn watch(
    stack: LocalStack,
    node: Node,
    policy: RestartPolicy,
    events: EventSink,
    shutdown: CancellationToken,
) {
    let files = stack.files(node);
    let emit = |event: Event| {
        log_event(&event);
        count_event(&event);
        events(&event);
    };
    let mut history = CrashHistory::default();
    let mut watching = process::running_pid(&files);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(policy.poll) => {}
        }
        let running = process::running_pid(&files);
        let Some(pid) = watching else {
            if let Some(pid) = running {
                history.clear();
                watching = Some(pid);
                emit(Event::Watching { node, pid });
            }
            continue;
        };
        if let Some(now) = running {
            // Restarted by hand (`local stop` then `local start`) between two looks.
            watching = Some(now);
            continue;
        }
        if process::stopped_on_purpose(&files) {
            watching = None;
            emit(Event::Stopped { node });
            continue;
        }
        let how = process::exit_description(&files, pid, Duration::from_secs(1)).await;
        let log = stack.node_log_path(node);
        emit(Event::Died {
            node,
            pid,
            how,
            tail: log_tail(&log),
            log: log.clone(),
        });
        watching = loop {
            match history.record(Instant::now(), &policy) {
                Verdict::GiveUp { crashes } => {
                    emit(Event::GaveUp {
                        node,
                        crashes,
                        window: policy.window,
                        log: log.clone(),
                    });
                    break None;
                }
                Verdict::Restart { after, crash } => {
                    emit(Event::Restarting {
                        node,
                        after,
                        crash,
                        policy,
                    });
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(after) => {}
                    }
                    if process::stopped_on_purpose(&files) {
                        emit(Event::Stopped { node });
                        break None;
                    }
                    let only = [node];
                    let started = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        started = stack.start_nodes(&only) => started,
                    };
                    match started {
                        Ok(report) => {
                            let restarted = report.started.first().map(|s| (s.1, s.3));
                            let running = report.already_running.first().map(|s| s.1);
                            match (restarted, running) {
                                (Some((pid, took)), _) => {
                                    emit(Event::Restarted { node, pid, took });
                                    break Some(pid);
                                }
                                (None, Some(pid)) => {
                                    emit(Event::Watching { node, pid });
                                    break Some(pid);
                                }
                                (None, None) => break None,
                            }
                        }
                        Err(e) => emit(Event::RestartFailed {
                            node,
                            error: e.to_string(),
                        }),
                    }
                }
            }
        };
    }
}

/// The last lines of a log, each cut to a readable width.
fn log_tail(log: &std::path::Path) -> Vec<String> {
    process::tail(log, TAIL_LINES)
        .unwrap_or_default()
        .lines()
        .map(|l| l.chars().take(TAIL_WIDTH).collect())
        .collect()
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabel {
    server: String,
}

/// `cassflow_local_server_crashes_total{server}` and `..._restarts_total{server}`: what the
/// supervisor saw and did, for alerting on a server that keeps crashing.
struct SupervisorMetrics {
    crashes: Family<ServerLabel, Counter>,
    restarts: Family<ServerLabel, Counter>,
}

fn supervisor_metrics() -> &'static SupervisorMetrics {
    static METRICS: OnceLock<SupervisorMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let metrics = SupervisorMetrics {
            crashes: Family::default(),
            restarts: Family::default(),
        };
        crate::stream::metrics::register_with(|registry| {
            registry.register(
                "cassflow_local_server_crashes",
                "Deaths of a server `cassflow up` started and watches",
                metrics.crashes.clone(),
            );
            registry.register(
                "cassflow_local_server_restarts",
                "Restarts of a dead server by `cassflow up` that came up answering",
                metrics.restarts.clone(),
            );
        });
        metrics
    })
}

fn count_event(event: &Event) {
    let (family, node) = match event {
        Event::Died { node, .. } => (&supervisor_metrics().crashes, node),
        Event::Restarted { node, .. } => (&supervisor_metrics().restarts, node),
        _ => return,
    };
    family
        .get_or_create(&ServerLabel {
            server: node.server.id().to_string(),
        })
        .inc();
}

fn log_event(event: &Event) {
    match event {
        Event::Died { node, pid, how, .. } => {
            tracing::error!(node = %node.name(), pid, how = ?how, "server died")
        }
        Event::Restarting {
            node, after, crash, ..
        } => tracing::warn!(
            node = %node.name(),
            after_s = after.as_secs_f64(),
            crash,
            "restarting server"
        ),
        Event::Restarted { node, pid, took } => tracing::info!(
            node = %node.name(),
            pid,
            took_s = took.as_secs_f64(),
            "server restarted"
        ),
        Event::RestartFailed { node, error } => {
            tracing::error!(node = %node.name(), %error, "server restart failed")
        }
        Event::GaveUp { node, crashes, .. } => tracing::error!(
            node = %node.name(),
            crashes,
            "server crashed too often, not restarting it"
        ),
        Event::Stopped { node } => tracing::info!(node = %node.name(), "server stopped"),
        Event::Watching { node, pid } => {
            tracing::info!(node = %node.name(), pid, "watching server again")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy {
            max_crashes: 5,
            window: Duration::from_secs(600),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
            poll: Duration::from_secs(1),
        }
    }

    #[test]
    fn backoff_doubles_then_gives_up_within_the_window() {
        let policy = policy();
        let mut history = CrashHistory::default();
        let t0 = Instant::now();
        let verdicts: Vec<Verdict> = (0..5)
            .map(|i| history.record(t0 + Duration::from_secs(i * 10), &policy))
            .collect();
        let restart = |after, crash| Verdict::Restart {
            after: Duration::from_secs(after),
            crash,
        };
        assert_eq!(
            verdicts,
            vec![
                restart(1, 1),
                restart(2, 2),
                restart(4, 3),
                restart(5, 4),
                Verdict::GiveUp { crashes: 5 }
            ]
        );
    }

    #[test]
    fn crashes_older_than_the_window_are_forgotten() {
        let policy = policy();
        let mut history = CrashHistory::default();
        let t0 = Instant::now();
        for i in 0..4 {
            history.record(t0 + Duration::from_secs(i), &policy);
        }
        // Ten minutes after the first crash it no longer counts: the fifth is the fourth.
        let later = history.record(t0 + Duration::from_secs(600), &policy);
        assert_eq!(
            later,
            Verdict::Restart {
                after: Duration::from_secs(5),
                crash: 4
            }
        );
        history.clear();
        assert_eq!(
            history.record(t0 + Duration::from_secs(601), &policy),
            Verdict::Restart {
                after: Duration::from_secs(1),
                crash: 1
            }
        );
    }

    #[test]
    fn messages_name_the_server_the_log_and_the_fix() {
        let died = Event::Died {
            node: Node::all(Server::Cassandra, 1)[0],
            pid: 42,
            how: Some("killed by signal 9 (SIGKILL)".into()),
            log: PathBuf::from("/d/cassandra/logs/system.log"),
            tail: vec!["INFO  last line".into()],
        };
        assert_eq!(
            died.to_string(),
            "Apache Cassandra (pid 42) died: killed by signal 9 (SIGKILL); last lines of \
             /d/cassandra/logs/system.log:\n    INFO  last line"
        );
        let gave_up = Event::GaveUp {
            node: Node::all(Server::Kafka, 1)[0],
            crashes: 5,
            window: Duration::from_secs(600),
            log: PathBuf::from("/d/kafka/logs/server.log"),
        };
        let text = gave_up.to_string();
        assert!(
            text.starts_with("Apache Kafka crashed 5 times within 10m; not restarting"),
            "{text}"
        );
        assert!(text.contains("/d/kafka/logs/server.log"), "{text}");
        assert!(text.contains("cassflow local start"), "{text}");
        let restarting = Event::Restarting {
            node: Node::all(Server::Kafka, 1)[0],
            after: Duration::from_secs(2),
            crash: 2,
            policy: policy(),
        };
        assert_eq!(
            restarting.to_string(),
            "restarting Apache Kafka in 2s (crash 2 within 10m; gives up at 5)"
        );
        let node_of_three = Event::Restarted {
            node: Node::all(Server::Cassandra, 3)[1],
            pid: 7,
            took: Duration::from_secs(3),
        };
        assert_eq!(
            node_of_three.to_string(),
            "Apache Cassandra node 2 restarted: pid 7, answering after 3.0s"
        );
    }
}
