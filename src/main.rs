//! The `cassflow` command: parses arguments, loads configuration, and hands off to the
//! library. This is the only place that uses `anyhow` and decides exit codes.

mod cli;

use clap::Parser;
use cli::{Cli, Command, LocalCommand};
use std::process::ExitCode;

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
        Command::Config => {
            print!("{}", toml_of(&config)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn toml_of(config: &cassflow::config::Config) -> anyhow::Result<String> {
    Ok(toml::to_string_pretty(config)?)
}
