//! End-to-end latency at fixed rates: a sender produces records at R records/s with
//! cassflow's producer while a poller asks Cassandra for a sample of them (about 400 per
//! second) until each is readable. Latency = readable (the poll's answer) minus the moment
//! the record was handed to the producer, so it includes the producer's linger, Kafka, the
//! pipeline and the write. A sample is polled again after 5% of its age (at least 1 ms), so
//! the poll adds at most 5% (plus one read) to a figure; the samples due at once go in
//! requests of [`Reader::IN_LIMIT`] ids. At the end the table is counted. Each phase also
//! reads the Cassandra server's GC pauses in its time
//! ([`crate::bench::measure::server_pauses`]).

use crate::bench::measure::landing::{self, Reader, Target};
use crate::bench::measure::server_pauses::Pauses;
use crate::bench::run::{Ctx, PeerProcess, SEED};
use crate::bench::{say, BenchError, Peer};
use crate::produce::producer::RecordProducer;
use crate::source::generator::Generator;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use uuid::Uuid;

/// One peer at one rate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LatencyResult {
    pub pipeline: String,
    pub target_rate: u32,
    pub achieved_rate: f64,
    pub sent: u64,
    pub samples: usize,
    /// Samples never readable within a minute after the phase (none when reported).
    pub lost: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// Rows the poller asked Cassandra for per second (its load on the server).
    #[serde(default)]
    pub poll_reads_per_s: f64,
    /// The Cassandra server's GC pauses during the phase (None: not the local stack's).
    #[serde(default)]
    pub server_pauses: Option<Pauses>,
}

impl LatencyResult {
    pub fn line(&self) -> String {
        format!(
            "{} @ {}/s (achieved {:.0}/s): p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms over {} samples ({:.0} rows polled/s; Cassandra: {})",
            self.pipeline, self.target_rate, self.achieved_rate, self.p50_ms, self.p99_ms, self.p999_ms, self.max_ms, self.samples, self.poll_reads_per_s,
            self.server_pauses.map_or("GC not read".into(), |p| p.describe())
        )
    }
}

/// cassflow stream (one instance) at each rate.
pub async fn run_cassflow(ctx: &Ctx) -> Result<Vec<LatencyResult>, BenchError> {
    run_process(ctx, Peer::Cassflow, "cassflow x1", |topic, target, log| {
        let (config_path, _) = super::sink::stream_config(
            ctx,
            topic,
            crate::config::RecordFormat::Users,
            target,
            "latency",
            super::sink::StreamWrites::Default,
        )?;
        let child = super::sink::spawn_stream(ctx, &config_path, log)?;
        Ok(PeerProcess::new(child, log))
    })
    .await
}

/// One pipeline process, started by `spawn` on a fresh topic and table of its own, at
/// each rate; the process is stopped at the end whatever the outcome.
pub async fn run_process(
    ctx: &Ctx,
    peer: Peer,
    pipeline: &str,
    spawn: impl FnOnce(&str, &Target, &Path) -> Result<PeerProcess, BenchError>,
) -> Result<Vec<LatencyResult>, BenchError> {
    let topic = ctx.scratch.topic_for(&format!("latency_{}", peer.name()));
    crate::kafka::admin::ensure_topic(&ctx.config.kafka, &topic, ctx.opts.partitions, 1).await?;
    let target = ctx
        .scratch
        .fresh_table(&ctx.session, &ctx.config.cassandra)
        .await?;
    let log = ctx
        .work_dir
        .join(format!("{}-{}-latency.log", target.keyspace, peer.name()));
    say!(
        "    {pipeline}: topic {topic} into {} (log: {})",
        target.cql(),
        log.display()
    );
    let mut process = spawn(&topic, &target, &log)?;
    let outcome = measure_rates(ctx, pipeline, &topic, &target, &mut process).await;
    process.terminate(Duration::from_secs(40)).await;
    outcome
}

/// Warms the running pipeline up, then runs every configured rate through it.
async fn measure_rates(
    ctx: &Ctx,
    pipeline: &str,
    topic: &str,
    target: &Target,
    process: &mut PeerProcess,
) -> Result<Vec<LatencyResult>, BenchError> {
    let mut producer = RecordProducer::new(&ctx.config.kafka, &ctx.config.producer, topic)?;
    let mut generator = Generator::new(Some(&format!("{SEED}-latency-{pipeline}")));
    let reader = Reader::new(&ctx.session, target).await?;
    // Warm-up: one record every 200 ms until one is readable (Spark takes a while to start).
    let warm_start = Instant::now();
    let mut warm_ids = Vec::new();
    loop {
        let r = generator.next_user();
        producer
            .send_bytes(
                Some(r.id.to_string().as_bytes()),
                r.to_json().as_bytes(),
                None,
            )
            .await?;
        warm_ids.push(r.id);
        tokio::time::sleep(Duration::from_millis(200)).await;
        if !reader
            .readable_any(&ctx.session, &warm_ids)
            .await
            .is_empty()
        {
            break;
        }
        process.check().map_err(|detail| failed(pipeline, detail))?;
        if warm_start.elapsed() > Duration::from_secs(300) {
            return Err(BenchError::Peer {
                peer: pipeline.to_string(),
                detail: format!(
                    "no row readable 300 s after start (log: {})",
                    process.log.display()
                ),
            });
        }
    }
    let mut total = warm_ids.len() as u64;
    // First a discarded phase at the first rate, so JIT compilers and connection pools are
    // warm before anything is measured (every peer gets the same); then one phase per rate.
    let warm_up = ctx.opts.latency_rates.first().map(|first| {
        let warm = ctx.opts.latency_duration.min(Duration::from_secs(10));
        (*first, warm, false)
    });
    let measured = ctx
        .opts
        .latency_rates
        .iter()
        .map(|rate| (*rate, ctx.opts.latency_duration, true));
    let mut results = Vec::new();
    for (rate, duration, reported) in warm_up.into_iter().chain(measured) {
        let (r, p) = phase(
            ctx,
            pipeline,
            rate,
            duration,
            producer,
            &mut generator,
            &reader,
            process,
        )
        .await?;
        producer = p;
        total += r.sent;
        if !reported {
            say!("    warm-up (not reported): {}", r.line());
            continue;
        }
        say!("    {}", r.line());
        if r.lost > 0 {
            return Err(BenchError::Verify(format!(
                "{pipeline} @ {rate}/s: {} sampled records never became readable",
                r.lost
            )));
        }
        results.push(r);
    }
    // Every record sent must be a row.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let counted = landing::count_rows(&ctx.session, target).await?;
        if counted == total {
            break;
        }
        if Instant::now() > deadline {
            return Err(BenchError::Verify(format!(
                "{pipeline}: {counted} rows for {total} records sent"
            )));
        }
        process.check().map_err(|detail| failed(pipeline, detail))?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(results)
}

struct Sample {
    id: Uuid,
    sent_at: Instant,
    next_check: Instant,
}

/// The pipeline's process died or logged its failure.
fn failed(pipeline: &str, detail: String) -> BenchError {
    BenchError::Peer {
        peer: pipeline.to_string(),
        detail,
    }
}

/// One rate for `duration`; returns the figures and the producer. Fails as soon as the
/// pipeline's process does (checked twice a second).
#[allow(clippy::too_many_arguments)]
async fn phase(
    ctx: &Ctx,
    pipeline: &str,
    rate: u32,
    duration: Duration,
    mut producer: RecordProducer,
    generator: &mut Generator,
    reader: &Reader,
    process: &mut PeerProcess,
) -> Result<(LatencyResult, RecordProducer), BenchError> {
    let every = u64::from((rate / 400).max(1));
    let records: Vec<(Uuid, String)> = (0..(u64::from(rate) * duration.as_secs().max(1)))
        .map(|_| {
            let r = generator.next_user();
            (r.id, r.to_json())
        })
        .collect();
    let (tx, mut rx) = mpsc::unbounded_channel::<(Uuid, Instant)>();
    let began = chrono::Utc::now();
    let sender = tokio::spawn(async move {
        let start = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let mut sent = 0u64;
        let mut failure = None;
        'outer: while (sent as usize) < records.len() {
            tick.tick().await;
            let due = (start.elapsed().as_secs_f64() * f64::from(rate)) as u64;
            while sent < due && (sent as usize) < records.len() {
                let (id, json) = &records[sent as usize];
                let at = Instant::now();
                if let Err(e) = producer
                    .send_bytes(Some(id.to_string().as_bytes()), json.as_bytes(), None)
                    .await
                {
                    failure = Some(e);
                    break 'outer;
                }
                if sent.is_multiple_of(every) {
                    let _ = tx.send((*id, at));
                }
                sent += 1;
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        drop(tx);
        (producer, sent, seconds, failure)
    });
    let mut pending: Vec<Sample> = Vec::new();
    let mut polled = 0u64;
    let polling = Instant::now();
    let mut latencies: Vec<f64> = Vec::new();
    let mut sender_done = false;
    let mut give_up = None::<Instant>;
    let mut next_process_check = Instant::now();
    loop {
        if Instant::now() >= next_process_check {
            if let Err(detail) = process.check() {
                sender.abort();
                return Err(failed(pipeline, detail));
            }
            next_process_check = Instant::now() + Duration::from_millis(500);
        }
        loop {
            match rx.try_recv() {
                Ok((id, sent_at)) => pending.push(Sample {
                    id,
                    sent_at,
                    next_check: sent_at + Duration::from_millis(1),
                }),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    sender_done = true;
                    break;
                }
            }
        }
        let now = Instant::now();
        let due: Vec<Uuid> = pending
            .iter()
            .filter(|s| s.next_check <= now)
            .map(|s| s.id)
            .collect();
        let readable: HashSet<Uuid> = futures::future::join_all(
            due.chunks(Reader::IN_LIMIT)
                .map(|ids| reader.readable(&ctx.session, ids)),
        )
        .await
        .into_iter()
        .flatten()
        .collect();
        polled += due.len() as u64;
        let answered = Instant::now();
        pending.retain_mut(|s| {
            if s.next_check > now {
                return true;
            }
            if readable.contains(&s.id) {
                latencies.push((answered - s.sent_at).as_secs_f64() * 1000.0);
                return false;
            }
            let age = answered - s.sent_at;
            s.next_check = answered + (age / 20).max(Duration::from_millis(1));
            true
        });
        if sender_done {
            if pending.is_empty() {
                break;
            }
            let limit = *give_up.get_or_insert(Instant::now() + Duration::from_secs(60));
            if Instant::now() > limit {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (producer, sent, seconds, failure) = sender.await.map_err(|e| BenchError::Peer {
        peer: pipeline.to_string(),
        detail: e.to_string(),
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    let server_pauses = ctx.cassandra_pauses.between(began, chrono::Utc::now());
    let poll_reads_per_s = polled as f64 / polling.elapsed().as_secs_f64().max(1e-9);
    latencies.sort_by(f64::total_cmp);
    let pct = |q: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1]
    };
    Ok((
        LatencyResult {
            pipeline: pipeline.to_string(),
            target_rate: rate,
            achieved_rate: sent as f64 / seconds.max(1e-9),
            sent,
            samples: latencies.len(),
            lost: pending.len(),
            p50_ms: pct(0.5),
            p99_ms: pct(0.99),
            p999_ms: pct(0.999),
            max_ms: latencies.last().copied().unwrap_or(f64::NAN),
            poll_reads_per_s,
            server_pauses,
        },
        producer,
    ))
}
