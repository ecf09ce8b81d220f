//! Running tries on tokio: starting a try (state, log, cancellation token, deadline),
//! recording what it returned, cancelling it on `execution_timeout` or shutdown, marking
//! tries left `running` by a crash as failed (or up for retry), and the scheduler loop.

use super::dag::Dag;
use super::env::{TaskContext, TaskFailure, TaskLog, TaskOutcome};
use super::state::TaskState;
use super::store::{DagRun, TaskInstance};
use super::task::Task;
use super::{Completion, RunningTry, Scheduler, SchedulerError};
use chrono::{DateTime, Utc};
use futures::FutureExt;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

impl Scheduler {
    /// Starts the next try of a queued task.
    pub(super) fn start_try(
        &self,
        dag: &Dag,
        task: &Task,
        run: &DagRun,
        ti: &mut TaskInstance,
        now: DateTime<Utc>,
    ) -> Result<(), SchedulerError> {
        ti.try_number += 1;
        ti.state = Some(TaskState::Running);
        ti.max_tries = task.retries;
        ti.start_date = Some(now);
        ti.end_date = None;
        ti.next_try_at = None;
        self.inner.store.save_task_instance(ti)?;
        let log = TaskLog::new();
        log.line(format_args!(
            "starting try {} of {} of task `{}` ({}), run `{}` of DAG `{}`",
            ti.try_number,
            task.retries + 1,
            task.task_id,
            task.kind.name(),
            run.run_id,
            dag.dag_id
        ));
        self.inner
            .store
            .set_log(run.pk, &task.task_id, ti.try_number, &log.text())?;
        let cancel = self.inner.tasks_cancel.child_token();
        let ctx = TaskContext {
            dag_id: dag.dag_id.clone(),
            run_id: run.run_id.clone(),
            task_id: task.task_id.clone(),
            try_number: ti.try_number,
            logical_date: run.logical_date,
            data_interval: run.interval(),
            conf: dag.run_conf(&run.conf),
            log: log.clone(),
            cancel: cancel.clone(),
        };
        let work = self.inner.env.run(task, ctx);
        let tx = self.inner.completions.clone();
        let wake = self.inner.wake.clone();
        let (run_pk, task_id, try_number) = (run.pk, task.task_id.clone(), ti.try_number);
        let handle = tokio::spawn(async move {
            // A panicking task must still report, or it would stay `running` for ever.
            let result = match std::panic::AssertUnwindSafe(work).catch_unwind().await {
                Ok(result) => result,
                Err(panic) => Err(TaskFailure::new(format!(
                    "the task panicked: {}",
                    panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default()
                ))),
            };
            let _ = tx.send(Completion {
                run_pk,
                task_id,
                try_number,
                result,
            });
            wake.notify_one();
        });
        let deadline = task
            .execution_timeout
            .and_then(|t| chrono::Duration::from_std(t).ok())
            .map(|t| now + t);
        tracing::info!(dag_id = %dag.dag_id, run_id = %run.run_id, task_id = %task.task_id, try_number = ti.try_number, "task started");
        if let Ok(mut running) = self.inner.running.lock() {
            running.insert(
                (run.pk, task.task_id.clone()),
                RunningTry {
                    try_number: ti.try_number,
                    cancel,
                    log,
                    logged_len: 0,
                    deadline,
                    handle,
                },
            );
        }
        Ok(())
    }

    /// Records the tries that returned since the last pass.
    pub(super) fn handle_completions(&self, now: DateTime<Utc>) -> Result<(), SchedulerError> {
        let mut done: Vec<Completion> = match self.inner.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => Vec::new(),
        };
        if let Ok(mut rx) = self.inner.completed.try_lock() {
            while let Ok(c) = rx.try_recv() {
                done.push(c);
            }
        }
        for c in done {
            let key = (c.run_pk, c.task_id.clone());
            let entry = match self.inner.running.lock() {
                Ok(mut running) => match running.get(&key) {
                    Some(r) if r.try_number == c.try_number => running.remove(&key),
                    // A try already recorded (timed out): its late result changes nothing.
                    _ => None,
                },
                Err(_) => None,
            };
            let Some(entry) = entry else { continue };
            let (outcome, note) = match &c.result {
                Ok(TaskOutcome::Success) => (Some(TaskState::Success), "succeeded".to_string()),
                Ok(TaskOutcome::Skipped(why)) => {
                    (Some(TaskState::Skipped), format!("skipped: {why}"))
                }
                Err(e) => (None, format!("failed: {e}")),
            };
            self.finish_try(
                c.run_pk,
                &c.task_id,
                c.try_number,
                &entry.log,
                outcome,
                &note,
                now,
            )?;
        }
        Ok(())
    }

    /// Stores the try's log and its end state (`None` = failed: retried or failed).
    #[allow(clippy::too_many_arguments)]
    fn finish_try(
        &self,
        run_pk: i64,
        task_id: &str,
        try_number: u32,
        log: &TaskLog,
        outcome: Option<TaskState>,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<(), SchedulerError> {
        let store = &self.inner.store;
        let Some(mut ti) = store
            .task_instances(run_pk)?
            .into_iter()
            .find(|t| t.task_id == task_id)
        else {
            return Ok(());
        };
        let task = store
            .run_by_pk(run_pk)?
            .and_then(|run| self.catalog().dags.get(&run.dag_id).cloned())
            .and_then(|dag| dag.task(task_id).cloned());
        let state = match outcome {
            Some(state) => {
                ti.state = Some(state);
                ti.end_date = Some(now);
                ti.next_try_at = None;
                store.save_task_instance(&ti)?;
                state
            }
            None => self.fail_try(&mut ti, task.as_ref(), now)?,
        };
        log.line(format_args!("try {try_number} {note}; task is now {state}"));
        store.set_log(run_pk, task_id, try_number, &log.text())?;
        tracing::info!(dag_id = %ti.dag_id, run_id = %ti.run_id, task_id, try_number, state = %state, "{note}");
        Ok(())
    }

    /// Cancels tries past their `execution_timeout` and records them as failed.
    pub(super) fn check_timeouts(&self, now: DateTime<Utc>) -> Result<(), SchedulerError> {
        let expired: Vec<((i64, String), RunningTry)> = match self.inner.running.lock() {
            Ok(mut running) => {
                let keys: Vec<_> = running
                    .iter()
                    .filter(|(_, r)| r.deadline.is_some_and(|d| d <= now))
                    .map(|(k, _)| k.clone())
                    .collect();
                keys.into_iter()
                    .filter_map(|k| running.remove(&k).map(|r| (k, r)))
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        for ((run_pk, task_id), r) in expired {
            r.cancel.cancel();
            let note = "failed: execution_timeout exceeded, cancelled";
            self.finish_try(run_pk, &task_id, r.try_number, &r.log, None, note, now)?;
        }
        Ok(())
    }

    /// Writes the logs of running tries that grew, so a crash keeps what they printed.
    pub(super) fn flush_logs(&self) -> Result<(), SchedulerError> {
        let grown: Vec<(i64, String, u32, String)> = match self.inner.running.lock() {
            Ok(mut running) => running
                .iter_mut()
                .filter_map(|((pk, task), r)| {
                    let text = r.log.text();
                    (text.len() != r.logged_len).then(|| {
                        r.logged_len = text.len();
                        (*pk, task.clone(), r.try_number, text)
                    })
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        for (pk, task, try_number, text) in grown {
            self.inner.store.set_log(pk, &task, try_number, &text)?;
        }
        Ok(())
    }

    /// The live log of a running try, if this process runs it.
    pub(super) fn live_log(&self, run_pk: i64, task_id: &str, try_number: u32) -> Option<String> {
        let running = self.inner.running.lock().ok()?;
        let r = running.get(&(run_pk, task_id.to_string()))?;
        (r.try_number == try_number).then(|| r.log.text())
    }

    /// Marks tries found `running` in the database (the last scheduler died with them) as
    /// failed, or up for retry while retries remain. Call only while holding the lock.
    pub fn recover(&self) -> Result<usize, SchedulerError> {
        let now = self.inner.clock.now();
        let orphans = self
            .inner
            .store
            .task_instances_in_state(TaskState::Running)?;
        for ti in &orphans {
            if self.is_running(ti.run_pk, &ti.task_id) {
                continue;
            }
            let old = self
                .inner
                .store
                .log(ti.run_pk, &ti.task_id, ti.try_number)?;
            let log = TaskLog::from_text(old.unwrap_or_default());
            let note = "failed: the scheduler stopped while this try was running (crash or kill)";
            tracing::warn!(dag_id = %ti.dag_id, run_id = %ti.run_id, task_id = %ti.task_id, "{note}");
            self.finish_try(ti.run_pk, &ti.task_id, ti.try_number, &log, None, note, now)?;
        }
        Ok(orphans.len())
    }

    /// Cancels every running try, waits up to `shutdown_timeout` for them, and records them
    /// as failed (or up for retry).
    pub async fn shutdown(&self) -> Result<(), SchedulerError> {
        self.inner.tasks_cancel.cancel();
        let tries: Vec<((i64, String), RunningTry)> = match self.inner.running.lock() {
            Ok(mut running) => running.drain().collect(),
            Err(_) => Vec::new(),
        };
        let deadline = tokio::time::Instant::now() + self.inner.shutdown_timeout;
        let now = self.inner.clock.now();
        for ((run_pk, task_id), r) in tries {
            let mut handle = r.handle;
            if tokio::time::timeout_at(deadline, &mut handle)
                .await
                .is_err()
            {
                handle.abort();
            }
            let note = "failed: interrupted by scheduler shutdown";
            self.finish_try(run_pk, &task_id, r.try_number, &r.log, None, note, now)?;
        }
        Ok(())
    }

    /// Waits for one running try to return (its result is recorded by the next tick).
    pub async fn wait_for_completion(&self) {
        let mut rx = self.inner.completed.lock().await;
        if let Some(c) = rx.recv().await {
            if let Ok(mut p) = self.inner.pending.lock() {
                p.push(c);
            }
        }
    }

    /// Ticks until no try is running (tries must return by themselves: test helper).
    pub async fn settle(&self) -> Result<(), SchedulerError> {
        loop {
            self.tick().await?;
            if self.running_count() == 0 {
                return Ok(());
            }
            self.wait_for_completion().await;
        }
    }

    /// The scheduler loop: lock the database, recover from a crash, tick every
    /// `poll_interval` (or sooner when a try returns or a run is triggered) until `cancel`.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), SchedulerError> {
        let _lock = super::lock::acquire(self.inner.store.path())?;
        let recovered = self.recover()?;
        let catalog = self.catalog();
        tracing::info!(
            database = %self.inner.store.path().display(),
            dags = catalog.dags.len(),
            import_errors = catalog.import_errors.len(),
            recovered,
            "scheduler started"
        );
        self.log_import_errors(&catalog);
        let poll = self.inner.poll_interval.max(Duration::from_millis(10));
        loop {
            if let Err(e) = self.tick().await {
                tracing::error!(error = %e, "scheduler pass failed; retrying next pass");
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        tracing::info!(running = self.running_count(), "scheduler stopping");
        self.shutdown().await
    }
}
