//! The `cassflow` command: parses arguments, loads configuration, and hands off to the
//! library. This is the only place that uses `anyhow` and decides exit codes.

mod cli;
mod scheduler_cli;
mod stream_progress;

use cassflow::stream::consumer::Replay;
use clap::Parser;
use cli::{Cli, Command, LocalCommand};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        // Needs no configuration: a broken config must not break tab completion.
        print_completions(shell);
        return ExitCode::SUCCESS;
    }
    if let Command::ImportConnector { file } = &cli.command {
        // Needs no configuration: it writes one.
        return match cassflow::import_connector::import_file(file) {
            Ok(toml) => {
                print!("{toml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {}", cassflow::error_line::render(&e));
                ExitCode::from(1)
            }
        };
    }
    cassflow::telemetry::init(&cli.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // One line for what failed and what to do, as cargo and kubectl do; each cause once.
            eprintln!("error: {}", cassflow::error_line::render(e.as_ref()));
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cassflow::config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Up { keep_stack } => {
            cassflow::up::run(config, keep_stack).await?;
        }
        Command::Local { command } => {
            let stack = cassflow::local::LocalStack::new(&config);
            match command {
                LocalCommand::Start => {
                    let report = stack.start().await?;
                    println!("{report}");
                }
                LocalCommand::Fetch => {
                    for (server, lib) in stack.fetch()? {
                        println!("{}: {}", server.display_name(), lib.display());
                    }
                }
                LocalCommand::Stop => {
                    let report = stack.stop().await?;
                    println!("{report}");
                }
                LocalCommand::Status => {
                    let status = stack.status().await;
                    println!("{status}");
                    if !status.all_running() {
                        return Ok(ExitCode::from(3));
                    }
                }
                LocalCommand::Logs { server, lines } => {
                    print!("{}", stack.logs(server.map(Into::into), lines)?);
                }
            }
        }
        Command::Stream {
            from_beginning,
            from_timestamp,
            pipeline,
        } => {
            let replay = match (from_beginning, from_timestamp) {
                (true, _) => Some(Replay::Beginning),
                (false, Some(t)) => Some(Replay::Timestamp(parse_time(&t)?)),
                (false, None) => None,
            };
            let mut config = config;
            if let Some(name) = pipeline {
                let names: Vec<String> = config
                    .pipelines
                    .iter()
                    .map(|p| format!("`{}`", p.name))
                    .collect();
                config.pipelines.retain(|p| p.name == name);
                if config.pipelines.is_empty() {
                    anyhow::bail!(
                        "no pipeline named `{name}`; configured: {} (fix: pass one of them to --pipeline)",
                        names.join(", ")
                    );
                }
            }
            let shutdown = CancellationToken::new();
            let on_signal = shutdown.clone();
            tokio::spawn(async move {
                if cassflow::up::wait_for_stop_signal().await.is_ok() {
                    on_signal.cancel();
                }
            });
            if let Some(bind) = config.stream.metrics_bind {
                let token = shutdown.clone();
                tokio::spawn(async move {
                    if let Err(e) = cassflow::stream::metrics::serve(bind, token).await {
                        tracing::error!(%bind, error = %e, "cannot serve metrics");
                    }
                });
            }
            tokio::spawn(stream_progress::log_until(shutdown.clone()));
            let summaries = cassflow::stream::run(&config, replay, shutdown).await?;
            for s in summaries {
                match &s.failed {
                    Some(error) => println!("{}: {error}", s.pipeline),
                    None => println!(
                        "{}: consumed {}, written {}, dead-lettered {}, abandoned in flight {}, not started {} (read again on restart)",
                        s.pipeline, s.consumed, s.written, s.dead_lettered, s.abandoned, s.unstarted
                    ),
                }
            }
        }
        Command::Produce(args) => return produce(config, args).await,
        Command::Bench(args) => bench(config, args).await?,
        Command::BenchWorker { spec, result } => {
            let line = cassflow::bench::runs::worker::run(&spec).await?;
            std::fs::write(&result, line)?;
        }
        Command::Completions { shell } => print_completions(shell),
        Command::ImportConnector { file } => {
            print!("{}", cassflow::import_connector::import_file(&file)?)
        }
        Command::Dags { command } => return scheduler_cli::dags(&config, command).await,
        Command::Runs(args) => return scheduler_cli::runs(&config, args),
        Command::Check { command } => return scheduler_cli::check(&config, command).await,
        Command::Config { show_secrets } => {
            // The configuration check applies the web UI's rules too (`up` applies them itself).
            config.validate_web()?;
            let shown = if show_secrets {
                config
            } else {
                config.redacted()
            };
            print!("{}", toml_of(&shown)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cassflow bench`: the options from the flags, the exact command line for the report.
async fn bench(config: cassflow::config::Config, args: cli::BenchArgs) -> anyhow::Result<()> {
    let max_instances = args.instances.iter().copied().max().unwrap_or(1).max(1);
    let opts = cassflow::bench::BenchOptions {
        records: args.records.max(1),
        peers: args.peers,
        instances: args.instances,
        latency_rates: args.latency_rates,
        latency_duration: args.latency_duration,
        partitions: (max_instances as i32 * 2).max(8),
        raw_concurrency: args.raw_concurrency,
        raw_batch_concurrency: args.raw_batch_concurrency,
        out: args.out,
        chart: !args.no_chart,
        report_only: args.report_only,
        allow_busy: args.allow_busy,
        repeats: args.repeats as usize,
        cassflow_bin: std::env::current_exe()?,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        ..cassflow::bench::BenchOptions::default()
    };
    if args.report_only {
        cassflow::bench::rerender(&config, &opts).await?;
    } else {
        cassflow::bench::run(config, opts).await?;
    }
    Ok(())
}

/// RFC 3339 or milliseconds since the epoch.
fn parse_time(text: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            anyhow::anyhow!(
                "--from-timestamp `{text}` is not a time (fix: use RFC 3339 such as 2026-11-24T10:00:00Z, or epoch milliseconds)"
            )
        })
}

fn toml_of(config: &cassflow::config::Config) -> anyhow::Result<String> {
    Ok(toml::to_string_pretty(config)?)
}

/// `cassflow produce`: progress on a terminal, a summary always, exit 1 on any loss.
async fn produce(
    mut config: cassflow::config::Config,
    args: cli::ProduceArgs,
) -> anyhow::Result<ExitCode> {
    use cassflow::config::SourceKind;
    use cassflow::produce::{Limit, ProduceRequest};
    if let Some(seed) = args.seed {
        config.source.seed = Some(seed);
    }
    let pipeline = match &args.pipeline {
        Some(name) => Some(
            config
                .pipelines
                .iter()
                .find(|p| &p.name == name)
                .cloned()
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "no pipeline named `{name}` (fix: see `cassflow config` for the configured names)"
                    )
                })?,
        ),
        None => None,
    };
    let json = pipeline
        .as_ref()
        .is_some_and(|p| p.format == cassflow::config::RecordFormat::Json);
    let source = if args.raw || (json && args.source.is_none()) {
        SourceKind::Stdin
    } else {
        args.source.unwrap_or(config.source.kind)
    };
    let limit = match (args.count, args.duration) {
        (Some(n), _) => Limit::Count(n),
        (None, Some(d)) => Limit::Duration(d),
        (None, None) if source == SourceKind::Stdin => Limit::Unbounded,
        (None, None) => Limit::Count(u64::from(config.source.batch_size)),
    };
    let mut request = ProduceRequest::from_config(&config, limit);
    request.source = source;
    request.raw = args.raw;
    request.rate = args.rate;
    if let Some(topic) = args.topic {
        request.topic = topic;
    }
    request.wire = args.format;
    if let Some(p) = &pipeline {
        request.topic = p.topic.clone();
        request.format = p.format;
        if request.wire.is_none() {
            request.wire = cassflow::registry::users::ProducedFormat::of(p.format);
        }
        request.key = match p.key.as_deref().filter(|_| json) {
            // Validated at load; parsed again here for its evaluator.
            Some(expr) => Some(
                cassflow::produce::key::KeyPath::parse(expr)
                    .map_err(|e| anyhow::anyhow!("pipelines `{}` key: {e}", p.name))?,
            ),
            None => None,
        };
    }
    let progress = progress_bar(limit);
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if cassflow::up::wait_for_stop_signal().await.is_ok() {
            on_signal.cancel();
        }
    });
    let summary = cassflow::produce::produce(&config, &request, &progress, &cancel).await;
    progress.finish_and_clear();
    let summary = summary?;
    println!("{summary}");
    if summary.failed > 0 {
        anyhow::bail!(
            "{} of {} records were not delivered to {} (first error: {})",
            summary.failed,
            summary.sent + summary.failed,
            summary.topic,
            summary
                .first_error
                .as_deref()
                .unwrap_or("delivery timed out")
        );
    }
    if summary.invalid > 0 {
        anyhow::bail!(
            "{} invalid input record(s) were skipped (reported above); the valid ones were sent",
            summary.invalid
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A bar with rate and ETA for a count, a spinner with rate for a duration or stdin; drawn
/// only when stderr is a terminal.
fn progress_bar(limit: cassflow::produce::Limit) -> indicatif::ProgressBar {
    use cassflow::produce::Limit;
    use indicatif::{ProgressBar, ProgressStyle};
    let (bar, template) = match limit {
        Limit::Count(n) => (
            ProgressBar::new(n),
            "{msg:>10} [{bar:40}] {human_pos}/{human_len} {rate} ETA {eta}",
        ),
        Limit::Duration(_) => (
            ProgressBar::no_length(),
            "{msg:>10} {spinner} {human_pos} records {rate} elapsed {elapsed} of %DUR%",
        ),
        Limit::Unbounded => (
            ProgressBar::no_length(),
            "{msg:>10} {spinner} {human_pos} records {rate}",
        ),
    };
    let template = match limit {
        Limit::Duration(d) => template.replace("%DUR%", &humantime::format_duration(d).to_string()),
        _ => template.to_string(),
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        // Whole records per second (`1,293/s`): indicatif's {per_sec} prints four decimals.
        let style = style.with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(
                    w,
                    "{}/s",
                    indicatif::HumanCount(state.per_sec().round() as u64)
                );
            },
        );
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

fn print_completions(shell: clap_complete::Shell) {
    use std::io::Write;
    let mut command = <Cli as clap::CommandFactory>::command();
    // Generated into memory first: clap_complete panics on a write error, and a reader that
    // leaves early (`| head`) is not an error of ours.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "cassflow", &mut script);
    let _ = std::io::stdout().write_all(&script);
}
