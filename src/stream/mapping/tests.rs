use super::*;
use crate::cassandra::cql_type::CqlType;
use crate::config::PipelineConfig;
use crate::record::{format_timestamp, UserView};
use scylla::value::CqlTimestamp;
use serde_json::json;
use std::borrow::Cow;

fn pipeline(columns: &[(&str, &str)]) -> PipelineConfig {
    PipelineConfig {
        name: format!("mapping-test-{}", uuid::Uuid::new_v4()),
        columns: columns
            .iter()
            .map(|(c, e)| (c.to_string(), e.to_string()))
            .collect(),
        ..PipelineConfig::default()
    }
}

fn ty(cql: &str) -> CqlType {
    cql.parse().expect("a type")
}

fn column(p: &PipelineConfig, name: &str, kind: CqlType, key: bool) -> ColumnPlan {
    let mut c = ColumnPlan::new(name, source_of(p, name).expect("parses"), kind);
    c.key = key;
    c
}

fn ctx() -> RecordContext<'static> {
    RecordContext::new(Some(br#"{"id": 7}"#), None, "orders", 2, 9, Some(1_000))
}

#[test]
fn a_user_record_fills_typed_and_text_columns_without_copying_text() {
    let json = crate::source::generator::Generator::new(Some("mapping-test"))
        .next_user()
        .to_json();
    let (view, _) = UserView::decode(json.as_bytes()).expect("decodes");
    let p = pipeline(&[("dob_text", "dob"), ("nat", "nat")]);
    let plan = vec![
        column(&p, "id", ty("uuid"), true),
        column(&p, "dob", ty("timestamp"), false),
        column(&p, "dob_text", ty("text"), false),
        column(&p, "email", ty("text"), false),
        column(&p, "nat", ty("text"), false),
    ];
    let mapping = Mapping::new(&p, plan, vec![]).expect("compiles");
    let record = ctx();
    let cells = mapping.row(&view, &record).expect("converts").cells;
    assert_eq!(cells[0], Cell::Uuid(view.id));
    assert_eq!(
        cells[1],
        Cell::Timestamp(CqlTimestamp(view.dob.timestamp_millis()))
    );
    assert_eq!(
        cells[2],
        Cell::Text(Cow::Owned(format_timestamp(&view.dob)))
    );
    assert!(matches!(&cells[3], Cell::Text(Cow::Borrowed(e)) if *e == view.email));
    assert_eq!(cells[4], Cell::Unset);
}

#[test]
fn nested_paths_key_headers_and_metadata_fill_columns() {
    let p = pipeline(&[
        ("customer", "customer.name"),
        ("first_item", "value.items[0]"),
        ("k", "key.id"),
        ("topic", "kafka.topic"),
        ("part", "kafka.partition"),
        ("off", "kafka.offset"),
        ("at", "kafka.timestamp"),
        ("at_ms", "kafka.timestamp"),
        ("made", "now()"),
    ]);
    let plan = vec![
        column(&p, "customer", ty("text"), false),
        column(&p, "first_item", ty("text"), false),
        column(&p, "k", ty("int"), true),
        column(&p, "topic", ty("text"), false),
        column(&p, "part", ty("int"), false),
        column(&p, "off", ty("bigint"), false),
        column(&p, "at", ty("timestamp"), false),
        column(&p, "at_ms", ty("bigint"), false),
        column(&p, "made", ty("timeuuid"), false),
    ];
    let mapping = Mapping::new(&p, plan, vec![]).expect("compiles");
    let v = json!({"customer": {"name": "x"}, "items": ["a", "b"]});
    let record = ctx();
    let cells = mapping
        .row(v.as_object().expect("object"), &record)
        .expect("converts")
        .cells;
    assert_eq!(cells[0], Cell::Text("x".into()));
    assert_eq!(cells[1], Cell::Text("a".into()));
    assert_eq!(cells[2], Cell::Int(7));
    assert_eq!(cells[3], Cell::Text("orders".into()));
    assert_eq!(cells[4], Cell::Int(2));
    assert_eq!(cells[5], Cell::BigInt(9));
    assert_eq!(cells[6], Cell::Timestamp(CqlTimestamp(1_000)));
    assert_eq!(cells[7], Cell::BigInt(1_000));
    assert!(matches!(cells[8], Cell::TimeUuid(_)));
}

#[test]
fn missing_or_null_key_is_an_error_absent_other_is_unset_and_counted() {
    let p = pipeline(&[("name", "customer.nmae")]);
    let plan = vec![
        column(&p, "id", ty("int"), true),
        column(&p, "name", ty("text"), false),
    ];
    let mapping = Mapping::new(&p, plan, vec![]).expect("compiles");
    let record = ctx();
    for v in [json!({}), json!({"id": null})] {
        let err = mapping
            .row(v.as_object().expect("object"), &record)
            .expect_err("no key");
        assert_eq!(err.reason(), "missing_key");
        assert!(err.to_string().contains("`id`"), "{err}");
        assert!(err.to_string().contains("`value.id`"), "{err}");
    }
    let v = json!({"id": 1, "customer": {"name": "x"}});
    let absent = stream_metrics().field_absent(&p.name, "name");
    let before = absent.get();
    let cells = mapping
        .row(v.as_object().expect("object"), &record)
        .expect("row")
        .cells;
    assert_eq!(cells[1], Cell::Unset);
    assert_eq!(absent.get(), before + 1, "the typo is counted");
}

#[test]
fn nulls_are_unset_or_null_as_configured() {
    let v = json!({"id": 1, "name": null});
    let record = ctx();
    for (nulls, want) in [(Nulls::Unset, Cell::Unset), (Nulls::Null, Cell::Null)] {
        let p = PipelineConfig {
            nulls,
            ..pipeline(&[])
        };
        let plan = vec![
            column(&p, "id", ty("int"), true),
            column(&p, "name", ty("text"), false),
        ];
        let mapping = Mapping::new(&p, plan, vec![]).expect("compiles");
        let cells = mapping
            .row(v.as_object().expect("object"), &record)
            .expect("row")
            .cells;
        assert_eq!(cells[1], want, "{nulls:?}");
    }
}

#[test]
fn ttl_and_write_time_come_from_expressions_with_units() {
    let p = PipelineConfig {
        ttl: Some(std::time::Duration::from_secs(3600)),
        ttl_unit: TtlUnit::Minutes,
        timestamp_unit: TimestampUnit::Milliseconds,
        ..pipeline(&[("__ttl", "value.ttl"), ("__timestamp", "value.at")])
    };
    let mapping = Mapping::new(&p, vec![], vec![]).expect("compiles");
    assert!(mapping.has_ttl());
    let record = ctx();
    let extras = |v: serde_json::Value| {
        mapping
            .row(v.as_object().expect("object"), &record)
            .map(|r| r.extras)
    };
    assert_eq!(
        extras(json!({"ttl": 2, "at": 1_700_000_000_000_i64})),
        Ok(Extras {
            ttl_seconds: Some(120),
            write_time_micros: Some(1_700_000_000_000_000),
        })
    );
    assert_eq!(
        extras(json!({"at": "2026-01-01T00:00:00Z"})),
        Ok(Extras {
            ttl_seconds: Some(3600),
            write_time_micros: Some(1_767_225_600_000_000),
        }),
        "absent: the pipeline's TTL and the Kafka timestamp"
    );
    for bad in [
        json!({"ttl": -1}),
        json!({"ttl": "soon"}),
        json!({"ttl": 1e12}),
    ] {
        let err = extras(bad.clone()).expect_err("refused");
        assert_eq!(err.reason(), "incompatible_value");
        assert!(err.to_string().contains("columns.__ttl"), "{err}");
    }
    let err = extras(json!({"at": "later"})).expect_err("refused");
    assert!(err.to_string().contains("columns.__timestamp"), "{err}");

    assert_eq!(
        ttl_seconds(Field::Int(90_000), TtlUnit::Milliseconds),
        Ok(90)
    );
    assert_eq!(ttl_seconds(Field::Int(1), TtlUnit::Days), Ok(86_400));
    assert!(ttl_seconds(Field::Int(MAX_TTL_SECONDS + 1), TtlUnit::Seconds).is_err());
    assert_eq!(
        write_time_micros(Field::Int(5_000), TimestampUnit::Nanoseconds),
        Ok(5)
    );
    assert_eq!(
        write_time_micros(Field::Int(2), TimestampUnit::Seconds),
        Ok(2_000_000)
    );
    assert!(write_time_micros(Field::Int(i64::MAX), TimestampUnit::Seconds).is_err());
}

#[test]
fn ttl_and_write_time_read_numbers_and_times_as_columns_do() {
    // The exact parse (a decimal column in the table) keeps `3600.0` as its text.
    assert_eq!(
        ttl_seconds(Field::Text("3600.0"), TtlUnit::Seconds),
        Ok(3600)
    );
    let number = json!(3600.0);
    assert_eq!(
        ttl_seconds(Field::Json(&number), TtlUnit::Seconds),
        Ok(3600)
    );
    let fraction = json!(1.5);
    assert!(ttl_seconds(Field::Json(&fraction), TtlUnit::Seconds).is_err());
    let micros = |text| write_time_micros(Field::Text(text), TimestampUnit::Milliseconds);
    let new_year = Ok(1_767_225_600_000_000);
    assert_eq!(micros("2026-01-01T00:00:00Z"), new_year);
    assert_eq!(
        micros("2026-01-01T00:00:00.000+0000"),
        new_year,
        "CQL's own form"
    );
    assert_eq!(
        micros("2026-01-01"),
        new_year,
        "a bare date is its midnight"
    );
    assert_eq!(
        micros("2026-01-01T00:00:00.000123Z"),
        Ok(1_767_225_600_000_123)
    );
}

#[test]
fn a_tombstone_deletes_only_when_its_key_fills_the_primary_key() {
    let p = pipeline(&[("id", "key.id"), ("region", "header.region")]);
    let keys = vec![
        column(&p, "id", ty("int"), true),
        column(&p, "region", ty("text"), true),
    ];
    let mapping = Mapping::new(&p, vec![], keys).expect("compiles");
    let headers = rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
        key: "region",
        value: Some("eu"),
    });
    let record = RecordContext::new(Some(br#"{"id": 7}"#), Some(&headers), "t", 0, 0, None);
    assert_eq!(
        mapping.delete_key(&record),
        Ok(vec![Cell::Int(7), Cell::Text("eu".into())])
    );
    let without_header = ctx();
    let err = mapping.delete_key(&without_header).expect_err("no region");
    assert_eq!(err.reason(), "missing_key");
    assert!(err.to_string().contains("`region`"), "{err}");

    let from_value = pipeline(&[]);
    let keys = vec![column(&from_value, "id", ty("int"), true)];
    let mapping = Mapping::new(&from_value, vec![], keys).expect("compiles");
    let err = mapping.delete_key(&ctx()).expect_err("value key");
    assert_eq!(err.reason(), "missing_key");
    let message = err.to_string();
    for part in ["tombstone", "`id`", "`value.id`", "columns.id = \"key\""] {
        assert!(message.contains(part), "{message}");
    }
}

#[test]
fn a_numeric_key_keeps_its_own_text() {
    for key in ["1.10", "123456789012345678901234", "1e3", "null"] {
        let record = RecordContext::new(Some(key.as_bytes()), None, "t", 0, 0, None);
        assert_eq!(
            record.lookup(&Source::Key, &NoValue).expect("a key"),
            Lookup::Found(Field::Text(key)),
            "{key}"
        );
    }
    let record = RecordContext::new(Some(br#""abc""#), None, "t", 0, 0, None);
    assert_eq!(
        record.lookup(&Source::Key, &NoValue).expect("a key"),
        Lookup::Found(Field::Text("abc")),
        "a JSON string key is its string"
    );
}

#[test]
fn a_records_ttl_never_rounds_to_no_ttl() {
    let ms = |n: i64| ttl_seconds(Field::Int(n), crate::config::TtlUnit::Milliseconds);
    assert_eq!(ms(999), Ok(1));
    assert_eq!(ms(1_500), Ok(2));
    assert_eq!(ms(0), Ok(0), "0 asks for no TTL");
    assert!(ms(-500).is_err(), "negative is refused, not 0");
}

#[test]
fn a_tombstone_is_deleted_at_the_write_time_it_carries() {
    let mut p = pipeline(&[("id", "key.id"), ("__timestamp", "header.ts")]);
    p.timestamp_unit = crate::config::TimestampUnit::Milliseconds;
    let keys = vec![column(&p, "id", ty("int"), true)];
    let mapping = Mapping::new(&p, vec![], keys.clone()).expect("compiles");
    let headers = rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
        key: "ts",
        value: Some("1700000000123"),
    });
    let record = RecordContext::new(Some(br#"{"id": 7}"#), Some(&headers), "t", 0, 0, None);
    assert_eq!(
        mapping.delete_write_time(&record),
        Ok(Some(1_700_000_000_123_000))
    );
    // From the value, which a tombstone lacks: its Kafka timestamp, as before.
    let from_value = pipeline(&[("id", "key.id"), ("__timestamp", "value.ts")]);
    let mapping = Mapping::new(&from_value, vec![], keys).expect("compiles");
    assert_eq!(mapping.delete_write_time(&record), Ok(None));
}
