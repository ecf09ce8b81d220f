//! The stream job's Prometheus metrics (`cassflow_*`), labelled by pipeline. Every count a
//! log line reports comes from here, so logs and metrics agree.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::{Arc, OnceLock};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PipelineLabel {
    pub pipeline: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub pipeline: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ColumnLabel {
    pub pipeline: String,
    /// A column of the pipeline's table (or bind marker of its query), `__ttl`, `__timestamp`.
    pub column: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub pipeline: String,
    /// One of [`super::status::State::label`].
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub pipeline: String,
    pub partition: i32,
}

#[derive(Debug)]
pub struct StreamMetrics {
    pub consumed: Family<PipelineLabel, Counter>,
    pub written: Family<PipelineLabel, Counter>,
    pub dead_letters: Family<ReasonLabel, Counter>,
    pub retries: Family<PipelineLabel, Counter>,
    pub unknown_fields: Family<PipelineLabel, Counter>,
    pub timestamps_clamped: Family<PipelineLabel, Counter>,
    pub in_flight: Family<PipelineLabel, Gauge>,
    pub paused: Family<PipelineLabel, Gauge>,
    /// 1 for the pipeline's current state, 0 for the others (see [`super::status`]).
    pub state: Family<StateLabel, Gauge>,
    /// 1 for the reason the pipeline is paused, 0 for the others.
    pub paused_by: Family<ReasonLabel, Gauge>,
    pub replans: Family<PipelineLabel, Counter>,
    pub lag: Family<PartitionLabel, Gauge>,
    pub write_latency: Family<PipelineLabel, Histogram, fn() -> Histogram>,
    pub field_absent: Family<ColumnLabel, Counter>,
    pub uncertain_writes: Family<PipelineLabel, Counter>,
    pub batches: Family<PipelineLabel, Counter>,
    pub batched_rows: Family<PipelineLabel, Counter>,
    pub batch_rows_rewritten: Family<PipelineLabel, Counter>,
}

/// One pipeline's series (clones share the series they were taken from).
#[derive(Debug, Clone)]
pub struct PipelineMetrics {
    pub consumed: Counter,
    pub written: Counter,
    pub retries: Counter,
    pub unknown_fields: Counter,
    pub timestamps_clamped: Counter,
    pub in_flight: Gauge,
    pub paused: Gauge,
    pub replans: Counter,
    pub write_latency: Histogram,
    pub uncertain_writes: Counter,
    /// UNLOGGED batches of two rows or more sent (see [`super::batch`]).
    pub batches: Counter,
    /// Rows sent in those batches.
    pub batched_rows: Counter,
    /// Rows of batches Cassandra refused, written again on their own.
    pub batch_rows_rewritten: Counter,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~6.5 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl StreamMetrics {
    fn new() -> Self {
        StreamMetrics {
            consumed: Family::default(),
            written: Family::default(),
            dead_letters: Family::default(),
            retries: Family::default(),
            unknown_fields: Family::default(),
            timestamps_clamped: Family::default(),
            in_flight: Family::default(),
            paused: Family::default(),
            state: Family::default(),
            paused_by: Family::default(),
            replans: Family::default(),
            lag: Family::default(),
            write_latency: Family::new_with_constructor(latency_histogram),
            field_absent: Family::default(),
            uncertain_writes: Family::default(),
            batches: Family::default(),
            batched_rows: Family::default(),
            batch_rows_rewritten: Family::default(),
        }
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "cassflow_records_consumed",
            "Messages read from Kafka",
            self.consumed.clone(),
        );
        registry.register(
            "cassflow_records_written",
            "Rows written to Cassandra",
            self.written.clone(),
        );
        registry.register(
            "cassflow_dead_letters",
            "Messages sent to the dead-letter topic, by reason",
            self.dead_letters.clone(),
        );
        registry.register(
            "cassflow_write_retries",
            "Cassandra writes retried after a transient failure",
            self.retries.clone(),
        );
        registry.register(
            "cassflow_unknown_fields",
            "Unknown record fields ignored",
            self.unknown_fields.clone(),
        );
        registry.register(
            "cassflow_timestamps_clamped",
            "Records stamped too far in the future, written at the current time instead",
            self.timestamps_clamped.clone(),
        );
        registry.register(
            "cassflow_writes_in_flight",
            "Records being written or dead-lettered now",
            self.in_flight.clone(),
        );
        registry.register(
            "cassflow_stream_paused",
            "1 while partitions are paused for an outage (Cassandra or the schema registry)",
            self.paused.clone(),
        );
        registry.register(
            "cassflow_pipeline_state",
            "1 for the pipeline's state (starting, running, paused, failed, stopped), 0 for the others",
            self.state.clone(),
        );
        registry.register(
            "cassflow_pipeline_paused",
            "1 while the pipeline is paused for this reason (cassandra_unavailable, unauthorized, schema, registry_unavailable)",
            self.paused_by.clone(),
        );
        registry.register(
            "cassflow_schema_replans",
            "Times the pipeline re-read its table and re-prepared its upsert after a schema change",
            self.replans.clone(),
        );
        registry.register(
            "cassflow_consumer_lag",
            "Messages behind the partition's end",
            self.lag.clone(),
        );
        registry.register(
            "cassflow_write_latency_seconds",
            "Time of one successful Cassandra write of a record, its wait for a batch included",
            self.write_latency.clone(),
        );
        registry.register(
            "cassflow_stream_field_absent",
            "Records whose mapped field for this column was absent (the column was left unset); a steady rate often means a typo in `columns`",
            self.field_absent.clone(),
        );
        registry.register(
            "cassflow_stream_uncertain_writes",
            "Writes that are not idempotent (a counter increment, a custom query's UPDATE such as a list append) that failed in a way that may have applied them (a timeout), and were retried: they may apply twice",
            self.uncertain_writes.clone(),
        );
        registry.register(
            "cassflow_write_batches",
            "UNLOGGED batches of two rows or more sent (stream.batch_grouping); rows per batch = cassflow_batched_rows / this",
            self.batches.clone(),
        );
        registry.register(
            "cassflow_batched_rows",
            "Rows sent in batches of two rows or more (successful or not; a refused batch's rows are then written one by one)",
            self.batched_rows.clone(),
        );
        registry.register(
            "cassflow_batch_rows_rewritten",
            "Rows of batches Cassandra refused (for one bad row, which a batch cannot name), written again one by one so that only the bad row is dead-lettered",
            self.batch_rows_rewritten.clone(),
        );
    }

    /// The handles of one pipeline's metrics, looked up once: a family lookup hashes the
    /// label and takes a lock, too much to do several times per record.
    pub fn pipeline(&self, pipeline: &str) -> PipelineMetrics {
        let label = PipelineLabel {
            pipeline: pipeline.to_string(),
        };
        PipelineMetrics {
            consumed: self.consumed.get_or_create(&label).clone(),
            written: self.written.get_or_create(&label).clone(),
            retries: self.retries.get_or_create(&label).clone(),
            unknown_fields: self.unknown_fields.get_or_create(&label).clone(),
            timestamps_clamped: self.timestamps_clamped.get_or_create(&label).clone(),
            in_flight: self.in_flight.get_or_create(&label).clone(),
            paused: self.paused.get_or_create(&label).clone(),
            replans: self.replans.get_or_create(&label).clone(),
            write_latency: self.write_latency.get_or_create(&label).clone(),
            uncertain_writes: self.uncertain_writes.get_or_create(&label).clone(),
            batches: self.batches.get_or_create(&label).clone(),
            batched_rows: self.batched_rows.get_or_create(&label).clone(),
            batch_rows_rewritten: self.batch_rows_rewritten.get_or_create(&label).clone(),
        }
    }

    /// The absent-field counter of one column (looked up once per plan, not per record).
    pub fn field_absent(&self, pipeline: &str, column: &str) -> Counter {
        self.field_absent
            .get_or_create(&ColumnLabel {
                pipeline: pipeline.to_string(),
                column: column.to_string(),
            })
            .clone()
    }

    pub fn set_lag(&self, pipeline: &str, partition: i32, lag: i64) {
        self.lag
            .get_or_create(&PartitionLabel {
                pipeline: pipeline.into(),
                partition,
            })
            .set(lag);
    }

    pub fn clear_lag(&self, pipeline: &str, partition: i32) {
        self.lag.remove(&PartitionLabel {
            pipeline: pipeline.into(),
            partition,
        });
    }
}

struct Global {
    registry: std::sync::Mutex<Registry>,
    stream: Arc<StreamMetrics>,
}

fn global() -> &'static Global {
    static GLOBAL: OnceLock<Global> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let mut registry = Registry::default();
        let stream = Arc::new(StreamMetrics::new());
        stream.register(&mut registry);
        Global {
            registry: std::sync::Mutex::new(registry),
            stream,
        }
    })
}

/// Adds metrics of another part of cassflow (e.g. `up`'s supervisor) to the process's
/// registry, so `/metrics` serves them beside the stream's.
pub fn register_with(register: impl FnOnce(&mut Registry)) {
    match global().registry.lock() {
        Ok(mut registry) => register(&mut registry),
        Err(poisoned) => register(&mut poisoned.into_inner()),
    }
}

/// The process's stream metrics.
pub fn stream_metrics() -> Arc<StreamMetrics> {
    global().stream.clone()
}

/// Every registered metric in the Prometheus text format.
pub fn encode() -> String {
    let mut out = String::new();
    if let Ok(registry) = global().registry.lock() {
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    }
    out
}

/// The most recent error a pipeline reported (a dead letter's reason, a failed write, a
/// Kafka error), for the web UI's Stream page; errors are not metric labels.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LastError {
    pub at: chrono::DateTime<chrono::Utc>,
    pub message: String,
}

fn last_error_slots() -> &'static std::sync::Mutex<std::collections::HashMap<String, LastError>> {
    static SLOTS: OnceLock<std::sync::Mutex<std::collections::HashMap<String, LastError>>> =
        OnceLock::new();
    SLOTS.get_or_init(Default::default)
}

/// Records `message` as `pipeline`'s most recent error (kept to one bounded line).
pub fn note_error(pipeline: &str, message: &str) {
    let message: String = message.chars().take(500).collect();
    if let Ok(mut slots) = last_error_slots().lock() {
        slots.insert(
            pipeline.to_string(),
            LastError {
                at: chrono::Utc::now(),
                message,
            },
        );
    }
}

/// `pipeline`'s most recent error, if it reported one in this process.
pub fn last_error(pipeline: &str) -> Option<LastError> {
    last_error_slots().lock().ok()?.get(pipeline).cloned()
}

/// Serves `/metrics` on `bind` until `shutdown` (used when the web UI is not running).
pub async fn serve(
    bind: std::net::SocketAddr,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async {
            (
                [(
                    "content-type",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                encode(),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!(%bind, "serving Prometheus metrics at /metrics");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_handles_count_into_the_family() {
        let metrics = stream_metrics();
        let handles = metrics.pipeline("handles-test");
        handles.consumed.inc_by(3);
        metrics.pipeline("handles-test").consumed.inc();
        let label = PipelineLabel {
            pipeline: "handles-test".into(),
        };
        assert_eq!(metrics.consumed.get_or_create(&label).get(), 4);
    }

    #[test]
    fn absent_fields_and_uncertain_writes_are_exported_per_column_and_pipeline() {
        let metrics = stream_metrics();
        metrics.field_absent("absent-test", "email").inc();
        metrics.pipeline("absent-test").uncertain_writes.inc();
        let text = encode();
        assert!(
            text.contains(
                r#"cassflow_stream_field_absent_total{pipeline="absent-test",column="email"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"cassflow_stream_uncertain_writes_total{pipeline="absent-test"} 1"#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn metrics_are_served_in_prometheus_text() {
        let metrics = stream_metrics();
        metrics
            .written
            .get_or_create(&PipelineLabel {
                pipeline: "metrics-test".into(),
            })
            .inc_by(7);
        metrics
            .write_latency
            .get_or_create(&PipelineLabel {
                pipeline: "metrics-test".into(),
            })
            .observe(0.002);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let bind = listener.local_addr().expect("addr");
        drop(listener);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let server = tokio::spawn(serve(bind, shutdown.clone()));
        let url = format!("http://{bind}/metrics");
        let mut body = String::new();
        for _ in 0..50 {
            if let Ok(resp) = reqwest::get(&url).await {
                body = resp.text().await.unwrap_or_default();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            body.contains("cassflow_records_written_total{pipeline=\"metrics-test\"} 7"),
            "{body}"
        );
        assert!(
            body.contains("# TYPE cassflow_write_latency_seconds histogram"),
            "{body}"
        );
        shutdown.cancel();
        let _ = server.await;
    }
}
