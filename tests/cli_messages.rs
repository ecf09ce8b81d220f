//! What a new user reads when a command fails: one `error:` line with what failed, the key
//! or resource, and the fix, no raw client log lines before it, each cause once (issue 15).
//! "Kafka down" and "Cassandra down" point at a port from `common::free_ports` where
//! nothing listens; missing topics and tables are unique names on the shared test stack.

mod common;

use std::path::Path;
use std::process::Output;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one `error:` line of a failed run; nothing else on stderr that is not a warning.
fn the_error(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    let text = stderr(out);
    let lines: Vec<&str> = text.lines().collect();
    let errors: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "exactly one error line: {text}");
    assert!(!text.contains("librdkafka"), "raw client log lines: {text}");
    assert!(!text.contains(" ERROR "), "log lines at ERROR: {text}");
    errors[0].to_string()
}

fn config_error(file: Option<&str>, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    if let Some(text) = file {
        std::fs::write(dir.path().join("cassflow.toml"), text).expect("write");
    }
    the_error(&common::run_cassflow(dir.path(), &["config"], env))
}

#[test]
fn a_bad_duration_shows_what_a_duration_looks_like() {
    let line = config_error(None, &[("CASSFLOW_LOCAL__STOP_TIMEOUT", "later")]);
    assert!(line.contains("`local.stop_timeout`"), "{line}");
    assert!(
        line.contains("\"30s\"") && line.contains("\"1h30m\""),
        "{line}"
    );
}

#[test]
fn a_bad_number_is_named_in_words_with_an_example() {
    let line = config_error(None, &[("CASSFLOW_STREAM__MAX_IN_FLIGHT", "abc")]);
    assert!(line.contains("`stream.max_in_flight`"), "{line}");
    assert!(line.contains("a whole number, e.g. 256"), "{line}");
    assert!(!line.contains("usize"), "{line}");
}

#[test]
fn a_toml_syntax_error_names_the_file_and_position() {
    let line = config_error(Some("[kafka\nbootstrap = \"x\"\n"), &[]);
    assert!(!line.contains("key ``"), "{line}");
    assert!(line.contains("cassflow.toml is not valid TOML"), "{line}");
    assert!(line.contains("line 1, column 7"), "{line}");
    assert!(line.contains("fix:"), "{line}");
}

#[test]
fn an_unknown_format_lists_the_valid_ones_once_quoted() {
    let line = config_error(Some("[[pipelines]]\nformat = \"xml\"\n"), &[]);
    assert!(line.contains("`pipelines[0].format`"), "{line}");
    assert!(
        line.contains("`xml` is not one of users, json, avro, protobuf, json_schema"),
        "{line}"
    );
    assert!(!line.contains("``"), "doubled backticks: {line}");
}

#[test]
fn a_host_name_as_web_bind_asks_for_an_ip_and_port() {
    let line = config_error(Some("[web]\nbind = \"localhost:8080\"\n"), &[]);
    assert!(line.contains("`web.bind`"), "{line}");
    assert!(line.contains("IP address and port"), "{line}");
    assert!(line.contains("127.0.0.1:8080"), "{line}");
}

#[test]
fn key_paths_are_written_one_way() {
    let line = config_error(Some("[[pipelines]]\ntopc = \"x\"\n"), &[]);
    assert!(line.contains("`pipelines[0].topc`"), "{line}");
    let line = config_error(Some("[[pipelines]]\npartitions = \"many\"\n"), &[]);
    assert!(line.contains("`pipelines[0].partitions`"), "{line}");
}

#[test]
fn the_web_password_rule_applies_only_where_the_ui_is_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let public = [("CASSFLOW_WEB__BIND", "0.0.0.0:18080")];
    let out = common::run_cassflow(dir.path(), &["dags", "list"], &public);
    assert!(
        out.status.success(),
        "dags list serves nothing: {}",
        stderr(&out)
    );
    // The configuration check still applies it.
    let line = the_error(&common::run_cassflow(dir.path(), &["config"], &public));
    assert!(line.contains("`web.password`"), "{line}");
}

#[test]
fn local_stop_when_nothing_runs_prints_one_line_per_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::run_cassflow(dir.path(), &["local", "stop"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "no log lines before the report");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("kafka") && lines[0].ends_with("was not running"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("cassandra") && lines[1].ends_with("was not running"),
        "{text}"
    );
}

#[test]
fn check_lag_with_kafka_down_names_the_broker_and_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let [port] = common::free_ports();
    let bootstrap = format!("127.0.0.1:{port}");
    let out = common::run_cassflow(
        dir.path(),
        &["check", "lag"],
        &[
            ("CASSFLOW_KAFKA__BOOTSTRAP", &bootstrap),
            ("CASSFLOW_KAFKA__REQUEST_TIMEOUT", "2s"),
        ],
    );
    let line = the_error(&out);
    assert!(
        line.contains(&format!("cannot reach Kafka at {bootstrap}")),
        "{line}"
    );
    assert!(
        line.contains("cassflow local start") && line.contains("kafka.bootstrap"),
        "{line}"
    );
}

#[test]
fn stream_and_produce_with_kafka_down_say_it_once_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let [port] = common::free_ports();
    let bootstrap = format!("127.0.0.1:{port}");
    let env = [
        ("CASSFLOW_KAFKA__BOOTSTRAP", bootstrap.as_str()),
        ("CASSFLOW_KAFKA__REQUEST_TIMEOUT", "2s"),
    ];
    for args in [
        &["stream"][..],
        &["produce", "--source", "generator", "--count", "1"][..],
    ] {
        let line = the_error(&common::run_cassflow(dir.path(), args, &env));
        assert!(line.contains(&bootstrap), "{args:?}: {line}");
        assert!(
            line.contains("cassflow local start") && line.contains("kafka.bootstrap"),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn check_rows_with_cassandra_down_gives_the_cause_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let [port] = common::free_ports();
    let contact = format!("127.0.0.1:{port}");
    let out = common::run_cassflow(
        dir.path(),
        &["check", "rows", "--min", "1"],
        &[("CASSFLOW_CASSANDRA__CONTACT_POINTS", &contact)],
    );
    let line = the_error(&out);
    assert!(line.contains(&format!("Cassandra at {contact}")), "{line}");
    assert_eq!(line.matches("Connection refused").count(), 1, "{line}");
    assert_eq!(line.matches("pool is broken").count(), 1, "{line}");
    assert!(
        line.trim_end().ends_with(')') && line.contains("(fix: "),
        "{line}"
    );
}

#[test]
fn produce_from_an_unreachable_api_counts_its_attempts_one_way() {
    let dir = tempfile::tempdir().expect("tempdir");
    let [port] = common::free_ports();
    let url = format!("http://127.0.0.1:{port}/api/");
    let bootstrap = common::stack_config().kafka.bootstrap;
    let out = common::run_cassflow(
        dir.path(),
        &["produce", "--source", "randomuser", "--count", "1"],
        &[
            ("CASSFLOW_SOURCE__URL", &url),
            ("CASSFLOW_SOURCE__RETRIES", "2"),
            ("CASSFLOW_SOURCE__RETRY_INITIAL_BACKOFF", "10ms"),
            ("CASSFLOW_KAFKA__BOOTSTRAP", &bootstrap),
        ],
    );
    let text = stderr(&out);
    let line = the_error(&out);
    assert!(text.contains("attempt=1 of=3"), "{text}");
    assert!(text.contains("attempt=2 of=3"), "{text}");
    assert!(!text.contains("attempt=3"), "{text}");
    assert!(line.contains("failed after 3 attempts"), "{line}");
    assert_eq!(line.matches("could not connect").count(), 1, "{line}");
    assert!(line.contains("--source generator"), "{line}");
}

/// The shared test stack's config with one users pipeline on fresh names, written to `dir`.
fn stack_file(dir: &Path) -> (std::path::PathBuf, cassflow::config::PipelineConfig) {
    let pipeline = common::users_pipeline("msg");
    let file = common::write_config(
        dir,
        &common::stack_config(),
        std::slice::from_ref(&pipeline),
    );
    (file, pipeline)
}

#[tokio::test]
async fn check_rows_on_a_missing_table_says_which_and_how_to_create_it() {
    common::stack().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, p) = stack_file(dir.path());
    let file = file.to_string_lossy().into_owned();
    let out = common::run_cassflow(
        dir.path(),
        &["--config", &file, "check", "rows", "--min", "1"],
        &[],
    );
    let line = the_error(&out);
    assert!(
        line.contains(&format!("table {}.{} does not exist", p.keyspace, p.table)),
        "{line}"
    );
    assert!(
        line.contains(&format!("keyspace {} does not exist", p.keyspace)),
        "{line}"
    );
    assert!(line.contains("cassflow up"), "{line}");
}

#[tokio::test]
async fn check_lag_on_a_missing_topic_says_which_and_how_to_create_it() {
    common::stack().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, p) = stack_file(dir.path());
    let file = file.to_string_lossy().into_owned();
    let out = common::run_cassflow(dir.path(), &["--config", &file, "check", "lag"], &[]);
    let line = the_error(&out);
    assert!(
        line.contains(&format!("topic `{}` does not exist", p.topic)),
        "{line}"
    );
    assert!(line.contains("cassflow stream --pipeline"), "{line}");
}

#[tokio::test]
async fn check_rows_passes_on_a_table_that_holds_them() {
    let config = common::stack().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, p) = stack_file(dir.path());
    let records = common::users(3, "rows");
    common::produce(&config, &p.topic, &records).await;
    common::stream_until_table_holds(&config, &p, &records).await;
    let file = file.to_string_lossy().into_owned();
    let out = common::run_cassflow(
        dir.path(),
        &["--config", &file, "check", "rows", "--min", "3"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("has 3 rows"), "{text}");
}

#[test]
fn stream_of_an_unknown_pipeline_lists_the_configured_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let line = the_error(&common::run_cassflow(
        dir.path(),
        &["stream", "--pipeline", "nope"],
        &[],
    ));
    assert!(
        line.contains("`nope`") && line.contains("configured: `users`"),
        "{line}"
    );
}
