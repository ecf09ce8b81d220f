//! The case issue 14 says failed when tried, end to end through the binary on the real
//! stack: topic `orders` of `{"order_id": "<uuid>", "customer": {"name": "x"}, "total": 12.5,
//! "items": ["a","b"]}` into `orders(order_id uuid PRIMARY KEY, customer text, total decimal,
//! items list<text>)` with `customer = "customer.name"`. The table is declared in the config
//! (created by `cassflow stream`), `cassflow produce --pipeline` keys each line by its
//! `order_id`, and every column arrives with its value: the decimal exact, the list whole,
//! the nested name (not null).

mod common;

use cassflow::config::{PipelineConfig, RecordFormat, TableDeclaration};
use rdkafka::message::Message;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_with_a_nested_name_a_decimal_and_a_list_stream_into_a_declared_table() {
    let config = common::stack().await;
    let pipeline = PipelineConfig {
        name: "orders".into(),
        topic: common::unique("orders"),
        partitions: 2,
        keyspace: common::unique("shop"),
        table: "orders".into(),
        group_id: Some(common::unique("orders-group")),
        format: RecordFormat::Json,
        key: Some("value.order_id".into()),
        columns: BTreeMap::from([("customer".to_string(), "customer.name".to_string())]),
        create_table: Some(TableDeclaration {
            columns: [
                ("order_id", "uuid"),
                ("customer", "text"),
                ("total", "decimal"),
                ("items", "list<text>"),
            ]
            .into_iter()
            .map(|(c, t)| (c.to_string(), t.to_string()))
            .collect(),
            partition_key: vec!["order_id".into()],
            ..TableDeclaration::default()
        }),
        ..PipelineConfig::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = common::write_config(dir.path(), &config, std::slice::from_ref(&pipeline));

    let ids: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::new_v4()).collect();
    let lines: String = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            format!(
                "{{\"order_id\": \"{id}\", \"customer\": {{\"name\": \"x{i}\"}}, \"total\": 12345678901234567890.12{i}, \"items\": [\"a\", \"b{i}\"]}}\n"
            )
        })
        .collect();
    let mut produce = Command::new(common::cassflow_bin())
        .arg("--config")
        .arg(&file)
        .args(["produce", "--pipeline", "orders"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cassflow produce");
    produce
        .stdin
        .take()
        .expect("stdin")
        .write_all(lines.as_bytes())
        .expect("write lines");
    let out = produce.wait_with_output().expect("produce runs");
    assert!(
        out.status.success(),
        "produce --pipeline failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: Vec<String> = common::read_topic(&config, &pipeline.topic, 3)
        .await
        .iter()
        .map(|m| String::from_utf8_lossy(m.key().expect("a key")).into_owned())
        .collect();
    let mut want_keys: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    let mut got_keys = keys.clone();
    want_keys.sort();
    got_keys.sort();
    assert_eq!(got_keys, want_keys, "each message keyed by its order_id");

    let _stream = common::cassflow_stream(dir.path(), &file, &[]);
    let session = common::session(&config).await;
    // The stream job creates the declared table; until then the count query fails.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let count = session
            .query_unpaged(
                format!("SELECT COUNT(*) FROM {}.orders", pipeline.keyspace),
                &[],
            )
            .await
            .ok()
            .and_then(|r| r.into_rows_result().ok())
            .and_then(|r| r.single_row::<(i64,)>().ok())
            .map_or(0, |(n,)| n);
        if count == 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} of 3 rows after 3 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for (i, id) in ids.iter().enumerate() {
        let (customer, total, items): (Option<String>, scylla::value::CqlDecimal, Vec<String>) =
            session
                .query_unpaged(
                    format!(
                        "SELECT customer, total, items FROM {}.orders WHERE order_id = ?",
                        pipeline.keyspace
                    ),
                    (id,),
                )
                .await
                .expect("select")
                .into_rows_result()
                .expect("rows")
                .single_row()
                .expect("one row");
        assert_eq!(customer.as_deref(), Some(format!("x{i}").as_str()));
        assert_eq!(items, ["a".to_string(), format!("b{i}")]);
        let (digits, scale) = total.as_signed_be_bytes_slice_and_exponent();
        let unscaled = format!("1234567890123456789012{i}");
        let mut bytes = [0u8; 16];
        bytes[16 - digits.len()..].copy_from_slice(digits);
        assert_eq!(
            (u128::from_be_bytes(bytes).to_string(), scale),
            (unscaled, 3),
            "the decimal keeps every digit"
        );
    }
}

/// A DataStax Kafka Connector sink configuration, imported with `cassflow import-connector`,
/// streams its topic as the connector would have: the mapping (a nested field, a header),
/// the TTL in hours and the write time in milliseconds from the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_datastax_connector_config_streams_end_to_end() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let topic = common::unique("dsorders");
    let keyspace = common::unique("dsshop");
    let (host, port) = config
        .cassandra
        .contact_points
        .rsplit_once(':')
        .expect("host:port");
    let dir = tempfile::tempdir().expect("tempdir");
    let properties = dir.path().join("sink.properties");
    std::fs::write(
        &properties,
        format!(
            "name=orders-sink\n\
             connector.class=com.datastax.oss.kafka.sink.CassandraSinkConnector\n\
             topics={topic}\n\
             contactPoints={host}\nport={port}\n\
             topic.{topic}.{keyspace}.orders.mapping=order_id=value.order_id, \
             customer=value.customer.name, total=value.total, items=value.items, \
             source=header.origin, __ttl=value.keep_hours, __timestamp=value.placed_at_ms\n\
             topic.{topic}.{keyspace}.orders.ttlTimeUnit=HOURS\n\
             topic.{topic}.{keyspace}.orders.timestampTimeUnit=MILLISECONDS\n"
        ),
    )
    .expect("write properties");
    let imported = Command::new(common::cassflow_bin())
        .arg("import-connector")
        .arg(&properties)
        .current_dir(dir.path())
        .output()
        .expect("run import-connector");
    assert!(
        imported.status.success(),
        "import-connector failed: {}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let file = dir.path().join("cassflow.toml");
    std::fs::write(&file, &imported.stdout).expect("write the imported config");

    // The connector writes into existing tables; so does the imported pipeline.
    cassflow::cassandra::schema::ensure_keyspace(&session, &config.cassandra, &keyspace)
        .await
        .expect("keyspace");
    session
        .query_unpaged(
            format!(
                "CREATE TABLE {keyspace}.orders (order_id uuid PRIMARY KEY, customer text, \
                 total decimal, items list<text>, source text)"
            ),
            &[],
        )
        .await
        .expect("create table");
    cassflow::kafka::admin::ensure_topic(&config.kafka, &topic, 1, 1)
        .await
        .expect("topic");
    let producer: rdkafka::producer::FutureProducer = cassflow::kafka::client_config(&config.kafka)
        .create()
        .expect("producer");
    let id = uuid::Uuid::new_v4();
    let placed_at_ms: i64 = 1_700_000_000_123;
    let value = format!(
        r#"{{"order_id": "{id}", "customer": {{"name": "x"}}, "total": 12.5, "items": ["a", "b"], "keep_hours": 2, "placed_at_ms": {placed_at_ms}}}"#
    );
    producer
        .send(
            rdkafka::producer::FutureRecord::<str, str>::to(&topic)
                .payload(&value)
                .headers(
                    rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
                        key: "origin",
                        value: Some("web"),
                    }),
                ),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("produced");

    let bootstrap = [("CASSFLOW_KAFKA__BOOTSTRAP", config.kafka.bootstrap.as_str())];
    let _stream = common::cassflow_stream(dir.path(), &file, &bootstrap);
    assert_eq!(
        common::wait_for_rows(&session, &keyspace, "orders", 1, Duration::from_secs(180)).await,
        1
    );
    let (customer, items, source, ttl, written): (String, Vec<String>, String, i32, i64) = session
        .query_unpaged(
            format!(
                "SELECT customer, items, source, TTL(customer), WRITETIME(customer) \
                     FROM {keyspace}.orders WHERE order_id = ?"
            ),
            (id,),
        )
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows")
        .single_row()
        .expect("one row");
    assert_eq!(
        (customer.as_str(), items, source.as_str()),
        ("x", vec!["a".to_string(), "b".to_string()], "web")
    );
    assert!(
        (1..=7200).contains(&ttl),
        "TTL of 2 hours from the record: {ttl}"
    );
    assert_eq!(
        written,
        placed_at_ms * 1000,
        "the write time is the record's, in microseconds"
    );
}
