//! airflow/dags/user_automation.py on real Apache Airflow (from PyPI, in a cached virtualenv
//! that scripts/airflow-test creates on first use): the DAG imports and renders the commands
//! it will run, and `airflow dags test user_automation` produces users with `cassflow produce`
//! and waits for a `cassflow stream` to write them all to Cassandra on the test stack.

mod common;

use cassflow::config::{Config, PipelineConfig};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `scripts/airflow-test ARGS` with cassflow's binary (as the Airflow Variable `cassflow_bin`)
/// and config (if any) in its environment.
fn airflow_test(args: &[&str], config: Option<&Path>, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(common::repo_root().join("scripts/airflow-test"));
    command
        .args(args)
        .current_dir(common::repo_root())
        .env("AIRFLOW_VAR_CASSFLOW_BIN", common::cassflow_bin())
        .env_remove("CASSFLOW_BIN")
        .env_remove("CASSFLOW_CONFIG");
    if let Some(path) = config {
        command.env("CASSFLOW_CONFIG", path);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run scripts/airflow-test")
}

fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn dag_imports_with_its_tasks_and_params() {
    let out = airflow_test(&["check"], None, &[]);
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    let json = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON summary in:\n{text}"));
    let summary: serde_json::Value = serde_json::from_str(json).expect("JSON summary");
    assert_eq!(summary["dag_id"], "user_automation");
    assert_eq!(
        summary["tasks"]["stream_data_from_api"],
        serde_json::json!(["check_stream_caught_up"])
    );
    assert_eq!(summary["params"]["duration"], "60s", "the seed's 60 s");
    assert!(summary["retries"]["check_stream_caught_up"].as_u64() >= Some(1));
}

/// Only `scripts/airflow-test setup` (run by `scripts/dev setup`) builds the virtualenv; the
/// commands tests use install nothing and say how to get it.
#[test]
fn without_the_virtualenv_check_says_run_setup_and_installs_nothing() {
    let cache = tempfile::tempdir().expect("temp dir");
    let home = tempfile::tempdir().expect("temp dir");
    let cache_dir = cache.path().to_string_lossy().into_owned();
    let home_dir = home.path().to_string_lossy().into_owned();
    let out = airflow_test(
        &["check"],
        None,
        &[("XDG_CACHE_HOME", &cache_dir), ("AIRFLOW_HOME", &home_dir)],
    );
    let text = output_text(&out);
    assert!(
        !out.status.success(),
        "check passed without a virtualenv:\n{text}"
    );
    assert!(text.contains("fix: scripts/dev setup"), "{text}");
    assert!(
        !cache.path().join("cassflow/airflow-venv").exists(),
        "check created a virtualenv"
    );
}

#[test]
fn commands_render_with_variables_quoted() {
    let out = airflow_test(
        &["render", "stream_data_from_api", "2024-01-01"],
        None,
        &[
            ("AIRFLOW_VAR_CASSFLOW_BIN", "/opt/cass flow/bin/cassflow"),
            ("AIRFLOW_VAR_CASSFLOW_CONFIG", "/etc/cassflow/it's.toml"),
        ],
    );
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(
            "'/opt/cass flow/bin/cassflow' --config '/etc/cassflow/it'\"'\"'s.toml' produce --duration 60s --source auto"
        ),
        "{text}"
    );
    let out = airflow_test(
        &["render", "check_stream_caught_up", "2024-01-01"],
        None,
        &[],
    );
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    let bin = common::cassflow_bin().display().to_string();
    assert!(
        text.contains(&format!("{bin} check lag --wait 5m")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{bin} check rows --min 1")),
        "{text}"
    );
}

#[test]
fn invalid_run_conf_is_refused_before_any_task() {
    let out = airflow_test(&["run", r#"{"duration": "60s; rm -rf /"}"#], None, &[]);
    let text = output_text(&out);
    assert!(!out.status.success(), "bad conf accepted:\n{text}");
    assert!(text.contains("Invalid input for param duration"), "{text}");
    assert!(!text.contains("cassflow produce"), "a task ran:\n{text}");
}

fn write_config(dir: &Path, stack: &Config, p: &PipelineConfig) -> PathBuf {
    let mut config = stack.clone();
    config.kafka.request_timeout = std::time::Duration::from_secs(5);
    config.producer.delivery_timeout = std::time::Duration::from_secs(10);
    common::write_config(dir, &config, std::slice::from_ref(p))
}

#[tokio::test(flavor = "multi_thread")]
async fn dag_run_produces_and_waits_for_the_stream() {
    let stack = common::stack().await;
    let pipeline = common::users_pipeline("airflow");
    let config = Config {
        pipelines: vec![pipeline.clone()],
        ..stack.clone()
    };
    cassflow::up::prepare(&config)
        .await
        .expect("topic, keyspace and table");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write_config(dir.path(), &stack, &pipeline);
    let _stream = common::cassflow_stream(dir.path(), &file, &[]);

    let conf = r#"{"duration": "5s", "source": "generator", "rate": 50, "catch_up_timeout": "3m", "min_rows": 1}"#;
    let file_for_run = file.clone();
    let out =
        tokio::task::spawn_blocking(move || airflow_test(&["run", conf], Some(&file_for_run), &[]))
            .await
            .expect("join");
    let text = output_text(&out);
    assert!(out.status.success(), "the DAG run failed:\n{text}");
    assert!(
        text.contains("cassflow") && text.contains("check rows"),
        "the tasks did not run cassflow:\n{text}"
    );

    // The check task waited for zero lag, and the stream commits only after writing: every
    // message in the topic is a row now.
    let produced = common::topic_message_count(&config, &pipeline.topic).await;
    assert!(produced > 0, "nothing was produced:\n{text}");
    let session = common::session(&config).await;
    let rows = common::count_rows(&session, &pipeline.keyspace, &pipeline.table).await;
    assert_eq!(rows, produced, "rows in Cassandra vs messages in Kafka");
}

#[test]
fn a_failing_cassflow_fails_the_dag_run() {
    let [unused] = common::free_ports();
    let pipeline = common::users_pipeline("airflow_fail");
    let dir = tempfile::tempdir().expect("temp dir");
    // Nothing listens on `unused`: producing fails within the short timeouts of this config.
    let mut unreachable = common::stack_config();
    unreachable.kafka.bootstrap = format!("127.0.0.1:{unused}");
    let file = write_config(dir.path(), &unreachable, &pipeline);
    let out = airflow_test(
        &["run", r#"{"duration": "2s", "source": "generator"}"#],
        Some(&file),
        &[],
    );
    let text = output_text(&out);
    assert!(!out.status.success(), "the DAG run passed:\n{text}");
    assert!(text.contains("DagRun failed"), "{text}");
    assert!(
        text.contains("did not answer within"),
        "not failed by cassflow's own error:\n{text}"
    );
    assert!(
        !text.contains("check lag --wait"),
        "the check ran after a failed produce:\n{text}"
    );
}
