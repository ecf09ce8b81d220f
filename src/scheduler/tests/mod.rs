//! Scheduler unit tests: a [`ManualClock`] instead of sleeping, a scripted task environment
//! instead of Kafka and Cassandra, and a fresh SQLite file per test.

mod dagfile;
mod engine;
mod recovery;
mod schedule;
mod shell;

use super::clock::ManualClock;
use super::env::{TaskContext, TaskEnv, TaskFailure, TaskOutcome, TaskResult};
use super::store::{DagRun, TaskInstance};
use super::task::Task;
use super::{RunState, Scheduler, TaskState};
use crate::config::SchedulerConfig;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

pub fn at(text: &str) -> DateTime<Utc> {
    match super::dagfile::parse_date_text(text) {
        Ok(t) => t,
        Err(e) => panic!("bad test time {text}: {e}"),
    }
}

/// What a scripted try does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    Succeed,
    Fail,
    Skip,
    /// Runs until cancelled.
    Hang,
}

/// Tries succeed unless a step is scripted for their task (consumed one per try).
#[derive(Default)]
pub struct ScriptedEnv {
    steps: Mutex<HashMap<String, VecDeque<Step>>>,
    /// (dag_id, task_id, try_number, conf) of every try started.
    pub calls: Mutex<Vec<(String, String, u32, serde_json::Value)>>,
}

impl ScriptedEnv {
    pub fn script(&self, task_id: &str, steps: &[Step]) {
        if let Ok(mut s) = self.steps.lock() {
            s.entry(task_id.into()).or_default().extend(steps);
        }
    }

    pub fn tries_of(&self, task_id: &str) -> usize {
        self.calls
            .lock()
            .map(|c| c.iter().filter(|(_, t, _, _)| t == task_id).count())
            .unwrap_or(0)
    }
}

impl TaskEnv for ScriptedEnv {
    fn run(&self, task: &Task, ctx: TaskContext) -> BoxFuture<'static, TaskResult> {
        let step = self
            .steps
            .lock()
            .ok()
            .and_then(|mut s| s.get_mut(&task.task_id).and_then(VecDeque::pop_front))
            .unwrap_or(Step::Succeed);
        if let Ok(mut c) = self.calls.lock() {
            c.push((
                ctx.dag_id.clone(),
                ctx.task_id.clone(),
                ctx.try_number,
                ctx.conf.clone(),
            ));
        }
        async move {
            ctx.log.line(format_args!("scripted step {step:?}"));
            match step {
                Step::Succeed => Ok(TaskOutcome::Success),
                Step::Fail => Err(TaskFailure::new("scripted failure")),
                Step::Skip => Ok(TaskOutcome::Skipped("scripted skip".into())),
                Step::Hang => {
                    ctx.cancel.cancelled().await;
                    Err(TaskFailure::new("cancelled"))
                }
            }
        }
        .boxed()
    }
}

pub struct Harness {
    pub sched: Scheduler,
    pub clock: Arc<ManualClock>,
    pub env: Arc<ScriptedEnv>,
    pub dir: tempfile::TempDir,
}

/// A scheduler over DAG files `(name, toml)` at time `now`.
pub fn harness(files: &[(&str, &str)], now: &str) -> Harness {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let dags = dir.path().join("dags");
    std::fs::create_dir_all(&dags).unwrap_or_else(|e| panic!("dags dir: {e}"));
    for (name, text) in files {
        std::fs::write(dags.join(name), text).unwrap_or_else(|e| panic!("write dag: {e}"));
    }
    let clock = Arc::new(ManualClock::new(at(now)));
    let env = Arc::new(ScriptedEnv::default());
    let sched = open(&dir, clock.clone(), env.clone());
    // Tests drive their own DAGs; the built-in one joins only when a test unpauses it.
    if let Err(e) = sched.set_paused("user_automation", true) {
        panic!("pause: {e}");
    }
    Harness {
        sched,
        clock,
        env,
        dir,
    }
}

/// (Re)opens the scheduler of a harness directory.
pub fn open(dir: &tempfile::TempDir, clock: Arc<ManualClock>, env: Arc<ScriptedEnv>) -> Scheduler {
    let config = SchedulerConfig {
        dags_dir: dir.path().join("dags"),
        ..SchedulerConfig::default()
    };
    match Scheduler::open(&config, dir.path().join("db.sqlite"), clock, env) {
        Ok(s) => s,
        Err(e) => panic!("open scheduler: {e}"),
    }
}

impl Harness {
    /// Triggers a run of `dag_id` with no conf (as `cassflow dags trigger` does).
    pub fn trigger(&self, dag_id: &str) -> DagRun {
        self.sched
            .trigger(dag_id, None)
            .unwrap_or_else(|e| panic!("trigger {dag_id}: {e}"))
    }

    /// The log of one try of a task.
    pub fn log(&self, dag_id: &str, run_id: &str, task_id: &str, try_number: u32) -> String {
        self.sched
            .task_log(dag_id, run_id, task_id, try_number)
            .unwrap_or_else(|e| panic!("log of {task_id} try {try_number}: {e}"))
            .content
    }

    pub async fn tick(&self) {
        if let Err(e) = self.sched.tick().await {
            panic!("tick: {e}");
        }
    }

    pub async fn settle(&self) {
        if let Err(e) = self.sched.settle().await {
            panic!("settle: {e}");
        }
    }

    pub fn advance_minutes(&self, minutes: i64) {
        self.clock.advance(chrono::Duration::minutes(minutes));
    }

    /// (run_id, state) of the DAG's runs, oldest first.
    pub fn runs(&self, dag_id: &str) -> Vec<(String, RunState)> {
        let mut runs: Vec<_> = match self.sched.runs(dag_id, 1000) {
            Ok(r) => r.into_iter().map(|r| (r.run_id, r.state)).collect(),
            Err(e) => panic!("runs: {e}"),
        };
        runs.reverse();
        runs
    }

    pub fn tis(&self, dag_id: &str, run_id: &str) -> Vec<TaskInstance> {
        match self.sched.task_instances(dag_id, run_id) {
            Ok(t) => t,
            Err(e) => panic!("task instances: {e}"),
        }
    }

    /// task_id -> state of one run.
    pub fn states(&self, dag_id: &str, run_id: &str) -> HashMap<String, Option<TaskState>> {
        self.tis(dag_id, run_id)
            .into_iter()
            .map(|t| (t.task_id, t.state))
            .collect()
    }
}
