//! Sink throughput: the pre-filled topic into a fresh table, timed from the pipeline's
//! start until the last row is readable, then verified (count + sample). Runs cassflow
//! stream with N instances (the binary, spawned, one consumer group) and the raw driver
//! ceiling; Spark and Kafka Connect use [`measure`] too ([`crate::bench::peers::spark`],
//! [`crate::bench::peers::connect`]).
//! Each run also records the Cassandra server's CPU until its last row, net of its idle
//! rate read just before the run ([`server_cpu`]).

use super::producer::run_worker;
use super::worker::{RawGrouping, WorkerSpec};
use crate::bench::measure::landing::{self, Landing, Poll, Target, Verification};
use crate::bench::measure::procstat::{Footprint, Sampler};
use crate::bench::measure::server_cpu;
use crate::bench::run::{spawn_logged, Ctx, PeerProcess, SEED};
use crate::bench::BenchError;
use crate::config::{Config, PipelineConfig, RecordFormat, StreamConfig};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// One sink run's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SinkResult {
    pub pipeline: String,
    pub instances: usize,
    pub records: u64,
    /// From starting the pipeline to the last row readable.
    pub wall_seconds: f64,
    /// From starting the pipeline to the first row readable (start-up cost).
    pub first_row_seconds: Option<f64>,
    /// records / wall_seconds.
    pub records_per_second: f64,
    /// records / (last row - first row): the rate once running, start-up excluded.
    pub steady_records_per_second: f64,
    /// Per process: cassflow instances one each; Spark's driver with its JVM as one tree.
    pub processes: Vec<Footprint>,
    pub verification: Verification,
    /// Tuning used, as `key=value` text.
    pub settings: Vec<String>,
    /// `/proc/loadavg` when the run ended: other work on the machine shows here.
    pub load_average: String,
    /// Every run's figures when the run was repeated (`--repeats`); this result is the run
    /// of the median steady rows/s, with the median pipeline CPU ([`Self::cpu_seconds`])
    /// and Cassandra CPU of the runs ([`super::repeats`]). Empty for a single run and in
    /// older results.
    #[serde(default)]
    pub runs: Vec<super::repeats::RunFigures>,
    /// CPU seconds of the Cassandra server from the pipeline's start until its last row
    /// was readable, net of its idle rate read just before ([`server_cpu`]); the
    /// median of `runs` when repeated; None when the bench's stack does not run it.
    #[serde(default)]
    pub cassandra_cpu_seconds: Option<f64>,
    /// The Cassandra server's idle CPU seconds per second, read over
    /// [`server_cpu::IDLE_WINDOW`] just before this run, taken off its figure.
    #[serde(default)]
    pub cassandra_idle_cpu_per_second: Option<f64>,
}

impl SinkResult {
    pub fn peak_rss_bytes(&self) -> u64 {
        self.processes
            .iter()
            .map(|p| p.peak_rss_bytes)
            .max()
            .unwrap_or(0)
    }
    /// CPU seconds of the pipeline's processes: the median over `runs` when repeated (not
    /// the median-rows/s run's own), else this run's.
    pub fn cpu_seconds(&self) -> f64 {
        super::repeats::median_cpu_seconds(&self.runs).unwrap_or_else(|| self.own_cpu_seconds())
    }
    /// CPU seconds of this run's own processes.
    pub fn own_cpu_seconds(&self) -> f64 {
        self.processes.iter().map(|p| p.cpu_seconds).sum()
    }
    /// CPU seconds of the pipeline's processes for a million rows.
    pub fn cpu_seconds_per_million_rows(&self) -> f64 {
        self.cpu_seconds() / self.records.max(1) as f64 * 1e6
    }
    /// CPU seconds of the Cassandra server for a million rows.
    pub fn cassandra_cpu_seconds_per_million_rows(&self) -> Option<f64> {
        self.cassandra_cpu_seconds
            .map(|s| s / self.records.max(1) as f64 * 1e6)
    }
    pub fn line(&self) -> String {
        format!(
            "{}: {} rows in {:.1}s = {:.0} rows/s ({:.0} rows/s after the first row at {:.1}s), peak RSS {:.0} MB/process, CPU {:.1}s (Cassandra {}{}), verified {}/{} rows, sample {} ok",
            self.pipeline,
            self.verification.counted_rows,
            self.wall_seconds,
            self.records_per_second,
            self.steady_records_per_second,
            self.first_row_seconds.unwrap_or(0.0),
            self.peak_rss_bytes() as f64 / 1e6,
            self.cpu_seconds(),
            self.cassandra_cpu_seconds
                .map_or("not read".into(), |c| format!("{c:.1}s")),
            self.cassandra_idle_cpu_per_second
                .map_or(String::new(), |i| format!(" net of {i:.2} s/s idle")),
            self.verification.counted_rows,
            self.verification.expected_rows,
            self.verification.sample_checked - self.verification.sample_mismatches
        )
    }
}

/// Builds a result from a landing and a verification; fails unless verified.
pub fn result(
    pipeline: &str,
    instances: usize,
    landing: Landing,
    processes: Vec<Footprint>,
    verification: Verification,
    settings: Vec<String>,
) -> Result<SinkResult, BenchError> {
    if !verification.passed() {
        return Err(BenchError::Verify(format!(
            "{pipeline}: {} of {} rows counted, {} of {} sampled rows differ",
            verification.counted_rows,
            verification.expected_rows,
            verification.sample_mismatches,
            verification.sample_checked
        )));
    }
    let records = verification.expected_rows;
    let wall = landing.all_rows.as_secs_f64();
    let first = landing.first_row.map(|d| d.as_secs_f64());
    let steady_span = wall - first.unwrap_or(0.0);
    Ok(SinkResult {
        pipeline: pipeline.to_string(),
        instances,
        records,
        wall_seconds: wall,
        first_row_seconds: first,
        records_per_second: records as f64 / wall.max(1e-9),
        steady_records_per_second: records as f64 / steady_span.max(1e-3),
        processes,
        verification,
        settings,
        load_average: std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        runs: Vec::new(),
        cassandra_cpu_seconds: None,
        cassandra_idle_cpu_per_second: None,
    })
}

/// A fresh table for a sink run, then the Cassandra server's idle CPU rate over
/// [`server_cpu::IDLE_WINDOW`] (None, without waiting, when the server is not read): call
/// it before starting the pipeline, and hand the rate to [`measure`].
pub async fn fresh_table(ctx: &Ctx) -> Result<(Target, Option<f64>), BenchError> {
    let target = ctx
        .scratch
        .fresh_table(&ctx.session, &ctx.config.cassandra)
        .await?;
    let idle = ctx.cassandra_cpu.idle_rate(server_cpu::IDLE_WINDOW).await;
    Ok((target, idle))
}

/// Waits for the rows of `children` (already started at `started`), samples their
/// footprint, stops them, and verifies the table. `idle` is the server's idle CPU rate from
/// [`fresh_table`].
pub async fn measure(
    ctx: &Ctx,
    pipeline: &str,
    (target, idle): (&Target, Option<f64>),
    children: &mut [PeerProcess],
    started: Instant,
    settings: Vec<String>,
) -> Result<SinkResult, BenchError> {
    let pids: Vec<u32> = children.iter().filter_map(|p| p.child.id()).collect();
    let sampler = Sampler::start(pids.clone());
    let cassandra_before = ctx.cassandra_cpu.read();
    let mut cassandra_after = None;
    let landed = landing::wait_landed(
        &ctx.session,
        target,
        &ctx.sentinels,
        ctx.opts.records,
        started,
        ctx.opts.sink_timeout,
        |poll| match poll {
            Poll::LastRowsReadable => {
                cassandra_after = ctx.cassandra_cpu.read();
                Ok(())
            }
            Poll::Missing => children.iter_mut().try_for_each(PeerProcess::check),
        },
    )
    .await;
    let processes = sampler.finish(&pids);
    for process in children.iter_mut() {
        process.terminate(Duration::from_secs(40)).await;
    }
    let landing = landed?;
    let verification = landing::verify(
        &ctx.session,
        target,
        ctx.opts.records,
        landing.counted,
        &ctx.sample,
    )
    .await?;
    let mut r = result(
        pipeline,
        pids.len(),
        landing,
        processes,
        verification,
        settings,
    )?;
    r.cassandra_cpu_seconds = server_cpu::net_of_idle(cassandra_before, cassandra_after, idle);
    r.cassandra_idle_cpu_per_second = idle;
    Ok(r)
}

/// How the stream job writes its rows in a sink run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamWrites {
    /// Its default settings: grouped UNLOGGED batches.
    Default,
    /// Every row on its own (`stream.batch_max_rows = 1`).
    PerRow,
}

impl StreamWrites {
    /// The suffix of a run's name.
    pub fn suffix(self) -> &'static str {
        match self {
            StreamWrites::Default => "",
            StreamWrites::PerRow => " per-row",
        }
    }
}

/// `cassflow stream` x `instances`, one consumer group, fresh table: "cassflow x1", or
/// "cassflow x1 per-row".
pub async fn run_cassflow(
    ctx: &Ctx,
    instances: usize,
    writes: StreamWrites,
) -> Result<SinkResult, BenchError> {
    let name = format!("cassflow x{instances}{}", writes.suffix());
    let format = RecordFormat::Users;
    run_cassflow_on(ctx, &ctx.topic, format, instances, writes, &name).await
}

/// `instances` `cassflow stream` processes on `topic`, whose records are in `format`.
pub async fn run_cassflow_on(
    ctx: &Ctx,
    topic: &str,
    format: RecordFormat,
    instances: usize,
    writes: StreamWrites,
    name: &str,
) -> Result<SinkResult, BenchError> {
    let (target, idle) = fresh_table(ctx).await?;
    let tag = format!(
        "{}-x{instances}{}",
        format.name(),
        writes.suffix().replace(' ', "-")
    );
    let (config_path, config) = stream_config(ctx, topic, format, &target, &tag, writes)?;
    crate::bench::say!(
        "    {name}: starting {instances} `cassflow stream` into {}",
        target.cql()
    );
    let started = Instant::now();
    let mut children = Vec::new();
    for i in 0..instances {
        let log = ctx
            .work_dir
            .join(format!("{}-{tag}-{i}.log", target.keyspace));
        children.push(PeerProcess::new(
            spawn_stream(ctx, &config_path, &log)?,
            &log,
        ));
    }
    let mut settings = vec![
        format!("format={}", format.name()),
        format!("stream.max_in_flight={}", config.stream.max_in_flight),
    ];
    settings.extend(batch_settings(&config.stream));
    settings.extend([
        format!("partitions={}", ctx.opts.partitions),
        "build=the binary that ran the bench".to_string(),
    ]);
    let target = (&target, idle);
    measure(ctx, name, target, &mut children, started, settings).await
}

/// The stream job's batch keys, as `key=value` text.
fn batch_settings(stream: &StreamConfig) -> Vec<String> {
    let grouping = serde_json::to_value(stream.batch_grouping)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{:?}", stream.batch_grouping));
    vec![
        format!("stream.batch_grouping={grouping}"),
        format!("stream.batch_max_rows={}", stream.batch_max_rows),
        format!("stream.batch_max_bytes={}", stream.batch_max_bytes),
        format!(
            "stream.batch_linger={}",
            humantime::format_duration(stream.batch_linger)
        ),
    ]
}

/// Spawns one `cassflow --config <path> stream`.
pub fn spawn_stream(
    ctx: &Ctx,
    config_path: &std::path::Path,
    log: &std::path::Path,
) -> Result<Child, BenchError> {
    let mut command = Command::new(&ctx.opts.cassflow_bin);
    command
        .arg("--config")
        .arg(config_path)
        .arg("--log-level")
        .arg("info")
        .arg("stream");
    spawn_logged(command, log)
}

/// A config file for `cassflow stream`: the bench's servers, one pipeline `topic -> target`,
/// its batch keys as the bench's config has them (the defaults), or per row.
pub fn stream_config(
    ctx: &Ctx,
    topic: &str,
    format: RecordFormat,
    target: &Target,
    tag: &str,
    writes: StreamWrites,
) -> Result<(PathBuf, Config), BenchError> {
    let mut config = ctx.config.clone();
    if writes == StreamWrites::PerRow {
        config.stream.batch_max_rows = 1;
    }
    config.pipelines = vec![PipelineConfig {
        name: "bench".into(),
        topic: topic.to_string(),
        partitions: ctx.opts.partitions,
        keyspace: target.keyspace.clone(),
        table: target.table.clone(),
        group_id: Some(format!("{}-{tag}", target.keyspace)),
        format,
        ..PipelineConfig::default()
    }];
    config.stream.metrics_bind = None;
    let text = toml::to_string(&config).map_err(|e| BenchError::Verify(e.to_string()))?;
    let path = ctx.work_dir.join(format!("{}-{tag}.toml", target.keyspace));
    std::fs::write(&path, text).map_err(|source| BenchError::Io {
        context: format!("write {}", path.display()),
        source,
    })?;
    Ok((path, config))
}

/// The name of the raw loop's run, per row or grouped.
pub fn raw_name(grouped: bool) -> &'static str {
    if grouped {
        crate::bench::report::targets::RAW_GROUPED
    } else {
        crate::bench::report::targets::RAW
    }
}

/// The raw driver loop (the ceiling of one process): the same records inserted by a worker
/// process, no Kafka; one insert per row, or `grouped` in UNLOGGED batches grouped, sized
/// and bound by the stream job's own functions under its `stream.batch_grouping`,
/// `stream.batch_max_rows` and `stream.batch_max_bytes` (a lone row a plain write).
pub async fn run_raw(ctx: &Ctx, grouped: bool) -> Result<SinkResult, BenchError> {
    let name = raw_name(grouped);
    let (target, idle) = fresh_table(ctx).await?;
    let stream = &ctx.config.stream;
    let (grouping, concurrency, mut settings) = if grouped {
        let grouping = RawGrouping {
            grouping: stream.batch_grouping,
            rows: stream.batch_max_rows,
            bytes: stream.batch_max_bytes,
        };
        let mut settings = vec![
            "UNLOGGED batches grouped and sized as the stream job's (its stream::batch::group_of and serialize); a lone row a plain write".to_string(),
        ];
        settings.extend(
            batch_settings(stream)
                .into_iter()
                .filter(|s| !s.starts_with("stream.batch_linger")),
        );
        settings.push(format!(
            "batches in flight={}",
            ctx.opts.raw_batch_concurrency
        ));
        (Some(grouping), ctx.opts.raw_batch_concurrency, settings)
    } else {
        let settings = vec![format!("concurrency={}", ctx.opts.raw_concurrency)];
        (None, ctx.opts.raw_concurrency, settings)
    };
    settings.push("prepared INSERT ... USING TIMESTAMP, token-aware, idempotent".into());
    crate::bench::say!(
        "    {name}: {} rows, {concurrency} {} in flight, into {}",
        ctx.opts.records,
        if grouped { "batches" } else { "inserts" },
        target.cql()
    );
    let spec = WorkerSpec::Raw {
        cassandra: ctx.config.cassandra.clone(),
        keyspace: target.keyspace.clone(),
        table: target.table.clone(),
        records: ctx.opts.records,
        seed: SEED.into(),
        concurrency,
        grouping,
    };
    let cassandra_before = ctx.cassandra_cpu.read();
    let started = Instant::now();
    let log = ctx.work_dir.join(format!(
        "{}-{}.log",
        target.keyspace,
        name.replace(' ', "-")
    ));
    let (worker, footprint) = run_worker(&ctx.opts.cassflow_bin, &spec, &log).await?;
    if worker.failed > 0 {
        return Err(BenchError::Verify(format!(
            "{name}: {} rows failed",
            worker.failed
        )));
    }
    // The worker returns once every write is acknowledged; the rows must be readable now.
    let mut cassandra_after = None;
    let landing = landing::wait_landed(
        &ctx.session,
        &target,
        &ctx.sentinels,
        ctx.opts.records,
        started,
        Duration::from_secs(60).max(started.elapsed() * 2),
        |poll| {
            if poll == Poll::LastRowsReadable {
                cassandra_after = ctx.cassandra_cpu.read();
            }
            Ok(())
        },
    )
    .await?;
    let landing = Landing {
        first_row: Some(Duration::ZERO),
        all_rows: landing
            .all_rows
            .min(Duration::from_secs_f64(worker.seconds)),
        counted: landing.counted,
    };
    let verification = landing::verify(
        &ctx.session,
        &target,
        ctx.opts.records,
        landing.counted,
        &ctx.sample,
    )
    .await?;
    let mut r = result(name, 1, landing, vec![footprint], verification, settings)?;
    r.cassandra_cpu_seconds = server_cpu::net_of_idle(cassandra_before, cassandra_after, idle);
    r.cassandra_idle_cpu_per_second = idle;
    Ok(r)
}
