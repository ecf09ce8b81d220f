//! DAG files: one DAG per TOML file, checked strictly. Unknown keys are rejected naming the
//! file, the task and the key; dependencies are checked for unknown tasks and cycles.
//!
//! ```toml
//! description = "nightly load"
//! schedule = "0 3 * * *"          # 5-field cron, @hourly/@daily/..., @once, or "None"
//! start_date = 2024-01-01T00:00:00Z
//! catchup = false
//! [default_args]
//! retries = 2
//! retry_delay = "1m"
//! [tasks.produce]
//! kind = "produce"
//! duration = "60s"
//! [tasks.check]
//! kind = "cql_check"
//! upstream = ["produce"]
//! min_rows = 1
//! ```

use super::dag::Dag;
use super::graph::topological_order;
use super::schedule::Schedule;
use super::task::{CqlCheckTask, ProduceTask, ShellTask, Task, TaskKind, TriggerRule, WaitLagTask};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Why a DAG file was not loaded; the message names the file.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct DagFileError {
    pub file: String,
    pub problem: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DagFile {
    dag_id: Option<String>,
    #[serde(default)]
    description: String,
    owner: Option<String>,
    schedule: Option<String>,
    start_date: Option<toml::Value>,
    end_date: Option<toml::Value>,
    #[serde(default)]
    catchup: bool,
    max_active_runs: Option<u32>,
    #[serde(default)]
    is_paused_upon_creation: bool,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    params: toml::Table,
    #[serde(default)]
    default_args: DefaultArgs,
    #[serde(default)]
    tasks: BTreeMap<String, toml::Table>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultArgs {
    retries: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    retry_delay: Option<Duration>,
    retry_exponential_backoff: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    execution_timeout: Option<Duration>,
    trigger_rule: Option<TriggerRule>,
}

/// The keys every task has; every other key belongs to its kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskCommon {
    kind: String,
    #[serde(default)]
    upstream: Vec<String>,
    retries: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    retry_delay: Option<Duration>,
    retry_exponential_backoff: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    execution_timeout: Option<Duration>,
    trigger_rule: Option<TriggerRule>,
}

const COMMON_KEYS: [&str; 7] = [
    "kind",
    "upstream",
    "retries",
    "retry_delay",
    "retry_exponential_backoff",
    "execution_timeout",
    "trigger_rule",
];

/// Reads and checks one DAG file; the DAG id defaults to the file's stem.
pub fn load_file(path: &Path) -> Result<Dag, DagFileError> {
    let file = path.display().to_string();
    let fail = |problem: String| DagFileError {
        file: file.clone(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse(&text, &stem, &file).map_err(fail)
}

/// Parses a DAG from TOML text; `file` is recorded as the DAG's location.
pub fn parse(text: &str, default_id: &str, file: &str) -> Result<Dag, String> {
    let raw: DagFile = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
        match line {
            Some(line) => format!("line {line}: {}", e.message().trim()),
            None => e.message().trim().to_string(),
        }
    })?;
    let dag_id = raw.dag_id.unwrap_or_else(|| default_id.to_string());
    check_id("dag_id", &dag_id)?;
    let schedule = Schedule::parse(raw.schedule.as_deref().unwrap_or("None"))
        .map_err(|e| format!("schedule: {e}"))?;
    let start_date = raw
        .start_date
        .as_ref()
        .map(|v| parse_date(v).map_err(|e| format!("start_date: {e}")))
        .transpose()?;
    let end_date = raw
        .end_date
        .as_ref()
        .map(|v| parse_date(v).map_err(|e| format!("end_date: {e}")))
        .transpose()?;
    if let (Some(s), Some(e)) = (start_date, end_date) {
        if e < s {
            return Err(format!("end_date {e} is before start_date {s}"));
        }
    }
    if raw.catchup && start_date.is_none() && matches!(schedule, Schedule::Cron { .. }) {
        return Err("catchup = true needs a start_date to catch up from".into());
    }
    let max_active_runs = raw.max_active_runs.unwrap_or(16);
    if max_active_runs == 0 {
        return Err("max_active_runs = 0 would never run (use at least 1)".into());
    }
    if raw.tasks.is_empty() {
        return Err("no tasks (add a [tasks.<task_id>] table with a `kind`)".into());
    }
    let mut tasks = BTreeMap::new();
    for (task_id, table) in raw.tasks {
        check_id("task id", &task_id)?;
        let task = parse_task(&task_id, table, &raw.default_args)
            .map_err(|e| format!("task `{task_id}`: {e}"))?;
        tasks.insert(task_id, task);
    }
    let graph: BTreeMap<String, Vec<String>> = tasks
        .iter()
        .map(|(id, t)| (id.clone(), t.upstream.clone()))
        .collect();
    let order = topological_order(&graph).map_err(|e| e.to_string())?;
    let params = match serde_json::to_value(&raw.params) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => return Err("params: not representable as JSON".into()),
    };
    Ok(Dag {
        dag_id,
        description: raw.description,
        owner: raw.owner.unwrap_or_else(|| "cassflow".into()),
        schedule,
        start_date,
        end_date,
        catchup: raw.catchup,
        max_active_runs,
        is_paused_upon_creation: raw.is_paused_upon_creation,
        tags: raw.tags,
        params,
        tasks: order
            .into_iter()
            .filter_map(|id| tasks.remove(&id))
            .collect(),
        fileloc: file.to_string(),
    })
}

fn parse_task(task_id: &str, table: toml::Table, defaults: &DefaultArgs) -> Result<Task, String> {
    let (common, rest): (toml::Table, toml::Table) = table
        .into_iter()
        .partition(|(k, _)| COMMON_KEYS.contains(&k.as_str()));
    let common: TaskCommon = toml::Value::Table(common)
        .try_into()
        .map_err(|e: toml::de::Error| e.message().trim().to_string())?;
    let kind_name = common.kind.clone();
    let options = toml::Value::Table(rest);
    let unknown = |e: toml::de::Error| format!("{} (for kind `{kind_name}`)", e.message().trim());
    let kind = match common.kind.as_str() {
        "produce" => {
            let p: ProduceTask = options.try_into().map_err(unknown)?;
            if p.duration.is_some() == p.count.is_some() {
                return Err("a produce task needs one of `duration` or `count`".into());
            }
            if p.source == Some(crate::config::SourceKind::Stdin) {
                return Err("`source = \"stdin\"` cannot feed a scheduled task (use auto, randomuser or generator)".into());
            }
            if p.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
                return Err("`rate` must be above 0 records per second".into());
            }
            TaskKind::Produce(p)
        }
        "shell" => {
            let s: ShellTask = options.try_into().map_err(unknown)?;
            if s.command.trim().is_empty() {
                return Err("`command` is empty".into());
            }
            TaskKind::Shell(s)
        }
        "wait_lag" => TaskKind::WaitLag(options.try_into::<WaitLagTask>().map_err(unknown)?),
        "cql_check" => TaskKind::CqlCheck(options.try_into::<CqlCheckTask>().map_err(unknown)?),
        other => {
            return Err(format!(
                "unknown kind `{other}` (use produce, shell, wait_lag or cql_check)"
            ))
        }
    };
    let a = &common;
    Ok(Task {
        task_id: task_id.to_string(),
        kind,
        upstream: a.upstream.clone(),
        retries: a.retries.or(defaults.retries).unwrap_or(0),
        retry_delay: a
            .retry_delay
            .or(defaults.retry_delay)
            .unwrap_or(Duration::from_secs(300)),
        retry_exponential_backoff: a
            .retry_exponential_backoff
            .or(defaults.retry_exponential_backoff)
            .unwrap_or(false),
        execution_timeout: a.execution_timeout.or(defaults.execution_timeout),
        trigger_rule: a.trigger_rule.or(defaults.trigger_rule).unwrap_or_default(),
    })
}

/// Airflow's rule for ids: letters, digits, `_`, `-` and `.`, at most 250 characters.
pub fn check_id(what: &str, id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 250
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} `{id}` must be 1 to 250 letters, digits, `_`, `-` or `.`"
        ))
    }
}

/// A TOML datetime or a string: RFC 3339, `YYYY-MM-DDTHH:MM:SS` (UTC) or `YYYY-MM-DD`.
fn parse_date(value: &toml::Value) -> Result<DateTime<Utc>, String> {
    let text = match value {
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::String(s) => s.clone(),
        other => return Err(format!("`{other}` is not a date")),
    };
    parse_date_text(&text)
}

pub fn parse_date_text(text: &str) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(d.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if let Some(d) = d.and_hms_opt(0, 0, 0) {
            return Ok(d.and_utc());
        }
    }
    Err(format!(
        "`{t}` is not a date (use e.g. 2024-01-01 or 2024-01-01T00:00:00Z)"
    ))
}
