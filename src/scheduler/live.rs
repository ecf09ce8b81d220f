//! The live task environment: `shell` tasks run `sh -c` with output captured line by line
//! into the try's log (killed with their process group on cancel, without cassflow's
//! secret environment variables), `wait_lag` and
//! `cql_check` use [`crate::checks`] against the configured Kafka and Cassandra, and
//! `produce` tasks run [`crate::produce::produce`] (the seed's `stream_data_from_api`).

use super::env::{TaskContext, TaskEnv, TaskFailure, TaskOutcome, TaskResult};
use super::task::{CqlCheckTask, ProduceTask, ShellTask, Task, TaskKind, WaitLagTask};
use crate::checks;
use crate::config::Config;
use crate::produce::{self, Limit, ProduceRequest};
use futures::future::BoxFuture;
use futures::FutureExt;
use indicatif::ProgressBar;
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Runs tasks against the stack of `config`.
#[derive(Debug, Clone)]
pub struct LiveEnv {
    config: Arc<Config>,
}

impl LiveEnv {
    pub fn new(config: Config) -> Self {
        LiveEnv {
            config: Arc::new(config),
        }
    }
}

impl TaskEnv for LiveEnv {
    fn run(&self, task: &Task, ctx: TaskContext) -> BoxFuture<'static, TaskResult> {
        let config = self.config.clone();
        let kind = task.kind.clone();
        async move {
            match kind {
                TaskKind::Shell(s) => run_shell(s, ctx).await,
                TaskKind::WaitLag(w) => run_wait_lag(&config, w, ctx).await,
                TaskKind::CqlCheck(c) => run_cql_check(&config, c, ctx).await,
                TaskKind::Produce(p) => run_produce(&config, p, ctx).await,
            }
        }
        .boxed()
    }
}

/// Exit code meaning "skip me" (Airflow's BashOperator default).
const SKIP_EXIT_CODE: i32 = 99;

/// The environment variables of this process a shell task must not inherit: the
/// `CASSFLOW_*` ones that set a secret (`CASSFLOW_WEB__PASSWORD`, `CASSFLOW_WEB__API_TOKEN`,
/// `CASSFLOW_CASSANDRA__PASSWORD`, Kafka `*PASSWORD*`/`*SECRET*` properties, ...; see
/// [`crate::config::secrets`]). Other `CASSFLOW_*` variables stay, so a task can run
/// `cassflow produce` against the same stack; a task that needs a secret names it in its
/// own `env`.
fn inherited_secrets() -> Vec<std::ffi::OsString> {
    std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| {
            k.to_str()
                .is_some_and(crate::config::secrets::is_secret_env)
        })
        .collect()
}

async fn run_shell(task: ShellTask, ctx: TaskContext) -> TaskResult {
    let mut cmd = tokio::process::Command::new("sh");
    for var in inherited_secrets() {
        cmd.env_remove(var);
    }
    cmd.arg("-c")
        .arg(&task.command)
        .envs(ctx.env_vars())
        .envs(&task.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &task.cwd {
        cmd.current_dir(dir);
    }
    ctx.log
        .line(format_args!("running: sh -c {:?}", task.command));
    let mut child = cmd
        .spawn()
        .map_err(|e| TaskFailure::new(format!("cannot start `sh`: {e}")))?;
    let pid = child.id();
    let out = child.stdout.take().map(|o| pump(o, ctx.clone(), ""));
    let err = child
        .stderr
        .take()
        .map(|e| pump(e, ctx.clone(), "stderr: "));
    let finished = async {
        // Both pipes at once: a command filling the one not being read would block forever.
        tokio::join!(
            async {
                if let Some(out) = out {
                    out.await;
                }
            },
            async {
                if let Some(err) = err {
                    err.await;
                }
            }
        );
        child.wait().await
    };
    let status = tokio::select! {
        status = finished => status.map_err(|e| TaskFailure::new(format!("waiting for the command: {e}")))?,
        _ = ctx.cancel.cancelled() => {
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                // The whole group: `sh -c` may have started children of its own.
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            ctx.log.line("cancelled: command killed");
            return Err(TaskFailure::new("cancelled"));
        }
    };
    match status.code() {
        Some(0) => Ok(TaskOutcome::Success),
        Some(SKIP_EXIT_CODE) => Ok(TaskOutcome::Skipped(format!(
            "command exited with {SKIP_EXIT_CODE}"
        ))),
        Some(code) => Err(TaskFailure::new(format!("command exited with {code}"))),
        None => Err(TaskFailure::new("command killed by a signal")),
    }
}

/// Copies lines of a child's output into the log until it closes.
async fn pump(stream: impl AsyncRead + Unpin, ctx: TaskContext, prefix: &'static str) {
    let mut lines = BufReader::new(stream).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => ctx.log.line(format_args!("{prefix}{line}")),
            Ok(None) => break,
            Err(e) => {
                ctx.log
                    .line(format_args!("{prefix}(output not UTF-8 text: {e})"));
                break;
            }
        }
    }
}

async fn run_wait_lag(config: &Config, task: WaitLagTask, ctx: TaskContext) -> TaskResult {
    let pipeline = checks::pipeline(config, task.pipeline.as_deref()).map_err(TaskFailure::new)?;
    ctx.log.line(format_args!(
        "waiting up to {:?} for group `{}` to read everything on `{}`",
        task.timeout,
        pipeline.group_id(),
        pipeline.topic
    ));
    let mut last_total = None;
    let report = checks::wait_for_zero_lag(
        &config.kafka,
        pipeline,
        task.timeout,
        task.poll_interval,
        &ctx.cancel,
        |r| {
            if last_total != Some(r.total()) {
                last_total = Some(r.total());
                ctx.log.line(r);
            }
        },
    )
    .await
    .map_err(TaskFailure::new)?;
    ctx.log.line(format_args!("done: {report}"));
    Ok(TaskOutcome::Success)
}

async fn run_cql_check(config: &Config, task: CqlCheckTask, ctx: TaskContext) -> TaskResult {
    let (keyspace, table) = match (&task.keyspace, &task.table) {
        (Some(k), Some(t)) => (k.clone(), t.clone()),
        (k, t) => {
            let p = checks::pipeline(config, task.pipeline.as_deref()).map_err(TaskFailure::new)?;
            (
                k.clone().unwrap_or_else(|| p.keyspace.clone()),
                t.clone().unwrap_or_else(|| p.table.clone()),
            )
        }
    };
    ctx.log.line(format_args!(
        "counting rows of {keyspace}.{table} (at least {} required)",
        task.min_rows
    ));
    let count = tokio::select! {
        r = checks::check_rows(&config.cassandra, &keyspace, &table, task.min_rows) => r.map_err(TaskFailure::new)?,
        _ = ctx.cancel.cancelled() => return Err(TaskFailure::new("cancelled")),
    };
    ctx.log
        .line(format_args!("{keyspace}.{table} has {count} rows: ok"));
    Ok(TaskOutcome::Success)
}

/// Produces users as the task says; a run's conf may override `topic`, `count` (a number)
/// or `duration` (e.g. "10s"), so a manual trigger can ask for a short run.
async fn run_produce(config: &Config, task: ProduceTask, ctx: TaskContext) -> TaskResult {
    let conf = &ctx.conf;
    let topic = conf
        .get("topic")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .or(task.topic)
        .unwrap_or_else(|| config.users_pipeline().topic.clone());
    let count = conf.get("count").and_then(|v| v.as_u64());
    let duration = match conf.get("duration").and_then(|v| v.as_str()) {
        Some(text) => Some(humantime::parse_duration(text).map_err(|e| {
            TaskFailure::new(format!("conf `duration` = {text:?} is not a duration: {e}"))
        })?),
        None => None,
    };
    let limit = match (count, duration, task.count, task.duration) {
        (Some(n), _, _, _) => Limit::Count(n),
        (None, Some(d), _, _) => Limit::Duration(d),
        (None, None, Some(n), _) => Limit::Count(n),
        (None, None, None, Some(d)) => Limit::Duration(d),
        (None, None, None, None) => return Err(TaskFailure::new("no `count` or `duration`")),
    };
    // A topic that an avro or json_schema pipeline reads gets its records in that format.
    let wire = config
        .pipelines
        .iter()
        .find(|p| p.topic == topic)
        .and_then(|p| crate::registry::users::ProducedFormat::of(p.format));
    let request = ProduceRequest {
        topic,
        source: task.source.unwrap_or(config.source.kind),
        limit,
        rate: match conf.get("rate") {
            None => task.rate,
            Some(v) => Some(v.as_f64().filter(|r| rate_ok(*r)).ok_or_else(|| {
                TaskFailure::new(format!(
                    "conf `rate` = {v} is not a rate between {} and {} records/s",
                    produce::MIN_RATE,
                    produce::MAX_RATE
                ))
            })?),
        },
        raw: false,
        format: crate::config::RecordFormat::Users,
        key: None,
        wire,
    };
    ctx.log.line(format_args!(
        "producing to `{}` from {:?}, limit {:?}",
        request.topic, request.source, request.limit
    ));
    let summary = produce::produce(config, &request, &ProgressBar::hidden(), &ctx.cancel)
        .await
        .map_err(TaskFailure::new)?;
    ctx.log.line(&summary);
    if let Some(e) = &summary.first_error {
        ctx.log.line(format_args!("first delivery error: {e}"));
    }
    if ctx.cancel.is_cancelled() {
        return Err(TaskFailure::new("cancelled"));
    }
    if summary.failed > 0 {
        return Err(TaskFailure::new(format!(
            "{} of {} records were not delivered",
            summary.failed,
            summary.failed + summary.sent
        )));
    }
    Ok(TaskOutcome::Success)
}

fn rate_ok(rate: f64) -> bool {
    (produce::MIN_RATE..=produce::MAX_RATE).contains(&rate)
}
