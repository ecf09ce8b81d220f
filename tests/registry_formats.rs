//! Records in the Confluent wire format through the real registry of the test stack
//! (Apicurio, spoken to only through its Confluent-compatible API): users records
//! produced as Avro and as JSON Schema stream into the users table field for field, and
//! messages that are not in the wire format, or name a schema the registry does not hold,
//! or end early, are dead-lettered with their reasons while the good ones are written.

mod common;

use cassflow::config::{Config, PipelineConfig, RecordFormat};
use cassflow::produce::producer::RecordProducer;
use cassflow::record::UserRecord;
use cassflow::registry::users::{ProducedFormat, UsersEncoder};
use cassflow::registry::{wire, Registry};
use cassflow::stream::dead_letter::header;
use std::time::Duration;

/// A pipeline of `format` into a users table of its own, created here (a registry format
/// gets no table by itself).
async fn pipeline(config: &Config, tag: &str, format: RecordFormat) -> PipelineConfig {
    let pipeline = PipelineConfig {
        format,
        partitions: 2,
        ..common::users_pipeline(tag)
    };
    let session = common::session(config).await;
    cassflow::cassandra::schema::ensure_keyspace(&session, &config.cassandra, &pipeline.keyspace)
        .await
        .expect("keyspace");
    cassflow::cassandra::schema::ensure_users_table(&session, &pipeline.keyspace, &pipeline.table)
        .await
        .expect("table");
    pipeline
}

/// Sends `records` in `format` (registering the users schema under `<topic>-value`), then
/// `extra` raw payloads keyed `bad-<i>`; returns the schema id.
async fn produce(
    config: &Config,
    topic: &str,
    format: ProducedFormat,
    records: &[UserRecord],
    extra: &[Vec<u8>],
) -> u32 {
    let registry = Registry::new(&config.schema_registry).expect("registry client");
    let encoder = UsersEncoder::register(&registry, &format!("{topic}-value"), format)
        .await
        .expect("the users schema registers");
    let id = encoder.id();
    send_users(config, topic, encoder, records, extra).await;
    id
}

/// Sends `records` with `encoder`, then `extra` raw payloads keyed `bad-<i>`.
async fn send_users(
    config: &Config,
    topic: &str,
    encoder: UsersEncoder,
    records: &[UserRecord],
    extra: &[Vec<u8>],
) {
    cassflow::kafka::admin::ensure_topic(&config.kafka, topic, 2, 1)
        .await
        .expect("topic");
    let mut producer = RecordProducer::new(&config.kafka, &config.producer, topic)
        .expect("producer")
        .with_encoder(encoder);
    for r in records {
        producer.send(r).await.expect("queued");
    }
    for (i, payload) in extra.iter().enumerate() {
        let key = format!("bad-{i}");
        producer
            .send_bytes(Some(key.as_bytes()), payload, None)
            .await
            .expect("queued");
    }
    assert_eq!(
        producer.flush(Duration::from_secs(60)).await,
        0,
        "all delivered"
    );
    assert_eq!(producer.counts().failed(), 0);
}

/// A pipeline of `format` into table `t` of a keyspace of its own, made by `ddl` (`{ks}`
/// stands for the keyspace).
async fn typed_pipeline(
    config: &Config,
    session: &scylla::client::session::Session,
    tag: &str,
    format: RecordFormat,
    ddl: &[&str],
) -> PipelineConfig {
    let pipeline = PipelineConfig {
        format,
        partitions: 1,
        table: "t".into(),
        ..common::users_pipeline(tag)
    };
    let ks = &pipeline.keyspace;
    cassflow::cassandra::schema::ensure_keyspace(session, &config.cassandra, ks)
        .await
        .expect("keyspace");
    for cql in ddl {
        let cql = cql.replace("{ks}", &format!("\"{ks}\""));
        session.query_unpaged(cql.as_str(), &[]).await.expect(&cql);
    }
    cassflow::kafka::admin::ensure_topic(&config.kafka, &pipeline.topic, 1, 1)
        .await
        .expect("topic");
    pipeline
}

/// Sends each (key, payload) to `topic` as it is.
async fn send_raw(config: &Config, topic: &str, messages: &[(Option<&[u8]>, &[u8])]) {
    let mut producer =
        RecordProducer::new(&config.kafka, &config.producer, topic).expect("producer");
    for (key, payload) in messages {
        producer
            .send_bytes(*key, payload, None)
            .await
            .expect("queued");
    }
    assert_eq!(producer.flush(Duration::from_secs(60)).await, 0);
}

/// Streams `pipeline` until its table holds `rows` rows; stops it and returns what it did.
async fn stream_until_rows(
    config: &Config,
    session: &scylla::client::session::Session,
    pipeline: &PipelineConfig,
    rows: i64,
) -> cassflow::stream::PipelineSummary {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let job = common::spawn_pipeline(config, pipeline, &shutdown);
    common::wait_for_rows(
        session,
        &pipeline.keyspace,
        &pipeline.table,
        rows,
        Duration::from_secs(120),
    )
    .await;
    shutdown.cancel();
    job.await.expect("job")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_users_stream_field_for_field_and_broken_messages_are_dead_lettered() {
    let config = common::stack().await;
    let pipeline = pipeline(&config, "avro_users", RecordFormat::Avro).await;
    let records = common::users(300, "avro");
    // Built after the schema id is known: a good record cut short, and an unknown id.
    let topic = pipeline.topic.clone();
    let id = produce(&config, &topic, ProducedFormat::Avro, &records[..1], &[]).await;
    let mut truncated = Vec::new();
    UsersEncoder::new(id, ProducedFormat::Avro)
        .expect("encoder")
        .encode(&records[0], &mut truncated)
        .expect("encodes");
    truncated.truncate(truncated.len() - 10);
    let mut unknown = wire::header(999_999);
    unknown.extend_from_slice(&[2, b'x']);
    let bad = vec![
        br#"{"id": "plain JSON"}"#.to_vec(),
        unknown,
        truncated,
        vec![0, 0, 1],
    ];
    produce(&config, &topic, ProducedFormat::Avro, &records[1..], &bad).await;

    let summary = common::stream_until_table_holds(&config, &pipeline, &records).await;
    assert_eq!(summary.written, 300, "{summary:?}");

    let letters = common::read_topic(&config, &pipeline.dead_letter_topic(), bad.len()).await;
    let mut reasons: Vec<(String, String, String)> = letters
        .iter()
        .map(|m| {
            use rdkafka::message::Message;
            (
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                common::header_text(m, header::REASON).unwrap_or_default(),
                common::header_text(m, header::ERROR).unwrap_or_default(),
            )
        })
        .collect();
    reasons.sort();
    println!("{reasons:#?}");
    let want = [
        ("bad-0", "bad_magic_byte", "magic byte 0"),
        ("bad-1", "unknown_schema", "no schema with id 999999"),
        ("bad-2", "undecodable", "ends inside"),
        (
            "bad-3",
            "truncated",
            "shorter than the wire format's 5-byte header",
        ),
    ];
    for ((key, reason, error), (want_key, want_reason, want_error)) in reasons.iter().zip(want) {
        assert_eq!((key.as_str(), reason.as_str()), (want_key, want_reason));
        assert!(error.contains(want_error), "{key}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_and_json_schema_users_stream_field_for_field() {
    let config = common::stack().await;
    for (format, produced) in [
        (RecordFormat::Protobuf, ProducedFormat::Protobuf),
        (RecordFormat::JsonSchema, ProducedFormat::JsonSchema),
    ] {
        let pipeline = pipeline(&config, &format!("{}_users", format.name()), format).await;
        let records = common::users(200, format.name());
        produce(&config, &pipeline.topic, produced, &records, &[]).await;
        let summary = common::stream_until_table_holds(&config, &pipeline, &records).await;
        assert_eq!(
            (summary.written, summary.dead_lettered),
            (200, 0),
            "{summary:?}"
        );
    }
}

/// The table of every Avro type the issue names, one column each.
const EVERY_TYPE_TABLE: [&str; 2] = [
    "CREATE TYPE {ks}.address (city text, zip int)",
    "CREATE TABLE {ks}.t (k int PRIMARY KEY, b boolean, i int, l bigint, f float, d double, \
     s text, raw blob, fx blob, color text, maybe text, absent bigint, tags list<text>, \
     scores map<text, int>, home frozen<address>, price decimal, id uuid, day date, tm time, \
     tu time, tsm timestamp, tsu timestamp, lts timestamp, dur duration)",
];

/// Its Avro schema: logical types, a union with null, an enum, fixed and bytes, a record
/// into the UDT, an array and a map into collections.
const EVERY_TYPE_SCHEMA: &str = r#"{"type": "record", "name": "Row", "namespace": "types",
  "fields": [
    {"name": "k", "type": "int"}, {"name": "b", "type": "boolean"}, {"name": "i", "type": "int"},
    {"name": "l", "type": "long"}, {"name": "f", "type": "float"}, {"name": "d", "type": "double"},
    {"name": "s", "type": "string"}, {"name": "raw", "type": "bytes"},
    {"name": "fx", "type": {"type": "fixed", "name": "Four", "size": 4}},
    {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
    {"name": "maybe", "type": ["null", "string"]}, {"name": "absent", "type": ["null", "long"]},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "scores", "type": {"type": "map", "values": "int"}},
    {"name": "home", "type": {"type": "record", "name": "Address",
      "fields": [{"name": "city", "type": "string"}, {"name": "zip", "type": "int"}]}},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
    {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "tm", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "tu", "type": {"type": "long", "logicalType": "time-micros"}},
    {"name": "tsm", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "tsu", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "lts", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
    {"name": "dur", "type": {"type": "fixed", "name": "Dur", "size": 12, "logicalType": "duration"}}
  ]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_avro_type_lands_in_its_cql_column() {
    use apache_avro::types::Value as Avro;
    use scylla::value::{CqlDate, CqlDecimal, CqlDuration, CqlTime, CqlTimestamp, CqlValue};
    let config = common::stack().await;
    let session = common::session(&config).await;
    let pipeline = typed_pipeline(
        &config,
        &session,
        "avro_types",
        RecordFormat::Avro,
        &EVERY_TYPE_TABLE,
    )
    .await;
    let ks = pipeline.keyspace.clone();
    let id = register_value(&config, &pipeline.topic, "AVRO", EVERY_TYPE_SCHEMA).await;
    let uuid = uuid::Uuid::new_v4();
    let home = Avro::Record(vec![
        ("city".into(), Avro::String("Oslo".into())),
        ("zip".into(), Avro::Int(150)),
    ]);
    let duration = apache_avro::Duration::new(
        apache_avro::Months::new(14),
        apache_avro::Days::new(3),
        apache_avro::Millis::new(4_000),
    );
    let row = Avro::Record(vec![
        ("k".into(), Avro::Int(1)),
        ("b".into(), Avro::Boolean(true)),
        ("i".into(), Avro::Int(-7)),
        ("l".into(), Avro::Long(9_007_199_254_740_993)),
        ("f".into(), Avro::Float(1.5)),
        ("d".into(), Avro::Double(-2.25)),
        ("s".into(), Avro::String("héllo".into())),
        ("raw".into(), Avro::Bytes(vec![1, 2, 3])),
        ("fx".into(), Avro::Fixed(4, vec![0, 255, 0, 1])),
        ("color".into(), Avro::Enum(1, "GREEN".into())),
        (
            "maybe".into(),
            Avro::Union(1, Box::new(Avro::String("x".into()))),
        ),
        ("absent".into(), Avro::Union(0, Box::new(Avro::Null))),
        (
            "tags".into(),
            Avro::Array(vec![Avro::String("a".into()), Avro::String("b".into())]),
        ),
        (
            "scores".into(),
            Avro::Map([("math".to_string(), Avro::Int(90))].into_iter().collect()),
        ),
        ("home".into(), home),
        (
            "price".into(),
            Avro::Decimal(apache_avro::Decimal::from(vec![0xfb, 0x2e])),
        ),
        ("id".into(), Avro::Uuid(uuid)),
        ("day".into(), Avro::Date(19_723)),
        ("tm".into(), Avro::TimeMillis(49_530_250)),
        ("tu".into(), Avro::TimeMicros(49_530_000_001)),
        ("tsm".into(), Avro::TimestampMillis(1_704_067_200_123)),
        ("tsu".into(), Avro::TimestampMicros(1_704_067_200_123_456)),
        ("lts".into(), Avro::LocalTimestampMicros(-1_000)),
        ("dur".into(), Avro::Duration(duration)),
    ]);
    let schema = apache_avro::Schema::parse_str(EVERY_TYPE_SCHEMA).expect("schema");
    let mut payload = wire::header(id);
    cassflow::registry::avro::write(&schema, row, &mut payload).expect("encodes");
    send_raw(&config, &pipeline.topic, &[(Some(b"1"), &payload)]).await;
    let summary = stream_until_rows(&config, &session, &pipeline, 1).await;
    assert_eq!(
        (summary.written, summary.dead_lettered),
        (1, 0),
        "{summary:?}"
    );

    let got = common::row_by_name(&session, &format!("SELECT * FROM \"{ks}\".t WHERE k = 1")).await;
    let text = |s: &str| Some(CqlValue::Text(s.into()));
    let want: Vec<(&str, Option<CqlValue>)> = vec![
        ("b", Some(CqlValue::Boolean(true))),
        ("i", Some(CqlValue::Int(-7))),
        ("l", Some(CqlValue::BigInt(9_007_199_254_740_993))),
        ("f", Some(CqlValue::Float(1.5))),
        ("d", Some(CqlValue::Double(-2.25))),
        ("s", text("héllo")),
        ("raw", Some(CqlValue::Blob(vec![1, 2, 3]))),
        ("fx", Some(CqlValue::Blob(vec![0, 255, 0, 1]))),
        ("color", text("GREEN")),
        ("maybe", text("x")),
        ("absent", None),
        (
            "tags",
            Some(CqlValue::List(vec![
                CqlValue::Text("a".into()),
                CqlValue::Text("b".into()),
            ])),
        ),
        (
            "scores",
            Some(CqlValue::Map(vec![(
                CqlValue::Text("math".into()),
                CqlValue::Int(90),
            )])),
        ),
        (
            "home",
            Some(CqlValue::UserDefinedType {
                keyspace: ks.clone(),
                name: "address".into(),
                fields: vec![
                    ("city".into(), Some(CqlValue::Text("Oslo".into()))),
                    ("zip".into(), Some(CqlValue::Int(150))),
                ],
            }),
        ),
        (
            "price",
            Some(CqlValue::Decimal(
                CqlDecimal::from_signed_be_bytes_and_exponent(vec![0xfb, 0x2e], 2),
            )),
        ),
        ("id", Some(CqlValue::Uuid(uuid))),
        ("day", Some(CqlValue::Date(CqlDate((1 << 31) + 19_723)))),
        ("tm", Some(CqlValue::Time(CqlTime(49_530_250_000_000)))),
        ("tu", Some(CqlValue::Time(CqlTime(49_530_000_001_000)))),
        (
            "tsm",
            Some(CqlValue::Timestamp(CqlTimestamp(1_704_067_200_123))),
        ),
        (
            "tsu",
            Some(CqlValue::Timestamp(CqlTimestamp(1_704_067_200_123))),
        ),
        ("lts", Some(CqlValue::Timestamp(CqlTimestamp(-1)))),
        (
            "dur",
            Some(CqlValue::Duration(CqlDuration {
                months: 14,
                days: 3,
                nanoseconds: 4_000_000_000,
            })),
        ),
    ];
    for (column, value) in want {
        assert_eq!(got.get(column), Some(&value), "column {column}");
    }
}

/// Sends Avro `rows` of the schema registered as `id` to `topic`, keyed by their `k`.
async fn send_avro(
    config: &Config,
    topic: &str,
    id: u32,
    schema: &str,
    rows: Vec<apache_avro::types::Value>,
) {
    let schema = apache_avro::Schema::parse_str(schema).expect("schema");
    let mut producer =
        RecordProducer::new(&config.kafka, &config.producer, topic).expect("producer");
    for row in rows {
        let mut payload = wire::header(id);
        cassflow::registry::avro::write(&schema, row, &mut payload).expect("encodes");
        producer
            .send_bytes(None, &payload, None)
            .await
            .expect("queued");
    }
    assert_eq!(producer.flush(Duration::from_secs(60)).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_evolved_while_the_job_runs_is_read_without_a_restart() {
    use apache_avro::types::Value as Avro;
    let config = common::stack().await;
    let session = common::session(&config).await;
    let ddl = ["CREATE TABLE {ks}.t (k int PRIMARY KEY, a text, b text)"];
    let pipeline = typed_pipeline(&config, &session, "avro_evolve", RecordFormat::Avro, &ddl).await;
    let ks = pipeline.keyspace.clone();
    let registry = Registry::new(&config.schema_registry).expect("registry client");
    let subject = format!("{}-value", pipeline.topic);
    let v1 = r#"{"type": "record", "name": "R", "fields": [
        {"name": "k", "type": "int"}, {"name": "a", "type": "string"}]}"#;
    let v2 = r#"{"type": "record", "name": "R", "fields": [
        {"name": "k", "type": "int"}, {"name": "a", "type": "string"},
        {"name": "b", "type": "string", "default": "none"}]}"#;
    let v3 = r#"{"type": "record", "name": "R", "fields": [
        {"name": "a", "type": "string"}, {"name": "b", "type": "string", "default": "none"}]}"#;
    let record = |k: Option<i32>, a: &str, b: Option<&str>| {
        let mut fields = Vec::new();
        if let Some(k) = k {
            fields.push(("k".to_string(), Avro::Int(k)));
        }
        fields.push(("a".to_string(), Avro::String(a.into())));
        if let Some(b) = b {
            fields.push(("b".to_string(), Avro::String(b.into())));
        }
        Avro::Record(fields)
    };
    let id1 = registry.register(&subject, "AVRO", v1).await.expect("v1");
    send_avro(
        &config,
        &pipeline.topic,
        id1,
        v1,
        vec![record(Some(1), "one", None)],
    )
    .await;

    let shutdown = tokio_util::sync::CancellationToken::new();
    let job = common::spawn_pipeline(&config, &pipeline, &shutdown);
    common::wait_for_rows(&session, &ks, "t", 1, Duration::from_secs(120)).await;

    // A field added with a default, then the key field removed, while the job runs.
    let id2 = registry.register(&subject, "AVRO", v2).await.expect("v2");
    let id3 = registry.register(&subject, "AVRO", v3).await.expect("v3");
    assert!(id1 != id2 && id2 != id3, "each version has its own id");
    send_avro(
        &config,
        &pipeline.topic,
        id2,
        v2,
        vec![record(Some(2), "two", Some("bee"))],
    )
    .await;
    send_avro(
        &config,
        &pipeline.topic,
        id3,
        v3,
        vec![record(None, "three", Some("sea"))],
    )
    .await;
    common::wait_for_rows(&session, &ks, "t", 2, Duration::from_secs(120)).await;
    let letters = common::read_topic(&config, &pipeline.dead_letter_topic(), 1).await;
    shutdown.cancel();
    let summary = job.await.expect("job");
    assert_eq!(
        (summary.written, summary.dead_lettered),
        (2, 1),
        "{summary:?}"
    );

    let reason = common::header_text(&letters[0], header::REASON);
    let error = common::header_text(&letters[0], header::ERROR).unwrap_or_default();
    assert_eq!(reason.as_deref(), Some("missing_key"), "{error}");
    assert!(error.contains("primary key column `k`"), "{error}");
    let rows: Vec<(i32, String, Option<String>)> = session
        .query_unpaged(format!("SELECT k, a, b FROM \"{ks}\".t"), &[])
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows")
        .rows::<(i32, String, Option<String>)>()
        .expect("typed")
        .map(|r| r.expect("row"))
        .collect();
    let mut rows = rows;
    rows.sort();
    assert_eq!(
        rows,
        vec![
            (1, "one".to_string(), None),
            (2, "two".to_string(), Some("bee".to_string())),
        ]
    );
}

/// A Protobuf schema of scalars, an enum, a nested message (into a UDT), repeated and map
/// fields, and the well-known Timestamp, Duration and wrappers; its second message is the
/// one sent (message indexes `[1]`).
const PROTOBUF_TYPES: &str = r#"syntax = "proto3";
package types;
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/wrappers.proto";
enum Status { UNKNOWN = 0; PAID = 1; }
message Unused { string x = 1; }
message Row {
  message Line { string sku = 1; int32 qty = 2; }
  string k = 1; int64 big = 2; uint32 small = 3; double ratio = 4; float f = 5; bool paid = 6;
  bytes raw = 7; Status status = 8; repeated string tags = 9; map<string, int32> counts = 10;
  Line first = 11; repeated Line lines = 12; google.protobuf.Timestamp at = 13;
  google.protobuf.Duration took = 14; google.protobuf.Int64Value maybe = 15;
  google.protobuf.StringValue absent = 16; int32 zero = 17;
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protobuf_type_lands_in_its_cql_column() {
    use prost::Message as _;
    use prost_reflect::{DynamicMessage, MapKey, Value as Proto};
    use scylla::value::{CqlDuration, CqlTimestamp, CqlValue};
    let config = common::stack().await;
    let session = common::session(&config).await;
    let ddl = [
        "CREATE TYPE {ks}.line (sku text, qty int)",
        "CREATE TABLE {ks}.t (k text PRIMARY KEY, big bigint, small int, ratio double, f float, \
         paid boolean, raw blob, status text, tags list<text>, counts map<text, int>, \
         first frozen<line>, lines list<frozen<line>>, at timestamp, took duration, \
         maybe bigint, absent text, zero int)",
    ];
    let pipeline = typed_pipeline(
        &config,
        &session,
        "protobuf_types",
        RecordFormat::Protobuf,
        &ddl,
    )
    .await;
    let ks = pipeline.keyspace.clone();
    let id = register_value(&config, &pipeline.topic, "PROTOBUF", PROTOBUF_TYPES).await;

    let schema =
        cassflow::registry::protobuf::Schema::parse(PROTOBUF_TYPES, &[]).expect("compiles");
    let named = |name: &str| schema.message_named(name).expect(name);
    let message = |name: &str, fields: Vec<(&str, Proto)>| {
        let mut m = DynamicMessage::new(named(name));
        for (field, value) in fields {
            m.set_field_by_name(field, value);
        }
        Proto::Message(m)
    };
    let line = |sku: &str, qty: i32| {
        message(
            "types.Row.Line",
            vec![("sku", Proto::String(sku.into())), ("qty", Proto::I32(qty))],
        )
    };
    let Proto::Message(row) = message(
        "types.Row",
        vec![
            ("k", Proto::String("r1".into())),
            ("big", Proto::I64(9_007_199_254_740_993)),
            ("small", Proto::U32(7)),
            ("ratio", Proto::F64(0.25)),
            ("f", Proto::F32(1.5)),
            ("paid", Proto::Bool(true)),
            ("raw", Proto::Bytes(vec![1, 2, 3].into())),
            ("status", Proto::EnumNumber(1)),
            (
                "tags",
                Proto::List(vec![Proto::String("a".into()), Proto::String("b".into())]),
            ),
            (
                "counts",
                Proto::Map([(MapKey::String("x".into()), Proto::I32(3))].into()),
            ),
            ("first", line("s1", 2)),
            ("lines", Proto::List(vec![line("s2", 1), line("s3", 0)])),
            (
                "at",
                message(
                    "google.protobuf.Timestamp",
                    vec![
                        ("seconds", Proto::I64(1_704_067_200)),
                        ("nanos", Proto::I32(123_000_000)),
                    ],
                ),
            ),
            (
                "took",
                message(
                    "google.protobuf.Duration",
                    vec![
                        ("seconds", Proto::I64(90)),
                        ("nanos", Proto::I32(500_000_000)),
                    ],
                ),
            ),
            (
                "maybe",
                message(
                    "google.protobuf.Int64Value",
                    vec![("value", Proto::I64(-4))],
                ),
            ),
        ],
    ) else {
        unreachable!("a message")
    };
    let mut payload = wire::header(id);
    wire::write_message_indexes(&[1], &mut payload);
    row.encode(&mut payload).expect("encodes");
    send_raw(&config, &pipeline.topic, &[(None, &payload)]).await;
    let summary = stream_until_rows(&config, &session, &pipeline, 1).await;
    assert_eq!(
        (summary.written, summary.dead_lettered),
        (1, 0),
        "{summary:?}"
    );

    let got = common::row_by_name(
        &session,
        &format!("SELECT * FROM \"{ks}\".t WHERE k = 'r1'"),
    )
    .await;
    let text = |s: &str| CqlValue::Text(s.into());
    let udt = |sku: &str, qty: i32| CqlValue::UserDefinedType {
        keyspace: ks.clone(),
        name: "line".into(),
        fields: vec![
            ("sku".into(), Some(text(sku))),
            ("qty".into(), Some(CqlValue::Int(qty))),
        ],
    };
    let want: Vec<(&str, Option<CqlValue>)> = vec![
        ("big", Some(CqlValue::BigInt(9_007_199_254_740_993))),
        ("small", Some(CqlValue::Int(7))),
        ("ratio", Some(CqlValue::Double(0.25))),
        ("f", Some(CqlValue::Float(1.5))),
        ("paid", Some(CqlValue::Boolean(true))),
        ("raw", Some(CqlValue::Blob(vec![1, 2, 3]))),
        ("status", Some(text("PAID"))),
        ("tags", Some(CqlValue::List(vec![text("a"), text("b")]))),
        (
            "counts",
            Some(CqlValue::Map(vec![(text("x"), CqlValue::Int(3))])),
        ),
        ("first", Some(udt("s1", 2))),
        (
            "lines",
            Some(CqlValue::List(vec![udt("s2", 1), udt("s3", 0)])),
        ),
        (
            "at",
            Some(CqlValue::Timestamp(CqlTimestamp(1_704_067_200_123))),
        ),
        (
            "took",
            Some(CqlValue::Duration(CqlDuration {
                months: 0,
                days: 0,
                nanoseconds: 90_500_000_000,
            })),
        ),
        ("maybe", Some(CqlValue::BigInt(-4))),
        ("absent", None),
        ("zero", Some(CqlValue::Int(0))),
    ];
    for (column, value) in want {
        assert_eq!(got.get(column), Some(&value), "column {column}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_avro_key_fills_columns_through_key_paths() {
    use apache_avro::types::Value as Avro;
    let config = common::stack().await;
    let session = common::session(&config).await;
    let ddl = ["CREATE TABLE {ks}.t (k int PRIMARY KEY, a text)"];
    let pipeline = PipelineConfig {
        key_format: cassflow::config::KeyFormat::Avro,
        columns: [("k".to_string(), "key.k".to_string())].into(),
        ..typed_pipeline(
            &config,
            &session,
            "avro_key",
            RecordFormat::JsonSchema,
            &ddl,
        )
        .await
    };
    let ks = pipeline.keyspace.clone();
    let registry = Registry::new(&config.schema_registry).expect("registry client");
    let key_schema = r#"{"type": "record", "name": "K", "fields": [{"name": "k", "type": "int"}]}"#;
    let key_id = registry
        .register(&format!("{}-key", pipeline.topic), "AVRO", key_schema)
        .await
        .expect("key schema");
    let value_id = registry
        .register(
            &format!("{}-value", pipeline.topic),
            "JSON",
            r#"{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                "properties": {"a": {"type": "string"}}}"#,
        )
        .await
        .expect("value schema");
    let schema = apache_avro::Schema::parse_str(key_schema).expect("schema");
    let mut messages = Vec::new();
    for k in [7, 8] {
        let mut key = wire::header(key_id);
        let record = Avro::Record(vec![("k".into(), Avro::Int(k))]);
        cassflow::registry::avro::write(&schema, record, &mut key).expect("encodes");
        let mut value = wire::header(value_id);
        value.extend_from_slice(format!("{{\"a\": \"v{k}\"}}").as_bytes());
        messages.push((key, value));
    }
    // A key that is not in the wire format.
    messages.push((b"9".to_vec(), wire::header(value_id)));
    let borrowed: Vec<(Option<&[u8]>, &[u8])> = messages
        .iter()
        .map(|(k, v)| (Some(k.as_slice()), v.as_slice()))
        .collect();
    send_raw(&config, &pipeline.topic, &borrowed).await;
    let summary = stream_until_rows(&config, &session, &pipeline, 2).await;
    let letters = common::read_topic(&config, &pipeline.dead_letter_topic(), 1).await;
    assert_eq!(
        (summary.written, summary.dead_lettered),
        (2, 1),
        "{summary:?}"
    );
    let reason = common::header_text(&letters[0], header::REASON);
    let error = common::header_text(&letters[0], header::ERROR).unwrap_or_default();
    assert_eq!(reason.as_deref(), Some("undecodable_key"), "{error}");
    assert!(error.starts_with("key: "), "{error}");
    let got = common::row_by_name(&session, &format!("SELECT * FROM \"{ks}\".t WHERE k = 8")).await;
    assert_eq!(
        got.get("a"),
        Some(&Some(scylla::value::CqlValue::Text("v8".into())))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_stopped_mid_load_pauses_the_pipeline_and_loses_nothing() {
    use cassflow::local::{LocalStack, Server};
    use cassflow::stream::status::{self, PauseReason, State};
    let shared = common::stack().await;
    // A registry of its own, to stop: on fresh ports, beside the shared Kafka and Cassandra.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut private = private_registry(&shared, dir.path());
    private.local.registry_storage = cassflow::config::RegistryStorage::File;
    let api = private.local.registry_port;
    let registry_stack = LocalStack::new(&private);
    let _stop = common::StopServerOnDrop(registry_stack.clone(), Server::Registry);
    registry_stack
        .start_only(&[Server::Registry])
        .await
        .expect("the private registry starts");
    // The pipeline reaches it through a gate, shut from the stop until the restarted
    // registry is checked to hold the schemas again (its H2 file keeps them), so the
    // pipeline sees one outage and then the same registry.
    let gate = Gate::open_to(api).await;
    let direct = private.local.registry_url().expect("its URL");
    let mut config = shared.clone();
    config.schema_registry.url = direct.replace(&format!(":{api}/"), &format!(":{}/", gate.port));
    config.schema_registry.request_timeout = Duration::from_secs(2);

    let pipeline = pipeline(&config, "registry_outage", RecordFormat::Avro).await;
    let subject = format!("{}-value", pipeline.topic);
    // Two versions: the second is first needed after the registry stops.
    let (v1, v2) = register_on(&config, &subject).await;
    let records = common::users(4_000, "outage");
    let (first, second) = records.split_at(2_000);
    let encoder = |id| UsersEncoder::new(id, ProducedFormat::Avro).expect("encoder");
    send_users(&config, &pipeline.topic, encoder(v1), first, &[]).await;

    let shutdown = tokio_util::sync::CancellationToken::new();
    let job = common::spawn_pipeline(&config, &pipeline, &shutdown);
    let session = common::session(&config).await;
    common::wait_for_rows(
        &session,
        &pipeline.keyspace,
        &pipeline.table,
        2_000,
        Duration::from_secs(120),
    )
    .await;

    gate.shut();
    registry_stack
        .stop_only(&[Server::Registry])
        .await
        .expect("the registry stops");
    send_users(&config, &pipeline.topic, encoder(v2), second, &[]).await;
    // The records of the new version wait: the pipeline pauses for the registry.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = status::get(&pipeline.name);
        if now.as_ref().is_some_and(|s| {
            s.state == State::Paused && s.reason == Some(PauseReason::RegistryUnavailable)
        }) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not paused: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        common::count_rows(&session, &pipeline.keyspace, &pipeline.table).await,
        2_000,
        "nothing of the new version is written while its schema cannot be read"
    );

    registry_stack
        .start_only(&[Server::Registry])
        .await
        .expect("the registry starts again");
    // Its storage (local.registry_storage = "file") kept both versions.
    let mut direct_config = config.clone();
    direct_config.schema_registry.url = direct.clone();
    let restarted =
        cassflow::registry::Registry::new(&direct_config.schema_registry).expect("client");
    for id in [v1, v2] {
        if let Err(e) = restarted.decoder(id, RecordFormat::Avro).await {
            panic!("schema {id} did not survive the registry's restart: {e}");
        }
    }
    gate.open();
    common::assert_table_holds(&session, &pipeline, &records).await;
    shutdown.cancel();
    let summary = job.await.expect("job");
    assert_eq!(
        (summary.written, summary.dead_lettered),
        (4_000, 0),
        "{summary:?}"
    );
}

/// The seed's flow in each format through the binary: `cassflow produce --pipeline` sends
/// generated users in the pipeline's format (registering the users schema), and the stream
/// job writes every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cassflow_produce_sends_each_format_the_stream_reads() {
    let config = common::stack().await;
    for format in [
        RecordFormat::Avro,
        RecordFormat::Protobuf,
        RecordFormat::JsonSchema,
    ] {
        let pipeline = pipeline(&config, &format!("cli_{}", format.name()), format).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = common::write_config(dir.path(), &config, std::slice::from_ref(&pipeline));
        let file = file.display().to_string();
        let produced = common::run_cassflow(dir.path(), &produce_args(&file, &pipeline, "50"), &[]);
        assert!(
            produced.status.success(),
            "{format:?}: {}",
            String::from_utf8_lossy(&produced.stderr)
        );
        let shutdown = tokio_util::sync::CancellationToken::new();
        let job = common::spawn_pipeline(&config, &pipeline, &shutdown);
        let session = common::session(&config).await;
        common::wait_for_rows(
            &session,
            &pipeline.keyspace,
            &pipeline.table,
            50,
            Duration::from_secs(120),
        )
        .await;
        shutdown.cancel();
        let summary = job.await.expect("job");
        assert_eq!(
            (summary.written, summary.dead_lettered),
            (50, 0),
            "{format:?}: {summary:?}"
        );
    }
}

/// A `schema_registry.url` that is not the API's base (Apicurio's without
/// `/apis/ccompat/v7`) answers 404 for every id: the pipeline pauses and says so, and no
/// good record is dead-lettered as if its schema were unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_registry_url_pauses_instead_of_dead_lettering() {
    use cassflow::stream::status::{self, PauseReason, State};
    let mut config = common::stack().await;
    let pipeline = pipeline(&config, "wrong_url", RecordFormat::Avro).await;
    let records = common::users(20, "wrong_url");
    produce(
        &config,
        &pipeline.topic,
        ProducedFormat::Avro,
        &records,
        &[],
    )
    .await;
    config.schema_registry.url = config
        .schema_registry
        .url
        .trim_end_matches("/apis/ccompat/v7")
        .to_string();
    // The waiting records are abandoned at shutdown (read again on restart): soon.
    config.stream.shutdown_timeout = Duration::from_secs(2);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let job = common::spawn_pipeline(&config, &pipeline, &shutdown);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let paused = loop {
        let now = status::get(&pipeline.name);
        if let Some(s) = now.as_ref().filter(|s| s.state == State::Paused) {
            break s.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not paused: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(paused.reason, Some(PauseReason::RegistryUnavailable));
    let detail = paused.detail.unwrap_or_default();
    assert!(detail.contains("/apis/ccompat/v7"), "{detail}");
    shutdown.cancel();
    let summary = job.await.expect("job");
    assert_eq!(
        (summary.written, summary.dead_lettered),
        (0, 0),
        "{summary:?}"
    );
}

/// A registry that serves HTTPS only and asks for a password (`local.registry_tls`,
/// `local.registry_auth`): the seed's flow runs through it with the stack's CA and the right
/// login (the password given only in the environment to `cassflow produce`), and a wrong
/// password, no login, an untrusted certificate and plain HTTP are each refused for what
/// they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_with_tls_and_a_password_serves_only_the_right_login() {
    use cassflow::local::{LocalStack, Server};
    use cassflow::registry::RegistryError;
    let shared = common::stack().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = private_registry(&shared, dir.path());
    config.local.registry_tls = true;
    config.local.registry_auth = true;
    // `$` and a space: the password is taken as it is, not as a Quarkus expression.
    let password = "s3cret ${not.an.expression}";
    config.schema_registry.username = Some("cassflow".into());
    config.schema_registry.password = Some(password.into());
    config.schema_registry.url = config.local.registry_url().expect("its URL");
    assert!(config.schema_registry.url.starts_with("https://127.0.0.1:"));
    config.schema_registry.ca = Some(dir.path().join("cassandra/tls/ca.pem"));
    config.schema_registry.request_timeout = Duration::from_secs(5);
    config
        .validate()
        .expect("the secured registry's config is valid");
    let stack = LocalStack::new(&config);
    let _stop = common::StopServerOnDrop(stack.clone(), Server::Registry);
    stack
        .start_only(&[Server::Registry])
        .await
        .expect("the secured registry starts");

    // The seed's flow: `cassflow produce` registers and sends, the stream reads.
    let pipeline = pipeline(&config, "secured_registry", RecordFormat::Avro).await;
    let mut in_file = config.clone();
    in_file.schema_registry.password = None;
    let file = common::write_config(dir.path(), &in_file, std::slice::from_ref(&pipeline));
    let file = file.display().to_string();
    let produce = |password: &str| {
        common::run_cassflow(
            dir.path(),
            &produce_args(&file, &pipeline, "40"),
            &[("CASSFLOW_SCHEMA_REGISTRY__PASSWORD", password)],
        )
    };
    let produced = produce(password);
    assert!(
        produced.status.success(),
        "{}",
        String::from_utf8_lossy(&produced.stderr)
    );
    let session = common::session(&config).await;
    let summary = stream_until_rows(&config, &session, &pipeline, 40).await;
    assert_eq!(
        (summary.written, summary.dead_lettered),
        (40, 0),
        "{summary:?}"
    );

    // A wrong password through the binary: one line that names the keys to fix.
    let refused = produce("wrong");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("refused cassflow"))
        .unwrap_or_else(|| panic!("no refusal line in: {stderr}"));
    assert!(line.contains("(401)"), "{line}");
    assert!(line.contains("schema_registry.username"), "{line}");

    // The same through the client: no login, a wrong one, no CA, plain HTTP.
    let id = Registry::new(&config.schema_registry)
        .expect("client")
        .register(
            &format!("{}-value", pipeline.topic),
            "AVRO",
            cassflow::registry::users::AVRO_SCHEMA,
        )
        .await
        .expect("the right login and CA register");
    let fails = |change: &dyn Fn(&mut cassflow::config::SchemaRegistryConfig)| {
        let mut cfg = config.schema_registry.clone();
        change(&mut cfg);
        async move {
            let registry = Registry::new(&cfg).expect("client");
            match registry.decoder(id, RecordFormat::Avro).await {
                Ok(_) => panic!("{cfg:?} read schema {id}"),
                Err(e) => e,
            }
        }
    };
    for error in [
        fails(&|c| c.password = Some("wrong".into())).await,
        fails(&|c| (c.username, c.password) = (None, None)).await,
    ] {
        assert!(
            matches!(error, RegistryError::Refused { status: 401, .. }),
            "{error}"
        );
        assert!(error.is_outage(), "a refused login pauses: {error}");
    }
    let untrusted = fails(&|c| c.ca = None).await;
    assert!(
        matches!(untrusted, RegistryError::Unreachable { .. }),
        "{untrusted}"
    );
    assert!(untrusted.to_string().contains("certificate"), "{untrusted}");
    let plain = fails(&|c| c.url = c.url.replace("https://", "http://")).await;
    assert!(plain.is_outage(), "{plain}");
}

/// `cassflow --config <file> produce --pipeline <name>` of `count` generated users.
fn produce_args<'a>(file: &'a str, pipeline: &'a PipelineConfig, count: &'a str) -> [&'a str; 9] {
    [
        "--config",
        file,
        "produce",
        "--pipeline",
        &pipeline.name,
        "--source",
        "generator",
        "--count",
        count,
    ]
}

/// The shared stack's config with a registry of its own: data in `dir`, fresh ports.
fn private_registry(shared: &Config, dir: &std::path::Path) -> Config {
    let mut config = shared.clone();
    let [api, management] = common::free_ports();
    config.local.data_dir = dir.to_path_buf();
    config.local.registry_port = api;
    config.local.registry_management_port = management;
    config
}

/// Registers the users schema and a second version of it under `subject`; their ids.
async fn register_on(config: &Config, subject: &str) -> (u32, u32) {
    let registry = Registry::new(&config.schema_registry).expect("registry client");
    let text = cassflow::registry::users::AVRO_SCHEMA;
    let v1 = registry.register(subject, "AVRO", text).await.expect("v1");
    let v2_text = text.replace("\"User\"", "\"UserV2\"");
    let v2 = registry
        .register(subject, "AVRO", &v2_text)
        .await
        .expect("v2");
    (v1, v2)
}

/// A TCP forwarder on a port of its own to a loopback port: open, it forwards each
/// connection; shut, it closes each at once (to a client, a registry that does not answer).
struct Gate {
    port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Gate {
    async fn open_to(upstream: u16) -> Gate {
        use std::sync::atomic::Ordering;
        let [port] = common::free_ports();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the gate");
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let is_open = open.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !is_open.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                tokio::spawn(async move {
                    if let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Gate { port, open }
    }

    fn shut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    fn open(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Registers `schema` (of `kind`) as `<topic>-value`; its id.
async fn register_value(config: &Config, topic: &str, kind: &str, schema: &str) -> u32 {
    Registry::new(&config.schema_registry)
        .expect("registry client")
        .register(&format!("{topic}-value"), kind, schema)
        .await
        .expect("registers")
}
