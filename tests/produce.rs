//! Producing to real Kafka: N records in, exactly N identical records out; no duplicates when
//! the broker stalls and the producer retries (idempotence); a clear error for an
//! unreachable broker; `cassflow produce` on a mixed good/bad stdin file, validated and raw.

mod common;

use cassflow::config::SourceKind;
use cassflow::produce::{produce, Limit, ProduceRequest};
use cassflow::record::UserRecord;
use cassflow::source::generator::Generator;
use indicatif::ProgressBar;
use rdkafka::Message;
use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn generator_request(topic: &str, n: u64) -> ProduceRequest {
    ProduceRequest {
        topic: topic.to_string(),
        source: SourceKind::Generator,
        limit: Limit::Count(n),
        rate: None,
        raw: false,
        format: cassflow::config::RecordFormat::Users,
        key: None,
        wire: None,
    }
}

/// Decodes messages keyed by record id, checking each key equals its record's id.
fn decode_all(messages: &[rdkafka::message::OwnedMessage]) -> HashMap<uuid::Uuid, UserRecord> {
    let mut out = HashMap::new();
    for m in messages {
        let (record, _) = UserRecord::decode(m.payload().unwrap_or_default()).expect("valid");
        assert_eq!(m.key(), Some(record.id.to_string().as_bytes()), "key = id");
        assert!(out.insert(record.id, record).is_none(), "duplicate id");
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produces_n_and_exactly_n_identical_records_come_back() {
    let mut config = common::stack().await;
    config.source.seed = Some("produce-roundtrip".into());
    let topic = common::unique("produce");
    let summary = produce(
        &config,
        &generator_request(&topic, 20_000),
        &ProgressBar::hidden(),
        &CancellationToken::new(),
    )
    .await
    .expect("produce");
    assert_eq!((summary.sent, summary.failed), (20_000, 0));
    assert_eq!(summary.source, "generator");

    assert_eq!(common::topic_message_count(&config, &topic).await, 20_000);
    let got = decode_all(&common::read_topic(&config, &topic, 20_000).await);
    let expected = Generator::new(Some("produce-roundtrip")).batch(20_000);
    assert_eq!(got.len(), expected.len());
    for record in &expected {
        assert_eq!(got.get(&record.id), Some(record), "record differs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_broker_makes_the_producer_retry_without_duplicates() {
    let shared = common::stack().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut config, kafka) = common::private_kafka(&shared, dir.path()).await;
    // Short request timeouts, so requests stuck in the stalled broker time out and are sent
    // again; the broker then sees both copies and must keep one.
    config
        .kafka
        .properties
        .insert("request.timeout.ms".into(), "1000".into());
    config.producer.delivery_timeout = Duration::from_secs(120);
    let topic = common::unique("idempotent");
    let mut request = generator_request(&topic, 60_000);
    request.rate = Some(10_000.0);
    let job = {
        let (config, request) = (config.clone(), request.clone());
        tokio::spawn(async move {
            produce(
                &config,
                &request,
                &ProgressBar::hidden(),
                &CancellationToken::new(),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = common::server_pid(&kafka, cassflow::local::Server::Kafka).await;
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).expect("stall the broker");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!job.is_finished(), "the stall happened mid-load");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).expect("resume the broker");

    let summary = job.await.expect("task").expect("produce");
    assert_eq!((summary.sent, summary.failed), (60_000, 0));
    assert_eq!(
        common::topic_message_count(&config, &topic).await,
        60_000,
        "no duplicates on the broker"
    );
    let got = decode_all(&common::read_topic(&config, &topic, 60_000).await);
    assert_eq!(got.len(), 60_000);
    kafka.stop().await.expect("stop private Kafka");
}

#[tokio::test]
async fn an_unreachable_broker_fails_with_a_clear_message_within_the_timeout() {
    let mut config = common::stack_config();
    let [port] = common::free_ports();
    config.kafka.bootstrap = format!("127.0.0.1:{port}");
    config.kafka.request_timeout = Duration::from_secs(3);
    let started = Instant::now();
    let err = produce(
        &config,
        &generator_request("unreachable", 10),
        &ProgressBar::hidden(),
        &CancellationToken::new(),
    )
    .await
    .expect_err("nothing listens there");
    // Bounded, not timed: a hang would be the failure, not a slow machine.
    assert!(started.elapsed() < Duration::from_secs(60));
    let text = err.to_string();
    assert!(text.contains(&config.kafka.bootstrap), "{text}");
    assert!(text.contains("unreachable"), "names the topic: {text}");
    assert!(
        text.contains("did not answer within 3s"),
        "says why: {text}"
    );
    assert!(text.contains("fix:"), "says what to do: {text}");
}

/// Three good records and four bad lines (plus a blank one, which is skipped).
fn mixed_file() -> (tempfile::NamedTempFile, Vec<UserRecord>) {
    let good = Generator::new(Some("stdin-mixed")).batch(3);
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    let mut missing = good[0].to_json_map();
    missing.remove("email");
    let lines = [
        good[0].to_json(),
        "{not json".to_string(),
        serde_json::Value::Object(missing).to_string(),
        good[1].to_json(),
        String::new(),
        good[2]
            .to_json()
            .replace(&good[2].id.to_string(), "not-a-uuid"),
        "[1,2,3]".to_string(),
        good[2].to_json(),
    ];
    for line in lines {
        writeln!(file, "{line}").expect("write");
    }
    (file, good)
}

fn cassflow_produce(args: &[&str], stdin: &std::path::Path) -> std::process::Output {
    Command::new(common::cassflow_bin())
        .arg("--config")
        .arg(common::stack_config_path())
        .arg("produce")
        .args(args)
        .stdin(Stdio::from(std::fs::File::open(stdin).expect("open input")))
        .output()
        .expect("run cassflow")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_sends_valid_lines_and_reports_bad_ones_by_line_number() {
    let config = common::stack().await;
    let (file, good) = mixed_file();
    let topic = common::unique("stdin");
    let out = cassflow_produce(&["--source", "stdin", "--topic", &topic], file.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "invalid lines fail the run: {stderr}"
    );
    for (line, reason) in [
        (2, "invalid_json"),
        (3, "missing_field"),
        (6, "bad_uuid"),
        (7, "not_an_object"),
    ] {
        assert!(
            stderr.contains(&format!("skipping invalid line {line}:")) && stderr.contains(reason),
            "line {line} ({reason}) reported: {stderr}"
        );
    }
    assert!(
        stderr.contains("4 invalid input record(s) were skipped"),
        "{stderr}"
    );
    assert!(stdout.contains("sent 3 records"), "{stdout}");

    assert_eq!(common::topic_message_count(&config, &topic).await, 3);
    let got = decode_all(&common::read_topic(&config, &topic, 3).await);
    for record in &good {
        assert_eq!(got.get(&record.id), Some(record));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_mode_sends_every_non_blank_line_untouched_without_a_key() {
    let config = common::stack().await;
    let (file, _) = mixed_file();
    let topic = common::unique("raw");
    let out = cassflow_produce(&["--raw", "--topic", &topic], file.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<String> = std::fs::read_to_string(file.path())
        .expect("read")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    assert_eq!(expected.len(), 7);
    assert_eq!(common::topic_message_count(&config, &topic).await, 7);
    let mut got: Vec<String> = common::read_topic(&config, &topic, 7)
        .await
        .iter()
        .map(|m| {
            assert_eq!(m.key(), None, "raw lines have no key");
            String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string()
        })
        .collect();
    let mut expected = expected;
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn produce_help_explains_the_options() {
    let out = Command::new(common::cassflow_bin())
        .args(["produce", "--help"])
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--count",
        "--duration",
        "--rate",
        "--source",
        "--topic",
        "--seed",
        "--raw",
        "--pipeline",
    ] {
        assert!(help.contains(flag), "{flag} in help: {help}");
    }
}

/// A config file for the test stack whose only pipeline is a json pipeline `name` on
/// `topic`, keyed by `value.order_id`.
fn json_pipeline_config(dir: &std::path::Path, name: &str, topic: &str) -> std::path::PathBuf {
    let stack = common::stack_config();
    let file = dir.join("cassflow.toml");
    std::fs::write(
        &file,
        format!(
            "[kafka]\nbootstrap = \"{}\"\n[cassandra]\ncontact_points = \"{}\"\n\
             [[pipelines]]\nname = \"{name}\"\ntopic = \"{topic}\"\nkeyspace = \"shop\"\n\
             table = \"orders\"\nformat = \"json\"\npartitions = 2\nkey = \"value.order_id\"\n",
            stack.kafka.bootstrap, stack.cassandra.contact_points
        ),
    )
    .expect("write config");
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_pipeline_sends_a_json_pipelines_own_lines_keyed_by_its_key() {
    let config = common::stack().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = common::unique("orders");
    let file = json_pipeline_config(dir.path(), "orders", &topic);
    let good = [
        r#"{"order_id": "7b0c5a9e-1f6e-4f43-9d6a-3b1f0c2d9e11", "customer": {"name": "x"}, "total": 12.5, "items": ["a","b"]}"#,
        r#"{"order_id": "a2f1e6c4-0d3b-4e8e-8f7a-5c9d1b2e3f40", "total": 3}"#,
        r#"{"order_id": 42, "note": "a number key"}"#,
    ];
    let input = dir.path().join("orders.jsonl");
    std::fs::write(
        &input,
        format!(
            "{}\n[1, 2]\n{}\n{{\"total\": 1}}\n\n{}\nnot json\n",
            good[0], good[1], good[2]
        ),
    )
    .expect("write lines");
    let out = Command::new(common::cassflow_bin())
        .arg("--config")
        .arg(&file)
        .args(["produce", "--pipeline", "orders"])
        .stdin(Stdio::from(std::fs::File::open(&input).expect("open")))
        .output()
        .expect("run cassflow");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "invalid lines fail the run: {stderr}"
    );
    for (line, reason) in [
        (2, "not_an_object"),
        (4, "missing_key"),
        (7, "invalid_json"),
    ] {
        assert!(
            stderr.contains(&format!("skipping invalid line {line}:")) && stderr.contains(reason),
            "line {line} ({reason}) reported: {stderr}"
        );
    }
    assert!(
        stdout.contains(&format!("sent 3 records to {topic}")),
        "{stdout}"
    );

    let mut got: Vec<(String, String)> = common::read_topic(&config, &topic, 3)
        .await
        .iter()
        .map(|m| {
            (
                String::from_utf8_lossy(m.key().expect("keyed")).to_string(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = [
        "7b0c5a9e-1f6e-4f43-9d6a-3b1f0c2d9e11",
        "a2f1e6c4-0d3b-4e8e-8f7a-5c9d1b2e3f40",
        "42",
    ]
    .iter()
    .zip(good)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    want.sort();
    assert_eq!(got, want, "keys from value.order_id, values untouched");
    assert_eq!(common::topic_message_count(&config, &topic).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_sources_refuse_a_json_pipelines_topic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = common::unique("orders");
    let file = json_pipeline_config(dir.path(), "orders", &topic);
    for args in [
        vec![
            "--source",
            "generator",
            "--pipeline",
            "orders",
            "--count",
            "5",
        ],
        vec![
            "--source",
            "generator",
            "--topic",
            topic.as_str(),
            "--count",
            "5",
        ],
    ] {
        let out = Command::new(common::cassflow_bin())
            .arg("--config")
            .arg(&file)
            .arg("produce")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("run cassflow");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line: {stderr}");
        assert!(
            lines[0].contains("pipeline `orders` (format json)")
                && lines[0].contains("generator source makes users records")
                && lines[0].contains("cassflow produce --pipeline orders --source stdin"),
            "{stderr}"
        );
    }

    // The `user_automation` DAG's task (what `cassflow up` runs) refuses it as well: a
    // config whose only pipeline is json gets no users in its topic.
    let config = cassflow::config::load(Some(&file)).expect("loads");
    let err = cassflow::produce::stream_data_from_api(
        &config,
        Duration::from_secs(5),
        &CancellationToken::new(),
    )
    .await
    .expect_err("refused");
    assert!(
        matches!(err, cassflow::produce::ProduceError::NotUsersTopic { ref topic, .. } if topic == &config.pipelines[0].topic),
        "{err}"
    );
}
