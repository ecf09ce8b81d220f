use super::*;
use prost::Message as _;
use serde_json::json;

const EVERY_TYPE: &str = r#"
syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/wrappers.proto";

enum Status { UNKNOWN = 0; PAID = 1; }

message Order {
  message Line { string sku = 1; int32 qty = 2; }
  string id = 1;
  int64 total_cents = 2;
  uint32 small = 3;
  double ratio = 4;
  float f = 5;
  bool paid = 6;
  bytes raw = 7;
  Status status = 8;
  repeated string tags = 9;
  map<string, int32> counts = 10;
  Line first = 11;
  repeated Line lines = 12;
  google.protobuf.Timestamp at = 13;
  google.protobuf.Duration took = 14;
  google.protobuf.Int64Value maybe = 15;
  google.protobuf.StringValue absent = 16;
  optional string note = 17;
  int32 zero = 18;
}

message Other { string x = 1; }
"#;

fn order(schema: &Schema) -> DynamicMessage {
    let desc = schema.message(&[0]).expect("Order");
    let mut m = DynamicMessage::new(desc.clone());
    let set = |m: &mut DynamicMessage, name: &str, v: Proto| m.set_field_by_name(name, v);
    set(&mut m, "id", Proto::String("o-1".into()));
    set(&mut m, "total_cents", Proto::I64(9_007_199_254_740_993));
    set(&mut m, "small", Proto::U32(7));
    set(&mut m, "ratio", Proto::F64(0.25));
    set(&mut m, "f", Proto::F32(1.5));
    set(&mut m, "paid", Proto::Bool(true));
    set(&mut m, "raw", Proto::Bytes(vec![1, 2, 3].into()));
    set(&mut m, "status", Proto::EnumNumber(1));
    set(
        &mut m,
        "tags",
        Proto::List(vec![Proto::String("a".into()), Proto::String("b".into())]),
    );
    set(
        &mut m,
        "counts",
        Proto::Map([(MapKey::String("x".into()), Proto::I32(3))].into()),
    );
    let line_desc = schema.message(&[0, 0]).expect("Line");
    let line = |sku: &str, qty: i32| {
        let mut l = DynamicMessage::new(line_desc.clone());
        l.set_field_by_name("sku", Proto::String(sku.into()));
        l.set_field_by_name("qty", Proto::I32(qty));
        Proto::Message(l)
    };
    set(&mut m, "first", line("s1", 2));
    set(
        &mut m,
        "lines",
        Proto::List(vec![line("s2", 1), line("s3", 0)]),
    );
    let well_known = |name: &str, fields: &[(&str, Proto)]| {
        let desc = schema.message_named(name).expect(name);
        let mut w = DynamicMessage::new(desc);
        for (field, value) in fields {
            w.set_field_by_name(field, value.clone());
        }
        Proto::Message(w)
    };
    set(
        &mut m,
        "at",
        well_known(
            "google.protobuf.Timestamp",
            &[
                ("seconds", Proto::I64(1_704_067_200)),
                ("nanos", Proto::I32(123_000_000)),
            ],
        ),
    );
    set(
        &mut m,
        "took",
        well_known(
            "google.protobuf.Duration",
            &[
                ("seconds", Proto::I64(90)),
                ("nanos", Proto::I32(500_000_000)),
            ],
        ),
    );
    set(
        &mut m,
        "maybe",
        well_known("google.protobuf.Int64Value", &[("value", Proto::I64(-4))]),
    );
    m
}

#[test]
fn every_type_reads_as_the_text_its_column_converter_reads() {
    let schema = Schema::parse(EVERY_TYPE, &[]).expect("compiles");
    let bytes = order(&schema).encode_to_vec();
    let read = read(&schema.message(&[0]).expect("Order"), &bytes).expect("reads");
    assert_eq!(
        read,
        json!({
            "id": "o-1", "total_cents": 9_007_199_254_740_993_i64, "small": 7, "ratio": 0.25,
            "f": 1.5, "paid": true, "raw": "AQID", "status": "PAID", "tags": ["a", "b"],
            "counts": {"x": 3}, "first": {"sku": "s1", "qty": 2},
            "lines": [{"sku": "s2", "qty": 1}, {"sku": "s3", "qty": 0}],
            "at": "2024-01-01T00:00:00.123Z", "took": "PT90.500000000S", "maybe": -4,
            "zero": 0
        })
    );
}

#[test]
fn message_indexes_pick_nested_and_later_messages() {
    let schema = Schema::parse(EVERY_TYPE, &[]).expect("compiles");
    assert_eq!(schema.message(&[0]).expect("0").full_name(), "shop.Order");
    assert_eq!(
        schema.message(&[0, 0]).expect("0,0").full_name(),
        "shop.Order.Line"
    );
    assert_eq!(schema.message(&[1]).expect("1").full_name(), "shop.Other");
    assert_eq!(
        schema.message(&[2]).expect_err("none"),
        ProtobufError::NoMessage(vec![2])
    );
}

#[test]
fn an_import_from_a_reference_is_found() {
    let common = "syntax = \"proto3\"; package c; message Money { int64 cents = 1; }";
    let main = "syntax = \"proto3\"; import \"c/money.proto\"; message Pay { c.Money amount = 1; }";
    let schema = Schema::parse(main, &[("c/money.proto".into(), common.into())]).expect("compiles");
    // amount { cents: 5 }
    let read = read(&schema.message(&[0]).expect("Pay"), &[10, 2, 8, 5]).expect("reads");
    assert_eq!(read, json!({"amount": {"cents": 5}}));
    let e = Schema::parse(main, &[]).expect_err("no such import");
    assert!(e.to_string().contains("c/money.proto"), "{e}");
}

#[test]
fn broken_payloads_say_what_is_wrong() {
    let schema = Schema::parse(EVERY_TYPE, &[]).expect("compiles");
    let order = schema.message(&[0]).expect("Order");
    // Field 1 (string) claims 20 bytes and has 1.
    let e = read(&order, &[10, 20, b'x']).expect_err("truncated");
    assert!(e.to_string().contains("shop.Order"), "{e}");
}

proptest::proptest! {
    /// Any bytes at all: an error or a value, never a panic.
    #[test]
    fn never_panics_on_any_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        let schema = Schema::parse(EVERY_TYPE, &[]).expect("compiles");
        let _ = read(&schema.message(&[0]).expect("Order"), &bytes);
    }
}
