//! Producer throughput: cassflow's producer (a worker process sending pre-encoded records,
//! keyed by id) against Kafka's own `kafka-producer-perf-test`
//! (`org.apache.kafka.tools.ProducerPerformance`, the same Kafka version as the broker)
//! with the same record count, the same payloads and the same producer settings.

use super::worker::{WorkerResult, WorkerSpec};
use crate::bench::measure::procstat::Footprint;
use crate::bench::run::{spawn_logged, wait_sampled, SEED};
use crate::bench::{peers::install, BenchError, BenchOptions};
use crate::config::Config;
use crate::registry::users::ProducedFormat;
use crate::source::generator::Generator;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use tokio::process::Command;

/// One producer's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProducerResult {
    pub tool: String,
    pub records: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub records_per_second: f64,
    pub mb_per_second: f64,
    pub footprint: Footprint,
    pub settings: String,
}

impl ProducerResult {
    pub fn line(&self) -> String {
        format!(
            "{}: {} records in {:.1}s = {:.0} records/s, {:.1} MB/s (peak RSS {:.0} MB, CPU {:.1}s)",
            self.tool,
            self.records,
            self.seconds,
            self.records_per_second,
            self.mb_per_second,
            self.footprint.peak_rss_bytes as f64 / 1e6,
            self.footprint.cpu_seconds
        )
    }
}

fn settings(config: &Config) -> String {
    format!(
        "acks=all, enable.idempotence=true, compression.type={}, linger.ms={}, batch.size={}",
        config.producer.compression,
        config.producer.linger.as_millis(),
        config.producer.batch_bytes
    )
}

/// Runs a worker process and returns its result line and footprint.
pub async fn run_worker(
    bin: &Path,
    spec: &WorkerSpec,
    log: &Path,
) -> Result<(WorkerResult, Footprint), BenchError> {
    let spec_json = serde_json::to_string(spec).map_err(|e| BenchError::Verify(e.to_string()))?;
    let result_path = log.with_extension("json");
    let mut command = Command::new(bin);
    command
        .arg("bench-worker")
        .arg(&spec_json)
        .arg("--result")
        .arg(&result_path);
    let mut child = spawn_logged(command, log)?;
    let (status, footprint) = wait_sampled(&mut child).await;
    let status = status.map_err(|source| BenchError::Io {
        context: "wait for a bench worker".into(),
        source,
    })?;
    let fail = |detail: String| BenchError::Peer {
        peer: "bench worker".into(),
        detail: format!("{detail} (log: {})", log.display()),
    };
    if !status.success() {
        return Err(fail(format!("exited with {status}")));
    }
    let text = std::fs::read_to_string(&result_path).map_err(|e| fail(e.to_string()))?;
    let result: WorkerResult = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    // A worker that ended between two samples reports what it used itself.
    let footprint = match &result.footprint {
        Some(own) => Footprint {
            peak_rss_bytes: footprint.peak_rss_bytes.max(own.peak_rss_bytes),
            cpu_seconds: footprint.cpu_seconds.max(own.cpu_seconds),
            processes: footprint.processes.max(own.processes),
        },
        None => footprint,
    };
    Ok((result, footprint))
}

/// cassflow's producer fills `topic` with the bench's records: as JSON, or in the wire
/// format of `wire` (a registry format and its schema's id).
pub async fn run_cassflow(
    config: &Config,
    opts: &BenchOptions,
    topic: &str,
    work_dir: &Path,
    wire: Option<(ProducedFormat, u32)>,
) -> Result<ProducerResult, BenchError> {
    let spec = WorkerSpec::Produce {
        kafka: config.kafka.clone(),
        producer: config.producer.clone(),
        topic: topic.to_string(),
        records: opts.records,
        seed: SEED.into(),
        wire,
    };
    let log = match wire {
        Some(_) => "producer-wire.log",
        None => "producer.log",
    };
    let (r, footprint) = run_worker(&opts.cassflow_bin, &spec, &work_dir.join(log)).await?;
    if r.failed > 0 {
        return Err(BenchError::Verify(format!(
            "cassflow's producer: {} deliveries failed (log: {})",
            r.failed,
            work_dir.join(log).display()
        )));
    }
    Ok(ProducerResult {
        tool: match wire {
            Some((format, _)) => format!("cassflow producer ({format:?})"),
            None => "cassflow producer".into(),
        },
        records: r.records,
        bytes: r.bytes,
        seconds: r.seconds,
        records_per_second: r.records as f64 / r.seconds.max(1e-9),
        mb_per_second: r.bytes as f64 / 1e6 / r.seconds.max(1e-9),
        footprint,
        settings: format!("{}, key = record id", settings(config)),
    })
}

/// Kafka's perf-test tool with the same count, payloads and settings, into its own topic.
pub async fn run_perf_test(
    config: &Config,
    opts: &BenchOptions,
    bench_cache: &Path,
    work_dir: &Path,
    topic: &str,
) -> Result<ProducerResult, BenchError> {
    let version = &config.local.kafka_version;
    let lib = install::maven_jars(
        &config.local.maven,
        &bench_cache.join(format!("kafka-tools-{version}")),
        install::KAFKA_TOOLS_POM,
        &[("kafka.version", version)],
    )
    .await?;
    // The tool draws each record from this file; these are the records cassflow sent.
    let payloads = work_dir.join("payloads.txt");
    let mut bytes = 0u64;
    {
        let file = std::fs::File::create(&payloads).map_err(|source| BenchError::Io {
            context: format!("create {}", payloads.display()),
            source,
        })?;
        let mut out = std::io::BufWriter::new(file);
        for r in Generator::new(Some(SEED)).take(opts.records.min(100_000) as usize) {
            let json = r.to_json();
            bytes += json.len() as u64;
            let _ = writeln!(out, "{json}");
        }
        out.flush().map_err(|source| BenchError::Io {
            context: format!("write {}", payloads.display()),
            source,
        })?;
    }
    let avg_bytes = bytes as f64 / opts.records.clamp(1, 100_000) as f64;
    crate::kafka::admin::ensure_topic(&config.kafka, topic, opts.partitions, 1).await?;
    let log = work_dir.join("perf-test.log");
    let mut command = Command::new(&config.local.java);
    command
        .arg("-Xmx512m")
        .arg("-cp")
        .arg(format!("{}/*", lib.display()))
        .arg("org.apache.kafka.tools.ProducerPerformance")
        .args(["--topic", topic])
        .args(["--num-records", &opts.records.to_string()])
        .args(["--throughput", "-1"])
        .arg("--payload-file")
        .arg(&payloads)
        .arg("--producer-props")
        .arg(format!("bootstrap.servers={}", config.kafka.bootstrap))
        .arg("acks=all")
        .arg("enable.idempotence=true")
        .arg(format!("compression.type={}", config.producer.compression))
        .arg(format!("linger.ms={}", config.producer.linger.as_millis()))
        .arg(format!("batch.size={}", config.producer.batch_bytes));
    let mut child = spawn_logged(command, &log)?;
    let (status, footprint) = wait_sampled(&mut child).await;
    let status = status.map_err(|source| BenchError::Io {
        context: "wait for kafka-producer-perf-test".into(),
        source,
    })?;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let fail = |detail: &str| BenchError::Peer {
        peer: "kafka-producer-perf-test".into(),
        detail: format!("{detail} (log: {})", log.display()),
    };
    if !status.success() {
        return Err(fail(&format!("exited with {status}")));
    }
    let (records, rate) = parse_summary(&text).ok_or_else(|| fail("no summary line"))?;
    Ok(ProducerResult {
        tool: format!("kafka-producer-perf-test {version}"),
        records,
        bytes: (records as f64 * avg_bytes) as u64,
        seconds: records as f64 / rate.max(1e-9),
        records_per_second: rate,
        mb_per_second: rate * avg_bytes / 1e6,
        footprint,
        settings: format!(
            "{}, no key (the tool sends none), -Xmx512m",
            settings(config)
        ),
    })
}

/// `1000000 records sent, 98532.3 records/sec (38.21 MB/sec), ...` -> (count, rate).
fn parse_summary(text: &str) -> Option<(u64, f64)> {
    let line = text.lines().rev().find(|l| l.contains("records sent,"))?;
    let mut words = line.split_whitespace();
    let records = words.next()?.parse().ok()?;
    let rate = line
        .split(", ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((records, rate))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_perf_test_summary() {
        let text = "50000 records sent, 10000.0 records/sec (3.81 MB/sec), 3.1 ms avg latency.\n\
                    1000000 records sent, 98532.3 records/sec (38.21 MB/sec), 12.40 ms avg latency, 345.00 ms max latency, 9 ms 50th, 30 ms 95th, 60 ms 99th, 120 ms 99.9th.";
        assert_eq!(super::parse_summary(text), Some((1_000_000, 98532.3)));
    }
}
