//! The bench run from start to end: make sure Kafka and Cassandra answer (starting the
//! local stack for whichever does not, and stopping only that at the end), pre-fill a topic
//! with cassflow's producer, then run each selected peer in turn, and write the report.
//! Also the process plumbing the peers share: spawning with logs, and stopping a process
//! group gracefully.

use super::landing::{self, Sentinels};
use super::report::{self, Results, Skipped};
use super::{install, say, BenchError, BenchOptions, Peer};
use crate::config::Config;
use crate::local::{LocalStack, Server};
use crate::record::UserRecord;
use crate::source::generator::Generator;
use scylla::client::session::Session;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
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
}

/// Runs the whole bench; returns the results it also wrote to `opts.out`.
pub async fn run(config: Config, opts: BenchOptions) -> Result<Results, BenchError> {
    let stack = LocalStack::new(&config);
    let mut started = Vec::new();
    for server in Server::ALL {
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
    let outcome = run_on_stack(&config, &opts).await;
    if !started.is_empty() {
        say!("stopping the servers the bench started");
        if let Err(e) = stack.stop_only(&started).await {
            tracing::warn!(error = %e, "cannot stop the bench stack");
        }
    }
    outcome
}

async fn run_on_stack(config: &Config, opts: &BenchOptions) -> Result<Results, BenchError> {
    let mut results = Results::new(config, opts).await;
    let run_id = &Uuid::new_v4().simple().to_string()[..12];
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
    let topic = format!("bench_{run_id}");
    crate::kafka::admin::ensure_topic(&config.kafka, &topic, opts.partitions, 1).await?;

    say!(
        "[1] producer: cassflow's producer fills topic {topic} with {} records",
        opts.records
    );
    let produced = super::producer::run_cassflow(config, opts, &topic, &work_dir).await?;
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
        match super::producer::run_perf_test(config, opts, &bench_cache, &work_dir).await {
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
    };

    say!(
        "[2] sink throughput: pre-filled topic into a fresh table, until the last row is readable"
    );
    warm_up_cassandra(&ctx).await?;
    if opts.peers.contains(&Peer::Raw) {
        record_sink(&mut results, "raw driver", super::sink::run_raw(&ctx).await);
    }
    if opts.peers.contains(&Peer::Cassflow) {
        for n in &opts.instances {
            let name = format!("cassflow x{n}");
            record_sink(
                &mut results,
                &name,
                super::sink::run_cassflow(&ctx, *n).await,
            );
        }
    }
    let spark = if opts.peers.contains(&Peer::Spark) {
        match super::spark::Spark::install(&ctx).await {
            Ok(s) => Some(s),
            Err(e) => {
                skip(&mut results, "spark", &e.to_string());
                None
            }
        }
    } else {
        None
    };
    if let Some(spark) = &spark {
        record_sink(&mut results, "spark", spark.sink(&ctx).await);
    }
    let connect = if opts.peers.contains(&Peer::Connect) {
        match super::connect::Connect::install(&ctx).await {
            Ok(c) => Some(c),
            Err(e) => {
                skip(&mut results, "kafka connect", &e.to_string());
                None
            }
        }
    } else {
        None
    };
    if let Some(connect) = &connect {
        record_sink(&mut results, "kafka connect", connect.sink(&ctx).await);
    }

    if !opts.latency_rates.is_empty() {
        say!("[3] end-to-end latency: produce time to row readable, at fixed rates");
        if opts.peers.contains(&Peer::Cassflow) {
            record_latency(
                &mut results,
                "cassflow latency",
                super::latency::run_cassflow(&ctx).await,
            );
        }
        if let Some(spark) = &spark {
            record_latency(&mut results, "spark latency", spark.latency(&ctx).await);
        }
        if let Some(connect) = &connect {
            record_latency(
                &mut results,
                "kafka connect latency",
                connect.latency(&ctx).await,
            );
        }
    }

    results.finish().await;
    report::write(&results, opts, &ctx.bench_cache).await?;
    Ok(results)
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
    results.targets = super::targets::targets(&results);
    let bench_cache = install::bench_cache(&config.local.cache_dir());
    report::write(&results, opts, &bench_cache).await?;
    Ok(results)
}

/// A fresh Cassandra compiles its write path on first use: the first peer measured must not
/// pay for that, so the raw loop writes some rows to a scratch table first (not reported).
async fn warm_up_cassandra(ctx: &Ctx) -> Result<(), BenchError> {
    let target = landing::fresh_table(&ctx.session, &ctx.config.cassandra).await?;
    let records = ctx.opts.records.min(50_000);
    let spec = super::worker::WorkerSpec::Raw {
        cassandra: ctx.config.cassandra.clone(),
        keyspace: target.keyspace.clone(),
        table: target.table.clone(),
        records,
        seed: format!("{SEED}-warm-up"),
        concurrency: ctx.opts.raw_concurrency,
    };
    let log = ctx.work_dir.join("warm-up.log");
    let (r, _) = super::producer::run_worker(&ctx.opts.cassflow_bin, &spec, &log).await?;
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
    outcome: Result<super::sink::SinkResult, BenchError>,
) {
    match outcome {
        Ok(r) => {
            say!("    {}", r.line());
            results.sink.push(r);
        }
        Err(e) => {
            say!("    {name}: not reported: {e}");
            skip(results, name, &e.to_string());
        }
    }
}

fn record_latency(
    results: &mut Results,
    name: &str,
    outcome: Result<Vec<super::latency::LatencyResult>, BenchError>,
) {
    match outcome {
        Ok(mut r) => results.latency.append(&mut r),
        Err(e) => {
            say!("    {name}: not reported: {e}");
            skip(results, name, &e.to_string());
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
    command.spawn().map_err(|source| BenchError::Io {
        context: format!("start {:?}", command.as_std().get_program()),
        source,
    })
}

/// SIGTERM to the child's process group, then SIGKILL after `grace`.
pub async fn terminate(child: &mut Child, grace: Duration) {
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;
    let Some(pid) = child.id() else {
        return;
    };
    let group = Pid::from_raw(pid as i32);
    let _ = killpg(group, Signal::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait().await;
    }
}

/// `Err` with the exit status once a child has exited.
pub fn still_running(child: &mut Child, log: &Path) -> Result<(), String> {
    match child.try_wait() {
        Ok(None) => Ok(()),
        Ok(Some(status)) => Err(format!("exited with {status} (log: {})", log.display())),
        Err(e) => Err(e.to_string()),
    }
}

/// Seconds since `t`, for results.
pub fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}
