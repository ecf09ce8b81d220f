//! Picks `stream.max_in_flight` and `stream.batch_max_rows` by measurement: fills a topic
//! once, then drains it into a fresh table with each pair of candidate values and prints
//! records/s, the process's and the stack's Cassandra's CPU per record, and how full the
//! batches were; each candidate's table is dropped before the next, and the topic at the
//! end. In-process, one instance. Run against a running stack (e.g. the test stack):
//!   cargo run --release --example sink_sweep -- tests/stack.toml 200000 16,64,256,1024 1,8

use cassflow::config::PipelineConfig;
use cassflow::produce::{produce, Limit, ProduceRequest};
use cassflow::stream::metrics::{stream_metrics, PipelineLabel};
use indicatif::ProgressBar;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let config_path = args.next().unwrap_or_else(|| "tests/stack.toml".into());
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let candidates: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "16,64,256,1024".into())
        .split(',')
        .filter_map(|v| v.parse().ok())
        .collect();
    let batch_rows: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "1,8".into())
        .split(',')
        .filter_map(|v| v.parse().ok())
        .collect();
    let candidates: Vec<(usize, usize)> = candidates
        .iter()
        .flat_map(|m| batch_rows.iter().map(move |b| (*m, *b)))
        .collect();
    let mut config = cassflow::config::load(Some(std::path::Path::new(&config_path)))?;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let topic = format!("sweep_{tag}");
    let request = ProduceRequest {
        topic: topic.clone(),
        source: cassflow::config::SourceKind::Generator,
        limit: Limit::Count(n),
        rate: None,
        raw: false,
        format: cassflow::config::RecordFormat::Users,
        key: None,
        wire: None,
    };
    let summary = produce(
        &config,
        &request,
        &ProgressBar::hidden(),
        &CancellationToken::new(),
    )
    .await?;
    println!("filled: {summary}");
    let server = cassflow::bench::measure::server_cpu::ServerCpu::find(&config);
    let session = cassflow::cassandra::connect(&config.cassandra).await?;
    for (round, (mif, rows)) in candidates.iter().enumerate() {
        config.stream.max_in_flight = *mif;
        config.stream.batch_max_rows = *rows;
        let pipeline = PipelineConfig {
            name: format!("sweep{round}_{tag}"),
            topic: topic.clone(),
            keyspace: format!("sweep{round}_{tag}"),
            group_id: Some(format!("sweep{round}_{tag}")),
            ..PipelineConfig::default()
        };
        let label = PipelineLabel {
            pipeline: pipeline.name.clone(),
        };
        let shutdown = CancellationToken::new();
        let job = {
            let (config, pipeline, shutdown) = (config.clone(), pipeline.clone(), shutdown.clone());
            tokio::spawn(async move {
                cassflow::stream::run_pipeline(&config, &pipeline, None, shutdown).await
            })
        };
        let mut first: Option<Instant> = None;
        let mut cpu_at_first = 0.0;
        let mut server_at_first = None;
        loop {
            let written = stream_metrics().written.get_or_create(&label).get();
            if written > 0 && first.is_none() {
                first = Some(Instant::now());
                cpu_at_first = cpu_seconds();
                server_at_first = server.seconds();
            }
            if written >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = first.map(|f| f.elapsed()).unwrap_or_default();
        let cpu = cpu_seconds() - cpu_at_first;
        let server_cpu = server
            .seconds()
            .zip(server_at_first)
            .map_or("-".to_string(), |(after, before)| {
                format!("{:.1}", (after - before) * 1e6 / n as f64)
            });
        shutdown.cancel();
        let _ = job.await?;
        let metrics = stream_metrics().pipeline(&pipeline.name);
        println!(
            "max_in_flight {mif:>5}, batch_max_rows {rows:>3}: {n} records in {:.2}s after the first write = {:.0} records/s, {:.1} us CPU/record, Cassandra {server_cpu} us CPU/record, {} batches of {:.2} rows, {} rows alone",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64().max(1e-9),
            cpu * 1e6 / n as f64,
            metrics.batches.get(),
            metrics.batched_rows.get() as f64 / metrics.batches.get().max(1) as f64,
            metrics.written.get().saturating_sub(metrics.batched_rows.get()),
        );
        // Nothing of a candidate stays behind, nor runs on in the next one's window.
        cassflow::cassandra::schema::drop_keyspace(&session, &pipeline.keyspace).await?;
    }
    let topics = [topic.clone(), format!("{topic}.dlq")];
    cassflow::kafka::admin::delete_topics(&config.kafka, &topics).await?;
    Ok(())
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    cassflow::bench::measure::procstat::cpu_seconds(std::process::id()).unwrap_or(0.0)
}
