//! The local stack: real Apache Kafka (KRaft) and Apache Cassandra, and with `local.registry`
//! Apicurio Registry, run as background JVM processes on loopback, assembled from Maven
//! Central artifacts, for `cassflow local`, `cassflow up` and the integration tests. Owns the
//! lifecycle (start, wait until answering, status, stop) of every node; which nodes there are
//! and where each lives is [`cluster`]'s, the per-server details live in [`kafka`],
//! [`cassandra`] and [`registry`], and watching and restarting what `cassflow up` started in
//! [`supervisor`].

mod artifacts;
mod cassandra;
mod cluster;
mod error;
mod kafka;
mod process;
mod registry;
mod report;
mod security;
pub mod supervisor;
mod template;

pub use cluster::Node;
pub use error::LocalError;
pub use process::Stopped;
pub use report::{ServerStatus, StackStatus, StartReport, StopReport};

use crate::config::{CassandraConfig, Config, KafkaConfig, LocalConfig, SchemaRegistryConfig};
use process::ProcessFiles;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One of the servers of the local stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Server {
    Kafka,
    Cassandra,
    /// Apicurio Registry, run only with `local.registry` ([`LocalStack::servers`]).
    Registry,
}

impl Server {
    /// Every server, in the stack's order (the order of stops, and of reports).
    pub const ALL: [Server; 3] = [Server::Kafka, Server::Cassandra, Server::Registry];

    /// Short lower-case name: directory names, log file names, pom property prefix.
    pub fn id(self) -> &'static str {
        match self {
            Server::Kafka => "kafka",
            Server::Cassandra => "cassandra",
            Server::Registry => "registry",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Server::Kafka => "Apache Kafka",
            Server::Cassandra => "Apache Cassandra",
            Server::Registry => "Apicurio Registry",
        }
    }

    fn pom(self) -> &'static str {
        match self {
            Server::Kafka => include_str!("../../stack/kafka/pom.xml"),
            Server::Cassandra => include_str!("../../stack/cassandra/pom.xml"),
            Server::Registry => include_str!("../../stack/registry/pom.xml"),
        }
    }

    /// The marker that identifies the process by its command line: its Java main class, or
    /// the registry's own flag.
    fn main_class(self) -> &'static str {
        match self {
            Server::Kafka => kafka::MAIN_CLASS,
            Server::Cassandra => cassandra::MAIN_CLASS,
            Server::Registry => registry::MARKER,
        }
    }
}

/// The local stack as configured: where it keeps its files and which ports it uses.
#[derive(Debug, Clone)]
pub struct LocalStack {
    kafka: KafkaConfig,
    cassandra: CassandraConfig,
    /// The account `local.registry_auth` gives the registry.
    registry: SchemaRegistryConfig,
    local: LocalConfig,
}

/// The ports one stack uses; client ports come from `kafka.bootstrap` and
/// `cassandra.contact_points`, so clients and servers cannot disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub kafka: u16,
    pub kafka_controller: u16,
    pub cassandra: u16,
    pub cassandra_storage: u16,
}

impl LocalStack {
    pub fn new(config: &Config) -> Self {
        let mut local = config.local.clone();
        // The servers get file paths and file:// URIs; make them independent of their cwd.
        if local.data_dir.is_relative() {
            if let Ok(cwd) = std::env::current_dir() {
                local.data_dir = cwd.join(&local.data_dir);
            }
        }
        LocalStack {
            kafka: config.kafka.clone(),
            cassandra: config.cassandra.clone(),
            registry: config.schema_registry.clone(),
            local,
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.local.data_dir
    }

    /// The configured ports, or an error if a client address is not on this machine.
    pub fn ports(&self) -> Result<Ports, LocalError> {
        Ok(Ports {
            kafka: loopback_port("kafka.bootstrap", &self.kafka.bootstrap)?,
            kafka_controller: self.local.kafka_controller_port,
            cassandra: loopback_port("cassandra.contact_points", &self.cassandra.contact_points)?,
            cassandra_storage: self.local.cassandra_storage_port,
        })
    }

    /// The servers this stack runs: Kafka and Cassandra, and the registry with
    /// `local.registry`.
    pub fn servers(&self) -> Vec<Server> {
        Server::ALL
            .into_iter()
            .filter(|&s| s != Server::Registry || self.local.registry)
            .collect()
    }

    /// Every node of `server` this stack runs (`local.kafka_brokers`,
    /// `local.cassandra_nodes`; one registry with `local.registry`, else none).
    pub fn nodes(&self, server: Server) -> Vec<Node> {
        let count = match server {
            Server::Kafka => self.local.kafka_brokers,
            Server::Cassandra => self.local.cassandra_nodes,
            Server::Registry if self.local.registry => 1,
            Server::Registry => return Vec::new(),
        };
        Node::all(server, count)
    }

    fn nodes_of(&self, servers: &[Server]) -> Vec<Node> {
        Server::ALL
            .into_iter()
            .filter(|s| servers.contains(s))
            .flat_map(|s| self.nodes(s))
            .collect()
    }

    fn node_dir(&self, node: Node) -> PathBuf {
        node.dir(&self.local.data_dir)
    }

    fn files(&self, node: Node) -> ProcessFiles {
        let dir = self.node_dir(node);
        ProcessFiles {
            pid: dir.join(format!("{}.pid", node.server.id())),
            log: dir.join("logs").join("console.log"),
            marker: node.server.main_class().to_string(),
        }
    }

    /// The log a user should read when `server` (its first node) misbehaves.
    pub fn log_path(&self, server: Server) -> PathBuf {
        self.node_log_path(Node::all(server, 1)[0])
    }

    /// The Confluent-compatible API of the stack's registry, when it runs one.
    pub fn registry_url(&self) -> Option<String> {
        self.local.registry_url()
    }

    /// The log a user should read when a node misbehaves: the server's own log (its
    /// console log holds only what the JVM prints before logging starts).
    pub fn node_log_path(&self, node: Node) -> PathBuf {
        let logs = self.node_dir(node).join("logs");
        match node.server {
            Server::Kafka => logs.join("server.log"),
            Server::Cassandra => logs.join("system.log"),
            // Quarkus logs to its console, which is this file.
            Server::Registry => logs.join("console.log"),
        }
    }

    /// The pid of a node, if it runs.
    pub fn node_pid(&self, node: Node) -> Option<u32> {
        process::running_pid(&self.files(node))
    }

    /// The nodes of `server` that run now, with their pids.
    pub fn running(&self, server: Server) -> Vec<(Node, u32)> {
        self.nodes(server)
            .into_iter()
            .filter_map(|node| Some((node, self.node_pid(node)?)))
            .collect()
    }

    /// Resolves every server's jars (the registry's unpacked tarball) into the cache
    /// (downloading them on first use) without starting anything; returns each server's
    /// folder. `scripts/dev setup` runs this so that tests, which start private servers,
    /// never download.
    pub fn fetch(&self) -> Result<Vec<(Server, PathBuf)>, LocalError> {
        let cache = self.local.cache_dir();
        self.servers()
            .into_iter()
            .map(|server| {
                let lib =
                    artifacts::ensure(server, self.version(server), &cache, &self.local.maven)?;
                Ok((server, lib))
            })
            .collect()
    }

    /// Starts every server unless it runs already, and waits until each answers.
    pub async fn start(&self) -> Result<StartReport, LocalError> {
        self.start_only(&self.servers()).await
    }

    /// Starts every node of the given servers unless it runs already, and waits until each
    /// answers.
    pub async fn start_only(&self, servers: &[Server]) -> Result<StartReport, LocalError> {
        self.start_nodes(&self.nodes_of(servers)).await
    }

    /// Starts the given nodes unless they run already, and waits until each answers: Kafka's
    /// brokers all at once (a controller quorum forms only once a majority runs), Cassandra's
    /// nodes one after another in index order (Cassandra refuses concurrent bootstraps, and a
    /// node joins through the seeds, nodes 1 and 2), the servers side by side.
    pub async fn start_nodes(&self, nodes: &[Node]) -> Result<StartReport, LocalError> {
        let ports = self.ports()?;
        std::fs::create_dir_all(&self.local.data_dir)
            .map_err(|e| LocalError::io(format!("create {}", self.local.data_dir.display()), e))?;
        let _lock = self.lock().await?;
        let mut pending = Vec::new();
        let mut report = StartReport::default();
        for &node in nodes {
            if let Some(pid) = self.node_pid(node) {
                report.already_running.push((node, pid));
                continue;
            }
            // Just killed (kill -9, a crash): its ports are free once its last thread is gone.
            if let Some(pid) = process::recorded_pid(&self.files(node)) {
                process::wait_gone(pid, Duration::from_secs(10)).await;
            }
            self.check_ports_free(node, &ports)?;
            pending.push(node);
        }
        if pending.iter().any(|n| n.server != Server::Registry) {
            check_java(&self.local.java)?;
        }
        if pending.iter().any(|n| n.server == Server::Registry) {
            registry::check_java(&self.local.registry_java())?;
        }
        // The registry needs no one: it starts beside the brokers.
        let (at_once, cassandra): (Vec<Node>, Vec<Node>) = pending
            .into_iter()
            .partition(|n| n.server != Server::Cassandra);
        let mut launched = Vec::new();
        for &node in &at_once {
            let pid = self.launch(node, &ports)?;
            launched.push((node, pid, Instant::now()));
        }
        let kafka = futures::future::join_all(
            launched
                .iter()
                .map(|&(node, pid, since)| self.wait_ready(node, pid, since)),
        );
        let cassandra = async {
            let mut ready = Vec::new();
            for &node in &cassandra {
                let pid = self.launch(node, &ports)?;
                ready.push(self.wait_ready(node, pid, Instant::now()).await?);
            }
            Ok::<_, LocalError>(ready)
        };
        let (kafka, cassandra) = futures::future::join(kafka, cassandra).await;
        for result in kafka {
            report.started.push(result?);
        }
        report.started.extend(cassandra?);
        for &(node, pid) in &report.already_running {
            let version = self.probe_node(node, Duration::from_secs(10)).await.ok();
            report.started_versions.push((node, pid, version));
        }
        Ok(report)
    }

    /// Writes one node's config and spawns it; returns its pid.
    fn launch(&self, node: Node, ports: &Ports) -> Result<u32, LocalError> {
        let server = node.server;
        let version = self.version(server);
        let lib = artifacts::ensure(server, version, &self.local.cache_dir(), &self.local.maven)?;
        let dir = self.node_dir(node);
        let files = self.files(node);
        for sub in ["logs", "conf", "data"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| LocalError::io(format!("create {}", dir.join(sub).display()), e))?;
        }
        let command = match server {
            Server::Kafka => {
                let first = self.node_dir(self.nodes(server)[0]).join("data");
                let spec = self.broker_spec(node)?;
                kafka::prepare(&self.local, &spec, &lib, &dir, &first, &files.log)?
            }
            Server::Cassandra => {
                cassandra::prepare(&self.local, &self.cassandra_spec(node, ports), &lib, &dir)?
            }
            Server::Registry => registry::prepare(&self.local, &self.registry, &lib, &dir)?,
        };
        let pid = process::spawn(command, &files)?;
        std::fs::write(dir.join("version"), version)
            .map_err(|e| LocalError::io(format!("write {}", dir.join("version").display()), e))?;
        tracing::info!(
            node = %node.name(),
            pid,
            "started, waiting until it answers"
        );
        Ok(pid)
    }

    /// Stops every server (Kafka first, so no client is left writing to a stopped database).
    pub async fn stop(&self) -> Result<StopReport, LocalError> {
        self.stop_only(&self.servers()).await
    }

    /// Stops every node of the given servers, in the stack's order.
    pub async fn stop_only(&self, servers: &[Server]) -> Result<StopReport, LocalError> {
        self.stop_nodes(&self.nodes_of(servers)).await
    }

    /// Stops the given nodes: Kafka's first, then Cassandra's, then the registry, the nodes
    /// of one server at once (one at a time, the last brokers of a quorum would wait for a majority that
    /// is gone).
    pub async fn stop_nodes(&self, nodes: &[Node]) -> Result<StopReport, LocalError> {
        let mut report = StopReport::default();
        for server in Server::ALL {
            let of_server: Vec<Node> = nodes
                .iter()
                .copied()
                .filter(|n| n.server == server)
                .collect();
            let stops = of_server.iter().map(|&node| async move {
                let outcome = process::stop(&self.files(node), self.local.stop_timeout).await;
                // The report prints one line per node; this is for --log-level debug only.
                tracing::debug!(node = %node.name(), ?outcome, "stopped");
                (node, outcome)
            });
            report
                .outcomes
                .extend(futures::future::join_all(stops).await);
        }
        Ok(report)
    }

    /// What runs, on which address, since when, with how much memory and data: one entry
    /// per node.
    pub async fn status(&self) -> StackStatus {
        let ports = self.ports().ok();
        let mut servers = Vec::new();
        for node in self.nodes_of(&self.servers()) {
            let server = node.server;
            let pid = self.node_pid(node);
            let answering = match pid {
                Some(_) => self.probe_node(node, Duration::from_secs(5)).await.ok(),
                None => None,
            };
            let dir = self.node_dir(node);
            let version = std::fs::read_to_string(dir.join("version"))
                .ok()
                .map(|v| v.trim().to_string());
            let address = match server {
                Server::Kafka => self
                    .kafka_listener(node)
                    .ok()
                    .map(|(host, port)| format!("{host}:{port}")),
                Server::Cassandra => ports
                    .map(|p| format!("{}:{}", cluster::cassandra_address(node.index), p.cassandra)),
                Server::Registry => Some(format!("127.0.0.1:{}", self.local.registry_port)),
            };
            servers.push(ServerStatus {
                server,
                node,
                pid,
                answering_version: answering,
                configured_version: version.unwrap_or_else(|| self.version(server).to_string()),
                address,
                uptime: pid.and_then(process::uptime),
                rss_bytes: pid.and_then(process::rss_bytes),
                data_bytes: process::dir_size(&dir.join("data")),
                log: self.node_log_path(node),
                url: (server == Server::Registry)
                    .then(|| self.registry_url())
                    .flatten(),
            });
        }
        StackStatus { servers }
    }

    /// The end of the logs of one server's nodes, or of every node.
    pub fn logs(&self, server: Option<Server>, lines: usize) -> Result<String, LocalError> {
        let mut out = String::new();
        for node in self.nodes_of(&self.servers()) {
            if server.is_some_and(|x| x != node.server) {
                continue;
            }
            let path = self.node_log_path(node);
            out.push_str(&format!("==> {} <==\n", path.display()));
            match process::tail(&path, lines) {
                Ok(text) => out.push_str(&text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    out.push_str("(no log yet: the server has not been started here)\n")
                }
                Err(e) => return Err(LocalError::io(format!("read {}", path.display()), e)),
            }
        }
        Ok(out)
    }

    fn version(&self, server: Server) -> &str {
        match server {
            Server::Kafka => &self.local.kafka_version,
            Server::Cassandra => &self.local.cassandra_version,
            Server::Registry => &self.local.registry_version,
        }
    }

    /// How the stack's own checks reach its Cassandra ([`security::client_config`]).
    fn cassandra_client(&self) -> CassandraConfig {
        security::client_config(
            &self.cassandra,
            &self.local,
            &security::TlsFiles::of_stack(&self.local),
        )
    }

    /// Proof that the server serves clients: a Kafka metadata request, CQL
    /// `SELECT release_version FROM system.local`, or a registry's subject list on
    /// `local.registry_port`. Returns the version to show.
    pub async fn probe(&self, server: Server, timeout: Duration) -> Result<String, String> {
        match server {
            Server::Kafka => crate::kafka::admin::probe(&self.kafka, timeout)
                .await
                .map(|_| self.local.kafka_version.clone())
                .map_err(|e| e.to_string()),
            Server::Cassandra => {
                let cfg = self.cassandra_client();
                security::probe(&cfg, &self.local, timeout)
                    .await
                    .map_err(|e| e.to_string())
            }
            Server::Registry => registry::probe_api(&self.local, timeout).await,
        }
    }

    /// Proof that one node serves clients: a metadata request to that broker alone, or
    /// `system.local` over a session that talks to that node alone (a Cassandra node
    /// serves CQL only once it has joined the ring: up and normal), or the registry's
    /// readiness check.
    pub async fn probe_node(&self, node: Node, timeout: Duration) -> Result<String, String> {
        match node.server {
            Server::Kafka => {
                let (host, port) = self.kafka_listener(node).map_err(|e| e.to_string())?;
                let kafka = KafkaConfig {
                    bootstrap: format!("{host}:{port}"),
                    ..self.kafka.clone()
                };
                crate::kafka::admin::probe(&kafka, timeout)
                    .await
                    .map(|_| self.local.kafka_version.clone())
                    .map_err(|e| e.to_string())
            }
            Server::Cassandra => {
                let port = self.ports().map_err(|e| e.to_string())?.cassandra;
                let address = SocketAddrV4::new(cluster::cassandra_address(node.index), port);
                let cfg = self.cassandra_client();
                security::probe_node(&cfg, &self.local, address.into(), timeout)
                    .await
                    .map_err(|e| e.to_string())
            }
            Server::Registry => registry::probe_ready(&self.local, timeout).await,
        }
    }

    async fn wait_ready(
        &self,
        node: Node,
        pid: u32,
        since: Instant,
    ) -> Result<(Node, u32, String, Duration), LocalError> {
        let files = self.files(node);
        let log = self.node_log_path(node);
        loop {
            if !process::is_alive(pid) {
                return Err(LocalError::Exited {
                    server: node.display_name(),
                    detail: exit_detail(&node.name(), &files.log, &log),
                    log: files.log.clone(),
                });
            }
            if let Ok(version) = self.probe_node(node, Duration::from_secs(3)).await {
                let took = since.elapsed();
                tracing::info!(node = %node.name(), pid, %version, took_s = took.as_secs_f64(), "answering");
                return Ok((node, pid, version, took));
            }
            if since.elapsed() > self.local.start_timeout {
                return Err(LocalError::StartTimeout {
                    server: node.display_name(),
                    timeout: self.local.start_timeout,
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// An exclusive lock on the data directory for the duration of a start, so that
    /// concurrent starts (parallel test binaries) start each server once.
    async fn lock(&self) -> Result<nix::fcntl::Flock<std::fs::File>, LocalError> {
        let path = self.local.data_dir.join(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| LocalError::io(format!("open {}", path.display()), e))?;
        tokio::task::spawn_blocking(move || {
            nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(
                |(_, errno)| LocalError::io(format!("lock {}", path.display()), errno.into()),
            )
        })
        .await
        .map_err(|e| LocalError::io("lock task", std::io::Error::other(e)))?
    }
}

/// The port of the first `host:port` in `list`, which must be a loopback host.
fn loopback_port(key: &str, list: &str) -> Result<u16, LocalError> {
    let not_local = || LocalError::NotLocal {
        what: key.into(),
        value: list.into(),
    };
    let (host, port) = crate::config::first_host_port(list).ok_or_else(not_local)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let is_loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if !is_loopback {
        return Err(not_local());
    }
    Ok(port)
}

fn check_java(java: &Path) -> Result<(), LocalError> {
    match std::process::Command::new(java).arg("-version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err(LocalError::ToolMissing {
            tool: "Java (JDK 17 or newer)".into(),
            key: "local.java".into(),
            install: "apt-get install openjdk-17-jdk-headless".into(),
        }),
    }
}

/// The line of a node's logs that explains why it exited, if one does.
fn exit_detail(node: &str, console: &Path, log: &Path) -> String {
    let mut text = process::tail(console, 200).unwrap_or_default();
    if log != console {
        text.push_str(&process::tail(log, 200).unwrap_or_default());
    }
    // Most telling first: a bind failure, then an exception's own message line
    // (`SomeException: what happened`), then any error line.
    let needles = [
        "Address already in use",
        "BindException",
        "Failed to bind",
        "UnsupportedClassVersionError",
        "OutOfMemoryError",
        "Exception: ",
        "Exception in thread",
        "ERROR",
    ];
    for needle in needles {
        if let Some(line) = text.lines().find(|l| l.contains(needle)) {
            let line = line.trim();
            let short: String = line.chars().take(300).collect();
            let hint = if needle.contains("ddress already in use") || needle.contains("ind") {
                " (another process holds one of its ports)"
            } else {
                ""
            };
            return format!(": {short}{hint}; server: {node}");
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn loopback_ports() {
        assert_eq!(loopback_port("k", "localhost:9092").ok(), Some(9092));
        assert_eq!(loopback_port("k", "127.0.0.1:19092,x:1").ok(), Some(19092));
        assert_eq!(loopback_port("k", "[::1]:9042").ok(), Some(9042));
        assert!(matches!(
            loopback_port("kafka.bootstrap", "kafka.example:9092"),
            Err(LocalError::NotLocal { .. })
        ));
    }

    #[test]
    fn taken_port_is_reported_with_its_key() {
        let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = holder.local_addr().expect("addr").port();
        let mut config = Config::default();
        config.kafka.bootstrap = format!("127.0.0.1:{port}");
        let stack = LocalStack::new(&config);
        let ports = stack.ports().expect("ports");
        let broker = stack.nodes(Server::Kafka)[0];
        let err = stack.check_ports_free(broker, &ports).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&format!("port {port}")), "{text}");
        assert!(text.contains("kafka.bootstrap"), "{text}");
    }

    #[test]
    fn the_registry_runs_only_when_configured_and_its_taken_port_names_its_key() {
        let mut config = Config::default();
        let stack = LocalStack::new(&config);
        assert_eq!(stack.servers(), [Server::Kafka, Server::Cassandra]);
        assert!(stack.nodes(Server::Registry).is_empty());

        let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = holder.local_addr().expect("addr").port();
        config.local.registry = true;
        config.local.registry_management_port = port;
        let stack = LocalStack::new(&config);
        assert_eq!(stack.servers(), Server::ALL);
        let registry = stack.nodes(Server::Registry);
        assert_eq!(registry.len(), 1);
        assert_eq!(registry[0].name(), "registry");
        let ports = stack.ports().expect("ports");
        let text = stack
            .check_ports_free(registry[0], &ports)
            .unwrap_err()
            .to_string();
        assert!(text.contains(&format!("port {port}")), "{text}");
        assert!(text.contains("local.registry_management_port"), "{text}");
    }
}
