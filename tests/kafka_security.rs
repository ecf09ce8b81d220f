//! Kafka with SASL and TLS, configured only through `kafka.properties` (here as the
//! `CASSFLOW_KAFKA__PROPERTIES` environment variable, as a user of an existing cluster would):
//! a private local broker (own ports and data dir, beside the shared test stack) gets extra
//! SASL_PLAINTEXT and SASL_SSL listeners through `local.kafka_properties`, with a throwaway
//! certificate made by the JDK's keytool. `cassflow produce` writes through each listener and
//! a consumer reads the records back through it; a wrong password and an untrusted
//! certificate fail with the reason.

mod common;

use cassflow::config::{Config, KafkaConfig};
use cassflow::local::{LocalStack, Server};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const USER: &str = "alice";
const PASSWORD: &str = "alice-secret";
const STORE_PASSWORD: &str = "test-only-store-pass";

/// Stops the private broker even when an assertion fails.
struct PrivateKafka(LocalStack);

impl Drop for PrivateKafka {
    fn drop(&mut self) {
        let stack = self.0.clone();
        // Dropped inside the test's runtime: stop on a runtime of its own thread.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Runtime::new() {
                let _ = rt.block_on(stack.stop_only(&[Server::Kafka]));
            }
        })
        .join();
    }
}

/// A self-signed certificate for 127.0.0.1 in a PKCS12 keystore, and its PEM for clients.
fn make_certificate(dir: &Path) -> (String, String) {
    let keystore = dir.join("broker.p12").display().to_string();
    let pem = dir.join("ca.pem").display().to_string();
    let run = |args: &[&str]| {
        let out = Command::new("keytool")
            .args(args)
            .output()
            .expect("run keytool (JDK 17, installed with the local stack)");
        assert!(out.status.success(), "keytool {args:?}: {out:?}");
    };
    run(&[
        "-genkeypair",
        "-alias",
        "broker",
        "-keyalg",
        "RSA",
        "-keysize",
        "2048",
        "-validity",
        "2",
        "-dname",
        "CN=localhost",
        "-ext",
        "SAN=ip:127.0.0.1,dns:localhost",
        "-storetype",
        "PKCS12",
        "-keystore",
        &keystore,
        "-storepass",
        STORE_PASSWORD,
        "-keypass",
        STORE_PASSWORD,
    ]);
    run(&[
        "-exportcert",
        "-rfc",
        "-alias",
        "broker",
        "-keystore",
        &keystore,
        "-storepass",
        STORE_PASSWORD,
        "-file",
        &pem,
    ]);
    (keystore, pem)
}

/// `cassflow produce` configured by environment only.
fn produce(
    dir: &Path,
    bootstrap: &str,
    properties: &BTreeMap<&str, String>,
    topic: &str,
) -> Output {
    let inline = properties
        .iter()
        .map(|(k, v)| format!("{k:?}={v:?}"))
        .collect::<Vec<_>>()
        .join(",");
    Command::new(common::cassflow_bin())
        .args([
            "produce",
            "--count",
            "20",
            "--source",
            "generator",
            "--topic",
            topic,
        ])
        .current_dir(dir)
        .env_remove("CASSFLOW_CONFIG")
        .env("CASSFLOW_KAFKA__BOOTSTRAP", bootstrap)
        .env("CASSFLOW_KAFKA__PROPERTIES", format!("{{{inline}}}"))
        .env("CASSFLOW_KAFKA__REQUEST_TIMEOUT", "5s")
        .env("CASSFLOW_PRODUCER__DELIVERY_TIMEOUT", "10s")
        .output()
        .expect("run cassflow produce")
}

/// Reads `n` records of `topic` from the beginning through the configured listener.
fn consume(kafka: &KafkaConfig, topic: &str, n: usize) -> Vec<serde_json::Value> {
    let consumer: BaseConsumer = cassflow::kafka::client_config(kafka)
        .set("group.id", common::unique("security"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata through the secured listener");
    let mut assignment = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        assignment
            .add_partition_offset(topic, p.id(), Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(500)) {
            let message = message.expect("message");
            let value = message.payload().expect("a value");
            out.push(serde_json::from_slice(value).expect("JSON record"));
        }
    }
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The config of a private broker (own ports and data dir in `dir`): a PLAINTEXT listener
/// (its `kafka.bootstrap`) and the controller's, one listener per entry of `secured` (name
/// and port: `SASL_PLAINTEXT`, `SASL_SSL`) with PLAIN logins for alice, and `extra`
/// broker properties.
fn private_broker(dir: &Path, secured: &[(&str, u16)], extra: Vec<(&str, String)>) -> Config {
    let [plain, controller, cql, storage] = common::free_ports();
    let jaas = format!(
        "org.apache.kafka.common.security.plain.PlainLoginModule required user_{USER}=\"{PASSWORD}\";"
    );
    let each = |first: String, one: &dyn Fn(&str, u16) -> String| {
        secured
            .iter()
            .fold(first, |all, (name, port)| all + "," + &one(name, *port))
    };
    let mut properties: BTreeMap<String, String> = [
        (
            "listeners",
            each(
                format!("PLAINTEXT://127.0.0.1:{plain},CONTROLLER://127.0.0.1:{controller}"),
                &|n, p| format!("{n}://127.0.0.1:{p}"),
            ),
        ),
        (
            "advertised.listeners",
            each(format!("PLAINTEXT://127.0.0.1:{plain}"), &|n, p| {
                format!("{n}://127.0.0.1:{p}")
            }),
        ),
        (
            "listener.security.protocol.map",
            each(
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT".into(),
                &|n, _| format!("{n}:{n}"),
            ),
        ),
        ("sasl.enabled.mechanisms", "PLAIN".into()),
    ]
    .into_iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (name, _) in secured {
        let key = format!(
            "listener.name.{}.plain.sasl.jaas.config",
            name.to_lowercase()
        );
        properties.insert(key, jaas.clone());
    }
    let mut config: Config = common::stack_config();
    config.kafka.bootstrap = format!("127.0.0.1:{plain}");
    config.cassandra.contact_points = format!("127.0.0.1:{cql}");
    config.local.kafka_controller_port = controller;
    config.local.cassandra_storage_port = storage;
    config.local.data_dir = dir.join("stack");
    config.local.kafka_heap = "256m".into();
    config.local.kafka_properties = properties;
    config
}

/// Client properties that log in as alice through a `protocol` listener.
fn alice(protocol: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("security.protocol", protocol.to_string()),
        ("sasl.mechanism", "PLAIN".into()),
        ("sasl.username", USER.into()),
        ("sasl.password", PASSWORD.into()),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn produce_and_consume_through_sasl_and_tls_listeners() {
    let dir = tempfile::tempdir().expect("tempdir");
    let [sasl, sasl_ssl] = common::free_ports();
    let (keystore, ca) = make_certificate(dir.path());
    let config = private_broker(
        dir.path(),
        &[("SASL_PLAINTEXT", sasl), ("SASL_SSL", sasl_ssl)],
        vec![
            ("ssl.keystore.type", "PKCS12".into()),
            ("ssl.keystore.location", keystore),
            ("ssl.keystore.password", STORE_PASSWORD.into()),
            ("ssl.key.password", STORE_PASSWORD.into()),
        ],
    );
    let stack = LocalStack::new(&config);
    stack
        .start_only(&[Server::Kafka])
        .await
        .expect("private Kafka with SASL and TLS listeners starts");
    let _stop = PrivateKafka(stack);

    let sasl_properties = alice("SASL_PLAINTEXT");
    let mut tls_properties = sasl_properties.clone();
    tls_properties.insert("security.protocol", "SASL_SSL".into());
    tls_properties.insert("ssl.ca.location", ca);

    for (name, port, properties) in [
        ("SASL_PLAINTEXT", sasl, &sasl_properties),
        ("SASL_SSL", sasl_ssl, &tls_properties),
    ] {
        let bootstrap = format!("127.0.0.1:{port}");
        let topic = common::unique("secure");
        let out = produce(dir.path(), &bootstrap, properties, &topic);
        assert!(
            out.status.success(),
            "{name}: produce failed:\n{}",
            text(&out)
        );
        let kafka = KafkaConfig {
            bootstrap,
            properties: properties
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            ..KafkaConfig::default()
        };
        let records = tokio::task::spawn_blocking(move || consume(&kafka, &topic, 20))
            .await
            .expect("join");
        assert_eq!(records.len(), 20, "{name}: records read back");
        assert!(records
            .iter()
            .all(|r| r["id"].is_string() && r["email"].is_string()));
    }

    let mut wrong_password = sasl_properties.clone();
    wrong_password.insert("sasl.password", "not-the-password".into());
    let out = produce(
        dir.path(),
        &format!("127.0.0.1:{sasl}"),
        &wrong_password,
        &common::unique("denied"),
    );
    let said = text(&out);
    println!("wrong password: {said}");
    assert!(
        !out.status.success(),
        "a wrong password was accepted:\n{said}"
    );
    assert!(said.to_lowercase().contains("authentication"), "{said}");

    let mut untrusted = tls_properties.clone();
    untrusted.remove("ssl.ca.location");
    let out = produce(
        dir.path(),
        &format!("127.0.0.1:{sasl_ssl}"),
        &untrusted,
        &common::unique("untrusted"),
    );
    let said = text(&out);
    println!("untrusted certificate: {said}");
    assert!(
        !out.status.success(),
        "an untrusted certificate was accepted:\n{said}"
    );
    assert!(
        said.contains("certificate") || said.contains("SSL handshake"),
        "{said}"
    );
}

/// Runs Kafka's own ACL tool (`kafka.admin.AclCommand`, in the broker's jars) against the
/// private broker's unauthenticated listener, whose principal is a super user.
fn add_acls(config: &Config, bootstrap: &str, args: &[String]) {
    let stack = LocalStack::new(config);
    let lib = stack
        .fetch()
        .expect("the Kafka jars are cached (the broker runs from them)")
        .into_iter()
        .find(|(server, _)| *server == Server::Kafka)
        .map(|(_, lib)| lib)
        .expect("Kafka's lib folder");
    let out = Command::new(&config.local.java)
        .arg("-cp")
        .arg(format!("{}/*", lib.display()))
        .args([
            "kafka.admin.AclCommand",
            "--bootstrap-server",
            bootstrap,
            "--add",
        ])
        .args(args)
        .output()
        .expect("run java");
    assert!(out.status.success(), "AclCommand {args:?}: {}", text(&out));
}

/// A user allowed to read and write an existing topic, but not to create topics, can run
/// cassflow on it: `ensure_topic` looks the topic up before it tries to create it. Creating a
/// missing topic without the permission fails with the broker's reason.
#[tokio::test(flavor = "multi_thread")]
async fn an_existing_topic_needs_describe_permission_not_create() {
    let dir = tempfile::tempdir().expect("tempdir");
    let [sasl] = common::free_ports();
    let config = private_broker(
        dir.path(),
        &[("SASL_PLAINTEXT", sasl)],
        vec![
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer".into(),
            ),
            // The unauthenticated listeners (the controller's and the admin's) are trusted.
            ("super.users", "User:ANONYMOUS".into()),
        ],
    );
    let stack = LocalStack::new(&config);
    stack
        .start_only(&[Server::Kafka])
        .await
        .expect("private Kafka with an authorizer starts");
    let _stop = PrivateKafka(stack);

    let topic = common::unique("granted");
    let created = cassflow::kafka::admin::ensure_topic(&config.kafka, &topic, 2, 1)
        .await
        .expect("the super user creates the topic");
    assert!(created);
    let admin_bootstrap = config.kafka.bootstrap.clone();
    let acl_args = [
        "--allow-principal",
        "User:alice",
        "--operation",
        "Describe",
        "--operation",
        "Read",
        "--operation",
        "Write",
        "--topic",
        &topic,
    ]
    .map(String::from);
    let acl_config = config.clone();
    tokio::task::spawn_blocking(move || add_acls(&acl_config, &admin_bootstrap, &acl_args))
        .await
        .expect("join");

    let alice = KafkaConfig {
        bootstrap: format!("127.0.0.1:{sasl}"),
        properties: alice("SASL_PLAINTEXT")
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        request_timeout: Duration::from_secs(10),
    };
    // ACLs reach the broker's authorizer through the metadata log: allow it a moment.
    let deadline = Instant::now() + Duration::from_secs(60);
    let existing = loop {
        match cassflow::kafka::admin::ensure_topic(&alice, &topic, 2, 1).await {
            Ok(created) => break created,
            Err(e) if Instant::now() < deadline => {
                println!("not yet: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("alice may describe the topic, yet: {e}"),
        }
    };
    assert!(
        !existing,
        "the existing topic is used as it is, not created"
    );

    let missing = common::unique("not-granted");
    let err = cassflow::kafka::admin::ensure_topic(&alice, &missing, 2, 1)
        .await
        .expect_err("alice may not create topics");
    let said = err.to_string();
    println!("create without permission: {said}");
    assert!(said.contains(&missing), "{said}");
    assert!(said.to_lowercase().contains("authoriz"), "{said}");
    assert!(said.contains("fix: "), "{said}");
}
