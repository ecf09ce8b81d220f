use super::*;
use apache_avro::types::Value as Avro;
use serde_json::json;

/// Every type and logical type of the issue, in one record.
const EVERY_TYPE: &str = r#"{
  "type": "record", "name": "Everything", "namespace": "test.avro",
  "fields": [
    {"name": "b", "type": "boolean"},
    {"name": "i", "type": "int"},
    {"name": "l", "type": "long"},
    {"name": "f", "type": "float"},
    {"name": "d", "type": "double"},
    {"name": "s", "type": "string"},
    {"name": "raw", "type": "bytes"},
    {"name": "fx", "type": {"type": "fixed", "name": "Four", "size": 4}},
    {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
    {"name": "maybe", "type": ["null", "string"]},
    {"name": "absent", "type": ["null", "long"]},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "scores", "type": {"type": "map", "values": "int"}},
    {"name": "address", "type": {"type": "record", "name": "Address",
      "fields": [{"name": "city", "type": "string"}, {"name": "zip", "type": "int"}]}},
    {"name": "home", "type": "Address"},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
    {"name": "tiny", "type": {"type": "fixed", "name": "Dec3", "size": 3, "logicalType": "decimal", "precision": 6, "scale": 4}},
    {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "tm", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "tu", "type": {"type": "long", "logicalType": "time-micros"}},
    {"name": "tsm", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "tsu", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "lts", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
    {"name": "dur", "type": {"type": "fixed", "name": "Dur", "size": 12, "logicalType": "duration"}}
  ]
}"#;

fn encode(schema: &Schema, value: Avro) -> Vec<u8> {
    let mut out = Vec::new();
    write(schema, value, &mut out).expect("the crate encodes it");
    out
}

fn fixed_duration(months: u32, days: u32, millis: u32) -> Avro {
    use apache_avro::{Days, Duration, Millis, Months};
    Avro::Duration(Duration::new(
        Months::new(months),
        Days::new(days),
        Millis::new(millis),
    ))
}

#[test]
fn every_type_reads_as_the_text_its_column_converter_reads() {
    let schema = Schema::parse_str(EVERY_TYPE).expect("schema");
    let id = uuid::Uuid::parse_str("6f1e4f3c-0b8d-4c59-9c1a-2f0a9d3b7e11").expect("uuid");
    let address = |city: &str, zip: i32| {
        Avro::Record(vec![
            ("city".into(), Avro::String(city.into())),
            ("zip".into(), Avro::Int(zip)),
        ])
    };
    let record = Avro::Record(vec![
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
        ("address".into(), address("Oslo", 150)),
        ("home".into(), address("Bergen", 5003)),
        (
            "price".into(),
            Avro::Decimal(apache_avro::Decimal::from(vec![0xfb, 0x2e])),
        ),
        (
            "tiny".into(),
            Avro::Decimal(apache_avro::Decimal::from(vec![0, 0, 5])),
        ),
        ("id".into(), Avro::Uuid(id)),
        ("day".into(), Avro::Date(19_723)),
        ("tm".into(), Avro::TimeMillis(49_530_250)),
        ("tu".into(), Avro::TimeMicros(49_530_000_001)),
        ("tsm".into(), Avro::TimestampMillis(1_704_067_200_123)),
        ("tsu".into(), Avro::TimestampMicros(1_704_067_200_123_456)),
        ("lts".into(), Avro::LocalTimestampMillis(-1)),
        ("dur".into(), fixed_duration(14, 3, 4_000)),
    ]);
    let bytes = encode(&schema, record);
    let plan = Plan::parse(EVERY_TYPE, &[]).expect("compiles");
    let read = plan.read(&bytes).expect("reads");
    assert_eq!(
        read,
        json!({
            "b": true, "i": -7, "l": 9_007_199_254_740_993_i64, "f": 1.5, "d": -2.25,
            "s": "héllo", "raw": "AQID", "fx": "AP8AAQ==", "color": "GREEN",
            "maybe": "x", "absent": null, "tags": ["a", "b"], "scores": {"math": 90},
            "address": {"city": "Oslo", "zip": 150}, "home": {"city": "Bergen", "zip": 5003},
            "price": "-12.34", "tiny": "0.0005", "id": id.to_string(), "day": "2024-01-01",
            "tm": "13:45:30.250", "tu": "13:45:30.000001",
            "tsm": "2024-01-01T00:00:00.123Z", "tsu": "2024-01-01T00:00:00.123456Z",
            "lts": "1969-12-31T23:59:59.999Z", "dur": "14mo3d4000ms"
        })
    );
}

#[test]
fn a_recursive_record_reads_to_its_depth() {
    let text = r#"{"type": "record", "name": "Node", "fields": [
        {"name": "v", "type": "int"},
        {"name": "next", "type": ["null", "Node"]}]}"#;
    let schema = Schema::parse_str(text).expect("schema");
    let leaf = Avro::Record(vec![
        ("v".into(), Avro::Int(2)),
        ("next".into(), Avro::Union(0, Box::new(Avro::Null))),
    ]);
    let head = Avro::Record(vec![
        ("v".into(), Avro::Int(1)),
        ("next".into(), Avro::Union(1, Box::new(leaf))),
    ]);
    let plan = Plan::parse(text, &[]).expect("compiles");
    assert_eq!(
        plan.read(&encode(&schema, head)).expect("reads"),
        json!({"v": 1, "next": {"v": 2, "next": null}})
    );
    // A hostile chain deeper than any record nests is refused, not followed.
    let mut deep = Vec::new();
    for _ in 0..10_000 {
        deep.extend([2, 2]); // v = 1, branch 1
    }
    let e = plan.read(&deep).expect_err("too deep");
    assert!(e.to_string().contains("nest deeper"), "{e}");
}

#[test]
fn a_named_type_from_a_referenced_schema_is_found() {
    let address = r#"{"type": "record", "name": "Address", "namespace": "shop",
        "fields": [{"name": "city", "type": "string"}]}"#;
    let order = r#"{"type": "record", "name": "Order", "namespace": "shop",
        "fields": [{"name": "to", "type": "shop.Address"}]}"#;
    let plan = Plan::parse(order, &[address.to_string()]).expect("compiles");
    assert_eq!(
        plan.read(&[6, b'O', b's', b'l']).expect("reads"),
        json!({"to": {"city": "Osl"}})
    );
}

#[test]
fn broken_payloads_say_what_is_wrong() {
    let plan = Plan::parse(EVERY_TYPE, &[]).expect("compiles");
    assert_eq!(plan.read(&[]), Err(AvroError::Truncated("a boolean")));
    assert!(matches!(plan.read(&[7]), Err(AvroError::Invalid(_))));
    let text = r#"{"type": "record", "name": "R", "fields": [
        {"name": "s", "type": "string"}, {"name": "xs", "type": {"type": "array", "items": "long"}}]}"#;
    let plan = Plan::parse(text, &[]).expect("compiles");
    // A string longer than the payload.
    assert_eq!(
        plan.read(&[20, b'a']),
        Err(AvroError::Truncated("bytes or a string"))
    );
    // An array claiming a billion longs in four bytes.
    let e = plan
        .read(&[0, 0x80, 0xa8, 0xd6, 0xb9, 0x07])
        .expect_err("bounded");
    assert_eq!(e, AvroError::Truncated("an array or map"));
    // Bytes after the record.
    assert_eq!(plan.read(&[0, 0, 9]), Err(AvroError::Trailing(1)));
    // A varint that never ends.
    assert!(plan
        .read(&[0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
        .is_err());
}

#[test]
fn an_undefined_name_is_a_schema_error() {
    let e = Plan::parse(
        r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "Nope"}]}"#,
        &[],
    )
    .expect_err("unknown name");
    assert!(e.to_string().contains("Nope"), "{e}");
}

#[test]
fn decimals_keep_every_digit() {
    assert_eq!(decimal_text(&[0x01], 0), "1");
    assert_eq!(decimal_text(&[0xff], 2), "-0.01");
    assert_eq!(decimal_text(&[0x30, 0x39], 2), "123.45");
    assert_eq!(decimal_text(&[0x30, 0x39], 6), "0.012345");
    assert_eq!(decimal_text(&[0x00, 0x00, 0x7b], 5), "0.00123");
    let two_to_the_64 = [1, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(decimal_text(&two_to_the_64, 20), "0.18446744073709551616");
    assert_eq!(decimal_text(&two_to_the_64, 3), "18446744073709551.616");
}

proptest::proptest! {
    /// Whatever the crate writes for the users-like record, the plan reads back the same.
    #[test]
    fn reads_what_the_crate_writes(
        name in ".{0,40}",
        age in proptest::prelude::any::<i64>(),
        score in proptest::prelude::any::<f64>(),
        tags in proptest::collection::vec(".{0,8}", 0..6),
        nick in proptest::option::of(".{0,8}"),
    ) {
        let text = r#"{"type": "record", "name": "U", "fields": [
            {"name": "name", "type": "string"}, {"name": "age", "type": "long"},
            {"name": "score", "type": "double"},
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "nick", "type": ["null", "string"]}]}"#;
        let schema = Schema::parse_str(text).expect("schema");
        let record = Avro::Record(vec![
            ("name".into(), Avro::String(name.clone())),
            ("age".into(), Avro::Long(age)),
            ("score".into(), Avro::Double(score)),
            ("tags".into(), Avro::Array(tags.iter().cloned().map(Avro::String).collect())),
            ("nick".into(), match &nick {
                Some(n) => Avro::Union(1, Box::new(Avro::String(n.clone()))),
                None => Avro::Union(0, Box::new(Avro::Null)),
            }),
        ]);
        let read = Plan::parse(text, &[]).expect("compiles").read(&encode(&schema, record)).expect("reads");
        let score = if score.is_finite() { json!(score) } else { json!(score.to_string()) };
        proptest::prop_assert_eq!(read, json!({"name": name, "age": age, "score": score, "tags": tags, "nick": nick}));
    }

    /// Any bytes at all: an error or a value, never a panic.
    #[test]
    fn never_panics_on_any_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        let plan = Plan::parse(EVERY_TYPE, &[]).expect("compiles");
        let _ = plan.read(&bytes);
    }
}
