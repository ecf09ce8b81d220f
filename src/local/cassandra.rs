//! The local Apache Cassandra node on loopback: its `cassandra.yaml`, logging config, the
//! JVM flags its release needs on JDK 17, and its command line. Passwords and TLS are
//! [`super::security`]'s; this file only splices them in.

use super::{security, template, LocalError, Ports};
use crate::config::LocalConfig;
use std::path::Path;
use std::process::Command;

pub const MAIN_CLASS: &str = "org.apache.cassandra.service.CassandraDaemon";
const CASSANDRA_YAML: &str = include_str!("../../stack/cassandra/cassandra.yaml.tmpl");
const LOGBACK_XML: &str = include_str!("../../stack/cassandra/logback.xml.tmpl");
/// One JVM flag per line; `#` starts a comment line.
const JVM_OPTIONS: &str = include_str!("../../stack/cassandra/jvm17.options");

/// Writes the node's config files and returns the command that runs it.
pub fn prepare(
    local: &LocalConfig,
    ports: &Ports,
    lib: &Path,
    dir: &Path,
) -> Result<Command, LocalError> {
    let conf = dir.join("conf");
    let tls = security::TlsFiles::new(dir);
    if local.cassandra_tls {
        tls.ensure(&local.java)?;
    }
    let mut vars = vars(ports, lib, dir);
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
        .args(security::jvm_flags(local))
        .arg("-cp")
        .arg(format!("{}:{}/*", conf.display(), lib.display()))
        .arg(MAIN_CLASS);
    Ok(command)
}

fn vars(ports: &Ports, lib: &Path, dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("native_port", ports.cassandra.to_string()),
        ("storage_port", ports.cassandra_storage.to_string()),
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

    #[test]
    fn templates_render_completely() {
        let ports = Ports {
            kafka: 1,
            kafka_controller: 2,
            cassandra: 19042,
            cassandra_storage: 17000,
        };
        let mut v = vars(&ports, Path::new("/lib"), Path::new("/srv/c"));
        v.push(("security", String::new()));
        let yaml = template::render(CASSANDRA_YAML, &v).expect("yaml renders");
        assert!(yaml.contains("19042"), "native port in yaml");
        assert!(yaml.contains("17000"), "storage port in yaml");
        assert!(yaml.contains("/srv/c/data"), "data dir in yaml");
        assert!(template::render(LOGBACK_XML, &v).is_ok());
        let flags = jvm_flags(&v).expect("flags render");
        assert!(flags.iter().all(|f| f.starts_with('-')), "{flags:?}");
    }
}
