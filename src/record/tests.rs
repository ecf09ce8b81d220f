//! Decoder tests: every rejection has its precise reason; encoding round-trips.

use super::*;
use proptest::prelude::*;

fn sample() -> UserRecord {
    UserRecord {
        id: Uuid::parse_str("5f0c8c2e-8f5e-4d7b-9a53-0b8a5e1c2d3f").expect("uuid"),
        first_name: "Jennie".into(),
        last_name: "Nichols".into(),
        gender: "female".into(),
        address: "8929 Valwood Pkwy, Billings, Michigan, United States".into(),
        post_code: "63104".into(),
        email: "jennie.nichols@example.com".into(),
        username: "yellowpeacock117".into(),
        dob: parse_timestamp("1992-03-08T15:13:16.688Z").expect("ts"),
        registered_date: parse_timestamp("2007-07-09T05:51:59.390Z").expect("ts"),
        phone: "(272) 790-0888".into(),
        picture: "https://randomuser.me/api/portraits/med/women/75.jpg".into(),
    }
}

fn with(field: &str, value: Value) -> Vec<u8> {
    let mut m = sample().to_json_map();
    m.insert(field.into(), value);
    Value::Object(m).to_string().into_bytes()
}

fn without(field: &str) -> Vec<u8> {
    let mut m = sample().to_json_map();
    m.remove(field);
    Value::Object(m).to_string().into_bytes()
}

#[test]
fn round_trip() {
    let r = sample();
    let json = r.to_json();
    assert!(
        json.contains("\"dob\":\"1992-03-08T15:13:16.688Z\""),
        "{json}"
    );
    let (back, notes) = UserRecord::decode(json.as_bytes()).expect("decodes");
    assert_eq!(back, r);
    assert_eq!(notes, DecodeNotes::default());
}

#[test]
fn reasons_are_precise() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "empty_value"),
        (b"  \n".to_vec(), "empty_value"),
        (vec![b'{', 0xff, b'}'], "invalid_utf8"),
        (b"{\"id\":".to_vec(), "invalid_json"),
        (b"[1,2]".to_vec(), "not_an_object"),
        (without("email"), "missing_field"),
        (with("email", Value::Null), "missing_field"),
        (with("first_name", Value::from(5)), "wrong_type"),
        (with("post_code", Value::Array(vec![])), "wrong_type"),
        (with("id", Value::from("not-a-uuid")), "bad_uuid"),
        (with("dob", Value::from("yesterday")), "bad_timestamp"),
    ];
    for (bytes, reason) in cases {
        let err = UserRecord::decode(&bytes).expect_err("rejected");
        assert_eq!(
            err.reason(),
            reason,
            "{err} for {:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

#[test]
fn encoding_keeps_the_field_order_and_a_view_decodes_without_copies() {
    let json = sample().to_json();
    let positions: Vec<usize> = FIELDS
        .iter()
        .map(|f| json.find(&format!("\"{f}\":")).expect("field present"))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{json}");
    let (view, _) = UserView::decode(json.as_bytes()).expect("decodes");
    assert!(matches!(view.email, Cow::Borrowed(_)));
    assert_eq!(view.into_owned(), sample());
}

#[test]
fn unknown_fields_are_counted_not_rejected() {
    let (_, notes) = UserRecord::decode(&with("nat", Value::from("US"))).expect("accepted");
    assert_eq!(notes.unknown_fields, 1);
}

/// From the record_decode fuzz target: serde_json's magic raw-value key is an ordinary
/// unknown field to the decoder (its string is not parsed as JSON of its own).
#[test]
fn serde_json_magic_keys_are_ordinary_unknown_fields() {
    let text = r#"{"$serde_json::private::RawValue":"f5.1firs"}"#;
    assert_eq!(
        UserRecord::decode(text.as_bytes()),
        Err(DecodeError::MissingField { field: "id" })
    );
    let mut value = serde_json::to_value(sample().view()).expect("json");
    value["$serde_json::private::RawValue"] = Value::from("{\"id\":1}");
    let (record, notes) = UserRecord::decode(value.to_string().as_bytes()).expect("decodes");
    assert_eq!((record, notes.unknown_fields), (sample(), 1));
}

#[test]
fn numeric_post_code_is_kept_as_text() {
    let (r, notes) = UserRecord::decode(&with("post_code", Value::from(63104))).expect("ok");
    assert_eq!(r.post_code, "63104");
    assert!(notes.numeric_post_code);
}

#[test]
fn timestamps_without_zone_are_utc() {
    let t = parse_timestamp("2001-02-03T04:05:06").expect("parses");
    assert_eq!(format_timestamp(&t), "2001-02-03T04:05:06.000Z");
    let t = parse_timestamp("2001-02-03T06:05:06+02:00").expect("parses");
    assert_eq!(format_timestamp(&t), "2001-02-03T04:05:06.000Z");
}

#[test]
fn timestamp_text_is_rfc3339_with_milliseconds_for_any_year() {
    use chrono::{NaiveDate, SecondsFormat};
    let times = [(-1, 0), (999, 0), (10_000, 0), (2016, 1_250)].map(|(year, milli)| {
        NaiveDate::from_ymd_opt(year, 12, 31)
            .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 500 + milli))
            .expect("valid")
            .and_utc()
    });
    for t in &times {
        assert_eq!(
            format_timestamp(t),
            t.to_rfc3339_opts(SecondsFormat::Millis, true)
        );
    }
    assert_eq!(format_timestamp(&times[1]), "0999-12-31T23:59:59.500Z");
    assert_eq!(format_timestamp(&times[3]), "2016-12-31T23:59:60.750Z");
}

proptest! {
    /// Any bytes at all: a record or a precise error, never a panic.
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = UserRecord::decode(&bytes);
    }

    /// Any JSON object built from the record's fields with arbitrary JSON values.
    #[test]
    fn decode_of_any_object_is_record_or_reason(
        values in proptest::collection::vec(
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                ".{0,20}".prop_map(Value::from),
                Just(Value::from("5f0c8c2e-8f5e-4d7b-9a53-0b8a5e1c2d3f")),
                Just(Value::from("2007-07-09T05:51:59.390Z")),
            ],
            FIELDS.len(),
        )
    ) {
        let map: Map<String, Value> = FIELDS.iter().map(|f| f.to_string()).zip(values).collect();
        match UserRecord::decode(Value::Object(map).to_string().as_bytes()) {
            Ok((r, _)) => {
                let again = UserRecord::decode(r.to_json().as_bytes());
                prop_assert_eq!(again.map(|(x, _)| x), Ok(r));
            }
            Err(e) => prop_assert!(!e.reason().is_empty()),
        }
    }
}
