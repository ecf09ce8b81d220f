//! What a task does: the four task kinds and the options they take in a DAG file, plus the
//! options every task shares (dependencies, retries, timeout, trigger rule). Running them
//! is the job of [`super::env`]; this module only describes them.

use crate::config::SourceKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// One task of a DAG.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub task_id: String,
    pub kind: TaskKind,
    /// Tasks that must finish first (Airflow's upstream tasks).
    pub upstream: Vec<String>,
    /// Tries after the first failure before the task is `failed`.
    pub retries: u32,
    #[serde(with = "humantime_serde")]
    pub retry_delay: Duration,
    /// Doubles the delay on every further retry.
    pub retry_exponential_backoff: bool,
    /// A try running longer is cancelled and counts as failed.
    #[serde(with = "humantime_serde")]
    pub execution_timeout: Option<Duration>,
    pub trigger_rule: TriggerRule,
}

impl Task {
    /// The delay before try `next_try` (2 for the first retry).
    pub fn delay_before(&self, next_try: u32) -> Duration {
        if !self.retry_exponential_backoff || next_try <= 2 {
            return self.retry_delay;
        }
        let factor = 1u32.checked_shl(next_try - 2).unwrap_or(u32::MAX);
        self.retry_delay
            .checked_mul(factor)
            .unwrap_or(Duration::from_secs(24 * 3600))
            .min(Duration::from_secs(24 * 3600))
    }
}

/// When a task may run, given its upstream tasks' states (Airflow's trigger rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerRule {
    /// Every upstream task succeeded (failures give `upstream_failed`, skips give `skipped`).
    #[default]
    AllSuccess,
    /// Every upstream task finished, whatever its state (e.g. a cleanup task).
    AllDone,
}

/// The kinds of task and their options.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskKind {
    Produce(ProduceTask),
    Shell(ShellTask),
    WaitLag(WaitLagTask),
    CqlCheck(CqlCheckTask),
}

impl TaskKind {
    pub fn name(&self) -> &'static str {
        match self {
            TaskKind::Produce(_) => "produce",
            TaskKind::Shell(_) => "shell",
            TaskKind::WaitLag(_) => "wait_lag",
            TaskKind::CqlCheck(_) => "cql_check",
        }
    }
}

/// Users from a source into a Kafka topic, for a time or a count (one of the two).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceTask {
    /// The topic; the default pipeline's when unset.
    pub topic: Option<String>,
    /// The source; `source.kind` of the configuration when unset.
    pub source: Option<SourceKind>,
    /// How long to produce.
    #[serde(default, with = "humantime_serde")]
    pub duration: Option<Duration>,
    /// How many users to produce.
    pub count: Option<u64>,
    /// Records per second; as fast as possible when unset.
    pub rate: Option<f64>,
}

/// A command run by `sh -c`; exit 0 is success, 99 is skipped (as Airflow's BashOperator).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellTask {
    pub command: String,
    /// Extra environment variables (the `CASSFLOW_*` run variables are always set).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory; the scheduler's when unset.
    pub cwd: Option<PathBuf>,
}

/// Waits until the stream job's consumer group has read everything on its topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WaitLagTask {
    /// The pipeline by name; the default pipeline when unset.
    pub pipeline: Option<String>,
    /// Fails when the lag is still above zero after this long.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How often the lag is read.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for WaitLagTask {
    fn default() -> Self {
        WaitLagTask {
            pipeline: None,
            timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// Checks a Cassandra table: at least `min_rows` rows.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CqlCheckTask {
    /// The pipeline whose table to check; the default pipeline when neither this nor
    /// `keyspace`/`table` is set.
    pub pipeline: Option<String>,
    pub keyspace: Option<String>,
    pub table: Option<String>,
    /// The check fails below this many rows.
    pub min_rows: u64,
}
