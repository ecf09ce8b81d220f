//! The local stack: real Apache Kafka (KRaft) and Apache Cassandra run as background JVM
//! processes on loopback, assembled from Maven Central artifacts, for `cassflow local`,
//! `cassflow up` and the integration tests. Owns the lifecycle (start, wait until answering,
//! status, stop); the per-server details live in [`kafka`] and [`cassandra`], and watching
//! and restarting what `cassflow up` started in [`supervisor`].

mod artifacts;
mod cassandra;
mod kafka;
mod process;
mod report;
mod security;
pub mod supervisor;
mod template;

pub use report::{ServerStatus, StackStatus, StartReport, StopReport};

use crate::config::{CassandraConfig, Config, KafkaConfig, LocalConfig};
use process::ProcessFiles;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    #[error("{tool} not found (fix: {install}, or set {key} to its path)")]
    ToolMissing {
        tool: String,
        key: String,
        install: String,
    },
    #[error("could not resolve {server} {version} from Maven Central: {hint} (log: {log})")]
    Resolve {
        server: String,
        version: String,
        log: PathBuf,
        hint: String,
    },
    #[error("port {port} for {what} is already in use by another process (fix: stop that process, or set {key} to a free port)")]
    PortTaken {
        what: String,
        port: u16,
        key: String,
    },
    #[error("{server} exited during start{detail} (log: {log})")]
    Exited {
        server: String,
        detail: String,
        log: PathBuf,
    },
    #[error("{server} did not answer within {timeout:?} (fix: read the log, or raise local.start_timeout) (log: {log})")]
    StartTimeout {
        server: String,
        timeout: Duration,
        log: PathBuf,
    },
    #[error("{server} failed to prepare: {detail} (log: {log})")]
    Prepare {
        server: String,
        detail: String,
        log: PathBuf,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} must be a loopback host:port to run locally, but is `{value}` (fix: point it at 127.0.0.1 or localhost, or run your own server)")]
    NotLocal { what: String, value: String },
}

impl LocalError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        LocalError::Io {
            context: context.into(),
            source,
        }
    }
}

/// One of the two servers of the local stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Server {
    Kafka,
    Cassandra,
}

impl Server {
    pub const ALL: [Server; 2] = [Server::Kafka, Server::Cassandra];

    /// Short lower-case name: directory names, log file names, pom property prefix.
    pub fn id(self) -> &'static str {
        match self {
            Server::Kafka => "kafka",
            Server::Cassandra => "cassandra",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Server::Kafka => "Apache Kafka",
            Server::Cassandra => "Apache Cassandra",
        }
    }

    fn pom(self) -> &'static str {
        match self {
            Server::Kafka => include_str!("../../stack/kafka/pom.xml"),
            Server::Cassandra => include_str!("../../stack/cassandra/pom.xml"),
        }
    }

    /// The Java main class: also the marker that identifies the process by its command line.
    fn main_class(self) -> &'static str {
        match self {
            Server::Kafka => kafka::MAIN_CLASS,
            Server::Cassandra => cassandra::MAIN_CLASS,
        }
    }
}

/// The local stack as configured: where it keeps its files and which ports it uses.
#[derive(Debug, Clone)]
pub struct LocalStack {
    kafka: KafkaConfig,
    cassandra: CassandraConfig,
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

    fn server_dir(&self, server: Server) -> PathBuf {
        self.local.data_dir.join(server.id())
    }

    fn files(&self, server: Server) -> ProcessFiles {
        let dir = self.server_dir(server);
        ProcessFiles {
            pid: dir.join(format!("{}.pid", server.id())),
            log: dir.join("logs").join("console.log"),
            marker: server.main_class().to_string(),
        }
    }

    /// The log a user should read when `server` misbehaves: the server's own log (its
    /// console log holds only what the JVM prints before logging starts).
    pub fn log_path(&self, server: Server) -> PathBuf {
        let logs = self.server_dir(server).join("logs");
        match server {
            Server::Kafka => logs.join("server.log"),
            Server::Cassandra => logs.join("system.log"),
        }
    }

    /// Resolves both servers' jars into the cache (downloading them on first use) without
    /// starting anything; returns each server's lib folder. `scripts/dev setup` runs this so
    /// that tests, which start private servers, never download.
    pub fn fetch(&self) -> Result<Vec<(Server, PathBuf)>, LocalError> {
        let cache = self.local.cache_dir();
        Server::ALL
            .iter()
            .map(|&server| {
                let lib =
                    artifacts::ensure(server, self.version(server), &cache, &self.local.maven)?;
                Ok((server, lib))
            })
            .collect()
    }

    /// Starts both servers unless they run already, and waits until each answers.
    pub async fn start(&self) -> Result<StartReport, LocalError> {
        self.start_only(&Server::ALL).await
    }

    /// Starts the given servers unless they run already, and waits until each answers.
    pub async fn start_only(&self, servers: &[Server]) -> Result<StartReport, LocalError> {
        let ports = self.ports()?;
        std::fs::create_dir_all(&self.local.data_dir)
            .map_err(|e| LocalError::io(format!("create {}", self.local.data_dir.display()), e))?;
        let _lock = self.lock().await?;
        let mut pending = Vec::new();
        let mut report = StartReport::default();
        for &server in servers {
            let files = self.files(server);
            if let Some(pid) = process::running_pid(&files) {
                report.already_running.push((server, pid));
                continue;
            }
            self.check_ports_free(server, &ports)?;
            pending.push(server);
        }
        if !pending.is_empty() {
            check_java(&self.local.java)?;
        }
        let cache = self.local.cache_dir();
        let mut launched = Vec::new();
        for server in pending {
            let version = self.version(server);
            let lib = artifacts::ensure(server, version, &cache, &self.local.maven)?;
            let dir = self.server_dir(server);
            let files = self.files(server);
            for sub in ["logs", "conf", "data"] {
                std::fs::create_dir_all(dir.join(sub)).map_err(|e| {
                    LocalError::io(format!("create {}", dir.join(sub).display()), e)
                })?;
            }
            let command = match server {
                Server::Kafka => kafka::prepare(&self.local, &ports, &lib, &dir, &files.log)?,
                Server::Cassandra => cassandra::prepare(&self.local, &ports, &lib, &dir)?,
            };
            let pid = process::spawn(command, &files)?;
            std::fs::write(dir.join("version"), version).map_err(|e| {
                LocalError::io(format!("write {}", dir.join("version").display()), e)
            })?;
            tracing::info!(
                server = server.id(),
                pid,
                "started, waiting until it answers"
            );
            launched.push((server, pid, Instant::now()));
        }
        let waits = launched
            .iter()
            .map(|&(server, pid, since)| self.wait_ready(server, pid, since));
        for result in futures::future::join_all(waits).await {
            report.started.push(result?);
        }
        for &(server, pid) in &report.already_running {
            let version = self.probe(server, Duration::from_secs(10)).await.ok();
            report.started_versions.push((server, pid, version));
        }
        Ok(report)
    }

    /// Stops both servers (Kafka first, so no client is left writing to a stopped database).
    pub async fn stop(&self) -> Result<StopReport, LocalError> {
        self.stop_only(&Server::ALL).await
    }

    /// Stops the given servers, in the stack's order.
    pub async fn stop_only(&self, servers: &[Server]) -> Result<StopReport, LocalError> {
        let mut report = StopReport::default();
        for server in Server::ALL.into_iter().filter(|s| servers.contains(s)) {
            let outcome = process::stop(&self.files(server), self.local.stop_timeout).await;
            // The report prints one line per server; this is for --log-level debug only.
            tracing::debug!(server = server.id(), ?outcome, "stopped");
            report.outcomes.push((server, outcome));
        }
        Ok(report)
    }

    /// What runs, on which ports, since when, with how much memory and data.
    pub async fn status(&self) -> StackStatus {
        let ports = self.ports().ok();
        let mut servers = Vec::new();
        for server in Server::ALL {
            let files = self.files(server);
            let pid = process::running_pid(&files);
            let answering = match pid {
                Some(_) => self.probe(server, Duration::from_secs(5)).await.ok(),
                None => None,
            };
            let version = std::fs::read_to_string(self.server_dir(server).join("version"))
                .ok()
                .map(|v| v.trim().to_string());
            servers.push(ServerStatus {
                server,
                pid,
                answering_version: answering,
                configured_version: version.unwrap_or_else(|| self.version(server).to_string()),
                port: ports.map(|p| match server {
                    Server::Kafka => p.kafka,
                    Server::Cassandra => p.cassandra,
                }),
                uptime: pid.and_then(process::uptime),
                rss_bytes: pid.and_then(process::rss_bytes),
                data_bytes: process::dir_size(&self.server_dir(server).join("data")),
                log: self.log_path(server),
            });
        }
        StackStatus { servers }
    }

    /// The end of one server's log, or of both.
    pub fn logs(&self, server: Option<Server>, lines: usize) -> Result<String, LocalError> {
        let mut out = String::new();
        for s in Server::ALL
            .into_iter()
            .filter(|s| server.is_none_or(|x| x == *s))
        {
            let path = self.log_path(s);
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
        }
    }

    /// Proof that the server serves clients: a Kafka metadata request, or CQL
    /// `SELECT release_version FROM system.local`. Returns the version to show.
    pub async fn probe(&self, server: Server, timeout: Duration) -> Result<String, String> {
        match server {
            Server::Kafka => crate::kafka::admin::probe(&self.kafka, timeout)
                .await
                .map(|_| self.local.kafka_version.clone())
                .map_err(|e| e.to_string()),
            Server::Cassandra => {
                let tls = security::TlsFiles::new(&self.server_dir(server));
                let cfg = security::client_config(&self.cassandra, &self.local, &tls);
                security::probe(&cfg, &self.local, timeout)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    async fn wait_ready(
        &self,
        server: Server,
        pid: u32,
        since: Instant,
    ) -> Result<(Server, u32, String, Duration), LocalError> {
        let files = self.files(server);
        loop {
            if !process::is_alive(pid) {
                return Err(LocalError::Exited {
                    server: server.display_name().into(),
                    detail: exit_detail(server, &files.log, &self.log_path(server)),
                    log: files.log.clone(),
                });
            }
            if let Ok(version) = self.probe(server, Duration::from_secs(3)).await {
                let took = since.elapsed();
                tracing::info!(server = server.id(), pid, %version, took_s = took.as_secs_f64(), "answering");
                return Ok((server, pid, version, took));
            }
            if since.elapsed() > self.local.start_timeout {
                return Err(LocalError::StartTimeout {
                    server: server.display_name().into(),
                    timeout: self.local.start_timeout,
                    log: self.log_path(server),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn check_ports_free(&self, server: Server, ports: &Ports) -> Result<(), LocalError> {
        let wanted: &[(u16, &str, &str)] = match server {
            Server::Kafka => &[
                (ports.kafka, "the Kafka broker", "kafka.bootstrap"),
                (
                    ports.kafka_controller,
                    "the Kafka controller",
                    "local.kafka_controller_port",
                ),
            ],
            Server::Cassandra => &[
                (ports.cassandra, "Cassandra CQL", "cassandra.contact_points"),
                (
                    ports.cassandra_storage,
                    "Cassandra storage",
                    "local.cassandra_storage_port",
                ),
            ],
        };
        for &(port, what, key) in wanted {
            if TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).is_err() {
                return Err(LocalError::PortTaken {
                    what: what.into(),
                    port,
                    key: key.into(),
                });
            }
        }
        Ok(())
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

/// The line of a server's logs that explains why it exited, if one does.
fn exit_detail(server: Server, console: &Path, log: &Path) -> String {
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
            return format!(": {short}{hint}; server: {}", server.id());
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let err = stack.check_ports_free(Server::Kafka, &ports).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&format!("port {port}")), "{text}");
        assert!(text.contains("kafka.bootstrap"), "{text}");
    }
}
