//! A tiny run of `cassflow bench` against the test stack with the peers that need no
//! download (cassflow, the raw driver, and cassflow on Avro through the test stack's
//! registry), so the harness cannot rot: rows must land (the bench verifies count and
//! sample itself), the JSON and the markdown must have their shape, and nothing of the run
//! may be left on the servers. Timings are never asserted.

mod common;

use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn tiny_bench_lands_rows_and_writes_its_report() {
    let config = common::stack().await;
    let out = tempfile::tempdir().expect("temp dir");
    let output = Command::new(common::cassflow_bin())
        .arg("--config")
        .arg(common::stack_config_path())
        .env("CASSFLOW_LOCAL__DATA_DIR", &config.local.data_dir)
        .args(["bench", "--records", "600", "--peers", "cassflow,raw,avro"])
        .args([
            "--instances",
            "1,2",
            "--latency-rates",
            "200",
            "--latency-duration",
            "2s",
        ])
        .arg("--no-chart")
        // The machine is busy while the other tests run.
        .arg("--allow-busy")
        // One run of each: the median choice is unit-tested; CI time is kept down.
        .args(["--repeats", "1"])
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("run cassflow bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed:\n{stdout}\n{stderr}");

    let json = std::fs::read_to_string(out.path().join("bench-results.json")).expect("json");
    let results: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(results["records"], 600);

    let sink = results["sink"].as_array().expect("sink runs");
    let names: Vec<&str> = sink.iter().filter_map(|s| s["pipeline"].as_str()).collect();
    assert_eq!(
        names,
        [
            "raw driver",
            "raw driver grouped",
            "cassflow x1",
            "cassflow x2",
            "cassflow x1 per-row",
            "cassflow x1 avro"
        ],
        "{json}"
    );
    for run in sink {
        let v = &run["verification"];
        assert_eq!(v["counted_rows"], 600, "{run}");
        assert_eq!(v["expected_rows"], 600, "{run}");
        assert_eq!(v["sample_mismatches"], 0, "{run}");
        assert!(v["sample_checked"].as_u64().unwrap_or(0) > 0, "{run}");
        assert!(run["steady_records_per_second"].as_f64().unwrap_or(0.0) > 0.0);
        assert!(run["processes"][0]["peak_rss_bytes"].as_u64().unwrap_or(0) > 0);
    }

    // Nothing of the run is left on the servers: no keyspace or topic named from its prefix
    // (the rows were counted by the bench, asserted above).
    let session = common::session(&config).await;
    let keyspaces = stdout
        .lines()
        .filter_map(|l| l.split(" into \"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .collect::<Vec<_>>();
    assert!(
        keyspaces.len() >= names.len(),
        "the bench names its tables:\n{stdout}"
    );
    let left: Vec<(String,)> = session
        .query_unpaged("SELECT keyspace_name FROM system_schema.keyspaces", &[])
        .await
        .expect("list keyspaces")
        .into_rows_result()
        .expect("rows")
        .rows()
        .expect("typed rows")
        .collect::<Result<_, _>>()
        .expect("keyspace names");
    let prefix = stdout
        .lines()
        .find_map(|l| l.split("fills topic ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the bench names its topic");
    assert!(
        keyspaces.iter().all(|k| k.starts_with(prefix)),
        "the run's tables are named from its prefix {prefix}: {keyspaces:?}"
    );
    let tables_left: Vec<&String> = left
        .iter()
        .map(|(k,)| k)
        .filter(|k| k.starts_with(prefix))
        .collect();
    assert!(tables_left.is_empty(), "tables left: {tables_left:?}");
    let cluster = cassflow::kafka::admin::probe(&config.kafka, std::time::Duration::from_secs(10))
        .await
        .expect("Kafka answers");
    let topics: Vec<&String> = cluster
        .topics
        .iter()
        .filter(|t| t.starts_with(prefix))
        .collect();
    assert!(topics.is_empty(), "topics left: {topics:?}");

    let latency = results["latency"].as_array().expect("latency runs");
    assert_eq!(latency.len(), 1, "{json}");
    assert_eq!(latency[0]["pipeline"], "cassflow x1");
    assert_eq!(latency[0]["lost"], 0);
    assert!(latency[0]["samples"].as_u64().unwrap_or(0) > 0);

    let producer = results["producer"].as_array().expect("producer runs");
    assert_eq!(producer[0]["records"], 600);
    let targets = results["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 9);

    let md = std::fs::read_to_string(out.path().join("benchmarks.md")).expect("markdown");
    for heading in [
        "## Targets",
        "## Sink throughput",
        "## End-to-end latency",
        "## Producer",
    ] {
        assert!(md.contains(heading), "{heading} in\n{md}");
    }
    assert!(md.contains("| cassflow x2 |"), "{md}");
}
