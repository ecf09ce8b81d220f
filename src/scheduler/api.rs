//! Queries and commands for the web UI, the REST API and the CLI: plain serializable
//! structs, no HTML or HTTP here. Commands write to the database, so they work from any
//! process; the scheduler loop picks them up on its next pass.

use super::dag::{Dag, ImportError};
use super::engine::task_rows;
use super::schedule::NextRun;
use super::state::RunType;
use super::store::{DagRun, NewRun, TaskInstance};
use super::task::Task;
use super::{Scheduler, SchedulerError};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// A DAG as lists show it: definition, pause flag, next and last run.
#[derive(Debug, Clone, Serialize)]
pub struct DagSummary {
    pub dag_id: String,
    pub description: String,
    pub owner: String,
    pub schedule: String,
    pub is_paused: bool,
    pub tags: Vec<String>,
    pub fileloc: String,
    pub catchup: bool,
    pub max_active_runs: u32,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    /// The next scheduled run's logical date and interval, and when it may be created.
    pub next_dagrun: Option<NextRun>,
    pub last_run: Option<DagRun>,
}

/// A DAG with its tasks.
#[derive(Debug, Clone, Serialize)]
pub struct DagDetail {
    #[serde(flatten)]
    pub summary: DagSummary,
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The run parameters a trigger may pass, with their types.
    pub run_parameters: Vec<super::params::ParamSpec>,
    pub tasks: Vec<Task>,
}

/// One try's log.
#[derive(Debug, Clone, Serialize)]
pub struct TaskInstanceLog {
    pub dag_id: String,
    pub run_id: String,
    pub task_id: String,
    pub try_number: u32,
    /// True while the try is still running (the text grows).
    pub running: bool,
    pub content: String,
}

impl Scheduler {
    /// Every known DAG, by id.
    pub fn list_dags(&self) -> Result<Vec<DagSummary>, SchedulerError> {
        let catalog = self.catalog();
        catalog.dags.values().map(|d| self.summary(d)).collect()
    }

    /// DAG files that failed to load.
    pub fn import_errors(&self) -> Vec<ImportError> {
        self.catalog().import_errors.clone()
    }

    pub fn dag(&self, dag_id: &str) -> Result<DagDetail, SchedulerError> {
        let dag = self.find_dag(dag_id)?;
        Ok(DagDetail {
            summary: self.summary(&dag)?,
            params: dag.params.clone(),
            run_parameters: super::params::schema(&dag),
            tasks: dag.tasks.clone(),
        })
    }

    /// The DAG's runs, newest first.
    pub fn runs(&self, dag_id: &str, limit: usize) -> Result<Vec<DagRun>, SchedulerError> {
        self.find_dag(dag_id)?;
        Ok(self.inner.store.runs(dag_id, limit)?)
    }

    pub fn run_info(&self, dag_id: &str, run_id: &str) -> Result<DagRun, SchedulerError> {
        self.inner
            .store
            .run(dag_id, run_id)?
            .ok_or_else(|| SchedulerError::RunNotFound {
                dag_id: dag_id.into(),
                run_id: run_id.into(),
            })
    }

    /// The run's task instances, in the DAG's task order (tasks no longer in the DAG last).
    pub fn task_instances(
        &self,
        dag_id: &str,
        run_id: &str,
    ) -> Result<Vec<TaskInstance>, SchedulerError> {
        let run = self.run_info(dag_id, run_id)?;
        let mut tis = self.inner.store.task_instances(run.pk)?;
        if let Some(dag) = self.catalog().dags.get(dag_id) {
            let pos = |id: &str| dag.tasks.iter().position(|t| t.task_id == id);
            tis.sort_by_key(|ti| pos(&ti.task_id).unwrap_or(usize::MAX));
        }
        Ok(tis)
    }

    /// One try's log (live while this process runs it).
    pub fn task_log(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        try_number: u32,
    ) -> Result<TaskInstanceLog, SchedulerError> {
        let run = self.run_info(dag_id, run_id)?;
        let log = |content: String, running: bool| TaskInstanceLog {
            dag_id: dag_id.into(),
            run_id: run_id.into(),
            task_id: task_id.into(),
            try_number,
            running,
            content,
        };
        if let Some(text) = self.live_log(run.pk, task_id, try_number) {
            return Ok(log(text, true));
        }
        match self.inner.store.log(run.pk, task_id, try_number)? {
            Some(text) => Ok(log(text, false)),
            None => Err(SchedulerError::LogNotFound {
                run_id: run_id.into(),
                task_id: task_id.into(),
                try_number,
            }),
        }
    }

    /// Creates a manual run now; `conf` (a JSON object) overrides the DAG's params.
    pub fn trigger(
        &self,
        dag_id: &str,
        conf: Option<serde_json::Value>,
    ) -> Result<DagRun, SchedulerError> {
        let dag = self.find_dag(dag_id)?;
        let conf = match conf {
            None | Some(serde_json::Value::Null) => serde_json::json!({}),
            Some(c @ serde_json::Value::Object(_)) => c,
            Some(other) => return Err(SchedulerError::InvalidConf(format!("got {other}"))),
        };
        if let serde_json::Value::Object(given) = &conf {
            super::params::check(&dag, given)?;
        }
        let now = self.inner.clock.now();
        let base = format!(
            "manual__{}",
            now.to_rfc3339_opts(SecondsFormat::Millis, true)
        );
        for attempt in 0..100u32 {
            let run_id = match attempt {
                0 => base.clone(),
                n => format!("{base}_{n}"),
            };
            let new = NewRun {
                dag_id,
                run_id,
                run_type: RunType::Manual,
                logical_date: now,
                interval: dag.schedule.manual_interval(now),
                conf: conf.clone(),
                queued_at: now,
                tasks: task_rows(&dag),
            };
            if let Some(run) = self.inner.store.insert_run(&new)? {
                tracing::info!(dag_id, run_id = %run.run_id, "run triggered");
                self.wake();
                return Ok(run);
            }
        }
        Err(SchedulerError::InvalidConf(
            "too many runs triggered at the same millisecond".into(),
        ))
    }

    /// Pauses (no new scheduled runs) or unpauses a DAG.
    pub fn set_paused(&self, dag_id: &str, paused: bool) -> Result<DagSummary, SchedulerError> {
        let dag = self.find_dag(dag_id)?;
        self.inner.store.set_paused(dag_id, paused)?;
        tracing::info!(dag_id, paused, "pause flag set");
        self.wake();
        self.summary(&dag)
    }

    fn find_dag(&self, dag_id: &str) -> Result<Dag, SchedulerError> {
        self.catalog()
            .dags
            .get(dag_id)
            .cloned()
            .ok_or_else(|| SchedulerError::DagNotFound(dag_id.into()))
    }

    fn summary(&self, dag: &Dag) -> Result<DagSummary, SchedulerError> {
        let store = &self.inner.store;
        let last = store.last_scheduled_interval(&dag.dag_id)?;
        Ok(DagSummary {
            dag_id: dag.dag_id.clone(),
            description: dag.description.clone(),
            owner: dag.owner.clone(),
            schedule: dag.schedule.to_string(),
            is_paused: store.is_paused(&dag.dag_id)?,
            tags: dag.tags.clone(),
            fileloc: dag.fileloc.clone(),
            catchup: dag.catchup,
            max_active_runs: dag.max_active_runs,
            start_date: dag.start_date,
            end_date: dag.end_date,
            next_dagrun: dag
                .schedule
                .next_run(last, dag.restriction(), self.inner.clock.now()),
            last_run: store.runs(&dag.dag_id, 1)?.into_iter().next(),
        })
    }
}
