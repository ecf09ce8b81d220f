//! The local stack's Apicurio Registry (`local.registry`), alone in a private stack (own
//! ports and data dir): it starts from the tarball `scripts/dev setup` fetched, serves the
//! Confluent API at `LocalConfig::registry_url` (an Avro schema registered is read back by
//! its id), listens on 127.0.0.1 only, is named with its URL by `cassflow local status`, and
//! `cassflow local stop` stops it.

mod common;

use cassflow::local::{LocalStack, Server};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::time::Duration;

const SCHEMA_TYPE: &str = "application/vnd.schemaregistry.v1+json";

#[tokio::test]
async fn registry_alone_serves_schemas_shows_in_status_and_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = common::stack_config();
    let [api, management, kafka, cql] = common::free_ports();
    config.local.data_dir = dir.path().to_path_buf();
    config.local.registry = true;
    config.local.registry_port = api;
    config.local.registry_management_port = management;
    // Nothing of this stack may point at the shared stack's servers.
    config.kafka.bootstrap = format!("127.0.0.1:{kafka}");
    config.cassandra.contact_points = format!("127.0.0.1:{cql}");
    config
        .validate()
        .expect("the private stack's config is valid");
    let file = common::write_config(dir.path(), &config, &config.pipelines);
    let stack = LocalStack::new(&config);
    let _guard = common::StopServerOnDrop(stack.clone(), Server::Registry);

    let report = stack
        .start_only(&[Server::Registry])
        .await
        .expect("the registry starts");
    assert_eq!(report.started.len(), 1, "{report}");
    assert!(
        report.to_string().contains("Apicurio Registry 3.3.3"),
        "{report}"
    );

    let url = config.local.registry_url().expect("a registry URL");
    assert_eq!(url, format!("http://127.0.0.1:{api}/apis/ccompat/v7"));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .expect("http client");
    let subject = common::unique("users_value");
    let schema = r#"{"type":"record","name":"User","namespace":"dev.cassflow","fields":[{"name":"id","type":"string"},{"name":"first_name","type":"string"}]}"#;
    let registered = http
        .post(format!("{url}/subjects/{subject}/versions"))
        .header("Content-Type", SCHEMA_TYPE)
        .body(serde_json::json!({ "schema": schema }).to_string())
        .send()
        .await
        .expect("register the schema");
    assert!(registered.status().is_success(), "{registered:?}");
    let id = registered
        .json::<serde_json::Value>()
        .await
        .expect("a JSON answer")["id"]
        .as_i64()
        .expect("the schema's id");
    let read = http
        .get(format!("{url}/schemas/ids/{id}"))
        .send()
        .await
        .expect("read the schema by id");
    assert!(read.status().is_success(), "{read:?}");
    let body: serde_json::Value = read.json().await.expect("a JSON answer");
    let returned: serde_json::Value =
        serde_json::from_str(body["schema"].as_str().expect("a schema string"))
            .expect("the schema is JSON");
    let sent: serde_json::Value = serde_json::from_str(schema).expect("schema JSON");
    assert_eq!(returned, sent, "{body}");

    // Loopback only: another loopback address (which a 0.0.0.0 bind would answer) is refused.
    for port in [api, management] {
        let elsewhere = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), port);
        assert!(
            TcpStream::connect_timeout(&elsewhere.into(), Duration::from_secs(2)).is_err(),
            "{elsewhere} answers: the registry is not bound to 127.0.0.1 only"
        );
    }

    let config_arg = file.to_str().expect("utf-8 path");
    let status = common::run_cassflow(
        dir.path(),
        &["--config", config_arg, "local", "status"],
        &[],
    );
    let text = String::from_utf8_lossy(&status.stdout);
    // Kafka and Cassandra of this stack are not running: exit 3, the registry still named.
    assert_eq!(status.status.code(), Some(3), "{status:?}");
    let line = text
        .lines()
        .find(|l| l.starts_with("registry "))
        .unwrap_or_else(|| panic!("no registry line:\n{text}"));
    assert!(line.contains("running"), "{line}");
    assert!(line.contains(&format!("127.0.0.1:{api}")), "{line}");
    assert!(text.contains(&format!("registry url: {url}")), "{text}");

    let stop = common::run_cassflow(dir.path(), &["--config", config_arg, "local", "stop"], &[]);
    assert!(stop.status.success(), "{stop:?}");
    let text = String::from_utf8_lossy(&stop.stdout);
    assert!(text.contains("registry    stopped in"), "{text}");
    for port in [api, management] {
        let address = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
        assert!(
            TcpStream::connect_timeout(&address.into(), Duration::from_secs(2)).is_err(),
            "{address} still answers after the stop"
        );
    }
}
