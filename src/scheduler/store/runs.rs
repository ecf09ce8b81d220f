//! DAG runs: creating a run with its task instances in one transaction, reading runs by DAG
//! or state, and moving a run between states.

use super::{ms, opt_time, time, Store, StoreError};
use crate::scheduler::schedule::DataInterval;
use crate::scheduler::state::{RunState, RunType};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row};
use serde::Serialize;

/// One DAG run, as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DagRun {
    /// The database key; `run_id` is the user-facing id (unique per DAG).
    #[serde(skip)]
    pub pk: i64,
    pub dag_id: String,
    /// Airflow's `dag_run_id`.
    #[serde(rename = "dag_run_id")]
    pub run_id: String,
    pub run_type: RunType,
    pub state: RunState,
    pub logical_date: DateTime<Utc>,
    pub data_interval_start: DateTime<Utc>,
    pub data_interval_end: DateTime<Utc>,
    pub conf: serde_json::Value,
    pub queued_at: DateTime<Utc>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
}

impl DagRun {
    pub fn interval(&self) -> DataInterval {
        DataInterval {
            start: self.data_interval_start,
            end: self.data_interval_end,
        }
    }
}

/// A run to create.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub dag_id: &'a str,
    pub run_id: String,
    pub run_type: RunType,
    pub logical_date: DateTime<Utc>,
    pub interval: DataInterval,
    pub conf: serde_json::Value,
    pub queued_at: DateTime<Utc>,
    /// (task_id, max_tries) of every task of the DAG.
    pub tasks: Vec<(String, u32)>,
}

const COLUMNS: &str = "id, dag_id, run_id, run_type, state, logical_date, interval_start, \
                       interval_end, conf, queued_at, start_date, end_date";

fn read_run(r: &Row<'_>) -> rusqlite::Result<DagRun> {
    let text = |i: usize| r.get::<_, String>(i);
    let conf: String = r.get(8)?;
    Ok(DagRun {
        pk: r.get(0)?,
        dag_id: text(1)?,
        run_id: text(2)?,
        run_type: RunType::parse(&text(3)?).unwrap_or(RunType::Manual),
        state: RunState::parse(&text(4)?).unwrap_or(RunState::Failed),
        logical_date: time(r.get(5)?),
        data_interval_start: time(r.get(6)?),
        data_interval_end: time(r.get(7)?),
        conf: serde_json::from_str(&conf).unwrap_or(serde_json::Value::Null),
        queued_at: time(r.get(9)?),
        start_date: opt_time(r.get(10)?),
        end_date: opt_time(r.get(11)?),
    })
}

impl Store {
    /// Creates a queued run and its task instances (no state yet). None when a run with
    /// this run id exists already.
    pub fn insert_run(&self, new: &NewRun<'_>) -> Result<Option<DagRun>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err("begin a run"))?;
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO dag_run (dag_id, run_id, run_type, state, logical_date,
                   interval_start, interval_end, conf, queued_at)
                 VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![
                    new.dag_id,
                    new.run_id,
                    new.run_type.as_str(),
                    ms(new.logical_date),
                    ms(new.interval.start),
                    ms(new.interval.end),
                    new.conf.to_string(),
                    ms(new.queued_at),
                ],
            )
            .map_err(self.err("create a run"))?;
        if inserted == 0 {
            return Ok(None);
        }
        let pk = tx.last_insert_rowid();
        for (task_id, max_tries) in &new.tasks {
            tx.execute(
                "INSERT INTO task_instance (run_pk, task_id, max_tries) VALUES (?1, ?2, ?3)",
                rusqlite::params![pk, task_id, max_tries],
            )
            .map_err(self.err("create a task instance"))?;
        }
        let run = tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM dag_run WHERE id = ?1"),
                [pk],
                read_run,
            )
            .map_err(self.err("read a new run"))?;
        tx.commit().map_err(self.err("commit a run"))?;
        Ok(Some(run))
    }

    /// The DAG's runs, newest logical date first.
    pub fn runs(&self, dag_id: &str, limit: usize) -> Result<Vec<DagRun>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM dag_run WHERE dag_id = ?1
                 ORDER BY logical_date DESC, id DESC LIMIT ?2"
            ))
            .map_err(self.err("list runs"))?;
        let rows = stmt
            .query_map(rusqlite::params![dag_id, limit as i64], read_run)
            .map_err(self.err("list runs"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("list runs"))
    }

    /// Runs in one state over all DAGs, oldest first.
    pub fn runs_in_state(&self, state: RunState) -> Result<Vec<DagRun>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM dag_run WHERE state = ?1 ORDER BY logical_date, id"
            ))
            .map_err(self.err("list runs by state"))?;
        let rows = stmt
            .query_map([state.as_str()], read_run)
            .map_err(self.err("list runs by state"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.err("list runs by state"))
    }

    pub fn run(&self, dag_id: &str, run_id: &str) -> Result<Option<DagRun>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM dag_run WHERE dag_id = ?1 AND run_id = ?2"),
                [dag_id, run_id],
                read_run,
            )
            .optional()
            .map_err(self.err("read a run"))
    }

    pub fn run_by_pk(&self, pk: i64) -> Result<Option<DagRun>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM dag_run WHERE id = ?1"),
                [pk],
                read_run,
            )
            .optional()
            .map_err(self.err("read a run"))
    }

    /// The interval of the DAG's latest scheduled run (what the schedule continues from).
    pub fn last_scheduled_interval(
        &self,
        dag_id: &str,
    ) -> Result<Option<DataInterval>, StoreError> {
        self.conn()
            .query_row(
                "SELECT interval_start, interval_end FROM dag_run
                 WHERE dag_id = ?1 AND run_type = 'scheduled'
                 ORDER BY interval_start DESC LIMIT 1",
                [dag_id],
                |r| {
                    Ok(DataInterval {
                        start: time(r.get(0)?),
                        end: time(r.get(1)?),
                    })
                },
            )
            .optional()
            .map_err(self.err("read the last scheduled run"))
    }

    /// Runs of the DAG that are queued or running.
    pub fn active_runs(&self, dag_id: &str) -> Result<(u32, u32), StoreError> {
        self.conn()
            .query_row(
                "SELECT COALESCE(SUM(state = 'queued'), 0), COALESCE(SUM(state = 'running'), 0)
                 FROM dag_run WHERE dag_id = ?1",
                [dag_id],
                |r| Ok((r.get::<_, u32>(0)?, r.get::<_, u32>(1)?)),
            )
            .map_err(self.err("count active runs"))
    }

    /// Moves a run to `state`; `running` sets its start, a finished state its end.
    pub fn set_run_state(
        &self,
        pk: i64,
        state: RunState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = match state {
            RunState::Running => {
                "UPDATE dag_run SET state = ?1, start_date = COALESCE(start_date, ?2) WHERE id = ?3"
            }
            RunState::Success | RunState::Failed => {
                "UPDATE dag_run SET state = ?1, end_date = ?2 WHERE id = ?3"
            }
            RunState::Queued => {
                "UPDATE dag_run SET state = ?1, end_date = NULL WHERE id = ?3 AND ?2 IS NOT NULL"
            }
        };
        self.conn()
            .execute(sql, rusqlite::params![state.as_str(), ms(now), pk])
            .map(|_| ())
            .map_err(self.err("set a run's state"))
    }
}
