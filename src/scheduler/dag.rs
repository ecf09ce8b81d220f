//! The DAG model and the catalog of known DAGs: the built-in `user_automation` (the seed's
//! Airflow DAG) plus every `*.toml` file of `scheduler.dags_dir`. A file that does not parse
//! is an import error shown to the user, never a crash; a file may replace the built-in DAG
//! by using its id. Parsing a file is [`super::dagfile`]'s job.

use super::schedule::{Restriction, Schedule};
use super::task::{ProduceTask, Task, TaskKind, TriggerRule};
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A DAG: a schedule and tasks with dependencies, in topological order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dag {
    pub dag_id: String,
    pub description: String,
    pub owner: String,
    #[serde(serialize_with = "schedule_text")]
    pub schedule: Schedule,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub catchup: bool,
    pub max_active_runs: u32,
    pub is_paused_upon_creation: bool,
    pub tags: Vec<String>,
    /// Default run parameters; a trigger's conf overrides them key by key.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Upstream tasks first.
    pub tasks: Vec<Task>,
    /// `built-in` or the file's path.
    pub fileloc: String,
}

fn schedule_text<S: serde::Serializer>(s: &Schedule, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&s.to_string())
}

impl Dag {
    pub fn task(&self, task_id: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.task_id == task_id)
    }

    pub fn restriction(&self) -> Restriction {
        Restriction {
            earliest: self.start_date,
            latest: self.end_date,
            catchup: self.catchup,
        }
    }

    /// Tasks that no other task depends on: the run's outcome is theirs.
    pub fn leaves(&self) -> Vec<&str> {
        self.tasks
            .iter()
            .filter(|t| !self.tasks.iter().any(|d| d.upstream.contains(&t.task_id)))
            .map(|t| t.task_id.as_str())
            .collect()
    }

    /// The run's parameters: the DAG's `params` overridden by the trigger's conf.
    pub fn run_conf(&self, conf: &serde_json::Value) -> serde_json::Value {
        let mut merged = self.params.clone();
        if let serde_json::Value::Object(given) = conf {
            for (k, v) in given {
                merged.insert(k.clone(), v.clone());
            }
        }
        serde_json::Value::Object(merged)
    }
}

/// The id of the seed's DAG.
pub const USER_AUTOMATION: &str = "user_automation";

/// The seed's DAG: `stream_data_from_api` produces users to the first users pipeline's topic
/// for 60 s at 100 users/s, `@daily`, from 2023-09-03 10:00, without catchup.
pub fn user_automation() -> Dag {
    let start = Utc.with_ymd_and_hms(2023, 9, 3, 10, 0, 0).single();
    let schedule = Schedule::parse("@daily").unwrap_or(Schedule::Manual);
    Dag {
        dag_id: USER_AUTOMATION.into(),
        description: "Fetch users from the randomuser API and produce them to Kafka".into(),
        owner: "cassflow".into(),
        schedule,
        start_date: start,
        end_date: None,
        catchup: false,
        max_active_runs: 16,
        is_paused_upon_creation: false,
        tags: vec!["seed".into()],
        params: serde_json::Map::new(),
        tasks: vec![Task {
            task_id: "stream_data_from_api".into(),
            kind: TaskKind::Produce(ProduceTask {
                duration: Some(Duration::from_secs(60)),
                // The seed's loop asked the API for one user at a time for a minute (a few
                // per second); 100/s keeps the demo lively without flooding a laptop.
                rate: Some(100.0),
                ..ProduceTask::default()
            }),
            upstream: vec![],
            retries: 0,
            retry_delay: Duration::from_secs(300),
            retry_exponential_backoff: false,
            execution_timeout: None,
            trigger_rule: TriggerRule::AllSuccess,
        }],
        fileloc: "built-in".into(),
    }
}

/// A DAG file that could not be loaded, and why (one line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportError {
    pub file: String,
    pub message: String,
}

/// The known DAGs and the files that failed to load.
#[derive(Debug, Clone, Default)]
pub struct DagCatalog {
    pub dags: BTreeMap<String, Dag>,
    pub import_errors: Vec<ImportError>,
    fingerprint: Vec<(PathBuf, Option<SystemTime>, u64)>,
}

impl DagCatalog {
    /// The built-in DAG plus every `*.toml` in `dir` (a missing dir has none).
    pub fn load(dir: &Path) -> DagCatalog {
        let mut catalog = DagCatalog {
            fingerprint: fingerprint(dir),
            ..DagCatalog::default()
        };
        let builtin = user_automation();
        catalog.dags.insert(builtin.dag_id.clone(), builtin);
        let mut origin: BTreeMap<String, String> = BTreeMap::new();
        for (path, _, _) in catalog.fingerprint.clone() {
            let file = path.display().to_string();
            match super::dagfile::load_file(&path) {
                Ok(dag) => {
                    if let Some(first) = origin.get(&dag.dag_id) {
                        catalog.import_errors.push(ImportError {
                            file,
                            message: format!(
                                "dag_id `{}` is already defined in {first}",
                                dag.dag_id
                            ),
                        });
                        continue;
                    }
                    if dag.dag_id == USER_AUTOMATION {
                        tracing::info!(file = %file, "DAG file replaces the built-in user_automation");
                    }
                    origin.insert(dag.dag_id.clone(), file);
                    catalog.dags.insert(dag.dag_id.clone(), dag);
                }
                Err(e) => {
                    catalog.import_errors.push(ImportError {
                        file,
                        message: e.to_string(),
                    });
                }
            }
        }
        catalog
    }

    /// True when the files in `dir` differ (added, removed, modified) since this was loaded.
    pub fn is_stale(&self, dir: &Path) -> bool {
        fingerprint(dir) != self.fingerprint
    }
}

fn fingerprint(dir: &Path) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.map_or(0, |m| m.len());
            (p, modified, len)
        })
        .collect();
    files.sort();
    files
}
