//! Server artifacts: resolving Apache Kafka's and Apache Cassandra's jars from Maven Central
//! through the poms kept in `stack/`, into a versioned cache directory. The first run shows
//! download progress; later runs find the cache complete and need no network.

use super::{LocalError, Server};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Written last, so a cache directory with it holds every jar.
const COMPLETE_MARKER: &str = ".complete";

/// Where one server version's jars live: `<cache>/<server>-<version>/lib`.
pub fn lib_dir(cache_dir: &Path, server: Server, version: &str) -> PathBuf {
    cache_dir
        .join(format!("{}-{version}", server.id()))
        .join("lib")
}

/// Returns the directory holding the server's jars, resolving them with Maven first if the
/// cache does not have them yet.
pub fn ensure(
    server: Server,
    version: &str,
    cache_dir: &Path,
    maven: &Path,
) -> Result<PathBuf, LocalError> {
    let lib = lib_dir(cache_dir, server, version);
    let home = lib.parent().unwrap_or(cache_dir).to_path_buf();
    if home.join(COMPLETE_MARKER).exists() {
        return Ok(lib);
    }
    fs::create_dir_all(&home)
        .map_err(|e| LocalError::io(format!("create {}", home.display()), e))?;
    let pom = home.join("pom.xml");
    fs::write(&pom, server.pom())
        .map_err(|e| LocalError::io(format!("write {}", pom.display()), e))?;
    if lib.exists() {
        // A partial copy from an interrupted run: start over.
        fs::remove_dir_all(&lib)
            .map_err(|e| LocalError::io(format!("clean {}", lib.display()), e))?;
    }
    let log_path = home.join("maven.log");
    let mut command = Command::new(maven);
    command
        .arg("-B")
        .arg("-f")
        .arg(&pom)
        .arg(format!("-D{}.version={version}", server.id()))
        .arg("dependency:copy-dependencies")
        .arg(format!("-DoutputDirectory={}", lib.display()))
        .arg("-DincludeScope=runtime")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            LocalError::ToolMissing {
                tool: "Maven (mvn)".into(),
                key: "local.maven".into(),
                install: "apt-get install maven".into(),
            }
        } else {
            LocalError::io(format!("run {}", maven.display()), e)
        }
    })?;

    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    progress.enable_steady_tick(Duration::from_millis(120));
    let title = format!(
        "resolving {} {version} from Maven Central",
        server.display_name()
    );
    progress.set_message(title.clone());
    tracing::info!(server = server.id(), version, cache = %home.display(), "resolving server artifacts with Maven");

    let stderr = child.stderr.take();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(err) = stderr {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        text
    });
    let mut transcript = String::new();
    let mut downloaded = 0usize;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("Downloaded from ") {
                downloaded += 1;
                let file = rest.rsplit('/').next().unwrap_or(rest);
                let file = file.split_whitespace().next().unwrap_or(file);
                progress.set_message(format!("{title}: {downloaded} files, last {file}"));
            }
            transcript.push_str(&line);
            transcript.push('\n');
        }
    }
    let status = child
        .wait()
        .map_err(|e| LocalError::io(format!("wait for {}", maven.display()), e))?;
    transcript.push_str(&stderr_reader.join().unwrap_or_default());
    progress.finish_and_clear();
    let _ = fs::write(&log_path, &transcript);
    if !status.success() {
        return Err(LocalError::Resolve {
            server: server.display_name().into(),
            version: version.into(),
            log: log_path,
            hint: resolve_hint(&transcript),
        });
    }
    fs::write(home.join(COMPLETE_MARKER), b"")
        .map_err(|e| LocalError::io(format!("write marker in {}", home.display()), e))?;
    tracing::info!(
        server = server.id(),
        version,
        downloaded,
        "server artifacts ready"
    );
    Ok(lib)
}

/// The most useful line of a failed Maven run, for the one-line error.
fn resolve_hint(transcript: &str) -> String {
    let errors: Vec<&str> = transcript
        .lines()
        .filter(|l| l.starts_with("[ERROR]") && l.len() > 8)
        .collect();
    let first = errors
        .first()
        .map(|l| l.trim_start_matches("[ERROR]").trim());
    match first {
        Some(l) if l.contains("Could not resolve") || l.contains("Could not transfer") => {
            format!("{l}; check the version and that Maven Central is reachable")
        }
        Some(l) => l.to_string(),
        None => "Maven failed without an [ERROR] line".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_picks_first_error() {
        let t = "[INFO] x\n[ERROR] Failed to execute goal: Could not resolve dependencies for project\n[ERROR] other\n";
        assert!(resolve_hint(t).starts_with("Failed to execute goal: Could not resolve"));
        assert!(resolve_hint(t).contains("Maven Central"));
        assert_eq!(
            resolve_hint("nothing"),
            "Maven failed without an [ERROR] line"
        );
    }

    #[test]
    fn missing_maven_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = ensure(
            Server::Kafka,
            "3.9.1",
            dir.path(),
            Path::new("/nonexistent/mvn"),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("Maven (mvn) not found"), "{text}");
        assert!(text.contains("local.maven"), "{text}");
    }
}
