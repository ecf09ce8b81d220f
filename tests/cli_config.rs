//! The CLI's handling of configuration: unknown keys and bad values are named with the fix,
//! in one line and exit code 1; the effective configuration can be printed.

mod common;

#[test]
fn unknown_key_in_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("cassflow.toml"),
        "[cassandra]\nkeyspace = \"x\"\n",
    )
    .expect("write");
    let out = common::run_cassflow(dir.path(), &["config"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let line = common::error_line(&out);
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
    let out = common::run_cassflow(
        dir.path(),
        &["config"],
        &[("CASSFLOW_LOCAL__STOP_TIMEOUT", "later")],
    );
    assert_eq!(out.status.code(), Some(1));
    let line = common::error_line(&out);
    assert!(line.contains("`local.stop_timeout`"), "{line}");
    assert!(line.contains("CASSFLOW_LOCAL__STOP_TIMEOUT"), "{line}");
}

#[test]
fn effective_config_is_printed_with_overrides() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::run_cassflow(
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
    let out = common::run_cassflow(dir.path(), &["--help"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["up", "local", "CASSFLOW_KAFKA__BOOTSTRAP"] {
        assert!(text.contains(word), "--help mentions {word}: {text}");
    }
}

#[test]
fn secrets_are_redacted_unless_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("cassflow.toml"),
        "[cassandra]\nusername = \"cass\"\npassword = \"cass-secret-3\"\n[kafka.properties]\n\"sasl.password\" = \"kafka-secret-4\"\n\"sasl.username\" = \"kafka-user\"\n",
    )
    .expect("write");
    let env = [
        ("CASSFLOW_WEB__PASSWORD", "web-secret-1"),
        ("CASSFLOW_WEB__API_TOKEN", "token-secret-2-0123456789"),
    ];
    let out = common::run_cassflow(dir.path(), &["config"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for secret in [
        "web-secret-1",
        "token-secret-2",
        "cass-secret-3",
        "kafka-secret-4",
    ] {
        assert!(!text.contains(secret), "{secret} printed: {text}");
    }
    assert!(text.contains("--show-secrets"), "{text}");
    assert!(
        text.contains("kafka-user") && text.contains("cass"),
        "{text}"
    );

    let out = common::run_cassflow(dir.path(), &["config", "--show-secrets"], &env);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for secret in [
        "web-secret-1",
        "token-secret-2",
        "cass-secret-3",
        "kafka-secret-4",
    ] {
        assert!(text.contains(secret), "{secret} missing: {text}");
    }
}

#[test]
fn values_the_clients_refuse_are_named_at_the_config_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::run_cassflow(
        dir.path(),
        &["config"],
        &[("CASSFLOW_KAFKA__REQUEST_TIMEOUT", "500ms")],
    );
    assert_eq!(out.status.code(), Some(1));
    let line = common::error_line(&out);
    assert!(line.contains("`kafka.request_timeout`"), "{line}");
    assert!(line.contains("500ms") && line.contains("1s"), "{line}");

    std::fs::write(
        dir.path().join("cassflow.toml"),
        "[kafka.properties]\n\"socket.timeout.ms\" = \"5\"\n",
    )
    .expect("write");
    let out = common::run_cassflow(dir.path(), &["config"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let line = common::error_line(&out);
    assert!(line.contains("socket.timeout.ms"), "{line}");
}

#[test]
fn an_empty_web_password_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::run_cassflow(dir.path(), &["config"], &[("CASSFLOW_WEB__PASSWORD", "")]);
    assert_eq!(out.status.code(), Some(1));
    let line = common::error_line(&out);
    assert!(
        line.contains("`web.password`") && line.contains("empty"),
        "{line}"
    );
    assert!(line.contains("fix:"), "{line}");
}

#[test]
fn run_parameters_are_checked_when_triggered() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (conf, key) in [
        (r#"{"count": "five"}"#, "`count`"),
        (r#"{"cnt": 5}"#, "`cnt`"),
    ] {
        let out = common::run_cassflow(
            dir.path(),
            &["dags", "trigger", "user_automation", "--conf", conf],
            &[],
        );
        assert_eq!(out.status.code(), Some(1), "{conf}");
        let line = common::error_line(&out);
        assert!(line.contains(key), "{line}");
        assert!(line.contains("a whole number of at least 1"), "{line}");
    }
    let out = common::run_cassflow(dir.path(), &["runs", "user_automation", "-o", "json"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    assert_eq!(
        runs.as_array().map(Vec::len),
        Some(0),
        "nothing queued: {runs}"
    );
    let out = common::run_cassflow(
        dir.path(),
        &[
            "dags",
            "trigger",
            "user_automation",
            "--conf",
            r#"{"count": 5}"#,
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn local_cluster_sizes_outside_what_the_stack_runs_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (var, value, key, range) in [
        (
            "CASSFLOW_LOCAL__CASSANDRA_NODES",
            "4",
            "local.cassandra_nodes",
            "1 to 3",
        ),
        (
            "CASSFLOW_LOCAL__KAFKA_BROKERS",
            "0",
            "local.kafka_brokers",
            "1 to 5",
        ),
        (
            "CASSFLOW_LOCAL__KAFKA_BROKERS",
            "6",
            "local.kafka_brokers",
            "1 to 5",
        ),
    ] {
        let out = common::run_cassflow(dir.path(), &["config"], &[(var, value)]);
        assert_eq!(out.status.code(), Some(1), "{var}={value}");
        let line = common::error_line(&out);
        assert!(line.contains(&format!("`{key}`")), "{line}");
        assert!(line.contains(range), "{line}");
        assert!(line.contains("fix: use"), "{line}");
    }
}

#[test]
fn a_bootstrap_that_does_not_list_every_local_broker_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("cassflow.toml"),
        "[kafka]\nbootstrap = \"127.0.0.1:9092\"\n[local]\nkafka_brokers = 3\n",
    )
    .expect("write");
    let out = common::run_cassflow(dir.path(), &["config"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let line = common::error_line(&out);
    assert!(line.contains("`kafka.bootstrap`"), "{line}");
    assert!(line.contains("local.kafka_brokers = 3"), "{line}");
    assert!(
        line.contains("127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292"),
        "{line}"
    );
    let three = "127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292";
    let out = common::run_cassflow(
        dir.path(),
        &["config"],
        &[("CASSFLOW_KAFKA__BOOTSTRAP", three)],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}
