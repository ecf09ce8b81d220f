//! A private cluster for fault tests: `cassandra_nodes` Cassandra nodes (127.0.0.1..3) and
//! `kafka_brokers` Kafka brokers of the local stack in a temp data dir, on reserved ports,
//! with helpers to kill -9, SIGSTOP, resume and restart one node by index. The [`Cluster`]
//! guard stops every node when dropped, even when an assertion fails: a 3+3 cluster holds
//! several GB, so run one at a time and never leave one behind.
//!
//! Heaps: 768m per Cassandra node and 384m per broker, so three of each fit a 2-core, 24 GB
//! machine beside the shared test stack.
//!
//! [`shared`] is the 3+3 cluster the tests of one binary take in turn: it starts once (a
//! minute or two) instead of once per test, is healed before each test takes it, and is
//! stopped when the test binary exits.

use cassflow::config::Config;
use cassflow::local::{LocalStack, Node, Server};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};

/// A running private cluster; its config points at it for both servers.
pub struct Cluster {
    pub config: Config,
    pub stack: LocalStack,
}

/// The first of three consecutive reserved ports (controller and JMX ports are a first
/// port plus the node's index minus 1). [`super::free_ports`] reserves ports one after
/// another from a place of its own in the range, so its picks are consecutive unless
/// another test holds one between them; then it tries again further on.
fn three_consecutive_ports() -> u16 {
    for _ in 0..50 {
        let [a, b, c] = super::free_ports();
        if b == a + 1 && c == b + 1 {
            return a;
        }
    }
    panic!("no three consecutive free ports");
}

/// Starts a private cluster (Cassandra nodes one after another, then ready when every
/// node answers on its own address) and returns its guard.
pub async fn private_cluster(
    shared: &Config,
    dir: &Path,
    cassandra_nodes: u8,
    kafka_brokers: u8,
) -> Cluster {
    let mut config = shared.clone();
    let brokers: [u16; 5] = super::free_ports();
    let [cql, storage] = super::free_ports();
    config.kafka.bootstrap = brokers[..usize::from(kafka_brokers)]
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    config.cassandra.contact_points = (1..=cassandra_nodes)
        .map(|i| format!("127.0.0.{i}:{cql}"))
        .collect::<Vec<_>>()
        .join(",");
    config.local.kafka_brokers = kafka_brokers;
    config.local.cassandra_nodes = cassandra_nodes;
    config.local.kafka_controller_port = three_consecutive_ports();
    config.local.cassandra_storage_port = storage;
    config.local.cassandra_jmx_port = Some(three_consecutive_ports());
    config.local.data_dir = dir.to_path_buf();
    config.local.kafka_heap = "384m".into();
    config.local.cassandra_heap = "768m".into();
    // The shared stack's registry holds its ports; a cluster needs none of its own.
    config.local.registry = false;
    config.validate().expect("the cluster's config is valid");
    let stack = LocalStack::new(&config);
    let cluster = Cluster {
        config,
        stack: stack.clone(),
    };
    // The guard exists before the start, so a start that fails half-way stops what runs.
    if let Err(e) = stack.start().await {
        panic!("the private cluster did not start: {e}");
    }
    cluster
}

/// The shared cluster and the temp dir that holds its nodes (removed after them).
struct Shared {
    cluster: Cluster,
    _dir: tempfile::TempDir,
}

/// The binary's shared cluster, started by the first test that asks for it.
static SHARED: Mutex<Option<Shared>> = Mutex::const_new(None);

/// The shared cluster, held by one test at a time (the next waits until this guard drops).
pub struct SharedCluster(MutexGuard<'static, Option<Shared>>);

impl std::ops::Deref for SharedCluster {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        match self.0.as_ref() {
            Some(shared) => &shared.cluster,
            None => unreachable!("a SharedCluster is made only once the cluster runs"),
        }
    }
}

/// Takes the binary's 3+3 cluster (3 Cassandra nodes, 3 brokers) for one test: starts it on
/// first use, and otherwise heals what an earlier test left (a paused node continued, a
/// stopped or killed one started again), so each test begins on a whole cluster. Each test
/// uses its own topic and keyspace on it.
pub async fn shared() -> SharedCluster {
    let mut guard = SHARED.lock().await;
    match guard.as_ref() {
        Some(shared) => shared.cluster.heal().await,
        None => {
            let dir = tempfile::tempdir().expect("tempdir");
            let cluster = private_cluster(&super::stack_config(), dir.path(), 3, 3).await;
            *guard = Some(Shared { cluster, _dir: dir });
            // SAFETY: registers a plain `extern "C"` function; nothing else is involved.
            unsafe { nix::libc::atexit(stop_shared) };
        }
    }
    SharedCluster(guard)
}

/// Stops the shared cluster as the test binary exits (libtest returns from `main` or calls
/// `exit`; both run `atexit` handlers). Statics are never dropped, so without this its JVMs
/// would outlive the tests.
extern "C" fn stop_shared() {
    if let Ok(mut guard) = SHARED.try_lock() {
        drop(guard.take()); // Cluster's drop stops every node, then the temp dir goes.
    }
}

impl Cluster {
    /// Node `index` (from 1) of `server`.
    pub fn node(&self, server: Server, index: u8) -> Node {
        self.stack
            .nodes(server)
            .into_iter()
            .find(|n| n.index == index)
            .unwrap_or_else(|| panic!("no {} node {index}", server.id()))
    }

    /// The pid of a running node.
    pub fn pid(&self, server: Server, index: u8) -> u32 {
        self.stack
            .node_pid(self.node(server, index))
            .unwrap_or_else(|| panic!("{} node {index} is not running", server.id()))
    }

    fn signal(&self, server: Server, index: u8, signal: Signal) -> u32 {
        let pid = self.pid(server, index);
        kill(Pid::from_raw(pid as i32), signal).expect("signal the node");
        pid
    }

    /// kill -9 one node, and wait (up to 30 s) until it is gone: every thread exited, so
    /// its sockets are closed (its main thread turns zombie before the others are done).
    pub async fn kill(&self, server: Server, index: u8) {
        let pid = self.signal(server, index, Signal::SIGKILL);
        for _ in 0..300 {
            let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |t| t.count());
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            if threads <= 1 && state.is_none_or(|s| s.starts_with('Z') || s.starts_with('X')) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} node {index} (pid {pid}) outlived kill -9", server.id());
    }

    /// SIGSTOP one node: it keeps its sockets and connections, and answers nothing (a grey
    /// failure). [`Cluster::resume`] continues it; the guard does too before it stops.
    pub fn pause(&self, server: Server, index: u8) {
        self.signal(server, index, Signal::SIGSTOP);
    }

    /// SIGCONT a paused node.
    pub fn resume(&self, server: Server, index: u8) {
        self.signal(server, index, Signal::SIGCONT);
    }

    /// Starts one node again (after [`Cluster::kill`]) and waits until it answers.
    pub async fn restart(&self, server: Server, index: u8) {
        let node = self.node(server, index);
        if let Err(e) = self.stack.start_nodes(&[node]).await {
            panic!("{} did not restart: {e}", node.name());
        }
    }

    /// Stops one node gracefully (SIGTERM, as an operator's restart does), and waits until it
    /// is gone.
    pub async fn stop(&self, server: Server, index: u8) {
        let node = self.node(server, index);
        if let Err(e) = self.stack.stop_nodes(&[node]).await {
            panic!("{} did not stop: {e}", node.name());
        }
    }

    /// Every node continued (after [`Cluster::pause`]) and running (after a kill or stop),
    /// each answering.
    pub async fn heal(&self) {
        self.continue_all();
        if let Err(e) = self.stack.start().await {
            panic!("the cluster did not heal: {e}");
        }
        self.wait_in_sync().await;
    }

    /// Waits until every partition of every topic (the group offsets' own included) has all
    /// its replicas in sync: a broker restarted by the test before is answering before it
    /// has caught up, and a test that stops another broker meanwhile would leave partitions
    /// below `min.insync.replicas`, refusing writes and offset commits.
    async fn wait_in_sync(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
        loop {
            let kafka = self.config.kafka.clone();
            let lagging = tokio::task::spawn_blocking(move || out_of_sync(&kafka))
                .await
                .expect("the metadata task");
            if lagging.is_empty() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "partitions not in sync 180 s after the heal: {lagging:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// SIGCONT to every running node: a no-op for one that was not paused.
    fn continue_all(&self) {
        for node in Server::ALL.into_iter().flat_map(|s| self.stack.nodes(s)) {
            if let Some(pid) = self.stack.node_pid(node) {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGCONT);
            }
        }
    }

    /// Resident memory of every running node together, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        Server::ALL
            .into_iter()
            .flat_map(|s| self.stack.nodes(s))
            .filter_map(|n| self.stack.node_pid(n))
            .filter_map(|pid| {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
                let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .sum::<u64>()
            * 1024
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let stack = self.stack.clone();
        // A stopped process takes SIGTERM only once continued.
        self.continue_all();
        // Dropped inside the test's runtime: stop on a runtime of its own thread.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Runtime::new() {
                let _ = rt.block_on(stack.stop());
            }
        })
        .join();
    }
}

/// The partitions (`topic/partition`) with a replica out of sync, or why metadata failed.
fn out_of_sync(kafka: &cassflow::config::KafkaConfig) -> Vec<String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = match cassflow::kafka::client_config(kafka).create() {
        Ok(consumer) => consumer,
        Err(e) => return vec![format!("client: {e}")],
    };
    match consumer.fetch_metadata(None, Duration::from_secs(10)) {
        Ok(metadata) => metadata
            .topics()
            .iter()
            .flat_map(|t| {
                t.partitions()
                    .iter()
                    .filter(|p| p.isr().len() < p.replicas().len())
                    .map(move |p| format!("{}/{}", t.name(), p.id()))
            })
            .collect(),
        Err(e) => vec![format!("metadata: {e}")],
    }
}
