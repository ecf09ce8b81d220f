//! The scheduler's and the checks' subcommands (`cassflow dags|runs|check`): their
//! arguments and what they print. Commands go through the scheduler's database, so they work
//! whether or not `cassflow up` is running (a triggered run starts when its scheduler does).

use anyhow::Context;
use cassflow::checks;
use cassflow::config::Config;
use cassflow::scheduler::{RunState, Scheduler};
use clap::{Args, Subcommand, ValueEnum};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum DagsCommand {
    /// List the DAGs: schedule, paused, next run, last run's state.
    List {
        /// Output format: a table for people, or JSON (Airflow's field names) for scripts.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Create a manual run now (started by the running scheduler of `cassflow up`).
    Trigger {
        /// The DAG to run, e.g. user_automation (`cassflow dags list` shows them).
        dag_id: String,
        /// Run parameters as a JSON object; they override the DAG's params.
        #[arg(long, value_name = "JSON")]
        conf: Option<String>,
        /// Wait until the run finishes; exit 1 if it failed.
        #[arg(long)]
        wait: bool,
    },
    /// Stop creating scheduled runs for a DAG.
    Pause {
        /// The DAG to pause, e.g. user_automation (`cassflow dags list` shows them).
        dag_id: String,
    },
    /// Resume a DAG's schedule.
    Unpause {
        /// The DAG to unpause, e.g. user_automation (`cassflow dags list` shows them).
        dag_id: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// JSON for scripts.
    Json,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only this DAG's runs.
    pub dag_id: Option<String>,
    /// Runs per DAG, newest first.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Output format: a table for people, or JSON (Airflow's field names) for scripts.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// The stream job's consumer-group lag on its topic; exit 1 unless it is zero.
    Lag {
        /// The pipeline (by name); the default one when unset.
        #[arg(long, value_name = "NAME")]
        pipeline: Option<String>,
        /// Wait up to this long for the lag to reach zero (e.g. 30s, 5m).
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        wait: Option<Duration>,
    },
    /// A Cassandra table's row count; exit 1 if below --min.
    Rows {
        /// The fewest rows that pass.
        #[arg(long)]
        min: u64,
        /// The pipeline whose table to count; the default one when unset.
        #[arg(long, value_name = "NAME")]
        pipeline: Option<String>,
    },
}

pub async fn dags(config: &Config, command: DagsCommand) -> anyhow::Result<ExitCode> {
    let scheduler = Scheduler::from_config(config)?;
    for e in scheduler.import_errors() {
        eprintln!("warning: DAG file not loaded: {}", e.message);
    }
    match command {
        DagsCommand::List { output } => {
            let dags = scheduler.list_dags()?;
            if let Output::Json = output {
                println!("{}", serde_json::to_string_pretty(&dags)?);
                return Ok(ExitCode::SUCCESS);
            }
            let mut rows = vec![row(&[
                "DAG_ID", "SCHEDULE", "PAUSED", "NEXT RUN", "LAST RUN",
            ])];
            let now = chrono::Utc::now();
            for d in dags {
                let next_run = next_run_cell(d.is_paused, d.next_dagrun.as_ref(), now);
                rows.push(vec![
                    d.dag_id,
                    d.schedule,
                    d.is_paused.to_string(),
                    next_run,
                    d.last_run
                        .map(|r| format!("{} ({})", r.state, r.run_id))
                        .unwrap_or_else(|| "-".into()),
                ]);
            }
            print_table(&rows);
        }
        DagsCommand::Trigger { dag_id, conf, wait } => {
            let conf = conf
                .map(|c| serde_json::from_str::<serde_json::Value>(&c))
                .transpose()
                .context(
                    "--conf is not JSON (fix: pass an object, e.g. --conf '{\"count\": 10}')",
                )?;
            let run = scheduler.trigger(&dag_id, conf)?;
            println!("triggered {dag_id}: run {} is queued", run.run_id);
            if wait {
                return wait_for_run(&scheduler, &dag_id, &run.run_id).await;
            }
        }
        DagsCommand::Pause { dag_id } => {
            scheduler.set_paused(&dag_id, true)?;
            println!("{dag_id} paused");
        }
        DagsCommand::Unpause { dag_id } => {
            scheduler.set_paused(&dag_id, false)?;
            println!("{dag_id} unpaused");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// When the next scheduled run starts, as seen from `now`: `paused`, `-` (no more runs),
/// `due now` when its interval is complete (the scheduler of `cassflow up` starts it on its
/// next tick; the time itself would read as the past), else the time.
fn next_run_cell(
    paused: bool,
    next: Option<&cassflow::scheduler::schedule::NextRun>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    match next {
        _ if paused => "paused".into(),
        None => "-".into(),
        Some(n) if n.run_after <= now => "due now".into(),
        Some(n) => n
            .run_after
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

async fn wait_for_run(s: &Scheduler, dag_id: &str, run_id: &str) -> anyhow::Result<ExitCode> {
    loop {
        let run = s.run_info(dag_id, run_id)?;
        if run.state.is_finished() {
            let tasks = s.task_instances(dag_id, run_id)?;
            for t in &tasks {
                let state = t.state.map_or("none".to_string(), |s| s.to_string());
                println!("  {}: {state} (try {})", t.task_id, t.try_number);
            }
            println!("run {run_id}: {}", run.state);
            return Ok(match run.state {
                RunState::Success => ExitCode::SUCCESS,
                _ => ExitCode::from(1),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub fn runs(config: &Config, args: RunsArgs) -> anyhow::Result<ExitCode> {
    let scheduler = Scheduler::from_config(config)?;
    let dag_ids: Vec<String> = match args.dag_id {
        Some(id) => vec![id],
        None => scheduler
            .list_dags()?
            .into_iter()
            .map(|d| d.dag_id)
            .collect(),
    };
    let mut all = Vec::new();
    for id in &dag_ids {
        for run in scheduler.runs(id, args.limit)? {
            let tasks = scheduler.task_instances(id, &run.run_id)?;
            all.push((run, tasks));
        }
    }
    if let Output::Json = args.output {
        let json: Vec<_> = all
            .iter()
            .map(|(run, tasks)| serde_json::json!({"run": run, "task_instances": tasks}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![row(&[
        "DAG_ID",
        "RUN_ID",
        "STATE",
        "DATA INTERVAL",
        "TASKS",
    ])];
    for (run, tasks) in all {
        let tasks: Vec<String> = tasks
            .iter()
            .map(|t| {
                let state = t.state.map_or("none".to_string(), |s| s.to_string());
                format!("{}={state}", t.task_id)
            })
            .collect();
        rows.push(vec![
            run.dag_id,
            run.run_id,
            run.state.to_string(),
            format!(
                "{} .. {}",
                run.data_interval_start.format("%Y-%m-%d %H:%M"),
                run.data_interval_end.format("%Y-%m-%d %H:%M")
            ),
            tasks.join(" "),
        ]);
    }
    print_table(&rows);
    Ok(ExitCode::SUCCESS)
}

pub async fn check(config: &Config, command: CheckCommand) -> anyhow::Result<ExitCode> {
    match command {
        CheckCommand::Lag { pipeline, wait } => {
            let p = checks::pipeline(config, pipeline.as_deref())?;
            let report = match wait {
                None => checks::consumer_lag(&config.kafka, p).await?,
                Some(timeout) => {
                    let cancel = tokio_util::sync::CancellationToken::new();
                    let poll = Duration::from_secs(1);
                    match checks::wait_for_zero_lag(
                        &config.kafka,
                        p,
                        timeout,
                        poll,
                        &cancel,
                        |_| {},
                    )
                    .await
                    {
                        Ok(r) => r,
                        Err(checks::CheckError::LagTimeout { last, .. }) => last,
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            if report.total() == 0 {
                println!("{report}");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "error: {report} (fix: run `cassflow stream`, or wait longer with --wait)"
                );
                Ok(ExitCode::from(1))
            }
        }
        CheckCommand::Rows { min, pipeline } => {
            let p = checks::pipeline(config, pipeline.as_deref())?;
            match checks::check_rows(&config.cassandra, &p.keyspace, &p.table, min).await {
                Ok(count) => {
                    println!(
                        "{}.{} has {count} rows (at least {min} required)",
                        p.keyspace, p.table
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e @ checks::CheckError::TooFewRows { .. }) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(1))
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// Left-aligned columns, as kubectl prints them.
fn print_table(rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        println!("{}", line.join("   ").trim_end());
    }
}
