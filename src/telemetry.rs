//! Logging setup: `tracing` to stderr with structured fields, filtered by `RUST_LOG`
//! or `--log-level`/`CASSFLOW_LOG`. Metrics live with the components that count them.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `level` is an `EnvFilter` directive such as `info` or
/// `cassflow=debug,rdkafka=warn`; `RUST_LOG` wins when set.
pub fn init(level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // The CQL driver logs every refused connection at ERROR while a server starts or is
        // down; cassflow reports those failures itself, once, with what to do.
        .add_directive(quiet("scylla=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A log line that cannot be written (stderr a closed pipe: `cassflow stream | head`,
        // a log shipper that died) is dropped. Reporting it would print to the same stderr,
        // and that print panics the task that logged: a stream then ignored SIGTERM.
        .log_internal_errors(false)
        .try_init();
}

fn quiet(directive: &str) -> tracing_subscriber::filter::Directive {
    directive
        .parse()
        .unwrap_or_else(|_| tracing_subscriber::filter::LevelFilter::INFO.into())
}
