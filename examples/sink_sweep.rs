//! Picks `stream.max_in_flight` by measurement: fills a topic once, then drains it into a
//! fresh table with each candidate value and prints records/s. In-process, one instance.
//! Run against a running stack (e.g. the test stack):
//!   cargo run --release --example sink_sweep -- tests/stack.toml 200000 16,64,256,1024

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
    for (round, mif) in candidates.iter().enumerate() {
        config.stream.max_in_flight = *mif;
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
        loop {
            let written = stream_metrics().written.get_or_create(&label).get();
            if written > 0 && first.is_none() {
                first = Some(Instant::now());
            }
            if written >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = first.map(|f| f.elapsed()).unwrap_or_default();
        shutdown.cancel();
        let _ = job.await?;
        println!(
            "max_in_flight {mif:>5}: {n} records in {:.2}s after the first write = {:.0} records/s",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}
