//! The bench's results: collected as one JSON document (`bench-results.json`), rendered as
//! `benchmarks.md` (tables of figures and ratios, targets met or missed, machine, versions,
//! command, tuning) and drawn as `bench.png` by `bench/chart.py` in the bench venv. The
//! targets the results are judged against are in [`targets`].

pub mod targets;

use super::runs::latency::LatencyResult;
use super::runs::producer::ProducerResult;
use super::runs::sink::SinkResult;
use super::{peers::install, say, BenchError, BenchOptions};
use crate::config::Config;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::Path;

const CHART: &str = include_str!("../../../bench/chart.py");
const METHOD: &str = include_str!("../../../bench/method.md");
/// Measured by tests/stream_memory.rs, not by the bench; kept in the report so that a bench
/// run does not drop it.
const MEMORY: &str = include_str!("../../../bench/memory.md");

/// Where and on what the bench ran.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gb: f64,
    pub kernel: String,
    /// `/proc/loadavg` before and after the run (other work on the machine shows here).
    pub load_before: String,
    pub load_after: String,
}

/// A peer or figure that has no result, and why.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Skipped {
    pub what: String,
    pub reason: String,
}

/// A target of issue 7 or 18, measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    pub wanted: String,
    pub measured: String,
    /// None when a figure it needs is missing.
    pub met: Option<bool>,
}

/// Everything one run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    pub schema: u32,
    pub started_at: String,
    pub finished_at: String,
    pub command: String,
    pub build: String,
    pub machine: Machine,
    pub versions: Vec<(String, String)>,
    pub records: u64,
    pub partitions: i32,
    pub producer: Vec<ProducerResult>,
    pub sink: Vec<SinkResult>,
    pub latency: Vec<LatencyResult>,
    pub skipped: Vec<Skipped>,
    pub targets: Vec<Target>,
    /// Set when the machine was busy at the start and `--allow-busy` ran the bench anyway.
    #[serde(default)]
    pub busy: Option<super::measure::hygiene::Busy>,
    /// Whether repeated sink runs went in rounds (every pipeline once per round); results
    /// of before that ran each pipeline's repeats one after another.
    #[serde(default)]
    pub in_rounds: bool,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Results {
    pub async fn new(config: &Config, opts: &BenchOptions) -> Results {
        let cpuinfo = read("/proc/cpuinfo");
        let mem_kb: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        let java = tokio::process::Command::new(&config.local.java)
            .arg("-version")
            .output()
            .await
            .map(|o| {
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .unwrap_or_else(|e| e.to_string());
        Results {
            schema: 1,
            started_at: chrono::Utc::now().to_rfc3339(),
            command: opts.command.clone(),
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .into(),
            machine: Machine {
                cpu: cpuinfo
                    .lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
                    .unwrap_or_default(),
                cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
                memory_gb: mem_kb / 1024.0 / 1024.0,
                kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
                load_before: read("/proc/loadavg").trim().to_string(),
                load_after: String::new(),
            },
            versions: vec![
                ("cassflow".into(), env!("CARGO_PKG_VERSION").into()),
                ("Apache Kafka".into(), config.local.kafka_version.clone()),
                (
                    "Apache Cassandra".into(),
                    config.local.cassandra_version.clone(),
                ),
                ("pyspark / Spark".into(), install::PYSPARK_VERSION.into()),
                (
                    "spark-cassandra-connector".into(),
                    install::CONNECTOR_VERSION.into(),
                ),
                (
                    "Kafka Connect sink: camel-kafka-connector + camel-cassandraql".into(),
                    format!(
                        "{} + {}",
                        super::peers::connect::CAMEL_KAFKA_CONNECTOR_VERSION,
                        super::peers::connect::CAMEL_VERSION
                    ),
                ),
                ("Java".into(), java),
            ],
            records: opts.records,
            partitions: opts.partitions,
            ..Results::default()
        }
    }

    /// Records the load after the run and evaluates the targets.
    pub async fn finish(&mut self) {
        self.finished_at = chrono::Utc::now().to_rfc3339();
        self.machine.load_after = read("/proc/loadavg").trim().to_string();
        self.targets = targets::targets(self);
    }

    /// The sink run of exactly this name.
    pub fn sink_run(&self, pipeline: &str) -> Option<&SinkResult> {
        self.sink.iter().find(|s| s.pipeline == pipeline)
    }

    /// The best steady rate of the sink runs whose name starts with `prefix`.
    pub fn sink_rate(&self, prefix: &str) -> Option<(String, f64)> {
        self.sink
            .iter()
            .filter(|s| s.pipeline.starts_with(prefix))
            .map(|s| (s.pipeline.clone(), s.steady_records_per_second))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// Writes bench-results.json, benchmarks.md and (unless disabled) bench.png.
pub async fn write(
    results: &Results,
    opts: &BenchOptions,
    bench_cache: &Path,
) -> Result<(), BenchError> {
    let out = &opts.out;
    let io = |what: &str| {
        let context = format!("write {}", out.join(what).display());
        move |source| BenchError::Io { context, source }
    };
    std::fs::create_dir_all(out).map_err(io(""))?;
    let json_path = out.join("bench-results.json");
    // --report-only reads the raw results; it must not rewrite them (floats would not
    // round-trip to the last digit).
    if !opts.report_only {
        let json =
            serde_json::to_string_pretty(results).map_err(|e| BenchError::Verify(e.to_string()))?;
        std::fs::write(&json_path, json).map_err(io("bench-results.json"))?;
    }
    let mut chart_note = Some("chart not drawn: --no-chart".to_string());
    if opts.chart {
        chart_note = None;
        match draw(out, bench_cache).await {
            Ok(()) => {}
            Err(e) => chart_note = Some(format!("chart not drawn: {e}")),
        }
    }
    std::fs::write(
        out.join("benchmarks.md"),
        markdown(results, chart_note.as_deref()),
    )
    .map_err(io("benchmarks.md"))?;
    say!("results: {}", out.join("benchmarks.md").display());
    Ok(())
}

async fn draw(out: &Path, bench_cache: &Path) -> Result<(), BenchError> {
    let python = install::venv(bench_cache).await?;
    let script = bench_cache.join("chart.py");
    std::fs::write(&script, CHART).map_err(|source| BenchError::Io {
        context: format!("write {}", script.display()),
        source,
    })?;
    let output = tokio::process::Command::new(python)
        .arg(&script)
        .arg(out.join("bench-results.json"))
        .arg(out.join("bench.png"))
        .output()
        .await
        .map_err(|source| BenchError::Io {
            context: "run chart.py".into(),
            source,
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BenchError::Peer {
            peer: "chart".into(),
            detail: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1e6)
}

/// What the sink table's figures of repeated runs are, when some run was repeated.
fn repeats_note(r: &Results) -> String {
    let most = r.sink.iter().map(|x| x.runs.len()).max().unwrap_or(0);
    if most <= 1 {
        return String::new();
    }
    let order = match r.in_rounds {
        true => ", in rounds (each pipeline once per round, in the table's order, so the machine's drift falls on all alike)",
        false => "",
    };
    format!(" The raw loop and each cassflow run ran {most} times{order}, each into a fresh table: each figure is its own median over the runs (steady rows/s, pipeline CPU, Cassandra CPU; of the two middle runs of an even count the less flattering: the lower rows/s, the higher CPU), the other columns those of the run of the median rows/s; the spread shows the lowest and highest of each figure; Spark and Kafka Connect ran once.")
}

/// The report page.
pub fn markdown(r: &Results, chart_note: Option<&str>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Benchmarks\n\nGenerated by `cassflow bench` ({} build) on {}.\n",
        r.build, r.started_at
    );
    let _ = writeln!(s, "```sh\n{}\n```\n", r.command);
    if let Some(busy) = &r.busy {
        let _ = writeln!(s, "> **WARNING: {}.**\n", busy.warning);
    }
    let _ = writeln!(
        s,
        "## Targets\n\n| target | wanted | measured | met |\n|---|---|---|---|"
    );
    for t in &r.targets {
        let met = match t.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "n/a",
        };
        let _ = writeln!(s, "| {} | {} | {} | {met} |", t.name, t.wanted, t.measured);
    }
    for note in targets::reading(r) {
        let _ = writeln!(s, "\n{note}");
    }
    let _ = writeln!(s, "\n## Sink throughput\n\n{} records on a pre-filled topic ({} partitions) into a fresh table, timed from starting the pipeline until the last row is readable; every row counted and a sample compared field by field. *Steady* excludes start-up (from the first row readable to the last). Cassandra's CPU is net of its idle rate: before each run (its table created, its pipeline not started) the server's CPU rate is read for {idle} s, and that rate times the run's duration is taken off what it used meanwhile (never below zero).{}\n", r.records, r.partitions, repeats_note(r), idle = super::measure::server_cpu::IDLE_WINDOW.as_secs());
    let _ = writeln!(s, "| pipeline | rows | wall s | rows/s | steady rows/s | spread of the runs | first row s | peak RSS MB/process | CPU s (all processes) | pipeline CPU s per 1M rows | Cassandra CPU s per 1M rows (net of idle) | vs raw driver (per-row) | verified | load avg at end |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    // Against the per-row loop, as the targets compare.
    let raw = r
        .sink_run(targets::RAW)
        .map(|x| x.steady_records_per_second);
    for x in &r.sink {
        let vs_raw = raw.map_or("".into(), |v| {
            format!("{:.2}x", x.steady_records_per_second / v)
        });
        let spread = super::runs::repeats::spread(x).describe();
        let server = x
            .cassandra_cpu_seconds_per_million_rows()
            .map_or("not read".into(), |c| format!("{c:.1}"));
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {:.0} | {:.0} | {spread} | {:.1} | {} | {:.1} | {:.1} | {server} | {vs_raw} | {}/{} rows, {} sampled | {} |",
            x.pipeline, x.verification.counted_rows, x.wall_seconds, x.records_per_second,
            x.steady_records_per_second, x.first_row_seconds.unwrap_or(0.0), mb(x.peak_rss_bytes()),
            x.cpu_seconds(), x.cpu_seconds_per_million_rows(), x.verification.counted_rows, x.verification.expected_rows, x.verification.sample_checked, x.load_average
        );
    }
    let _ = writeln!(s, "\n## End-to-end latency\n\nFrom handing a record to the producer to its row being readable (polled), at fixed rates. *Cassandra GC pauses*: the stop-the-world pauses the server's JVM logged during the phase (its `gc.log`; count, longest, sum): a write waits for a pause to end and the records behind it for the backlog to drain, whatever the pipeline.\n\n| pipeline | rate/s | achieved/s | samples | p50 ms | p99 ms | p99.9 ms | max ms | Cassandra GC pauses | rows polled/s |\n|---|---|---|---|---|---|---|---|---|---|");
    for l in &r.latency {
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |",
            l.pipeline,
            l.target_rate,
            l.achieved_rate,
            l.samples,
            l.p50_ms,
            l.p99_ms,
            l.p999_ms,
            l.max_ms,
            l.server_pauses.map_or("-".into(), |p| p.describe()),
            match l.poll_reads_per_s {
                0.0 => "-".to_string(),
                reads => format!("{reads:.0}"),
            },
        );
    }
    let _ = writeln!(s, "\n## Producer\n\n| tool | records | records/s | MB/s | peak RSS MB | CPU s | settings |\n|---|---|---|---|---|---|---|");
    for p in &r.producer {
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {:.1} | {} | {:.1} | {} |",
            p.tool,
            p.records,
            p.records_per_second,
            p.mb_per_second,
            mb(p.footprint.peak_rss_bytes),
            p.footprint.cpu_seconds,
            p.settings
        );
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(s, "\n## Not measured\n");
        for k in &r.skipped {
            let _ = writeln!(s, "- **{}**: {}", k.what, k.reason);
        }
    }
    let _ = writeln!(s, "\n## Tuning\n");
    for x in &r.sink {
        let _ = writeln!(s, "- {}: {}", x.pipeline, x.settings.join(", "));
    }
    let _ = writeln!(s, "\n{}", METHOD.trim_end());
    let _ = writeln!(s, "\n{}", MEMORY.trim_end());
    let m = &r.machine;
    let _ = writeln!(s, "\n## Machine and versions\n\n- CPU: {} ({} cores), memory {:.1} GB, Linux {}\n- load average before: {}; after: {} (the machine is shared: other work shows here)", m.cpu, m.cores, m.memory_gb, m.kernel, m.load_before, m.load_after);
    if let Some(busy) = &r.busy {
        let _ = writeln!(
            s,
            "- **busy at the start** ({}, above {:.2} per core): run with --allow-busy",
            busy.load.describe(),
            busy.limit_per_core
        );
    }
    for (k, v) in &r.versions {
        let _ = writeln!(s, "- {k}: {v}");
    }
    match chart_note {
        Some(note) => {
            let _ = writeln!(s, "\n({note})");
        }
        None => {
            let _ = writeln!(s, "\n![throughput and latency](bench.png)");
        }
    }
    s
}
