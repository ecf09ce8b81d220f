//! docker-compose.yml and Dockerfile, checked statically by scripts/lint-containers (no Docker
//! engine runs on these machines): Compose validation and schema, hadolint, and cassflow
//! accepting the Compose file's settings. The script installs its tools on first use.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn lint(args: &[&str]) -> Output {
    Command::new(root().join("scripts/lint-containers"))
        .args(args)
        .current_dir(root())
        .env("CASSFLOW_BIN", env!("CARGO_BIN_EXE_cassflow"))
        .output()
        .expect("run scripts/lint-containers")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn compose_file_and_dockerfile_pass_every_check() {
    let out = lint(&[]);
    let text = text(&out);
    assert!(out.status.success(), "lint-containers failed:\n{text}");
    for check in [
        "config accepts docker-compose.yml",
        "Compose specification JSON schema",
        "hadolint",
        "cassflow accepts the cassflow service's environment",
        "match the local stack's versions",
    ] {
        assert!(text.contains(check), "missing check `{check}`:\n{text}");
    }
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write temp file");
    path.display().to_string()
}

#[test]
fn a_bad_dockerfile_fails_with_the_rule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dockerfile = write(
        dir.path(),
        "Dockerfile",
        "FROM debian:latest\nRUN cd /tmp && apt-get install curl\n",
    );
    let out = lint(&["--dockerfile", &dockerfile]);
    let text = text(&out);
    assert!(!out.status.success(), "a bad Dockerfile passed:\n{text}");
    assert!(
        text.contains("DL3007"),
        "hadolint rule not reported:\n{text}"
    );
}

#[test]
fn a_bad_compose_file_fails_with_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let compose = write(
        dir.path(),
        "compose.yml",
        "services:\n  cassflow:\n    image: cassflow\n    helthcheck: {}\n",
    );
    let out = lint(&["--compose", &compose]);
    let text = text(&out);
    assert!(!out.status.success(), "a bad Compose file passed:\n{text}");
    assert!(text.contains("helthcheck"), "bad key not named:\n{text}");
}

#[test]
fn a_compose_file_with_the_default_password_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let original = std::fs::read_to_string(root().join("docker-compose.yml")).expect("read");
    let weak = original.lines().fold(String::new(), |mut acc, line| {
        if line.trim_start().starts_with("CASSFLOW_WEB__PASSWORD:") {
            acc.push_str("      CASSFLOW_WEB__PASSWORD: \"admin\"\n");
        } else {
            acc.push_str(line);
            acc.push('\n');
        }
        acc
    });
    assert_ne!(
        weak, original,
        "docker-compose.yml sets no CASSFLOW_WEB__PASSWORD"
    );
    let compose = write(dir.path(), "compose.yml", &weak);
    let out = lint(&["--compose", &compose]);
    let text = text(&out);
    assert!(!out.status.success(), "a default password passed:\n{text}");
    assert!(
        text.contains("CASSFLOW_WEB_PASSWORD") || text.contains("web.password"),
        "{text}"
    );
}

/// The checks install nothing (tests run them in parallel; installing is `scripts/dev
/// setup`'s job): without the lint virtualenv they stop at once and say how to get it.
#[test]
fn without_its_tools_the_lint_says_run_setup_and_installs_nothing() {
    let cache = tempfile::tempdir().expect("temp dir");
    let out = Command::new(root().join("scripts/lint-containers"))
        .current_dir(root())
        .env("XDG_CACHE_HOME", cache.path())
        .env("CASSFLOW_BIN", env!("CARGO_BIN_EXE_cassflow"))
        .output()
        .expect("run scripts/lint-containers");
    let text = text(&out);
    assert!(
        !out.status.success(),
        "passed without its virtualenv:\n{text}"
    );
    assert!(text.contains("fix: scripts/dev setup"), "{text}");
    let left: Vec<_> = std::fs::read_dir(cache.path())
        .expect("read cache")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "the lint wrote to its cache: {left:?}");
}
