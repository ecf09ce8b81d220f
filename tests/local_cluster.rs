//! The local stack as a cluster: three Cassandra nodes on 127.0.0.1-3 and three KRaft
//! brokers start (Cassandra one node after another), `cassflow local status` shows all six,
//! the ring has three nodes and the Kafka cluster three brokers, topics and keyspaces
//! cassflow creates without a replication setting get the cluster's (RF 3, and
//! `min.insync.replicas` 2), `cassflow local start` after a kill -9 starts only what is
//! down, and everything stops cleanly. Prints the time and peak memory the start took.

mod common;

use cassflow::local::Server;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `cassflow --config <file> local <args>` in `dir`: exit code and stdout.
fn local(dir: &std::path::Path, file: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(common::cassflow_bin())
        .arg("--config")
        .arg(file)
        .arg("local")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run cassflow local");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The status line of one node (`cassandra-2 running ...`), if shown.
fn node_line<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
}

/// Samples the summed RSS of all java processes below `dir` every 500 ms until `done`.
fn watch_peak_rss(dir: std::path::PathBuf, done: Arc<AtomicBool>, peak: Arc<AtomicU64>) {
    std::thread::spawn(move || {
        let marker = dir.display().to_string();
        while !done.load(Ordering::Relaxed) {
            let mut total = 0;
            for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let path = entry.path();
                let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
                if !String::from_utf8_lossy(&cmdline).contains(&marker) {
                    continue;
                }
                let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
                total += status
                    .lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .unwrap_or(0)
                    * 1024;
            }
            peak.fetch_max(total, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(500));
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_and_three_brokers_start_serve_restart_and_stop() {
    let shared = common::stack_config();
    let dir = tempfile::tempdir().expect("tempdir");
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    watch_peak_rss(dir.path().to_path_buf(), done.clone(), peak.clone());

    let since = Instant::now();
    let cluster = common::cluster::private_cluster(&shared, dir.path(), 3, 3).await;
    let took = since.elapsed();
    let after_start = cluster.rss_bytes();
    eprintln!(
        "3+3 cluster: answering after {:.1}s; RSS after start {} MiB, peak during start {} MiB",
        took.as_secs_f64(),
        after_start >> 20,
        peak.load(Ordering::Relaxed) >> 20
    );
    let config = &cluster.config;
    let file = common::write_config(dir.path(), config, &config.pipelines);

    // Every node is shown, each on its own address, answering.
    let (code, status) = local(dir.path(), &file, &["status"]);
    assert_eq!(code, Some(0), "{status}");
    let cql = config.cassandra.first_contact_point().1;
    for i in 1..=3 {
        let line = node_line(&status, &format!("cassandra-{i}"))
            .unwrap_or_else(|| panic!("no cassandra-{i} in:\n{status}"));
        assert!(line.contains("running"), "{line}");
        assert!(line.contains(&format!("127.0.0.{i}:{cql}")), "{line}");
        let broker = config.kafka.bootstrap.split(',').nth(i - 1).expect("entry");
        let line = node_line(&status, &format!("kafka-{i}"))
            .unwrap_or_else(|| panic!("no kafka-{i} in:\n{status}"));
        assert!(line.contains("running"), "{line}");
        assert!(line.contains(broker), "{line}");
    }
    assert!(
        status.contains(&format!(
            "cassandra-3 log: {}",
            dir.path().join("cassandra-3/logs/system.log").display()
        )),
        "{status}"
    );

    // The ring: three nodes, so each sees two peers.
    let session = common::session(config).await;
    let peers = session
        .query_unpaged("SELECT peer FROM system.peers", &[])
        .await
        .expect("peers")
        .into_rows_result()
        .expect("rows")
        .rows_num();
    assert_eq!(peers, 2, "system.peers of a three-node ring");
    let brokers = cassflow::kafka::admin::probe(&config.kafka, Duration::from_secs(10))
        .await
        .expect("metadata")
        .brokers;
    assert_eq!(brokers, 3, "brokers in the metadata");

    // A topic and a keyspace created without a replication setting get the cluster's.
    let pipeline = common::users_pipeline("cluster");
    assert_eq!(pipeline.topic_replication, None);
    cassflow::kafka::admin::ensure_topic(
        &config.kafka,
        &pipeline.topic,
        3,
        pipeline.topic_replication_factor(),
    )
    .await
    .expect("create the topic");
    let (replicas, min_isr) = topic_replication(config, &pipeline.topic).await;
    assert_eq!(replicas, vec![3, 3, 3], "replicas of each partition");
    assert_eq!(min_isr.as_deref(), Some("2"), "min.insync.replicas");
    cassflow::cassandra::schema::ensure_keyspace(&session, &config.cassandra, &pipeline.keyspace)
        .await
        .expect("create the keyspace");
    let (replication,): (std::collections::HashMap<String, String>,) = session
        .query_unpaged(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
            (&pipeline.keyspace,),
        )
        .await
        .expect("keyspace")
        .into_rows_result()
        .expect("rows")
        .single_row()
        .expect("one keyspace");
    assert_eq!(
        replication.get("replication_factor").map(String::as_str),
        Some("3"),
        "{replication:?}"
    );

    // kill -9 one node of each; `local start` as soon as status calls them stopped (their
    // last threads may still hold their ports) starts those two and leaves the rest.
    for (server, index) in [(Server::Cassandra, 2), (Server::Kafka, 3)] {
        let pid = cluster.pid(server, index);
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill -9");
        let node = cluster.node(server, index);
        for _ in 0..300 {
            if cluster.stack.node_pid(node).is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            cluster.stack.node_pid(node),
            None,
            "{} is down",
            node.name()
        );
    }
    let (code, started) = local(dir.path(), &file, &["start"]);
    assert_eq!(code, Some(0), "{started}");
    for name in ["cassandra-2", "kafka-3"] {
        let line = node_line(&started, name).unwrap_or_else(|| panic!("{name}:\n{started}"));
        assert!(line.contains(" started "), "{line}");
    }
    for name in ["cassandra-1", "cassandra-3", "kafka-1", "kafka-2"] {
        let line = node_line(&started, name).unwrap_or_else(|| panic!("{name}:\n{started}"));
        assert!(line.contains("already running"), "{line}");
    }

    // Everything stops, none killed after the timeout, no JVM left.
    let pids: Vec<u32> = [Server::Kafka, Server::Cassandra]
        .into_iter()
        .flat_map(|s| (1..=3).map(move |i| (s, i)))
        .map(|(s, i)| cluster.pid(s, i))
        .collect();
    let stopped = cluster.stack.stop().await.expect("stop");
    done.store(true, Ordering::Relaxed);
    assert_eq!(stopped.outcomes.len(), 6, "{stopped}");
    assert!(
        stopped
            .outcomes
            .iter()
            .all(|(_, o)| matches!(o, cassflow::local::Stopped::Gracefully(_))),
        "{stopped}"
    );
    for pid in pids {
        // Gone, or a zombie its parent (this test, for the nodes it started) has not reaped.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
        assert!(
            state.is_none_or(|s| s.starts_with('Z') || s.starts_with('X')),
            "pid {pid} still runs: {stat}"
        );
    }
    eprintln!(
        "3+3 cluster: peak RSS over the whole test {} MiB",
        peak.load(Ordering::Relaxed) >> 20
    );
}

/// Each partition's replica count, and the topic's `min.insync.replicas`.
async fn topic_replication(
    config: &cassflow::config::Config,
    topic: &str,
) -> (Vec<usize>, Option<String>) {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = cassflow::kafka::client_config(&config.kafka)
        .create()
        .expect("consumer");
    let name = topic.to_string();
    // A broker may not know a topic created a moment ago yet: ask again for a while.
    let replicas = tokio::task::spawn_blocking(move || {
        let mut replicas = Vec::new();
        for _ in 0..60 {
            let metadata = consumer
                .fetch_metadata(Some(&name), Duration::from_secs(10))
                .expect("metadata");
            replicas = metadata.topics()[0]
                .partitions()
                .iter()
                .map(|p| p.replicas().len())
                .collect::<Vec<_>>();
            if !replicas.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        replicas
    })
    .await
    .expect("metadata task");
    let admin: AdminClient<DefaultClientContext> = cassflow::kafka::client_config(&config.kafka)
        .create()
        .expect("admin");
    let mut last = String::new();
    for _ in 0..60 {
        let described = admin
            .describe_configs(
                [&ResourceSpecifier::Topic(topic)],
                &AdminOptions::new().request_timeout(Some(Duration::from_secs(10))),
            )
            .await;
        match described.map(|mut r| r.pop()) {
            Ok(Some(Ok(resource))) => {
                let min_isr = resource
                    .get("min.insync.replicas")
                    .and_then(|e| e.value.clone());
                // A broker that learned of the topic a moment ago may describe it without
                // its configs yet (seen once on a fresh machine): ask again.
                if min_isr.is_some() {
                    return (replicas, min_isr);
                }
                last = format!(
                    "no min.insync.replicas among {} entries",
                    resource.entries.len()
                );
            }
            other => last = format!("{other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("cannot describe {topic}: {last}");
}
