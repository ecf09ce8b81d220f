//! `cassflow up` against running servers: it creates the pipeline's topic, dead-letter topic,
//! keyspace and table, says it is up, and exits 0 on SIGTERM without stopping servers it did
//! not start.

mod common;

use cassflow::cassandra;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn up_creates_the_pipeline_and_stops_on_sigterm() {
    let config = common::stack().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = common::unique("up");
    let keyspace = common::unique("upks");
    let file = dir.path().join("cassflow.toml");
    let [web_port] = common::free_ports();
    std::fs::write(
        &file,
        format!(
            "[kafka]\nbootstrap = \"{}\"\n[cassandra]\ncontact_points = \"{}\"\n\
             [[pipelines]]\ntopic = \"{topic}\"\npartitions = 2\nkeyspace = \"{keyspace}\"\n\
             table = \"created_users\"\n[web]\nbind = \"127.0.0.1:{web_port}\"\n",
            config.kafka.bootstrap, config.cassandra.contact_points
        ),
    )
    .expect("write config");
    let mut child = Command::new(common::cassflow_bin())
        .arg("--config")
        .arg(&file)
        .arg("up")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn cassflow up");
    let stdout = child.stdout.take().expect("stdout");
    let lines = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        for line in lines.by_ref() {
            let done = line.contains("press Ctrl-C");
            seen.push(line);
            if done {
                break;
            }
        }
        // Keep reading, as a terminal would, until the process exits.
        std::thread::spawn(move || lines.for_each(drop));
        seen
    });
    let lines = tokio::time::timeout(Duration::from_secs(120), lines)
        .await
        .expect("up is ready within 120 s")
        .expect("reader");
    let text = lines.join("\n");
    assert!(text.contains("cassflow is up"), "{text}");
    assert!(
        !text.contains("starting the local stack"),
        "servers were running: {text}"
    );
    assert!(
        text.contains(&format!("web UI     http://127.0.0.1:{web_port}/")),
        "{text}"
    );
    assert!(
        text.contains("DAG        user_automation (@daily)"),
        "{text}"
    );
    let health = reqwest::get(format!("http://127.0.0.1:{web_port}/health"))
        .await
        .expect("the web UI answers");
    assert!(health.status().is_success(), "{health:?}");

    let info = cassflow::kafka::admin::probe(&config.kafka, Duration::from_secs(10))
        .await
        .expect("metadata");
    assert!(info.topics.contains(&topic), "topic created");
    assert!(
        info.topics.contains(&format!("{topic}.dlq")),
        "dead-letter topic created"
    );

    let session = cassandra::connect(&config.cassandra)
        .await
        .expect("connect");
    let rows = session
        .query_unpaged(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
            (keyspace.as_str(),),
        )
        .await
        .expect("schema query")
        .into_rows_result()
        .expect("rows");
    let tables: Vec<String> = rows
        .rows::<(String,)>()
        .expect("typed rows")
        .map(|r| r.expect("row").0)
        .collect();
    assert_eq!(tables, vec!["created_users".to_string()]);

    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("signal");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
    // The shared stack is still up: up did not start it, so it must not stop it.
    cassflow::kafka::admin::probe(&config.kafka, Duration::from_secs(10))
        .await
        .expect("Kafka still answers");
}
