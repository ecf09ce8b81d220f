//! `cassflow up`, the main job: make sure Kafka and Cassandra answer (starting the local
//! stack for whichever does not), create every pipeline's topics, keyspace and table, then
//! run the scheduler (the seed's `user_automation` DAG among others), the stream job and the
//! web UI until Ctrl-C or SIGTERM, and stop what this command started. Meanwhile the servers
//! it started are supervised: one that dies is reported and restarted
//! ([`crate::local::supervisor`]).

use crate::cassandra::{self, schema, CassandraError};
use crate::config::Config;
use crate::kafka::{self, KafkaError};
use crate::local::{supervisor, LocalError, LocalStack, Server};
use std::sync::Arc;
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
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Cassandra(#[from] CassandraError),
    #[error(transparent)]
    Stream(Box<crate::stream::StreamError>),
    #[error(transparent)]
    Scheduler(#[from] crate::scheduler::SchedulerError),
    #[error("web UI on {bind}: {source}")]
    Web {
        bind: std::net::SocketAddr,
        #[source]
        source: crate::web::WebError,
    },
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
    for server in stack.servers() {
        match stack.probe(server, probe_timeout).await {
            Ok(version) => tracing::info!(server = server.id(), %version, "answering, using it"),
            Err(_) => missing.push(server),
        }
    }
    let mut prepared = Prepared::default();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.id()).collect();
        // "kafka", "kafka and cassandra", "kafka, cassandra and registry".
        let names = match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => names.concat(),
        };
        say!(
            "starting the local stack for {} (data in {})",
            names,
            stack.data_dir().display()
        );
        let report = stack.start_only(&missing).await?;
        say!("{}", report.to_string().trim_end());
        prepared.started = report.started_servers();
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
                pipeline.topic_replication_factor(),
            )
            .await?;
            tracing::info!(%topic, partitions, created, "topic ready");
        }
        let session = cassandra::connect(&config.cassandra).await?;
        // The same path as the stream job's: a json pipeline without `create_table` gets no
        // table (a users table would not fit its records).
        let ready = schema::ensure_pipeline_table(&session, &config.cassandra, pipeline).await?;
        tracing::info!(keyspace = %pipeline.keyspace, table = %pipeline.table, ?ready, "table ready");
    }
    Ok(prepared)
}

/// The whole `up` command: prepare, run scheduler + stream job + web UI until a stop
/// signal, stop what was started.
pub async fn run(config: Config, keep_stack: bool) -> Result<(), UpError> {
    // Before anything starts: the web UI's rules apply to the commands that serve it.
    config.validate_web()?;
    let prepared = prepare(&config).await?;
    let watch = tokio_util::sync::CancellationToken::new();
    let supervisor = (!prepared.started.is_empty()).then(|| {
        let events: supervisor::EventSink = Arc::new(|event| say!("{event}"));
        tokio::spawn(supervisor::supervise(
            LocalStack::new(&config),
            prepared.started.clone(),
            supervisor::RestartPolicy::default(),
            events,
            watch.clone(),
        ))
    });
    let result = serve(&config).await;
    // No restarts once stopping: the servers are stopped next.
    watch.cancel();
    if let Some(supervisor) = supervisor {
        let _ = supervisor.await;
    }
    if !prepared.started.is_empty() && !keep_stack {
        let stack = LocalStack::new(&config);
        let report = stack.stop_only(&prepared.started).await?;
        say!("{}", report.to_string().trim_end());
    }
    result
}

/// Runs the three parts on one cancellation token; any part failing stops the others.
async fn serve(config: &Config) -> Result<(), UpError> {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let web_bind = config.web.bind;
    let web_error = |source| UpError::Web {
        bind: web_bind,
        source,
    };
    let scheduler = crate::scheduler::Scheduler::from_config(config)?;
    let state = crate::web::AppState::new(config)
        .map_err(web_error)?
        .with_scheduler(scheduler.clone());
    let source = crate::source::Source::open(&config.source, config.source.kind).await;
    // Bound before "cassflow is up" is said: the URL printed answers at once.
    let listener = tokio::net::TcpListener::bind(web_bind)
        .await
        .map_err(|source| {
            web_error(crate::web::WebError::Bind {
                bind: web_bind,
                source,
            })
        })?;

    say!("cassflow is up:");
    say!(
        "  web UI     http://{web_bind}/ (user {})",
        config.web.username
    );
    say!("  Kafka      {}", config.kafka.bootstrap);
    say!("  Cassandra  {}", config.cassandra.contact_points);
    if let Some(url) = config.local.registry_url() {
        say!("  registry   {url}");
    }
    match &source {
        Ok(s) => say!(
            "  source     {} (source.kind = {:?})",
            s.name(),
            config.source.kind
        ),
        Err(e) => say!("  source     unavailable: {e}"),
    }
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
    if let Ok(dags) = scheduler.list_dags() {
        for d in dags {
            say!(
                "  DAG        {} ({}{})",
                d.dag_id,
                d.schedule,
                if d.is_paused { ", paused" } else { "" }
            );
        }
    }
    if let Some(bind) = config.stream.metrics_bind {
        let token = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::stream::metrics::serve(bind, token).await {
                tracing::error!(%bind, error = %e, "cannot serve metrics");
            }
        });
    }
    let mut web = tokio::spawn(crate::web::serve_on(listener, state, shutdown.clone()));
    let mut scheduler_loop = tokio::spawn(scheduler.run(shutdown.clone()));
    let mut stream = {
        let (config, token) = (config.clone(), shutdown.clone());
        tokio::spawn(async move {
            let result = crate::stream::run(&config, None, token.clone()).await;
            if let Err(e) = &result {
                // Every pipeline failed at start: say so now, keep the scheduler and the
                // web UI (whose /health and Stream page show why) until the stop signal.
                say!("stream job: {e}");
                token.cancelled().await;
            }
            result
        })
    };
    say!("scheduler, stream job and web UI running; press Ctrl-C to stop");

    // Until a stop signal, or until a part ends on its own (which only happens on failure).
    let early = tokio::select! {
        signal = wait_for_stop_signal() => {
            signal?;
            say!("stopping: finishing in-flight writes and running tasks");
            None
        }
        ended = &mut web => Some(Part::Web(ended)),
        ended = &mut scheduler_loop => Some(Part::Scheduler(ended)),
        ended = &mut stream => Some(Part::Stream(ended)),
    };
    shutdown.cancel();
    let mut failures: Vec<UpError> = Vec::new();
    let (mut web_done, mut scheduler_done, mut stream_done) = (None, None, None);
    match early {
        Some(Part::Web(r)) => web_done = Some(r),
        Some(Part::Scheduler(r)) => scheduler_done = Some(r),
        Some(Part::Stream(r)) => stream_done = Some(r),
        None => {}
    }
    let stream_result = match stream_done {
        Some(r) => r,
        None => stream.await,
    };
    match stream_result {
        Ok(Ok(summaries)) => {
            for s in summaries {
                match &s.failed {
                    Some(error) => say!("  {}: {error}", s.pipeline),
                    None => say!(
                        "  {}: consumed {}, written {}, dead-lettered {}",
                        s.pipeline,
                        s.consumed,
                        s.written,
                        s.dead_lettered
                    ),
                }
            }
        }
        Ok(Err(e)) => failures.push(UpError::Stream(Box::new(e))),
        Err(e) => failures.push(stopped_unexpectedly("stream job", e)),
    }
    let scheduler_result = match scheduler_done {
        Some(r) => r,
        None => scheduler_loop.await,
    };
    match scheduler_result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => failures.push(e.into()),
        Err(e) => failures.push(stopped_unexpectedly("scheduler", e)),
    }
    let web_result = match web_done {
        Some(r) => r,
        None => web.await,
    };
    match web_result {
        Ok(Ok(())) => {}
        Ok(Err(source)) => failures.push(web_error(source)),
        Err(e) => failures.push(stopped_unexpectedly("web UI", e)),
    }
    match failures.into_iter().next() {
        Some(first) => Err(first),
        None => Ok(()),
    }
}

/// A part of `up` that ended before the stop signal.
enum Part {
    Web(Result<Result<(), crate::web::WebError>, tokio::task::JoinError>),
    Scheduler(Result<Result<(), crate::scheduler::SchedulerError>, tokio::task::JoinError>),
    Stream(
        Result<
            Result<Vec<crate::stream::PipelineSummary>, crate::stream::StreamError>,
            tokio::task::JoinError,
        >,
    ),
}

fn stopped_unexpectedly(part: &str, e: tokio::task::JoinError) -> UpError {
    UpError::Stream(Box::new(crate::stream::StreamError::Consumer(format!(
        "the {part} stopped unexpectedly: {e}"
    ))))
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
