//! The CLI's handling of configuration: unknown keys and bad values are named with the fix,
//! in one line and exit code 1; the effective configuration can be printed.

mod common;

use std::process::{Command, Output};

fn cassflow(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(common::cassflow_bin());
    cmd.args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run cassflow")
}

fn error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "exactly one error line: {stderr}");
    errors[0].to_string()
}

#[test]
fn unknown_key_in_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("cassflow.toml"),
        "[cassandra]\nkeyspace = \"x\"\n",
    )
    .expect("write");
    let out = cassflow(dir.path(), &["config"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let line = error_line(&out);
    assert!(
        line.contains("unknown config key `cassandra.keyspace`"),
        "{line}"
    );
    assert!(line.contains("cassflow.toml"), "{line}");
    assert!(line.contains("fix:"), "{line}");
}

#[test]
fn bad_value_in_environment_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = cassflow(
        dir.path(),
        &["config"],
        &[("CASSFLOW_LOCAL__STOP_TIMEOUT", "later")],
    );
    assert_eq!(out.status.code(), Some(1));
    let line = error_line(&out);
    assert!(line.contains("`local.stop_timeout`"), "{line}");
    assert!(line.contains("CASSFLOW_LOCAL__STOP_TIMEOUT"), "{line}");
}

#[test]
fn effective_config_is_printed_with_overrides() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = cassflow(
        dir.path(),
        &["config"],
        &[("CASSFLOW_KAFKA__BOOTSTRAP", "127.0.0.1:1234")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bootstrap = \"127.0.0.1:1234\""), "{text}");
    assert!(text.contains("topic = \"users_created\""), "{text}");
    assert!(text.contains("keyspace = \"spark_streams\""), "{text}");
}

#[test]
fn help_explains_the_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = cassflow(dir.path(), &["--help"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["up", "local", "CASSFLOW_KAFKA__BOOTSTRAP"] {
        assert!(text.contains(word), "--help mentions {word}: {text}");
    }
}
