//! A Cassandra outage in the middle of a load: the stream job pauses its partitions (memory
//! stays bounded: no more than `max_in_flight` records in flight), keeps retrying, resumes on
//! its own when Cassandra is back, and everything arrives; its log says so once (pause and
//! end), not once per record in flight. Uses a private Cassandra so the shared test stack
//! stays up for the other tests.

mod common;

use cassflow::local::{LocalStack, Server};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The process's log lines at info and above (both tests of this file write into it).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = self.0.lock() {
            logs.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    /// Installs the capture once for the whole test binary.
    fn capture() -> Logs {
        static LOGS: OnceLock<Logs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Logs::default();
            let _ = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::INFO)
                .with_ansi(false)
                .with_writer(logs.clone())
                .try_init();
            logs
        })
        .clone()
    }

    fn lines_with(&self, text: &str) -> Vec<String> {
        let logs = self.0.lock().map(|l| l.clone()).unwrap_or_default();
        String::from_utf8_lossy(&logs)
            .lines()
            .filter(|l| l.contains(text))
            .map(str::to_owned)
            .collect()
    }
}

/// The value of one metric line, e.g. `cassflow_stream_paused{pipeline="x"}`.
fn metric(name: &str, pipeline: &str) -> Option<f64> {
    let prefix = format!("{name}{{pipeline=\"{pipeline}\"}} ");
    cassflow::stream::metrics::encode()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).and_then(|v| v.trim().parse().ok()))
}

/// Produces `records`, starts the pipeline, and waits until it has written 1,000 rows (so
/// the outage that follows happens mid-load); returns the rows written by then too.
async fn start_writing(
    config: &cassflow::config::Config,
    pipeline: &cassflow::config::PipelineConfig,
    records: &[cassflow::record::UserRecord],
) -> (
    tokio::task::JoinHandle<cassflow::stream::PipelineSummary>,
    CancellationToken,
    scylla::client::session::Session,
    i64,
) {
    common::produce(config, &pipeline.topic, records).await;
    let shutdown = CancellationToken::new();
    let job = common::spawn_pipeline(config, pipeline, &shutdown);
    let session = common::session(config).await;
    let before = common::wait_for_rows(
        &session,
        &pipeline.keyspace,
        &pipeline.table,
        1_000,
        Duration::from_secs(120),
    )
    .await;
    assert!(before >= 1_000, "writing before the outage");
    (job, shutdown, session, before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cassandra_outage_pauses_then_resumes_with_nothing_lost() {
    let logs = Logs::capture();
    let shared = common::stack().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = shared.clone();
    let [cql, storage] = common::free_ports();
    config.cassandra.contact_points = format!("127.0.0.1:{cql}");
    config.local.cassandra_storage_port = storage;
    config.local.data_dir = dir.path().to_path_buf();
    config.local.cassandra_heap = "512m".into();
    config.stream.max_in_flight = 64;
    config.stream.retry_max_backoff = Duration::from_secs(1);
    let cassandra = LocalStack::new(&config);
    cassandra
        .start_only(&[Server::Cassandra])
        .await
        .expect("private Cassandra starts");

    let pipeline = common::users_pipeline("outage");
    let records = common::users(30_000, "outage");
    let (job, shutdown, session, before) = start_writing(&config, &pipeline, &records).await;
    drop(session);

    cassandra
        .stop_only(&[Server::Cassandra])
        .await
        .expect("stop Cassandra");
    // Down for 30 s: the job must notice, pause, and hold no more than max_in_flight.
    let mut saw_pause = false;
    for _ in 0..60 {
        if metric("cassflow_stream_paused", &pipeline.name) == Some(1.0) {
            saw_pause = true;
        }
        let in_flight = metric("cassflow_writes_in_flight", &pipeline.name).unwrap_or(0.0);
        assert!(in_flight <= 64.0, "in flight stays bounded: {in_flight}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(saw_pause, "partitions were paused during the outage");
    assert!(!job.is_finished(), "the job survives the outage");

    cassandra
        .start_only(&[Server::Cassandra])
        .await
        .expect("Cassandra restarts");
    let session = common::session(&config).await;
    common::assert_table_holds(&session, &pipeline, &records).await;
    assert_eq!(
        metric("cassflow_stream_paused", &pipeline.name),
        Some(0.0),
        "resumed on its own"
    );

    shutdown.cancel();
    let summary = job.await.expect("job");
    assert!(summary.written >= 30_000 - before as u64, "{summary:?}");

    // Said once by the pipeline, not once per record in flight (those are debug lines).
    for per_record in ["write failed, retrying", "write succeeded after retries"] {
        let lines = logs.lines_with(per_record);
        assert!(
            lines.is_empty(),
            "{} at info or above: {:?}",
            lines.len(),
            lines.first()
        );
    }
    let ours = format!("pipeline={}", pipeline.name);
    let paused: Vec<String> = logs
        .lines_with("pipeline paused until they succeed")
        .into_iter()
        .filter(|l| l.contains(&ours))
        .collect();
    let resumed: Vec<String> = logs
        .lines_with("writes succeed again: pipeline running")
        .into_iter()
        .filter(|l| l.contains(&ours))
        .collect();
    assert!(!paused.is_empty(), "the pause is logged");
    assert_eq!(
        paused.len(),
        resumed.len(),
        "each pause ends once: {paused:?} {resumed:?}"
    );
    assert!(
        resumed
            .iter()
            .all(|l| l.contains("paused_s=") && l.contains("records_waited=")),
        "the end says how long and how many waited: {resumed:?}"
    );
    assert!(
        logs.lines_with("pausing partitions").is_empty(),
        "the partitions' pause is the pipeline's, said once"
    );
    cassandra
        .stop_only(&[Server::Cassandra])
        .await
        .expect("stop private Cassandra");
}

/// A Kafka outage in the middle of a load: the job keeps running (librdkafka reconnects; the
/// job logs the outage once and its end), writes nothing twice that matters, loses nothing, and
/// picks up records produced after the broker is back. Uses a private Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_outage_is_survived_and_the_job_resumes_with_nothing_lost() {
    let logs = Logs::capture();
    let shared = common::stack().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, kafka) = common::private_kafka(&shared, dir.path()).await;

    let pipeline = common::users_pipeline("kafka_outage");
    let first = common::users(20_000, "kafka-outage-1");
    let (job, shutdown, session, _) = start_writing(&config, &pipeline, &first).await;

    kafka.stop_only(&[Server::Kafka]).await.expect("stop Kafka");
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(!job.is_finished(), "the job survives the Kafka outage");

    kafka
        .start_only(&[Server::Kafka])
        .await
        .expect("Kafka restarts");
    let second = common::users(20_000, "kafka-outage-2");
    common::produce(&config, &pipeline.topic, &second).await;
    common::assert_table_holds(&session, &pipeline, first.iter().chain(&second)).await;

    shutdown.cancel();
    let summary = job.await.expect("job");
    assert_eq!(summary.dead_lettered, 0, "{summary:?}");

    // The pipeline says the outage and its end; librdkafka's reconnect lines are debug.
    let ours = format!("pipeline={}", pipeline.name);
    let said = |text: &str| -> Vec<String> {
        logs.lines_with(text)
            .into_iter()
            .filter(|l| l.contains(&ours))
            .collect()
    };
    let down = said("Kafka does not answer");
    let up = said("Kafka answers again");
    assert!(!down.is_empty(), "the outage is logged");
    assert!(
        up.iter()
            .all(|l| l.contains("down_s=") && l.contains("errors=")),
        "{up:?}"
    );
    assert!(!up.is_empty(), "its end is logged: {down:?}");
    let raw = logs.lines_with(" librdkafka: ");
    assert!(
        raw.is_empty(),
        "{} librdkafka lines: {:?}",
        raw.len(),
        raw.first()
    );
    kafka.stop().await.expect("stop private Kafka");
}
