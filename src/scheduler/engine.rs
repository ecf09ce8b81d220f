//! One scheduling pass ([`Scheduler::tick`]): everything is decided from the database and
//! the clock, so a pass can be repeated, run after a crash, or driven by tests.
//!
//! In order: record tries that returned or timed out, create the runs the schedules make due
//! (respecting `max_active_runs`), start queued runs, then per running run move tasks along
//! Airflow's states (`upstream_failed` and `skipped` propagate, `up_for_retry` returns to
//! `queued` after its delay), start queued tasks (up to `scheduler.parallelism`) and finish
//! the run when every task is done: failed if a leaf task failed, else success.

use super::dag::Dag;
use super::state::{RunState, RunType, TaskState};
use super::store::{DagRun, NewRun, TaskInstance};
use super::task::{Task, TriggerRule};
use super::{Scheduler, SchedulerError};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};

/// Scheduled runs created per DAG in one pass at most (a long catchup continues next pass).
const MAX_NEW_RUNS_PER_TICK: usize = 64;

impl Scheduler {
    /// One scheduling pass at the clock's current time.
    pub async fn tick(&self) -> Result<(), SchedulerError> {
        let _one_at_a_time = self.inner.tick_lock.lock().await;
        self.reload_if_changed()?;
        let now = self.inner.clock.now();
        self.handle_completions(now)?;
        self.check_timeouts(now)?;
        self.flush_logs()?;
        let catalog = self.catalog();
        for dag in catalog.dags.values() {
            if !self.inner.store.is_paused(&dag.dag_id)? {
                self.create_due_runs(dag, now)?;
            }
        }
        self.start_queued_runs(&catalog.dags, now)?;
        for run in self.inner.store.runs_in_state(RunState::Running)? {
            match catalog.dags.get(&run.dag_id) {
                Some(dag) => self.advance_run(dag, &run, now)?,
                None => {
                    tracing::debug!(dag_id = %run.dag_id, run_id = %run.run_id, "run of an unknown DAG left as it is")
                }
            }
        }
        Ok(())
    }

    /// Creates the scheduled runs that are due, oldest interval first.
    fn create_due_runs(&self, dag: &Dag, now: DateTime<Utc>) -> Result<(), SchedulerError> {
        let store = &self.inner.store;
        for _ in 0..MAX_NEW_RUNS_PER_TICK {
            let (queued, running) = store.active_runs(&dag.dag_id)?;
            if queued + running >= dag.max_active_runs {
                return Ok(());
            }
            let last = store.last_scheduled_interval(&dag.dag_id)?;
            let Some(next) = dag.schedule.next_run(last, dag.restriction(), now) else {
                return Ok(());
            };
            if next.run_after > now {
                return Ok(());
            }
            let new = NewRun {
                dag_id: &dag.dag_id,
                run_id: format!("scheduled__{}", next.logical_date().to_rfc3339()),
                run_type: RunType::Scheduled,
                logical_date: next.logical_date(),
                interval: next.interval,
                conf: serde_json::Value::Object(serde_json::Map::new()),
                queued_at: now,
                tasks: task_rows(dag),
            };
            match store.insert_run(&new)? {
                Some(run) => {
                    tracing::info!(dag_id = %dag.dag_id, run_id = %run.run_id, "scheduled run created")
                }
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// Starts queued runs, oldest first, while their DAG is under `max_active_runs`.
    fn start_queued_runs(
        &self,
        dags: &BTreeMap<String, Dag>,
        now: DateTime<Utc>,
    ) -> Result<(), SchedulerError> {
        let store = &self.inner.store;
        let mut running: HashMap<String, u32> = HashMap::new();
        for run in store.runs_in_state(RunState::Queued)? {
            let Some(dag) = dags.get(&run.dag_id) else {
                continue;
            };
            let count = match running.get(&run.dag_id) {
                Some(n) => *n,
                None => store.active_runs(&run.dag_id)?.1,
            };
            if count >= dag.max_active_runs {
                running.insert(run.dag_id.clone(), count);
                continue;
            }
            store.set_run_state(run.pk, RunState::Running, now)?;
            tracing::info!(dag_id = %run.dag_id, run_id = %run.run_id, "run started");
            running.insert(run.dag_id.clone(), count + 1);
        }
        Ok(())
    }

    /// Moves one running run's tasks along and finishes the run when all are done.
    fn advance_run(
        &self,
        dag: &Dag,
        run: &DagRun,
        now: DateTime<Utc>,
    ) -> Result<(), SchedulerError> {
        let store = &self.inner.store;
        let mut tis: BTreeMap<String, TaskInstance> = store
            .task_instances(run.pk)?
            .into_iter()
            .map(|ti| (ti.task_id.clone(), ti))
            .collect();
        for task in &dag.tasks {
            if !tis.contains_key(&task.task_id) {
                store.ensure_task_instance(run.pk, &task.task_id, task.retries)?;
                tis.insert(task.task_id.clone(), blank_instance(run, task));
            }
        }
        // Topological order: a task sees its upstream tasks' states of this same pass.
        for task in &dag.tasks {
            let Some(ti) = tis.get(&task.task_id) else {
                continue;
            };
            let next = match ti.state {
                None => {
                    let ups: Vec<Option<TaskState>> = task
                        .upstream
                        .iter()
                        .map(|u| tis.get(u).and_then(|t| t.state))
                        .collect();
                    readiness(task.trigger_rule, &ups)
                }
                Some(TaskState::UpForRetry) if ti.next_try_at.is_none_or(|at| at <= now) => {
                    Some(TaskState::Queued)
                }
                _ => None,
            };
            if let Some(state) = next {
                let mut ti = ti.clone();
                ti.state = Some(state);
                ti.next_try_at = None;
                if state.is_terminal() {
                    ti.end_date = Some(now);
                }
                store.save_task_instance(&ti)?;
                tis.insert(task.task_id.clone(), ti);
            }
        }
        for task in &dag.tasks {
            let Some(ti) = tis.get_mut(&task.task_id) else {
                continue;
            };
            if ti.state == Some(TaskState::Queued) && !self.is_running(run.pk, &task.task_id) {
                if self.running_count() >= self.inner.parallelism {
                    break;
                }
                self.start_try(dag, task, run, ti, now)?;
            }
        }
        let all_done = dag.tasks.iter().all(|t| {
            tis.get(&t.task_id)
                .and_then(|ti| ti.state)
                .is_some_and(TaskState::is_terminal)
        });
        if all_done {
            let failed = dag.leaves().iter().any(|leaf| {
                tis.get(*leaf)
                    .and_then(|ti| ti.state)
                    .is_some_and(TaskState::is_failure)
            });
            let state = if failed {
                RunState::Failed
            } else {
                RunState::Success
            };
            store.set_run_state(run.pk, state, now)?;
            tracing::info!(dag_id = %run.dag_id, run_id = %run.run_id, state = %state, "run finished");
        }
        Ok(())
    }

    pub(super) fn is_running(&self, run_pk: i64, task_id: &str) -> bool {
        self.inner
            .running
            .lock()
            .map(|r| r.contains_key(&(run_pk, task_id.to_string())))
            .unwrap_or(false)
    }

    /// Records a failed try: `up_for_retry` while retries remain, else `failed`.
    pub(super) fn fail_try(
        &self,
        ti: &mut TaskInstance,
        task: Option<&Task>,
        now: DateTime<Utc>,
    ) -> Result<TaskState, SchedulerError> {
        let retries = task.map_or(ti.max_tries, |t| t.retries);
        ti.end_date = Some(now);
        if ti.try_number <= retries {
            let delay = task.map_or(std::time::Duration::ZERO, |t| {
                t.delay_before(ti.try_number + 1)
            });
            ti.state = Some(TaskState::UpForRetry);
            ti.next_try_at =
                Some(now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero()));
        } else {
            ti.state = Some(TaskState::Failed);
            ti.next_try_at = None;
        }
        self.inner.store.save_task_instance(ti)?;
        Ok(ti.state.unwrap_or(TaskState::Failed))
    }
}

/// What a task with no state becomes, given its upstream tasks' states; None to wait.
fn readiness(rule: TriggerRule, upstream: &[Option<TaskState>]) -> Option<TaskState> {
    let done = |s: &Option<TaskState>| s.is_some_and(TaskState::is_terminal);
    match rule {
        TriggerRule::AllSuccess => {
            if upstream
                .iter()
                .any(|s| s.is_some_and(TaskState::is_failure))
            {
                Some(TaskState::UpstreamFailed)
            } else if upstream.contains(&Some(TaskState::Skipped)) {
                Some(TaskState::Skipped)
            } else if upstream.iter().all(|s| *s == Some(TaskState::Success)) {
                Some(TaskState::Queued)
            } else {
                None
            }
        }
        TriggerRule::AllDone => upstream.iter().all(done).then_some(TaskState::Queued),
    }
}

/// (task_id, max_tries) of every task, for a new run.
pub(super) fn task_rows(dag: &Dag) -> Vec<(String, u32)> {
    dag.tasks
        .iter()
        .map(|t| (t.task_id.clone(), t.retries))
        .collect()
}

fn blank_instance(run: &DagRun, task: &Task) -> TaskInstance {
    TaskInstance {
        run_pk: run.pk,
        dag_id: run.dag_id.clone(),
        run_id: run.run_id.clone(),
        task_id: task.task_id.clone(),
        state: None,
        try_number: 0,
        max_tries: task.retries,
        start_date: None,
        end_date: None,
        next_try_at: None,
    }
}
