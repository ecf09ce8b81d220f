//! The scheduler: Airflow's part of the seed stack. DAGs (the built-in `user_automation`
//! and TOML files in `scheduler.dags_dir`) are turned into DAG runs by their schedules, and
//! their tasks are run with retries, timeouts and dependencies, with every run, task
//! instance and try's log kept in SQLite.
//!
//! - [`dag`], [`dagfile`], [`task`], [`graph`]: the DAG model and DAG files.
//! - [`schedule`]: cron and presets to data intervals (Airflow semantics).
//! - [`engine`]: one `tick` decides everything from the database and the [`clock`].
//! - [`env`], [`live`]: how tasks run (a trait; the live one uses Kafka, Cassandra, `sh`).
//! - [`api`]: the queries and commands the web UI and the CLI use.
//! - [`store`]: the SQLite database.
//!
//! One scheduler loop runs per database (a lock file enforces it); any number of
//! processes may read and send commands (trigger, pause) through the database.

pub mod api;
pub mod clock;
pub mod dag;
pub mod dagfile;
mod engine;
pub mod env;
mod executor;
pub mod graph;
pub mod live;
mod lock;
pub mod params;
pub mod schedule;
pub mod state;
pub mod store;
pub mod task;

#[cfg(test)]
mod tests;

use crate::config::{Config, SchedulerConfig};
use clock::{Clock, SystemClock};
use dag::DagCatalog;
use env::{TaskEnv, TaskLog, TaskResult};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use store::{Store, StoreError};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

pub use api::{DagDetail, TaskInstanceLog};
pub use state::{RunState, RunType, TaskState};

/// What went wrong in the scheduler or with a request to it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchedulerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no DAG `{0}` (fix: `cassflow dags list` shows the DAGs; DAG files go in scheduler.dags_dir)")]
    DagNotFound(String),
    #[error("DAG `{dag_id}` has no run `{run_id}`")]
    RunNotFound { dag_id: String, run_id: String },
    #[error("run `{run_id}` of DAG `{dag_id}` has no task `{task_id}`")]
    TaskNotFound {
        dag_id: String,
        run_id: String,
        task_id: String,
    },
    #[error("task `{task_id}` of run `{run_id}` has no try {try_number}")]
    LogNotFound {
        run_id: String,
        task_id: String,
        try_number: u32,
    },
    #[error("conf must be a JSON object, e.g. {{\"count\": 10}}: {0}")]
    InvalidConf(String),
    /// A run parameter the DAG does not take, or of the wrong type.
    #[error(transparent)]
    InvalidParam(#[from] params::ParamError),
    #[error("another scheduler is running on {path} (fix: stop the other `cassflow up`, or set scheduler.database to another file)")]
    Locked { path: String },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A handle on the scheduler; cheap to clone and shared by the loop, the web UI and the CLI.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

struct Inner {
    dags_dir: PathBuf,
    parallelism: usize,
    poll_interval: std::time::Duration,
    shutdown_timeout: std::time::Duration,
    store: Store,
    catalog: RwLock<Arc<DagCatalog>>,
    clock: Arc<dyn Clock>,
    env: Arc<dyn TaskEnv>,
    /// Tries running in this process, by (run, task).
    running: Mutex<HashMap<(i64, String), RunningTry>>,
    completions: mpsc::UnboundedSender<Completion>,
    completed: tokio::sync::Mutex<mpsc::UnboundedReceiver<Completion>>,
    /// Completions received by `wait_for_completion`, handled by the next tick.
    pending: Mutex<Vec<Completion>>,
    wake: Arc<Notify>,
    tick_lock: tokio::sync::Mutex<()>,
    /// Parent of every try's cancellation token.
    tasks_cancel: CancellationToken,
}

/// A try in flight.
struct RunningTry {
    try_number: u32,
    cancel: CancellationToken,
    log: TaskLog,
    logged_len: usize,
    deadline: Option<chrono::DateTime<chrono::Utc>>,
    handle: tokio::task::JoinHandle<()>,
}

/// A try that returned.
struct Completion {
    run_pk: i64,
    task_id: String,
    try_number: u32,
    result: TaskResult,
}

impl Scheduler {
    /// Opens the database and loads the DAGs. Does not start anything: call
    /// [`Scheduler::run`] for the loop, or use the [`api`] methods for queries and commands.
    pub fn open(
        config: &SchedulerConfig,
        database: PathBuf,
        clock: Arc<dyn Clock>,
        env: Arc<dyn TaskEnv>,
    ) -> Result<Scheduler, SchedulerError> {
        let store = Store::open(&database)?;
        let catalog = DagCatalog::load(&config.dags_dir);
        let (tx, rx) = mpsc::unbounded_channel();
        let scheduler = Scheduler {
            inner: Arc::new(Inner {
                dags_dir: config.dags_dir.clone(),
                parallelism: config.parallelism.max(1),
                poll_interval: config.poll_interval,
                shutdown_timeout: config.shutdown_timeout,
                store,
                catalog: RwLock::new(Arc::new(catalog)),
                clock,
                env,
                running: Mutex::new(HashMap::new()),
                completions: tx,
                completed: tokio::sync::Mutex::new(rx),
                pending: Mutex::new(Vec::new()),
                wake: Arc::new(Notify::new()),
                tick_lock: tokio::sync::Mutex::new(()),
                tasks_cancel: CancellationToken::new(),
            }),
        };
        scheduler.record_dags()?;
        Ok(scheduler)
    }

    /// Opens the scheduler of `config` with the wall clock and the live task environment.
    pub fn from_config(config: &Config) -> Result<Scheduler, SchedulerError> {
        Scheduler::open(
            &config.scheduler,
            config.scheduler.database_path(&config.local.data_dir),
            Arc::new(SystemClock),
            Arc::new(live::LiveEnv::new(config.clone())),
        )
    }

    /// The known DAGs and import errors, as of the last (re)load.
    pub fn catalog(&self) -> Arc<DagCatalog> {
        match self.inner.catalog.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reloads DAG files when they changed on disk.
    pub fn reload_if_changed(&self) -> Result<(), SchedulerError> {
        if self.catalog().is_stale(&self.inner.dags_dir) {
            let fresh = Arc::new(DagCatalog::load(&self.inner.dags_dir));
            tracing::info!(dags = fresh.dags.len(), "DAG files changed: reloaded");
            self.log_import_errors(&fresh);
            match self.inner.catalog.write() {
                Ok(mut c) => *c = fresh,
                Err(poisoned) => *poisoned.into_inner() = fresh,
            }
            self.record_dags()?;
        }
        Ok(())
    }

    pub(crate) fn log_import_errors(&self, catalog: &DagCatalog) {
        for e in &catalog.import_errors {
            tracing::warn!(file = %e.file, error = %e.message, "DAG file not loaded");
        }
    }

    fn record_dags(&self) -> Result<(), SchedulerError> {
        let now = self.inner.clock.now();
        for dag in self.catalog().dags.values() {
            self.inner
                .store
                .ensure_dag(&dag.dag_id, dag.is_paused_upon_creation, now)?;
        }
        Ok(())
    }

    /// Tries running in this process.
    pub fn running_count(&self) -> usize {
        self.inner.running.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Wakes the loop (after a trigger, so it does not wait for the next poll).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }
}

/// Runs the scheduler of `config` until `cancel` fires: the wall clock, the given task
/// environment. Running tries are cancelled on shutdown and recorded as failed (or up for
/// retry), as after a crash.
pub async fn run(
    config: Config,
    env: Arc<dyn TaskEnv>,
    cancel: CancellationToken,
) -> Result<(), SchedulerError> {
    let scheduler = Scheduler::open(
        &config.scheduler,
        config.scheduler.database_path(&config.local.data_dir),
        Arc::new(SystemClock),
        env,
    )?;
    scheduler.run(cancel).await
}
