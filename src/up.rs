//! `cassflow up`, the main job: make sure Kafka and Cassandra answer (starting the local
//! stack for whichever does not), create every pipeline's topics, keyspace and table, then
//! run the stream job until Ctrl-C or SIGTERM, and stop what this command started.

use crate::cassandra::{self, schema, CassandraError};
use crate::config::Config;
use crate::kafka::{self, KafkaError};
use crate::local::{LocalError, LocalStack, Server};
use std::time::Duration;

/// Prints a status line to stdout; a closed stdout (a pipe whose reader left) must not
/// take the job down, so write errors are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpError {
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Cassandra(#[from] CassandraError),
    #[error(transparent)]
    Stream(Box<crate::stream::StreamError>),
    #[error("cannot listen for Ctrl-C/SIGTERM: {0}")]
    Signal(std::io::Error),
}

/// What `up` found or started, for the summary and for the clean-up at the end.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Servers of the local stack this command started (and so stops at the end).
    pub started: Vec<Server>,
}

/// Brings the servers and schema up; returns what was started.
pub async fn prepare(config: &Config) -> Result<Prepared, UpError> {
    let probe_timeout = Duration::from_secs(3);
    let stack = LocalStack::new(config);
    let mut missing = Vec::new();
    for server in Server::ALL {
        match stack.probe(server, probe_timeout).await {
            Ok(version) => tracing::info!(server = server.id(), %version, "answering, using it"),
            Err(_) => missing.push(server),
        }
    }
    let mut prepared = Prepared::default();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.id()).collect();
        say!(
            "starting the local stack for {} (data in {})",
            names.join(" and "),
            stack.data_dir().display()
        );
        let report = stack.start_only(&missing).await?;
        say!("{}", report.to_string().trim_end());
        prepared.started = report.started.iter().map(|(s, ..)| *s).collect();
    }
    for pipeline in &config.pipelines {
        for (topic, partitions) in [
            (pipeline.topic.clone(), pipeline.partitions),
            (pipeline.dead_letter_topic(), pipeline.partitions),
        ] {
            let created = kafka::admin::ensure_topic(
                &config.kafka,
                &topic,
                partitions,
                pipeline.topic_replication,
            )
            .await?;
            tracing::info!(%topic, partitions, created, "topic ready");
        }
        let session = cassandra::connect(&config.cassandra).await?;
        schema::ensure_keyspace(&session, &config.cassandra, &pipeline.keyspace).await?;
        schema::ensure_users_table(&session, &pipeline.keyspace, &pipeline.table).await?;
        tracing::info!(keyspace = %pipeline.keyspace, table = %pipeline.table, "table ready");
    }
    Ok(prepared)
}

/// The whole `up` command: prepare, run until a stop signal, stop what was started.
pub async fn run(config: Config, keep_stack: bool) -> Result<(), UpError> {
    let prepared = prepare(&config).await?;
    say!("cassflow is up:");
    say!("  Kafka      {}", config.kafka.bootstrap);
    say!("  Cassandra  {}", config.cassandra.contact_points);
    for p in &config.pipelines {
        say!(
            "  pipeline   {}: topic {} -> {}.{} (dead letters: {})",
            p.name,
            p.topic,
            p.keyspace,
            p.table,
            p.dead_letter_topic()
        );
    }
    let shutdown = tokio_util::sync::CancellationToken::new();
    if let Some(bind) = config.stream.metrics_bind {
        let token = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::stream::metrics::serve(bind, token).await {
                tracing::error!(%bind, error = %e, "cannot serve metrics");
            }
        });
    }
    let mut stream = {
        let (config, token) = (config.clone(), shutdown.clone());
        tokio::spawn(async move { crate::stream::run(&config, None, token).await })
    };
    say!("stream job running; press Ctrl-C to stop");
    let result = tokio::select! {
        signal = wait_for_stop_signal() => {
            signal?;
            say!("stopping: finishing in-flight writes");
            shutdown.cancel();
            (&mut stream).await
        }
        // The job ends on its own only if it failed to start.
        ended = &mut stream => ended,
    };
    shutdown.cancel();
    let outcome = match result {
        Ok(Ok(summaries)) => {
            for s in summaries {
                say!(
                    "  {}: consumed {}, written {}, dead-lettered {}",
                    s.pipeline,
                    s.consumed,
                    s.written,
                    s.dead_lettered
                );
            }
            Ok(())
        }
        Ok(Err(e)) => Err(UpError::Stream(Box::new(e))),
        Err(e) => Err(UpError::Stream(Box::new(
            crate::stream::StreamError::Consumer(format!(
                "the stream job stopped unexpectedly: {e}"
            )),
        ))),
    };
    if !prepared.started.is_empty() && !keep_stack {
        let stack = LocalStack::new(&config);
        let report = stack.stop_only(&prepared.started).await?;
        say!("{}", report.to_string().trim_end());
    }
    outcome
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn wait_for_stop_signal() -> Result<(), UpError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(UpError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(UpError::Signal)?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    Ok(())
}
