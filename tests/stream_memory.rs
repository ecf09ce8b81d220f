//! The stream's memory is bounded by bytes, not only by the count of records in flight:
//! `cassflow stream` as a process reads ~1 MiB JSON values whose decoded tree is many times
//! their size (`{"a":[0,0,0,...]}`), and its peak RSS (VmHWM) stays within a bound derived
//! from `stream.max_in_flight_bytes`.
//!
//! `STREAM_MEMORY_BIN=<path>` measures another build with its default settings (how
//! docs/benchmarks.md got its figure for the build before the budget).

mod common;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::process::{Command, Stdio};
use std::time::Duration;

const VALUES: usize = 80;
/// Bytes of each value: under Kafka's and librdkafka's 1 MB message limits.
const VALUE_BYTES: usize = 900_000;
const BUDGET: usize = 16 << 20;

/// `{"id":"<i>","a":[0,0,...]}` of about `VALUE_BYTES` bytes: ~450k JSON values.
fn adversarial(i: usize) -> String {
    let mut v = format!("{{\"id\":\"{i}\",\"a\":[0");
    while v.len() < VALUE_BYTES - 3 {
        v.push_str(",0");
    }
    v.push_str("]}");
    v
}

/// Peak resident set of a process, in bytes (`VmHWM` of /proc/<pid>/status).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM line");
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_values_with_huge_trees_stay_within_the_byte_budget() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let topic = common::unique("bigjson");
    let keyspace = common::unique("ks");
    cassflow::cassandra::schema::ensure_keyspace(&session, &config.cassandra, &keyspace)
        .await
        .expect("keyspace");
    // The array is stored as text: each write carries ~1 MB, so many are in flight.
    session
        .query_unpaged(
            format!("CREATE TABLE {keyspace}.docs (id text PRIMARY KEY, a text)"),
            &[],
        )
        .await
        .expect("create table");
    cassflow::kafka::admin::ensure_topic(&config.kafka, &topic, 4, 1)
        .await
        .expect("topic");
    let producer: FutureProducer = cassflow::kafka::client_config(&config.kafka)
        .set("compression.type", "lz4")
        .create()
        .expect("producer");
    for i in 0..VALUES {
        producer
            .send(
                FutureRecord::<str, str>::to(&topic).payload(&adversarial(i)),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produced");
    }

    let other_build = std::env::var_os("STREAM_MEMORY_BIN");
    // A build from before the budget existed refuses the key; it runs with its defaults.
    let budget = match other_build {
        Some(_) => String::new(),
        None => format!("[stream]\nmax_in_flight_bytes = {BUDGET}\n"),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cassflow.toml");
    std::fs::write(
        &file,
        format!(
            "[kafka]\nbootstrap = \"{}\"\n[cassandra]\ncontact_points = \"{}\"\n\
             {budget}[[pipelines]]\nname = \"{topic}\"\ntopic = \"{topic}\"\nkeyspace = \"{keyspace}\"\ntable = \"docs\"\nformat = \"json\"\n",
            config.kafka.bootstrap, config.cassandra.contact_points,
        ),
    )
    .expect("write config");
    let bin = other_build
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| common::cassflow_bin().to_path_buf());
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(&file)
        .arg("stream")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cassflow stream");
    let rows = common::wait_for_rows(
        &session,
        &keyspace,
        "docs",
        VALUES as i64,
        Duration::from_secs(300),
    )
    .await;
    let peak = peak_rss(child.id());
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    let _ = child.wait();
    assert_eq!(rows, VALUES as i64, "every value written");
    println!(
        "peak RSS of `cassflow stream` for {VALUES} values of {VALUE_BYTES} bytes ({}): {} MiB",
        if budget.is_empty() {
            "default settings".to_string()
        } else {
            format!("max_in_flight_bytes = {BUDGET}")
        },
        peak >> 20
    );
    // What the process needs anyway (runtime, clients, librdkafka's fetch queue, allocator
    // slack) plus the budget four times over plus one decoded tree per worker thread being
    // built (~32 MiB each): generous (223 MiB measured), yet far below what trees kept in
    // flight take (each ~16-32 MiB; the build before the budget peaked at 1396 MiB).
    let bound = (192 << 20) + 4 * BUDGET as u64 + 2 * (32 << 20);
    assert!(
        peak < bound,
        "peak RSS {} MiB exceeds {} MiB",
        peak >> 20,
        bound >> 20
    );
}
