//! One local Apache Cassandra node on loopback: its `cassandra.yaml` (address, seeds and
//! default replication from [`super::cluster`]), logging config, the JVM flags its release
//! needs on JDK 17, and its command line. Passwords and TLS are [`super::security`]'s; this
//! file only splices them in.

use super::{security, template, LocalError};
use crate::config::LocalConfig;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

/// Where one node lives and what it shares with the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub address: Ipv4Addr,
    pub native_port: u16,
    pub storage_port: u16,
    pub seeds: String,
    pub jmx_port: Option<u16>,
    pub default_rf: u8,
    /// More than one node: joining a ring waits less than Cassandra's 30 s default.
    pub cluster: bool,
}

pub const MAIN_CLASS: &str = "org.apache.cassandra.service.CassandraDaemon";
const CASSANDRA_YAML: &str = include_str!("../../stack/cassandra/cassandra.yaml.tmpl");
const LOGBACK_XML: &str = include_str!("../../stack/cassandra/logback.xml.tmpl");
/// One JVM flag per line; `#` starts a comment line.
const JVM_OPTIONS: &str = include_str!("../../stack/cassandra/jvm17.options");

/// Writes the node's config files and returns the command that runs it.
pub fn prepare(
    local: &LocalConfig,
    node: &NodeSpec,
    lib: &Path,
    dir: &Path,
) -> Result<Command, LocalError> {
    let conf = dir.join("conf");
    let tls = security::TlsFiles::of_stack(local);
    if local.cassandra_tls {
        tls.ensure(&local.java)?;
    }
    let mut vars = vars(node, lib, dir);
    vars.push(("security", security::yaml_fragment(local, &tls)?));
    let fail = |detail: String| LocalError::Prepare {
        server: "Apache Cassandra".into(),
        detail,
        log: dir.join("logs").join("system.log"),
    };
    for (name, text) in [
        ("cassandra.yaml", CASSANDRA_YAML),
        ("logback.xml", LOGBACK_XML),
    ] {
        let rendered = template::render(text, &vars).map_err(fail)?;
        let path = conf.join(name);
        std::fs::write(&path, rendered)
            .map_err(|e| LocalError::io(format!("write {}", path.display()), e))?;
    }
    let flags = jvm_flags(&vars).map_err(fail)?;
    let mut command = Command::new(&local.java);
    command
        .arg(format!("-Xms{}", local.cassandra_heap))
        .arg(format!("-Xmx{}", local.cassandra_heap))
        .args(flags)
        .args(node_flags(node))
        .args(security::jvm_flags(local))
        .arg("-cp")
        .arg(format!("{}:{}/*", conf.display(), lib.display()))
        .arg(MAIN_CLASS);
    Ok(command)
}

/// Flags that differ between nodes: JMX (bound on 127.0.0.1, so each node its own port),
/// and in a cluster a shorter ring delay (a joining node waits this long for gossip; on
/// loopback it settles in well under a second).
fn node_flags(node: &NodeSpec) -> Vec<String> {
    let mut flags = Vec::new();
    if let Some(port) = node.jmx_port {
        flags.push(format!("-Dcassandra.jmx.local.port={port}"));
    }
    if node.cluster {
        flags.push("-Dcassandra.ring_delay_ms=5000".into());
    }
    flags
}

fn vars(node: &NodeSpec, lib: &Path, dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("address", node.address.to_string()),
        ("seeds", node.seeds.clone()),
        ("default_rf", node.default_rf.to_string()),
        ("native_port", node.native_port.to_string()),
        ("storage_port", node.storage_port.to_string()),
        ("data_dir", dir.join("data").display().to_string()),
        ("log_dir", dir.join("logs").display().to_string()),
        ("conf_dir", dir.join("conf").display().to_string()),
        ("lib_dir", lib.display().to_string()),
    ]
}

fn jvm_flags(vars: &[(&str, String)]) -> Result<Vec<String>, String> {
    let rendered = template::render(JVM_OPTIONS, vars)?;
    Ok(rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(index: u8, of: u8) -> NodeSpec {
        NodeSpec {
            address: super::super::cluster::cassandra_address(index),
            native_port: 19042,
            storage_port: 17000,
            seeds: super::super::cluster::cassandra_seeds(of, 17000),
            jmx_port: super::super::cluster::cassandra_jmx_port(Some(17199), index),
            default_rf: super::super::cluster::default_replication(of),
            cluster: of > 1,
        }
    }

    #[test]
    fn node_of_a_cluster_renders_its_address_seeds_and_jmx() {
        let spec = node(3, 3);
        let mut v = vars(&spec, Path::new("/lib"), Path::new("/srv/c3"));
        v.push(("security", String::new()));
        let yaml = template::render(CASSANDRA_YAML, &v).expect("yaml renders");
        assert!(yaml.contains("listen_address: 127.0.0.3\n"), "{yaml}");
        assert!(yaml.contains("rpc_address: 127.0.0.3\n"), "{yaml}");
        assert!(
            yaml.contains("seeds: \"127.0.0.1:17000,127.0.0.2:17000\""),
            "{yaml}"
        );
        assert!(yaml.contains("default_keyspace_rf: 3\n"), "{yaml}");
        assert!(
            yaml.contains("cluster_name: cassflow\n"),
            "one cluster name"
        );
        assert!(yaml.contains("/srv/c3/data/data"), "its own data dir");
        assert_eq!(
            node_flags(&spec),
            [
                "-Dcassandra.jmx.local.port=17201",
                "-Dcassandra.ring_delay_ms=5000"
            ]
        );
        let single = NodeSpec {
            jmx_port: None,
            ..node(1, 1)
        };
        assert!(node_flags(&single).is_empty(), "one node runs as before");
    }

    #[test]
    fn templates_render_completely() {
        let mut v = vars(&node(1, 1), Path::new("/lib"), Path::new("/srv/c"));
        v.push(("security", String::new()));
        let yaml = template::render(CASSANDRA_YAML, &v).expect("yaml renders");
        assert!(yaml.contains("19042"), "native port in yaml");
        assert!(yaml.contains("17000"), "storage port in yaml");
        assert!(yaml.contains("/srv/c/data"), "data dir in yaml");
        assert!(yaml.contains("seeds: \"127.0.0.1:17000\""), "{yaml}");
        assert!(template::render(LOGBACK_XML, &v).is_ok());
        let flags = jvm_flags(&v).expect("flags render");
        assert!(flags.iter().all(|f| f.starts_with('-')), "{flags:?}");
    }
}
