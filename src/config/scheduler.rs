//! The `[scheduler]` section: where DAG files and the run-history database live, and how
//! the scheduler loop paces itself. Validation of these values lives in `validate.rs`.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// The scheduler: DAGs from TOML files plus the built-in `user_automation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Directory of DAG files (`*.toml`); a missing directory means only built-in DAGs.
    pub dags_dir: PathBuf,
    /// The SQLite database of DAG runs, task instances and logs;
    /// `<local.data_dir>/scheduler.sqlite` when unset.
    pub database: Option<PathBuf>,
    /// How often the scheduler looks for due runs, ready tasks and timeouts.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Task instances running at once, over all DAGs.
    pub parallelism: usize,
    /// On shutdown, how long running tasks may take to stop after being cancelled.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            dags_dir: PathBuf::from("dags"),
            database: None,
            poll_interval: Duration::from_secs(1),
            parallelism: 16,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl SchedulerConfig {
    /// The database path: `database`, or `scheduler.sqlite` in the local data dir.
    pub fn database_path(&self, local_data_dir: &std::path::Path) -> PathBuf {
        self.database
            .clone()
            .unwrap_or_else(|| local_data_dir.join("scheduler.sqlite"))
    }
}
