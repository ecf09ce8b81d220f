//! The `cassflow` command: parses arguments, loads configuration, and hands off to the
//! library. This is the only place that uses `anyhow` and decides exit codes.

mod cli;

use cassflow::stream::consumer::Replay;
use clap::Parser;
use cli::{Cli, Command, LocalCommand};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
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
            // One line for what failed and what to do, as cargo and kubectl do.
            eprintln!("error: {e:#}");
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
                config.pipelines.retain(|p| p.name == name);
                if config.pipelines.is_empty() {
                    anyhow::bail!("no pipeline named `{name}` (fix: see `cassflow config` for the configured names)");
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
            let summaries = cassflow::stream::run(&config, replay, shutdown).await?;
            for s in summaries {
                println!(
                    "{}: consumed {}, written {}, dead-lettered {}, abandoned in flight {}, not started {} (read again on restart)",
                    s.pipeline, s.consumed, s.written, s.dead_lettered, s.abandoned, s.unstarted
                );
            }
        }
        Command::Config => {
            print!("{}", toml_of(&config)?);
        }
    }
    Ok(ExitCode::SUCCESS)
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
