//! Where tasks run: the [`TaskEnv`] trait the engine calls for every try, the context a try
//! gets (ids, data interval, conf, log, cancellation), and what it returns. The live
//! implementation is [`super::live::LiveEnv`]; tests use scripted ones, so the engine is
//! tested without Kafka or Cassandra.

use super::schedule::DataInterval;
use super::task::Task;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use std::fmt::Display;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Runs task tries.
pub trait TaskEnv: Send + Sync + 'static {
    /// Runs one try of `task`. The future must return soon after `ctx.cancel` fires (the
    /// engine stops waiting for it after a grace period and records the try as failed).
    fn run(&self, task: &Task, ctx: TaskContext) -> BoxFuture<'static, TaskResult>;
}

pub type TaskResult = Result<TaskOutcome, TaskFailure>;

/// How a try ended, other than by failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    Success,
    /// Nothing to do (e.g. a shell command exiting 99); downstream tasks are skipped too.
    Skipped(String),
}

/// Why a try failed (one line; details go to the try's log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TaskFailure(pub String);

impl TaskFailure {
    pub fn new(reason: impl Display) -> Self {
        TaskFailure(reason.to_string())
    }
}

/// What a try knows about itself.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub dag_id: String,
    pub run_id: String,
    pub task_id: String,
    pub try_number: u32,
    pub logical_date: DateTime<Utc>,
    pub data_interval: DataInterval,
    /// The DAG's params overridden by the trigger's conf (always a JSON object).
    pub conf: serde_json::Value,
    pub log: TaskLog,
    pub cancel: CancellationToken,
}

impl TaskContext {
    /// The variables a shell task sees (Airflow's `AIRFLOW_CTX_*`, named `CASSFLOW_*`).
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CASSFLOW_DAG_ID", self.dag_id.clone()),
            ("CASSFLOW_RUN_ID", self.run_id.clone()),
            ("CASSFLOW_TASK_ID", self.task_id.clone()),
            ("CASSFLOW_TRY_NUMBER", self.try_number.to_string()),
            ("CASSFLOW_LOGICAL_DATE", self.logical_date.to_rfc3339()),
            (
                "CASSFLOW_DATA_INTERVAL_START",
                self.data_interval.start.to_rfc3339(),
            ),
            (
                "CASSFLOW_DATA_INTERVAL_END",
                self.data_interval.end.to_rfc3339(),
            ),
            ("CASSFLOW_CONF", self.conf.to_string()),
        ]
    }
}

/// The growing log text of one try, shared by the task (writer) and the scheduler (which
/// stores it and serves it while the try runs). Bounded: past 4 MiB, older text is dropped.
#[derive(Debug, Clone, Default)]
pub struct TaskLog(Arc<Mutex<String>>);

const MAX_LOG_BYTES: usize = 4 << 20;

impl TaskLog {
    pub fn new() -> Self {
        TaskLog::default()
    }

    /// A log that continues `text` (e.g. a try's stored log after a crash).
    pub fn from_text(text: String) -> Self {
        TaskLog(Arc::new(Mutex::new(text)))
    }

    /// Appends one line, prefixed with the wall-clock time.
    pub fn line(&self, text: impl Display) {
        let stamp = Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let mut buf = match self.0.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        buf.push_str(&format!("[{stamp}] {text}\n"));
        if buf.len() > MAX_LOG_BYTES {
            let mut cut = buf.len() - MAX_LOG_BYTES / 2;
            while !buf.is_char_boundary(cut) {
                cut += 1;
            }
            buf.replace_range(..cut, "[... earlier output dropped ...]\n");
        }
    }

    pub fn text(&self) -> String {
        match self.0.lock() {
            Ok(b) => b.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}
