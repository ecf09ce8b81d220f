//! Server artifacts: resolving Apache Kafka's and Apache Cassandra's jars (and Apicurio
//! Registry's tarball, unpacked) from Maven Central through the poms kept in `stack/`, into
//! a cache directory per server, version and pom.
//! The first run shows download progress; later runs find the cache complete and need no
//! network. A changed pom (a jar added to it) resolves again, into a directory of its own,
//! so a server still running from the older jars is never pulled from under.

use super::{LocalError, Server};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Written last, so a cache directory with it holds every jar. It holds what was resolved
/// (the pom and the version), so a directory resolved from something else is not taken.
const COMPLETE_MARKER: &str = ".complete";

/// Where one server version's jars live: `<cache>/<server>-<version>-<pom digest>/lib`, or
/// for the registry its unpacked tarball, `.../dist`.
fn lib_dir(cache_dir: &Path, server: Server, version: &str, pom: &str) -> PathBuf {
    cache_dir
        .join(format!("{}-{version}-{:016x}", server.id(), fnv1a(pom)))
        .join(layout(server).dir)
}

/// How a server's artifacts land in its cache directory.
struct Layout {
    /// The maven-dependency-plugin goal that puts them there.
    goal: &'static str,
    dir: &'static str,
    /// A file that must be there afterwards, or the artifact was not what it should be.
    must_hold: Option<&'static str>,
}

fn layout(server: Server) -> Layout {
    match server {
        Server::Kafka | Server::Cassandra => Layout {
            goal: "dependency:copy-dependencies",
            dir: "lib",
            must_hold: None,
        },
        Server::Registry => Layout {
            goal: "dependency:unpack-dependencies",
            dir: "dist",
            must_hold: Some(super::registry::RUN_JAR),
        },
    }
}

/// FNV-1a, 64 bits: a digest that stays the same across Rust releases (std's hasher may
/// not), to name the cache directory of one pom.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Returns the directory holding the server's jars, resolving them with Maven first if the
/// cache does not have them yet.
pub fn ensure(
    server: Server,
    version: &str,
    cache_dir: &Path,
    maven: &Path,
) -> Result<PathBuf, LocalError> {
    ensure_pom(server, server.pom(), version, cache_dir, maven)
}

fn ensure_pom(
    server: Server,
    pom_text: &str,
    version: &str,
    cache_dir: &Path,
    maven: &Path,
) -> Result<PathBuf, LocalError> {
    let lib = lib_dir(cache_dir, server, version, pom_text);
    let home = lib.parent().unwrap_or(cache_dir).to_path_buf();
    let resolved = format!("{pom_text}\n-D{}.version={version}\n", server.id());
    let marker = home.join(COMPLETE_MARKER);
    let is_complete = || fs::read_to_string(&marker).is_ok_and(|done| done == resolved);
    if is_complete() {
        return Ok(lib);
    }
    fs::create_dir_all(&home)
        .map_err(|e| LocalError::io(format!("create {}", home.display()), e))?;
    // Parallel starts of private stacks (test binaries) share this cache: one resolves,
    // the others wait for it and then find the marker.
    let _lock = lock(&home.join(".lock"))?;
    if is_complete() {
        return Ok(lib);
    }
    let _ = fs::remove_file(&marker);
    let pom = home.join("pom.xml");
    fs::write(&pom, pom_text).map_err(|e| LocalError::io(format!("write {}", pom.display()), e))?;
    if lib.exists() {
        // A partial copy from an interrupted run: start over.
        fs::remove_dir_all(&lib)
            .map_err(|e| LocalError::io(format!("clean {}", lib.display()), e))?;
    }
    // unpack-dependencies remembers what it unpacked in target/: without it, the removed
    // copy is unpacked again instead of taken as done.
    let _ = fs::remove_dir_all(home.join("target"));
    let log_path = home.join("maven.log");
    let mut command = Command::new(maven);
    command
        .arg("-B")
        .arg("-f")
        .arg(&pom)
        .arg(format!("-D{}.version={version}", server.id()))
        .arg(layout(server).goal)
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
            if let Some(rest) = line.strip_prefix("[INFO] Downloading from ") {
                // A big file (the registry's tarball) takes a while: say which.
                let file = rest.rsplit('/').next().unwrap_or(rest);
                progress.set_message(format!("{title}: downloading {file}"));
            } else if let Some(rest) = line
                .strip_prefix("Downloaded from ")
                .or_else(|| line.strip_prefix("[INFO] Downloaded from "))
            {
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
    if let Some(file) = layout(server).must_hold {
        if !lib.join(file).is_file() {
            return Err(LocalError::Resolve {
                server: server.display_name().into(),
                version: version.into(),
                log: log_path,
                hint: format!("Maven succeeded, but {} holds no {file}", lib.display()),
            });
        }
    }
    // plexus-archiver unpacks the tarball's pax extended headers as files of their own.
    let _ = fs::remove_dir_all(lib.join("PaxHeaders.X"));
    fs::write(&marker, &resolved)
        .map_err(|e| LocalError::io(format!("write marker in {}", home.display()), e))?;
    tracing::info!(
        server = server.id(),
        version,
        downloaded,
        "server artifacts ready"
    );
    Ok(lib)
}

/// Holds an exclusive lock on `path` (created if missing) until dropped.
fn lock(path: &Path) -> Result<nix::fcntl::Flock<fs::File>, LocalError> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| LocalError::io(format!("open {}", path.display()), e))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| LocalError::io(format!("lock {}", path.display()), errno.into()))
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

    /// A stand-in for `mvn` that "resolves" one jar named after the pom's first line and
    /// counts its runs, so the cache logic is tested without the network.
    fn fake_maven(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("mvn");
        let body = r#"#!/bin/sh
pom=""; out=""; prev=""
for a in "$@"; do
  case "$a" in -DoutputDirectory=*) out="${a#-DoutputDirectory=}";; esac
  [ "$prev" = "-f" ] && pom="$a"
  prev="$a"
done
mkdir -p "$out" && head -n 1 "$pom" > "$out/resolved.jar"
echo run >> "$(dirname "$0")/runs"
"#;
        fs::write(&script, body).expect("write script");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        script
    }

    fn runs(dir: &Path) -> usize {
        fs::read_to_string(dir.join("runs"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    #[test]
    fn a_changed_pom_resolves_again_beside_the_old_jars() {
        let tools = tempfile::tempdir().expect("tempdir");
        let cache = tempfile::tempdir().expect("tempdir");
        let maven = fake_maven(tools.path());
        let old = ensure_pom(Server::Kafka, "<old/>", "3.9.1", cache.path(), &maven)
            .expect("resolve old pom");
        assert_eq!(runs(tools.path()), 1);
        let again =
            ensure_pom(Server::Kafka, "<old/>", "3.9.1", cache.path(), &maven).expect("cached");
        assert_eq!(again, old);
        assert_eq!(runs(tools.path()), 1, "a complete cache needs no Maven run");

        let new = ensure_pom(Server::Kafka, "<new/>", "3.9.1", cache.path(), &maven)
            .expect("resolve new pom");
        assert_ne!(new, old, "a changed pom gets a directory of its own");
        assert_eq!(runs(tools.path()), 2, "a changed pom resolves again");
        let jar = |lib: &Path| fs::read_to_string(lib.join("resolved.jar")).expect("jar");
        assert_eq!(jar(&new).trim(), "<new/>");
        assert_eq!(jar(&old).trim(), "<old/>", "the older jars are left alone");

        let other = ensure_pom(Server::Kafka, "<new/>", "3.8.0", cache.path(), &maven)
            .expect("resolve other version");
        assert_ne!(other, new);
        assert_eq!(runs(tools.path()), 3);
    }

    #[test]
    fn a_marker_of_other_content_is_not_trusted() {
        // The directory layout of an older cassflow with its empty marker, or one written
        // by hand: not what this pom resolved, so it resolves again.
        let tools = tempfile::tempdir().expect("tempdir");
        let cache = tempfile::tempdir().expect("tempdir");
        let maven = fake_maven(tools.path());
        let lib = lib_dir(cache.path(), Server::Kafka, "3.9.1", "<p/>");
        let home = lib.parent().expect("home");
        fs::create_dir_all(&lib).expect("mkdir");
        fs::write(home.join(COMPLETE_MARKER), b"").expect("marker");
        ensure_pom(Server::Kafka, "<p/>", "3.9.1", cache.path(), &maven).expect("resolve");
        assert_eq!(runs(tools.path()), 1);
        assert!(lib.join("resolved.jar").exists());
    }

    #[test]
    fn the_kafka_pom_brings_the_logging_binding_kafka_ships() {
        let pom = Server::Kafka.pom();
        for artifact in ["slf4j-reload4j", "<artifactId>reload4j</artifactId>"] {
            assert!(
                pom.contains(artifact),
                "{artifact} missing from the Kafka pom"
            );
        }
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325, "FNV-1a offset basis");
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c, "FNV-1a of \"a\"");
    }

    #[test]
    fn a_registry_tarball_without_its_run_jar_is_not_taken() {
        let tools = tempfile::tempdir().expect("tempdir");
        let cache = tempfile::tempdir().expect("tempdir");
        let maven = fake_maven(tools.path());
        let err = ensure_pom(Server::Registry, "<p/>", "3.3.3", cache.path(), &maven)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Apicurio Registry 3.3.3"), "{err}");
        assert!(err.contains("quarkus-run.jar"), "{err}");
        let lib = lib_dir(cache.path(), Server::Registry, "3.3.3", "<p/>");
        assert!(lib.ends_with("dist"), "{}", lib.display());
        assert!(
            !lib.parent().expect("home").join(COMPLETE_MARKER).exists(),
            "an incomplete unpack is not marked complete"
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
