//! The run history in SQLite: DAGs' pause flags, DAG runs, task instances and each try's
//! log. All scheduler state lives here (WAL mode), so a CLI process and a running
//! `cassflow up` share it, and a crash loses nothing but the in-memory task handles.
//! Times are stored as milliseconds since the epoch (UTC). Deciding what the rows mean is
//! the engine's job; this module only reads and writes them.

mod runs;
mod tasks;

pub use runs::{DagRun, NewRun};
pub use tasks::TaskInstance;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// A failed database operation.
#[derive(Debug, thiserror::Error)]
#[error("scheduler database {path}: {what}: {source}")]
pub struct StoreError {
    pub path: String,
    pub what: &'static str,
    #[source]
    pub source: rusqlite::Error,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS dag (
    dag_id TEXT PRIMARY KEY,
    is_paused INTEGER NOT NULL,
    first_seen INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dag_run (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dag_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    run_type TEXT NOT NULL,
    state TEXT NOT NULL,
    logical_date INTEGER NOT NULL,
    interval_start INTEGER NOT NULL,
    interval_end INTEGER NOT NULL,
    conf TEXT NOT NULL,
    queued_at INTEGER NOT NULL,
    start_date INTEGER,
    end_date INTEGER,
    UNIQUE (dag_id, run_id)
);
CREATE INDEX IF NOT EXISTS dag_run_by_dag ON dag_run (dag_id, logical_date);
CREATE INDEX IF NOT EXISTS dag_run_by_state ON dag_run (state);
CREATE TABLE IF NOT EXISTS task_instance (
    run_pk INTEGER NOT NULL REFERENCES dag_run (id) ON DELETE CASCADE,
    task_id TEXT NOT NULL,
    state TEXT,
    try_number INTEGER NOT NULL DEFAULT 0,
    max_tries INTEGER NOT NULL,
    start_date INTEGER,
    end_date INTEGER,
    next_try_at INTEGER,
    PRIMARY KEY (run_pk, task_id)
);
CREATE INDEX IF NOT EXISTS task_instance_by_state ON task_instance (state);
CREATE TABLE IF NOT EXISTS task_log (
    run_pk INTEGER NOT NULL REFERENCES dag_run (id) ON DELETE CASCADE,
    task_id TEXT NOT NULL,
    try_number INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (run_pk, task_id, try_number)
);
";

/// The database, one connection behind a mutex (queries are short and local).
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating when missing) the database and its schema.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let fail = |what, source| StoreError {
            path: path.display().to_string(),
            what,
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Err(e) = std::fs::create_dir_all(dir) {
                return Err(fail(
                    "create its directory",
                    rusqlite::Error::InvalidPath(PathBuf::from(format!("{}: {e}", dir.display()))),
                ));
            }
        }
        let conn = Connection::open(path).map_err(|e| fail("open", e))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(|e| fail("set busy timeout", e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| fail("enable WAL", e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| fail("enable foreign keys", e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| fail("set synchronous", e))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| fail("create schema", e))?;
        Ok(Store {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        match self.conn.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn err(&self, what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError {
            path: self.path.display().to_string(),
            what,
            source,
        }
    }

    /// Records a DAG the first time it is seen, paused or not as its file says.
    pub fn ensure_dag(
        &self,
        dag_id: &str,
        paused: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO dag (dag_id, is_paused, first_seen) VALUES (?1, ?2, ?3)",
                rusqlite::params![dag_id, paused, ms(now)],
            )
            .map(|_| ())
            .map_err(self.err("record a DAG"))
    }

    /// Whether the DAG is paused (false for a DAG never recorded).
    pub fn is_paused(&self, dag_id: &str) -> Result<bool, StoreError> {
        self.conn()
            .query_row(
                "SELECT is_paused FROM dag WHERE dag_id = ?1",
                [dag_id],
                |r| r.get::<_, bool>(0),
            )
            .optional()
            .map(|p| p.unwrap_or(false))
            .map_err(self.err("read a pause flag"))
    }

    pub fn set_paused(&self, dag_id: &str, paused: bool) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO dag (dag_id, is_paused, first_seen) VALUES (?1, ?2, ?3)
                 ON CONFLICT (dag_id) DO UPDATE SET is_paused = excluded.is_paused",
                rusqlite::params![dag_id, paused, ms(Utc::now())],
            )
            .map(|_| ())
            .map_err(self.err("set a pause flag"))
    }
}

/// Milliseconds since the epoch.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Back from milliseconds; out-of-range values (never written by us) read as the epoch.
pub(crate) fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub(crate) fn opt_time(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.map(time)
}
