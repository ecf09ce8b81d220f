//! The bench run from start to end: check the machine is idle
//! ([`super::measure::hygiene`]), make sure Kafka and Cassandra answer (starting the local
//! stack for whichever does not, and stopping only that at the end), pre-fill a topic with
//! cassflow's producer, then run each selected peer in turn, and write the report.
//! Also the process plumbing the peers share: spawning with logs, watching a peer's process
//! ([`PeerProcess`]), stopping a process group gracefully, and stopping every peer on
//! Ctrl-C.

use super::measure::landing::{self, Sentinels};
use super::report::targets::{SPARK, SPARK_TUNED};
use super::report::{self, Results, Skipped};
use super::runs::repeats::{interleaved, Repeatable};
use super::runs::sink::StreamWrites;
use super::scratch::Scratch;
use super::{peers::install, say, BenchError, BenchOptions, Peer};
use crate::config::{Config, RecordFormat};
use crate::local::{LocalStack, Server};
use crate::record::UserRecord;
use crate::source::generator::Generator;
use scylla::client::session::Session;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use uuid::Uuid;

/// The seed of the bench's records: every process generates the same users from it.
pub const SEED: &str = "cassflow-bench";

/// What every peer run needs.
pub struct Ctx {
    pub config: Config,
    pub opts: BenchOptions,
    pub session: Arc<Session>,
    /// The pre-filled topic.
    pub topic: String,
    pub sentinels: Sentinels,
    /// Records of the topic to compare field by field with their rows.
    pub sample: HashMap<Uuid, UserRecord>,
    /// Logs and configs of this run.
    pub work_dir: PathBuf,
    pub bench_cache: PathBuf,
    /// The Cassandra JVM(s) whose CPU each sink run reads.
    pub cassandra_cpu: super::measure::server_cpu::ServerCpu,
    /// The Cassandra JVM(s) whose GC pauses each latency phase reads.
    pub cassandra_pauses: super::measure::server_pauses::ServerPauses,
    /// The run's topics and tables.
    pub scratch: Arc<Scratch>,
}

/// Runs the whole bench; returns the results it also wrote to `opts.out`.
pub async fn run(config: Config, opts: BenchOptions) -> Result<Results, BenchError> {
    let busy = super::measure::hygiene::check(opts.allow_busy)?;
    let stack = LocalStack::new(&config);
    let mut started = Vec::new();
    let mut servers = vec![Server::Kafka, Server::Cassandra];
    // The Avro run needs the local registry, when the stack has one.
    if opts.peers.contains(&Peer::Avro) && config.local.registry {
        servers.push(Server::Registry);
    }
    for server in servers {
        if stack.probe(server, Duration::from_secs(3)).await.is_err() {
            started.push(server);
        }
    }
    if !started.is_empty() {
        say!(
            "starting the local stack (data in {})",
            stack.data_dir().display()
        );
        let report = stack.start_only(&started).await?;
        say!("{}", report.to_string().trim_end());
    }
    // The run is polled by reference, so on a signal its children stay owned (and alive)
    // while `stop_all` stops them gracefully; dropping it first would SIGKILL them.
    let scratch = Arc::new(Scratch::for_new_run());
    let work = run_on_stack(&config, &opts, busy, scratch.clone());
    tokio::pin!(work);
    let outcome = tokio::select! {
        outcome = &mut work => outcome,
        () = interrupted() => {
            say!("interrupted: stopping the peers still running");
            stop_all(Duration::from_secs(20)).await;
            Err(BenchError::Interrupted)
        }
    };
    say!("removing the run's topics and tables");
    scratch.remove(&config).await;
    if !started.is_empty() {
        say!("stopping the servers the bench started");
        if let Err(e) = stack.stop_only(&started).await {
            tracing::warn!(error = %e, "cannot stop the bench stack");
        }
    }
    outcome
}

/// Resolves on Ctrl-C or SIGTERM (never, if the handlers cannot be installed).
async fn interrupted() {
    if crate::up::wait_for_stop_signal().await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn run_on_stack(
    config: &Config,
    opts: &BenchOptions,
    busy: Option<super::measure::hygiene::Busy>,
    scratch: Arc<Scratch>,
) -> Result<Results, BenchError> {
    let mut results = Results::new(config, opts).await;
    results.busy = busy;
    let run_id = scratch.run_id();
    let bench_cache = install::bench_cache(&config.local.cache_dir());
    let work_dir = bench_cache.join("runs").join(run_id);
    tokio::fs::create_dir_all(&work_dir)
        .await
        .map_err(|source| BenchError::Io {
            context: format!("create {}", work_dir.display()),
            source,
        })?;
    say!(
        "cassflow bench: {} records, peers {:?}, logs in {}",
        opts.records,
        opts.peers.iter().map(|p| p.name()).collect::<Vec<_>>(),
        work_dir.display()
    );
    let session = Arc::new(crate::cassandra::connect(&config.cassandra).await?);
    let topic = scratch.topic();
    crate::kafka::admin::ensure_topic(&config.kafka, &topic, opts.partitions, 1).await?;

    say!(
        "[1] producer: cassflow's producer fills topic {topic} with {} records",
        opts.records
    );
    let produced =
        super::runs::producer::run_cassflow(config, opts, &topic, &work_dir, None).await?;
    say!("    {}", produced.line());
    if produced.records != opts.records {
        return Err(BenchError::Verify(format!(
            "the producer delivered {} of {} records",
            produced.records, opts.records
        )));
    }
    results.producer.push(produced);
    if opts.peers.contains(&Peer::Producer) {
        say!("    kafka-producer-perf-test, same count and payloads:");
        match super::runs::producer::run_perf_test(
            config,
            opts,
            &bench_cache,
            &work_dir,
            &scratch.topic_for("perftest"),
        )
        .await
        {
            Ok(r) => {
                say!("    {}", r.line());
                results.producer.push(r);
            }
            Err(e) => skip(&mut results, "kafka-producer-perf-test", &e.to_string()),
        }
    }

    let sentinels = landing::sentinels(&config.kafka, &topic, 3).await?;
    let ctx = Ctx {
        config: config.clone(),
        opts: opts.clone(),
        session,
        topic,
        sentinels,
        sample: sample(opts.records),
        work_dir,
        bench_cache,
        cassandra_cpu: super::measure::server_cpu::ServerCpu::find(config),
        cassandra_pauses: super::measure::server_pauses::ServerPauses::find(config),
        scratch,
    };
    if !ctx.cassandra_cpu.found() {
        say!(
            "    Cassandra is not the local stack's (no pid file in {}): its CPU is not read",
            config.local.data_dir.display()
        );
    }

    say!(
        "[2] sink throughput: pre-filled topic into a fresh table, until the last row is readable"
    );
    warm_up_cassandra(&ctx).await?;
    let avro = if opts.peers.contains(&Peer::Avro) {
        let topic = avro_topic(&ctx, &mut results).await;
        or_skip(&mut results, AVRO, "not measured", topic)
    } else {
        None
    };
    // The raw loop and cassflow's runs, each repeated, in rounds (see `interleaved`).
    let mut runs = Vec::new();
    if opts.peers.contains(&Peer::Raw) {
        for grouped in [false, true] {
            let ctx = &ctx;
            runs.push(Repeatable::new(
                super::runs::sink::raw_name(grouped),
                move || super::runs::sink::run_raw(ctx, grouped),
            ));
        }
    }
    if opts.peers.contains(&Peer::Cassflow) {
        // Every instance count with the default (grouped) writes, then one process per row.
        let counts = opts.instances.iter().map(|n| (*n, StreamWrites::Default));
        for (n, writes) in counts.chain([(1, StreamWrites::PerRow)]) {
            let ctx = &ctx;
            runs.push(Repeatable::new(
                format!("cassflow x{n}{}", writes.suffix()),
                move || super::runs::sink::run_cassflow(ctx, n, writes),
            ));
        }
    }
    if let Some(topic) = &avro {
        let ctx = &ctx;
        runs.push(Repeatable::new(AVRO, move || {
            let writes = StreamWrites::Default;
            super::runs::sink::run_cassflow_on(ctx, topic, RecordFormat::Avro, 1, writes, AVRO)
        }));
    }
    results.in_rounds = true;
    for (name, r) in interleaved(runs, opts.repeats).await {
        record_sink(&mut results, &name, r);
    }
    let spark = if opts.peers.contains(&Peer::Spark) {
        installed(
            &mut results,
            "spark",
            super::peers::spark::Spark::install(&ctx).await,
        )
    } else {
        None
    };
    if let Some(spark) = &spark {
        // The usual settings, which the targets compare against, then the tuned ones.
        for tuned in [false, true] {
            let name = if tuned { SPARK_TUNED } else { SPARK };
            record_sink(&mut results, name, spark.sink(&ctx, tuned).await);
        }
        if let Some(topic) = &avro {
            let r = spark.sink_avro(&ctx, topic).await;
            record_sink(&mut results, super::peers::spark::AVRO_PIPELINE, r);
        }
    }
    let connect = if opts.peers.contains(&Peer::Connect) {
        let c = super::peers::connect::Connect::install(&ctx).await;
        installed(&mut results, super::peers::connect::PIPELINE, c)
    } else {
        None
    };
    if let Some(connect) = &connect {
        let r = connect.sink(&ctx).await;
        record_sink(&mut results, super::peers::connect::PIPELINE, r);
    }

    if !opts.latency_rates.is_empty() {
        say!("[3] end-to-end latency: produce time to row readable, at fixed rates");
        if opts.peers.contains(&Peer::Cassflow) {
            record_latency(
                &mut results,
                "cassflow latency",
                super::runs::latency::run_cassflow(&ctx).await,
            );
        }
        if let Some(spark) = &spark {
            record_latency(&mut results, "spark latency", spark.latency(&ctx).await);
        }
        if let Some(connect) = &connect {
            let r = connect.latency(&ctx).await;
            let name = format!("{} latency", super::peers::connect::PIPELINE);
            record_latency(&mut results, &name, r);
        }
    }

    results.finish().await;
    report::write(&results, opts, &ctx.bench_cache).await?;
    Ok(results)
}

/// The name of the Avro sink run in the report.
const AVRO: &str = "cassflow x1 avro";

/// A topic of the same records as the pre-filled one (same seed, so the same ids in the
/// same partitions and order: its sentinels are the same), in Avro under a schema
/// registered in `[schema_registry]`; its producer run is reported too.
async fn avro_topic(ctx: &Ctx, results: &mut Results) -> Result<String, BenchError> {
    use crate::registry::users::{ProducedFormat, UsersEncoder};
    let topic = ctx.scratch.topic_for("avro");
    let registry = crate::registry::Registry::new(&ctx.config.schema_registry)
        .map_err(|e| BenchError::Verify(e.to_string()))?;
    let encoder =
        UsersEncoder::register(&registry, &format!("{topic}-value"), ProducedFormat::Avro)
            .await
            .map_err(|e| BenchError::Verify(format!("no schema registry for the Avro run: {e}")))?;
    crate::kafka::admin::ensure_topic(&ctx.config.kafka, &topic, ctx.opts.partitions, 1).await?;
    say!("    Avro: cassflow's producer fills topic {topic} with the same records");
    let wire = Some((ProducedFormat::Avro, encoder.id()));
    let produced =
        super::runs::producer::run_cassflow(&ctx.config, &ctx.opts, &topic, &ctx.work_dir, wire)
            .await?;
    say!("    {}", produced.line());
    if produced.records != ctx.opts.records {
        return Err(BenchError::Verify(format!(
            "the Avro producer delivered {} of {} records",
            produced.records, ctx.opts.records
        )));
    }
    results.producer.push(produced);
    Ok(topic)
}

/// Rewrites benchmarks.md and bench.png from the bench-results.json in `opts.out` (after a
/// change to the report's format, without measuring again).
pub async fn rerender(config: &Config, opts: &BenchOptions) -> Result<Results, BenchError> {
    let path = opts.out.join("bench-results.json");
    let text = std::fs::read_to_string(&path).map_err(|source| BenchError::Io {
        context: format!("read {}", path.display()),
        source,
    })?;
    let mut results: Results = serde_json::from_str(&text)
        .map_err(|e| BenchError::Verify(format!("{}: {e}", path.display())))?;
    results.targets = super::report::targets::targets(&results);
    let bench_cache = install::bench_cache(&config.local.cache_dir());
    report::write(&results, opts, &bench_cache).await?;
    Ok(results)
}

/// A fresh Cassandra compiles its write path on first use: the first peer measured must not
/// pay for that, so the raw loop writes some rows to a scratch table first (not reported).
async fn warm_up_cassandra(ctx: &Ctx) -> Result<(), BenchError> {
    let target = ctx
        .scratch
        .fresh_table(&ctx.session, &ctx.config.cassandra)
        .await?;
    let records = ctx.opts.records.min(50_000);
    let spec = super::runs::worker::WorkerSpec::Raw {
        cassandra: ctx.config.cassandra.clone(),
        keyspace: target.keyspace.clone(),
        table: target.table.clone(),
        records,
        seed: format!("{SEED}-warm-up"),
        concurrency: ctx.opts.raw_concurrency,
        grouping: None,
    };
    let log = ctx.work_dir.join("warm-up.log");
    let (r, _) = super::runs::producer::run_worker(&ctx.opts.cassflow_bin, &spec, &log).await?;
    say!(
        "    warm-up (not reported): {} raw inserts into {} in {:.1}s",
        r.records,
        target.cql(),
        r.seconds
    );
    Ok(())
}

fn record_sink(
    results: &mut Results,
    name: &str,
    outcome: Result<super::runs::sink::SinkResult, BenchError>,
) {
    if let Some(r) = or_skip(results, name, "not reported", outcome) {
        match r.runs.len() {
            0 | 1 => say!("    {}", r.line()),
            n => say!("    median of {n} runs: {}", r.line()),
        }
        results.sink.push(r);
    }
}

fn record_latency(
    results: &mut Results,
    name: &str,
    outcome: Result<Vec<super::runs::latency::LatencyResult>, BenchError>,
) {
    if let Some(mut r) = or_skip(results, name, "not reported", outcome) {
        results.latency.append(&mut r);
    }
}

/// The installed peer, or None with the reason printed and recorded.
fn installed<T>(results: &mut Results, name: &str, outcome: Result<T, BenchError>) -> Option<T> {
    or_skip(results, name, "not installed", outcome)
}

/// The outcome's value, or None with `{name}: {failed}: {error}` printed and the error
/// recorded among what the report skips.
fn or_skip<T>(
    results: &mut Results,
    name: &str,
    failed: &str,
    outcome: Result<T, BenchError>,
) -> Option<T> {
    match outcome {
        Ok(value) => Some(value),
        Err(e) => {
            say!("    {name}: {failed}: {e}");
            skip(results, name, &e.to_string());
            None
        }
    }
}

fn skip(results: &mut Results, what: &str, reason: &str) {
    results.skipped.push(Skipped {
        what: what.to_string(),
        reason: reason.to_string(),
    });
}

/// About 200 records spread over the whole run, regenerated from the seed.
fn sample(records: u64) -> HashMap<Uuid, UserRecord> {
    let every = (records / 200).max(1);
    Generator::new(Some(SEED))
        .take(records as usize)
        .enumerate()
        .filter(|(i, _)| (*i as u64).is_multiple_of(every) || *i as u64 == records - 1)
        .map(|(_, r)| (r.id, r))
        .collect()
}

/// Process groups of the peers started and not yet stopped, for [`stop_all`].
static RUNNING: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn running() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    RUNNING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Spawns a command in its own process group with stdout and stderr to `log`.
pub fn spawn_logged(mut command: Command, log: &Path) -> Result<Child, BenchError> {
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|source| BenchError::Io {
                context: format!("open {}", log.display()),
                source,
            })
    };
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(open()?))
        .stderr(Stdio::from(open()?))
        .process_group(0)
        .kill_on_drop(true);
    let child = command.spawn().map_err(|source| BenchError::Io {
        context: format!("start {:?}", command.as_std().get_program()),
        source,
    })?;
    if let Some(pid) = child.id() {
        running().insert(pid as i32);
    }
    Ok(child)
}

/// Waits for a peer process that ends on its own (a bench worker, a Kafka tool) while
/// sampling its footprint, then forgets its group.
pub async fn wait_sampled(
    child: &mut Child,
) -> (
    std::io::Result<std::process::ExitStatus>,
    super::measure::procstat::Footprint,
) {
    let pid = child.id();
    let outcome = super::measure::procstat::wait_sampled(child).await;
    if let Some(pid) = pid {
        forget(pid);
    }
    outcome
}

/// Forgets a process group that ended on its own (so [`stop_all`] never signals a reused
/// id).
fn forget(pid: u32) {
    running().remove(&(pid as i32));
}

/// On Ctrl-C: SIGTERM to every peer's process group still running (a Spark job's JVM is
/// the Python driver's child, so killing the driver alone would leave it behind), then
/// SIGKILL to those still there after `grace`. Maven and pip runs of an install are not
/// peers and are not tracked (they end with the bench's own process group on a terminal).
pub async fn stop_all(grace: Duration) {
    let groups: Vec<u32> = std::mem::take(&mut *running())
        .into_iter()
        .map(|g| g as u32)
        .collect();
    stop_groups(&groups, grace).await;
}

/// SIGTERM to `groups`, then SIGKILL to whatever of them still runs after `grace`.
async fn stop_groups(groups: &[u32], grace: Duration) {
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;
    let signal = |sig| {
        for group in groups {
            let _ = killpg(Pid::from_raw(*group as i32), sig);
        }
    };
    signal(Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while groups
        .iter()
        .any(|g| super::measure::procstat::group_running(*g))
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(Signal::SIGKILL);
}

/// A peer's process the bench waits on: the child, its log, and optionally a log line
/// that means the peer failed while its process lives on (a Kafka Connect worker keeps
/// running when its tasks die).
pub struct PeerProcess {
    pub child: Child,
    /// Its pid, which is also its process group's id (kept: the child forgets it once
    /// reaped, while its own children may live on).
    pid: Option<u32>,
    pub log: PathBuf,
    fatal_line: Option<&'static str>,
    /// Bytes of the log already searched for `fatal_line`.
    scanned: u64,
}

impl PeerProcess {
    pub fn new(child: Child, log: &Path) -> PeerProcess {
        PeerProcess {
            pid: child.id(),
            child,
            log: log.to_path_buf(),
            fatal_line: None,
            scanned: 0,
        }
    }

    /// Fails [`check`](Self::check) once the log has a line containing `text`.
    pub fn failing_on(mut self, text: &'static str) -> PeerProcess {
        self.fatal_line = Some(text);
        self
    }

    /// `Err` once the process has exited or its log shows the fatal line.
    pub fn check(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => {}
            Ok(Some(status)) => {
                return Err(format!(
                    "exited with {status} (log: {})",
                    self.log.display()
                ))
            }
            Err(e) => return Err(e.to_string()),
        }
        let Some(fatal) = self.fatal_line else {
            return Ok(());
        };
        match scan_log(&self.log, self.scanned, fatal) {
            (_, Some(line)) => Err(format!("{} (log: {})", line.trim(), self.log.display())),
            (scanned, None) => {
                self.scanned = scanned;
                Ok(())
            }
        }
    }

    /// SIGTERM to its process group, then SIGKILL to whatever of the group is left after
    /// `grace` (the process may have exited and left children behind).
    pub async fn terminate(&mut self, grace: Duration) {
        let Some(pid) = self.pid.take() else {
            return;
        };
        stop_groups(&[pid], grace).await;
        let _ = self.child.wait().await;
        forget(pid);
    }
}

/// Searches the complete lines of `log` after byte `from` for one containing `text`;
/// returns where the complete lines end, and the line if found.
fn scan_log(log: &Path, from: u64, text: &str) -> (u64, Option<String>) {
    use std::io::{Read, Seek, SeekFrom};
    let mut bytes = Vec::new();
    let read = std::fs::File::open(log).and_then(|mut f| {
        f.seek(SeekFrom::Start(from))?;
        f.read_to_end(&mut bytes)
    });
    if read.is_err() {
        return (from, None);
    }
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let lines = String::from_utf8_lossy(&bytes[..complete]);
    let found = lines.lines().find(|l| l.contains(text)).map(str::to_string);
    (from + complete as u64, found)
}

/// Seconds since `t`, for results.
pub fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::scan_log;
    use std::io::Write;

    #[test]
    fn log_scan_finds_a_fatal_line_once_it_is_complete() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("peer.log");
        let mut log = std::fs::File::create(&path).expect("create log");
        write!(log, "INFO started\nERROR Task threw").expect("write");
        // The unfinished line is not searched yet, nor skipped.
        let (scanned, found) = scan_log(&path, 0, "Task threw an uncaught");
        assert_eq!((scanned, found), (13, None));
        writeln!(log, " an uncaught and unrecoverable exception").expect("write");
        let (_, found) = scan_log(&path, scanned, "Task threw an uncaught");
        assert_eq!(
            found.as_deref(),
            Some("ERROR Task threw an uncaught and unrecoverable exception")
        );
        // A missing log is no failure.
        assert_eq!(scan_log(&dir.path().join("none"), 7, "x"), (7, None));
    }
}
