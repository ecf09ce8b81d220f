//! Task instances (one task in one run) and the log text of each of their tries.

use super::{ms, opt_time, Store, StoreError};
use crate::scheduler::state::TaskState;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row};
use serde::Serialize;

/// One task in one run, as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskInstance {
    #[serde(skip)]
    pub run_pk: i64,
    pub dag_id: String,
    /// Airflow's `dag_run_id`.
    #[serde(rename = "dag_run_id")]
    pub run_id: String,
    pub task_id: String,
    /// None until the task is considered (Airflow's "no status").
    pub state: Option<TaskState>,
    /// The current or last try, from 1; 0 before the first.
    pub try_number: u32,
    /// Retries allowed (Airflow's `max_tries`): try `n` failing is retried while `n <= max_tries`.
    pub max_tries: u32,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    /// When an `up_for_retry` task may run again.
    pub next_try_at: Option<DateTime<Utc>>,
}

impl TaskInstance {
    pub fn duration_seconds(&self) -> Option<f64> {
        let (start, end) = (self.start_date?, self.end_date?);
        Some((end - start).num_milliseconds() as f64 / 1000.0)
    }
}

const SELECT: &str = "SELECT t.run_pk, r.dag_id, r.run_id, t.task_id, t.state, t.try_number, \
                      t.max_tries, t.start_date, t.end_date, t.next_try_at \
                      FROM task_instance t JOIN dag_run r ON r.id = t.run_pk";

fn read_ti(r: &Row<'_>) -> rusqlite::Result<TaskInstance> {
    let state: Option<String> = r.get(4)?;
    Ok(TaskInstance {
        run_pk: r.get(0)?,
        dag_id: r.get(1)?,
        run_id: r.get(2)?,
        task_id: r.get(3)?,
        state: state.as_deref().and_then(TaskState::parse),
        try_number: r.get(5)?,
        max_tries: r.get(6)?,
        start_date: opt_time(r.get(7)?),
        end_date: opt_time(r.get(8)?),
        next_try_at: opt_time(r.get(9)?),
    })
}

impl Store {
    /// The run's task instances, by task id.
    pub fn task_instances(&self, run_pk: i64) -> Result<Vec<TaskInstance>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!("{SELECT} WHERE t.run_pk = ?1 ORDER BY t.task_id"))
            .map_err(self.err("list task instances"))?;
        let rows = stmt
            .query_map([run_pk], read_ti)
            .map_err(self.err("list task instances"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("list task instances"))
    }

    /// Every task instance in `state`, over all runs.
    pub fn task_instances_in_state(
        &self,
        state: TaskState,
    ) -> Result<Vec<TaskInstance>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!("{SELECT} WHERE t.state = ?1 ORDER BY t.run_pk"))
            .map_err(self.err("list task instances by state"))?;
        let rows = stmt
            .query_map([state.as_str()], read_ti)
            .map_err(self.err("list task instances by state"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("list task instances by state"))
    }

    /// Adds a task instance for a task added to the DAG after the run was created.
    pub fn ensure_task_instance(
        &self,
        run_pk: i64,
        task_id: &str,
        max_tries: u32,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO task_instance (run_pk, task_id, max_tries) VALUES (?1, ?2, ?3)",
                rusqlite::params![run_pk, task_id, max_tries],
            )
            .map(|_| ())
            .map_err(self.err("add a task instance"))
    }

    /// Writes the instance's state, try, times and retry time.
    pub fn save_task_instance(&self, ti: &TaskInstance) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE task_instance SET state = ?1, try_number = ?2, max_tries = ?3,
                   start_date = ?4, end_date = ?5, next_try_at = ?6
                 WHERE run_pk = ?7 AND task_id = ?8",
                rusqlite::params![
                    ti.state.map(TaskState::as_str),
                    ti.try_number,
                    ti.max_tries,
                    ti.start_date.map(ms),
                    ti.end_date.map(ms),
                    ti.next_try_at.map(ms),
                    ti.run_pk,
                    ti.task_id,
                ],
            )
            .map(|_| ())
            .map_err(self.err("save a task instance"))
    }

    /// Stores (replaces) the log text of one try.
    pub fn set_log(
        &self,
        run_pk: i64,
        task_id: &str,
        try_number: u32,
        text: &str,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO task_log (run_pk, task_id, try_number, text) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (run_pk, task_id, try_number) DO UPDATE SET text = excluded.text",
                rusqlite::params![run_pk, task_id, try_number, text],
            )
            .map(|_| ())
            .map_err(self.err("store a task log"))
    }

    /// The log text of one try, None when that try never started.
    pub fn log(
        &self,
        run_pk: i64,
        task_id: &str,
        try_number: u32,
    ) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT text FROM task_log WHERE run_pk = ?1 AND task_id = ?2 AND try_number = ?3",
                rusqlite::params![run_pk, task_id, try_number],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err("read a task log"))
    }
}
