//! Installing the heavy peers on demand, into `~/.cache/cassflow/bench/` (once; later runs
//! find them complete and need no network): jars resolved from Maven Central through the
//! poms kept in `bench/`, and a Python venv with pyspark and matplotlib from PyPI.
//! Only `cassflow bench` calls this; the test suite never downloads a peer.

use crate::bench::{say, BenchError};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command;

/// Written last, so a directory with it is complete. For Maven resolves it holds the pom
/// and properties resolved, so a changed pom resolves again.
const COMPLETE: &str = ".complete";

/// The pyspark release, matching `bench/spark/pom.xml`'s `spark.version`.
pub const PYSPARK_VERSION: &str = "3.5.1";
/// The spark-cassandra-connector release in `bench/spark/pom.xml`.
pub const CONNECTOR_VERSION: &str = "3.5.1";

pub const SPARK_POM: &str = include_str!("../../../bench/spark/pom.xml");
pub const KAFKA_TOOLS_POM: &str = include_str!("../../../bench/kafka-tools/pom.xml");

/// `~/.cache/cassflow/bench`.
pub fn bench_cache(cache_dir: &Path) -> PathBuf {
    cache_dir.join("bench")
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> BenchError {
    move |source| BenchError::Io { context, source }
}

/// Resolves a pom's runtime dependencies into `<home>/lib`, unless already there.
pub async fn maven_jars(
    maven: &Path,
    home: &Path,
    pom: &str,
    properties: &[(&str, &str)],
) -> Result<PathBuf, BenchError> {
    let lib = home.join("lib");
    let mut resolved = pom.to_string();
    for (k, v) in properties {
        resolved.push_str(&format!("\n-D{k}={v}"));
    }
    if std::fs::read_to_string(home.join(COMPLETE)).is_ok_and(|done| done == resolved) {
        return Ok(lib);
    }
    let _ = tokio::fs::remove_file(home.join(COMPLETE)).await;
    tokio::fs::create_dir_all(home)
        .await
        .map_err(io(format!("create {}", home.display())))?;
    let pom_path = home.join("pom.xml");
    tokio::fs::write(&pom_path, pom)
        .await
        .map_err(io(format!("write {}", pom_path.display())))?;
    let _ = tokio::fs::remove_dir_all(&lib).await;
    let log = home.join("maven.log");
    say!(
        "  resolving {} from Maven Central (log: {})",
        home.display(),
        log.display()
    );
    let mut command = Command::new(maven);
    command
        .arg("-B")
        .arg("-f")
        .arg(&pom_path)
        .args(properties.iter().map(|(k, v)| format!("-D{k}={v}")))
        .arg("dependency:copy-dependencies")
        .arg(format!("-DoutputDirectory={}", lib.display()))
        .arg("-DincludeScope=runtime");
    run_logged(command, &log, "Maven (mvn)").await?;
    tokio::fs::write(home.join(COMPLETE), resolved)
        .await
        .map_err(io(format!("mark {}", home.display())))?;
    Ok(lib)
}

/// A venv with pyspark and matplotlib; returns its `python`.
pub async fn venv(bench_cache: &Path) -> Result<PathBuf, BenchError> {
    let home = bench_cache.join(format!("venv-pyspark-{PYSPARK_VERSION}"));
    let python = home.join("bin").join("python");
    if home.join(COMPLETE).exists() {
        return Ok(python);
    }
    tokio::fs::create_dir_all(bench_cache)
        .await
        .map_err(io(format!("create {}", bench_cache.display())))?;
    let log = bench_cache.join("venv.log");
    say!(
        "  installing pyspark {PYSPARK_VERSION} and matplotlib from PyPI into {} (log: {})",
        home.display(),
        log.display()
    );
    let mut create = Command::new("python3");
    create.arg("-m").arg("venv").arg(&home);
    run_logged(
        create,
        &log,
        "python3 with venv (apt-get install python3-venv)",
    )
    .await?;
    let mut pip = Command::new(&python);
    pip.args(["-m", "pip", "install", "--quiet"])
        .arg(format!("pyspark=={PYSPARK_VERSION}"))
        .arg("matplotlib>=3.7");
    run_logged(pip, &log, "pip").await?;
    tokio::fs::write(home.join(COMPLETE), b"")
        .await
        .map_err(io(format!("mark {}", home.display())))?;
    Ok(python)
}

/// Runs a command to completion with its output appended to `log`.
async fn run_logged(mut command: Command, log: &Path, tool: &str) -> Result<(), BenchError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io(format!("open {}", log.display())))?;
    let err = file
        .try_clone()
        .map_err(io(format!("open {}", log.display())))?;
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .status()
        .await
        .map_err(|e| BenchError::Install {
            what: tool.to_string(),
            detail: e.to_string(),
            log: log.to_path_buf(),
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(BenchError::Install {
            what: tool.to_string(),
            detail: format!("exited with {status}"),
            log: log.to_path_buf(),
        })
    }
}
