//! `cassflow import-connector`: a DataStax Kafka Connector sink configuration becomes a
//! cassflow.toml that cassflow itself loads; what cannot be expressed fails with one line
//! naming the setting. Needs no server.

mod common;

use std::process::Command;

fn cassflow(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(common::cassflow_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("run cassflow")
}

#[test]
fn the_printed_config_loads_as_a_cassflow_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = common::repo_root().join("tests/fixtures/connector/orders-sink.properties");
    let out = cassflow(
        &["import-connector", fixture.to_str().expect("utf-8 path")],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = dir.path().join("out.toml");
    std::fs::write(&file, stdout.as_bytes()).expect("write");

    let shown = cassflow(
        &["--config", file.to_str().expect("utf-8"), "config"],
        dir.path(),
    );
    let effective = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "the imported config loads: {}\n{stdout}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let config: toml::Value = toml::from_str(&effective).expect("effective config is TOML");
    assert_eq!(
        config["cassandra"]["contact_points"].as_str(),
        Some("127.0.0.1:29042")
    );
    let pipelines = config["pipelines"].as_array().expect("pipelines");
    assert_eq!(pipelines.len(), 1);
    let p = &pipelines[0];
    assert_eq!(p["topic"].as_str(), Some("orders"));
    assert_eq!(p["keyspace"].as_str(), Some("shop"));
    assert_eq!(p["table"].as_str(), Some("orders"));
    assert_eq!(p["format"].as_str(), Some("json"));
    assert_eq!(
        p["columns"]["customer"].as_str(),
        Some("value.customer.name")
    );
    assert_eq!(p["columns"]["source"].as_str(), Some("header.origin"));
}

#[test]
fn a_setting_cassflow_cannot_express_fails_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tls.json");
    std::fs::write(
        &file,
        r#"{"name": "tls-sink", "config": {"topics": "t", "ssl.provider": "JDK",
            "topic.t.ks.tb.mapping": "a=value.a"}}"#,
    )
    .expect("write");
    let out = cassflow(
        &["import-connector", file.to_str().expect("utf-8")],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing printed on failure");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with("error: cannot import setting `ssl.provider`")
            && lines[0].contains("TLS"),
        "{stderr}"
    );
}

#[test]
fn help_explains_and_has_an_example() {
    let out = Command::new(common::cassflow_bin())
        .args(["import-connector", "--help"])
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for part in [
        "DataStax",
        "topic.<topic>.<keyspace>.<table>.mapping",
        "Example:",
        "cassflow import-connector cassandra-sink.properties > cassflow.toml",
    ] {
        assert!(help.contains(part), "{part} in help: {help}");
    }
}
