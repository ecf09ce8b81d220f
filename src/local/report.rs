//! What `cassflow local start|stop|status` print: plain aligned lines, one per node.

use super::process::Stopped;
use super::{Node, Server};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct StartReport {
    /// Nodes this call started: pid, answering version, time until it answered.
    pub started: Vec<(Node, u32, String, Duration)>,
    /// Nodes that were running before this call.
    pub already_running: Vec<(Node, u32)>,
    /// Versions of the already running nodes, if they answered.
    pub started_versions: Vec<(Node, u32, Option<String>)>,
}

impl StartReport {
    /// The servers of which this call started at least one node, in the stack's order.
    pub fn started_servers(&self) -> Vec<Server> {
        Server::ALL
            .into_iter()
            .filter(|s| self.started.iter().any(|(n, ..)| n.server == *s))
            .collect()
    }
}

impl fmt::Display for StartReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (node, pid, version, took) in &self.started {
            writeln!(
                f,
                "{:<11} started      {} {version}  pid {pid}  answering after {:.1}s",
                node.name(),
                node.server.display_name(),
                took.as_secs_f64()
            )?;
        }
        for (node, pid, version) in &self.started_versions {
            let version = version.as_deref().unwrap_or("(not answering yet)");
            writeln!(
                f,
                "{:<11} already running  {} {version}  pid {pid}",
                node.name(),
                node.server.display_name()
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct StopReport {
    pub outcomes: Vec<(Node, Stopped)>,
}

impl fmt::Display for StopReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (node, outcome) in &self.outcomes {
            let what = match outcome {
                Stopped::NotRunning => "was not running".to_string(),
                Stopped::Gracefully(took) => format!("stopped in {:.1}s", took.as_secs_f64()),
                Stopped::Killed => "killed after the stop timeout".to_string(),
            };
            writeln!(f, "{:<11} {what}", node.name())?;
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct ServerStatus {
    pub server: Server,
    pub node: Node,
    pub pid: Option<u32>,
    /// The version the server reported, if it answered a probe.
    pub answering_version: Option<String>,
    pub configured_version: String,
    /// `host:port` its clients connect to.
    pub address: Option<String>,
    pub uptime: Option<Duration>,
    pub rss_bytes: Option<u64>,
    pub data_bytes: u64,
    pub log: PathBuf,
    /// The URL its clients use, for a server spoken to over HTTP (the registry).
    pub url: Option<String>,
}

#[derive(Debug)]
pub struct StackStatus {
    pub servers: Vec<ServerStatus>,
}

impl StackStatus {
    pub fn all_running(&self) -> bool {
        self.servers.iter().all(|s| s.answering_version.is_some())
    }
}

impl fmt::Display for StackStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<11} {:<9} {:<8} {:<21} {:<8} {:<8} {:<10} {:<10}",
            "NODE", "STATE", "VERSION", "ADDRESS", "PID", "UPTIME", "RSS", "DATA"
        )?;
        for s in &self.servers {
            let state = match (s.pid, &s.answering_version) {
                (Some(_), Some(_)) => "running",
                (Some(_), None) => "starting",
                (None, _) => "stopped",
            };
            let version = s
                .answering_version
                .as_deref()
                .unwrap_or(&s.configured_version);
            writeln!(
                f,
                "{:<11} {:<9} {:<8} {:<21} {:<8} {:<8} {:<10} {:<10}",
                s.node.name(),
                state,
                version,
                s.address.as_deref().unwrap_or("-"),
                s.pid.map_or("-".into(), |p| p.to_string()),
                s.uptime.map_or("-".into(), human_duration),
                s.rss_bytes.map_or("-".into(), human_bytes),
                human_bytes(s.data_bytes),
            )?;
        }
        for s in &self.servers {
            if let Some(url) = &s.url {
                writeln!(f, "{} url: {url}", s.node.name())?;
            }
        }
        for s in &self.servers {
            writeln!(f, "{} log: {}", s.node.name(), s.log.display())?;
        }
        Ok(())
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        _ => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(human_duration(Duration::from_secs(59)), "59s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2m5s");
        assert_eq!(human_duration(Duration::from_secs(7300)), "2h1m");
    }
}
