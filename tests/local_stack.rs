//! `cassflow local`: a second, private stack (own ports and data dir, beside the shared test
//! stack) starts, answers, tolerates a second start, reports status, and stops; the broker
//! writes its own log, which `local logs kafka` shows; a taken port is refused with one
//! clear line naming the key to change.

mod common;

use cassflow::local::{LocalStack, Server};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

#[tokio::test]
async fn private_stack_starts_answers_and_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = common::stack_config();
    let [kafka, controller, cql, storage] = common::free_ports();
    config.kafka.bootstrap = format!("127.0.0.1:{kafka}");
    config.cassandra.contact_points = format!("127.0.0.1:{cql}");
    config.local.kafka_controller_port = controller;
    config.local.cassandra_storage_port = storage;
    config.local.data_dir = dir.path().to_path_buf();
    config.local.kafka_heap = "256m".into();
    config.local.cassandra_heap = "512m".into();
    // The registry has a test of its own (tests/local_registry.rs).
    config.local.registry = false;
    let stack = LocalStack::new(&config);

    let report = stack.start().await.expect("start");
    assert_eq!(report.started.len(), 2, "{report}");
    for server in stack.servers() {
        stack
            .probe(server, Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("{} answers after start: {e}", server.id()));
    }
    let status = stack.status().await;
    assert!(status.all_running(), "{status}");
    let text = status.to_string();
    assert!(text.contains("running"), "{text}");

    let again = stack.start().await.expect("second start is harmless");
    assert!(again.started.is_empty(), "{again}");
    assert_eq!(again.already_running.len(), 2, "{again}");

    let stopped = stack.stop().await.expect("stop");
    assert_eq!(stopped.outcomes.len(), 2);
    let status = stack.status().await;
    assert!(status.servers.iter().all(|s| s.pid.is_none()), "{status}");
    for server in stack.servers() {
        assert!(
            stack.probe(server, Duration::from_secs(2)).await.is_err(),
            "{} no longer answers",
            server.id()
        );
    }
}

#[tokio::test]
async fn local_logs_kafka_shows_the_broker_starting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, stack) = common::private_kafka(&common::stack_config(), dir.path()).await;
    let logs = || {
        let out = Command::new(common::cassflow_bin())
            .args(["local", "logs", "-n", "1000", "kafka"])
            .env("CASSFLOW_KAFKA__BOOTSTRAP", &config.kafka.bootstrap)
            .env("CASSFLOW_LOCAL__DATA_DIR", dir.path())
            .current_dir(dir.path())
            .output()
            .expect("run cassflow local logs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The broker answers a moment before it logs that its start is complete.
    let mut text = logs();
    for _ in 0..60 {
        if text.contains("Kafka Server started") {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
        text = logs();
    }
    stack
        .stop_only(&[Server::Kafka])
        .await
        .expect("private Kafka stops");
    assert!(
        text.contains("[KafkaRaftServer nodeId=1] Kafka Server started"),
        "no broker start line in `local logs kafka`:\n{text}"
    );
    assert!(!text.contains("NOP"), "{text}");
}

#[test]
fn taken_port_gives_one_clear_line() {
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(common::cassflow_bin())
        .args(["local", "start"])
        .env("CASSFLOW_KAFKA__BOOTSTRAP", format!("127.0.0.1:{port}"))
        .env("CASSFLOW_LOCAL__DATA_DIR", dir.path())
        .current_dir(dir.path())
        .output()
        .expect("run cassflow");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains(&format!(
            "port {port} for the Kafka broker is already in use"
        )),
        "{stderr}"
    );
    assert!(errors[0].contains("kafka.bootstrap"), "{stderr}");
}

#[test]
fn status_of_a_stopped_stack_exits_3() {
    let ports: [u16; 2] = common::free_ports();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(common::cassflow_bin())
        .args(["local", "status"])
        .env("CASSFLOW_LOCAL__DATA_DIR", dir.path())
        .env(
            "CASSFLOW_KAFKA__BOOTSTRAP",
            format!("127.0.0.1:{}", ports[0]),
        )
        .env(
            "CASSFLOW_CASSANDRA__CONTACT_POINTS",
            format!("127.0.0.1:{}", ports[1]),
        )
        .current_dir(dir.path())
        .output()
        .expect("run cassflow");
    assert_eq!(out.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("stopped"), "{stdout}");
}

/// Private servers' ports come from below the kernel's ephemeral range (where any outgoing
/// connection may take a port between a test's pick and its server's bind), and each stays
/// reserved for the test process: another process cannot take the same one.
#[test]
fn private_ports_are_outside_the_ephemeral_range_and_reserved() {
    let (low, high) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|v| v.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999));
    let ports: [u16; 64] = common::free_ports();
    let distinct: std::collections::HashSet<u16> = ports.iter().copied().collect();
    assert_eq!(distinct.len(), ports.len(), "ports repeat: {ports:?}");
    for port in ports {
        assert!(
            !(low..=high).contains(&port),
            "port {port} is in the ephemeral range {low}-{high}"
        );
    }
    // Another process (flock(1) here) cannot reserve the ports this one holds.
    let lock = std::env::temp_dir()
        .join("cassflow-test-ports")
        .join(format!("{}.lock", ports[0]));
    let status = Command::new("flock")
        .args(["--nonblock", "--conflict-exit-code", "7"])
        .arg(&lock)
        .arg("true")
        .status()
        .expect("run flock");
    assert_eq!(status.code(), Some(7), "{} is not held", lock.display());
}
