//! From a decoded message to the values of one Cassandra row: each table column is filled
//! from a field and converted to the column's CQL type as `system_schema` reports it
//! ([`CqlType`]: every type Cassandra 5.0 has, collections, tuples and user-defined types
//! included), so the typed table of docs/record.md and the seed's all-text table both work.
//! A field is a JSON value (`format = "json"`), a typed field of a decoded user record, or
//! what a mapping expression yields (key, header, record metadata); which field fills which
//! column is [`super::mapping`]'s. Text is bound straight from the message where it needed no unescaping, and the
//! scalar types the users record fills never allocate.
//!
//! The conversions of one family each live in a file of their own: whole numbers and
//! decimals of any size (`numbers`), dates, times and durations (`temporal`), collections,
//! tuples, user-defined types and vectors (`nested`), and the JSON parse that keeps a
//! number's digits for decimal and varint columns (`exact_json`).

mod exact_json;
mod nested;
mod numbers;
mod temporal;

pub use exact_json::parse_json;
pub(super) use numbers::whole;
pub(super) use temporal::iso_micros;

use super::mapping::Source;
use crate::cassandra::cql_type::{CqlType, Native};
use crate::config::EpochUnit;
use crate::record::{format_timestamp, parse_timestamp};
use scylla::frame::response::result::{ColumnType as DriverType, NativeType};
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::{CellWriter, WrittenCellProof};
use scylla::serialize::SerializationError;
/// The driver's value of any type, which [`Cell::Value`] holds.
pub use scylla::value::CqlValue;
use scylla::value::{CqlDate, CqlTimestamp, CqlTimeuuid};
use serde_json::Value;
use std::borrow::Cow;
use uuid::Uuid;

/// One column (or bind marker) to fill: its name, type, where its value comes from, and
/// whether it is part of the primary key (a key column must have a value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnPlan {
    pub column: String,
    /// The source as the user reads it (`value.customer.name`), for messages.
    pub field: String,
    pub source: Source,
    pub kind: CqlType,
    pub key: bool,
    /// A static column (one value per partition).
    pub static_: bool,
    /// What a number written into a `timestamp` (here or nested) means.
    pub epoch_unit: EpochUnit,
}

impl ColumnPlan {
    /// A regular column filled from `source`.
    pub fn new(column: &str, source: Source, kind: CqlType) -> Self {
        ColumnPlan {
            column: column.to_string(),
            field: source.to_string(),
            source,
            kind,
            key: false,
            static_: false,
            epoch_unit: EpochUnit::default(),
        }
    }
}

/// Why a message cannot become a row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    #[error("primary key column `{column}` has no value (`{field}` missing or null)")]
    MissingKey { column: String, field: String },
    #[error("a tombstone (null value) cannot delete its row: primary key column `{column}` reads `{field}`, which a tombstone does not share with the row it deletes (fix: fill the key column from the message key, e.g. `columns.{column} = \"key\"`, or set `deletes = false` to dead-letter tombstones)")]
    TombstoneKey { column: String, field: String },
    #[error("`{option}` from `{field}`: {detail}")]
    WriteOption {
        option: &'static str,
        field: String,
        detail: String,
    },
    #[error("field `{field}` cannot be stored in column `{column}` ({kind}): {detail}")]
    Incompatible {
        field: String,
        column: String,
        /// The column's type as CQL spells it (`list<text>`).
        kind: String,
        detail: String,
    },
}

impl ConvertError {
    pub fn reason(&self) -> &'static str {
        match self {
            ConvertError::MissingKey { .. } | ConvertError::TombstoneKey { .. } => "missing_key",
            ConvertError::Incompatible { .. } | ConvertError::WriteOption { .. } => {
                "incompatible_value"
            }
        }
    }
}

/// One field's value as a message carries it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    Json(&'a Value),
    Text(&'a str),
    Uuid(Uuid),
    Time(chrono::DateTime<chrono::Utc>),
    /// A whole number of the record's metadata (`kafka.partition`, `kafka.offset`).
    Int(i64),
}

impl<'a> Field<'a> {
    /// A JSON value as a field; None for JSON null.
    pub fn of_json(v: &'a Value) -> Option<Field<'a>> {
        match v {
            Value::Null => None,
            Value::String(s) => Some(Field::Text(s)),
            v => Some(Field::Json(v)),
        }
    }
}

/// One bound value of the upsert. Text borrows from the message when it can; the types the
/// users record fills have a variant each, every other type is a driver value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// No value: the column is left as it is (no tombstone).
    Unset,
    /// Null: the column's value is deleted (`nulls = "null"`).
    Null,
    Text(Cow<'a, str>),
    Uuid(Uuid),
    TimeUuid(CqlTimeuuid),
    Timestamp(CqlTimestamp),
    Date(CqlDate),
    Int(i32),
    BigInt(i64),
    SmallInt(i16),
    TinyInt(i8),
    Double(f64),
    Float(f32),
    Boolean(bool),
    /// decimal, varint, time, duration, inet, blob, counter, collections, tuples,
    /// user-defined types and vectors (boxed: the common cells stay small).
    Value(Box<CqlValue>),
}

impl SerializeValue for Cell<'_> {
    fn serialize<'b>(
        &self,
        typ: &DriverType,
        writer: CellWriter<'b>,
    ) -> Result<WrittenCellProof<'b>, SerializationError> {
        match self {
            Cell::Unset => Ok(writer.set_unset()),
            Cell::Null => Ok(writer.set_null()),
            // A counter column's increment is a bigint on the wire, typed `counter`.
            Cell::BigInt(v) if matches!(typ, DriverType::Native(NativeType::Counter)) => {
                scylla::value::Counter(*v).serialize(typ, writer)
            }
            Cell::Text(v) => v.as_ref().serialize(typ, writer),
            Cell::Uuid(v) => v.serialize(typ, writer),
            Cell::TimeUuid(v) => v.serialize(typ, writer),
            Cell::Timestamp(v) => v.serialize(typ, writer),
            Cell::Date(v) => v.serialize(typ, writer),
            Cell::Int(v) => v.serialize(typ, writer),
            Cell::BigInt(v) => v.serialize(typ, writer),
            Cell::SmallInt(v) => v.serialize(typ, writer),
            Cell::TinyInt(v) => v.serialize(typ, writer),
            Cell::Double(v) => v.serialize(typ, writer),
            Cell::Float(v) => v.serialize(typ, writer),
            Cell::Boolean(v) => v.serialize(typ, writer),
            Cell::Value(v) => v.as_ref().serialize(typ, writer),
        }
    }
}

impl Cell<'_> {
    /// The same value owning its text, so that it outlives what it was read from.
    pub fn into_owned(self) -> Cell<'static> {
        match self {
            Cell::Unset => Cell::Unset,
            Cell::Null => Cell::Null,
            Cell::Text(v) => Cell::Text(Cow::Owned(v.into_owned())),
            Cell::Uuid(v) => Cell::Uuid(v),
            Cell::TimeUuid(v) => Cell::TimeUuid(v),
            Cell::Timestamp(v) => Cell::Timestamp(v),
            Cell::Date(v) => Cell::Date(v),
            Cell::Int(v) => Cell::Int(v),
            Cell::BigInt(v) => Cell::BigInt(v),
            Cell::SmallInt(v) => Cell::SmallInt(v),
            Cell::TinyInt(v) => Cell::TinyInt(v),
            Cell::Double(v) => Cell::Double(v),
            Cell::Float(v) => Cell::Float(v),
            Cell::Boolean(v) => Cell::Boolean(v),
            Cell::Value(v) => Cell::Value(v),
        }
    }

    /// The driver's value of a cell, for a value nested in a collection, tuple or UDT
    /// (`ascii` tells text from ascii, which the driver checks).
    fn into_value(self, ascii: bool) -> Option<CqlValue> {
        Some(match self {
            Cell::Unset | Cell::Null => return None,
            Cell::Text(v) if ascii => CqlValue::Ascii(v.into_owned()),
            Cell::Text(v) => CqlValue::Text(v.into_owned()),
            Cell::Uuid(v) => CqlValue::Uuid(v),
            Cell::TimeUuid(v) => CqlValue::Timeuuid(v),
            Cell::Timestamp(v) => CqlValue::Timestamp(v),
            Cell::Date(v) => CqlValue::Date(v),
            Cell::Int(v) => CqlValue::Int(v),
            Cell::BigInt(v) => CqlValue::BigInt(v),
            Cell::SmallInt(v) => CqlValue::SmallInt(v),
            Cell::TinyInt(v) => CqlValue::TinyInt(v),
            Cell::Double(v) => CqlValue::Double(v),
            Cell::Float(v) => CqlValue::Float(v),
            Cell::Boolean(v) => CqlValue::Boolean(v),
            Cell::Value(v) => *v,
        })
    }
}

/// Whether the plan has a decimal or varint anywhere, so numbers must be parsed exactly
/// ([`parse_json`]).
pub fn needs_exact_numbers(plan: &[ColumnPlan]) -> bool {
    plan.iter().any(|c| c.kind.needs_exact_numbers())
}

/// The field as text (JSON values other than strings in their JSON form).
fn text_of(v: Field<'_>) -> Cow<'_, str> {
    match v {
        Field::Text(s) => Cow::Borrowed(s),
        Field::Json(other) => Cow::Owned(other.to_string()),
        Field::Uuid(u) => Cow::Owned(u.to_string()),
        Field::Time(t) => Cow::Owned(format_timestamp(&t)),
        Field::Int(n) => Cow::Owned(n.to_string()),
    }
}

/// A JSON value for a message: its JSON text, cut after 80 characters.
fn shown(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// Converts one field into its column's type; every failure names the field, the column
/// and the type as CQL spells it.
pub fn convert<'a>(c: &ColumnPlan, v: Field<'a>) -> Result<Cell<'a>, ConvertError> {
    let converted = match c.kind.unfrozen() {
        CqlType::Native(n) => scalar(*n, v, c.epoch_unit),
        other => nested::value(other, v, c.epoch_unit).map(|v| Cell::Value(Box::new(v))),
    };
    converted.map_err(|detail| ConvertError::Incompatible {
        field: c.field.clone(),
        column: c.column.clone(),
        kind: c.kind.to_string(),
        detail,
    })
}

/// A value of a type without parameters; the detail of the failure otherwise.
fn scalar<'a>(n: Native, v: Field<'a>, epoch_unit: EpochUnit) -> Result<Cell<'a>, String> {
    let value = |v: CqlValue| Cell::Value(Box::new(v));
    Ok(match n {
        Native::Text => Cell::Text(text_of(v)),
        Native::Ascii => {
            let s = text_of(v);
            if !s.is_ascii() {
                return Err(format!(
                    "{} has characters beyond ASCII",
                    shown(&Value::String(s.into_owned()))
                ));
            }
            Cell::Text(s)
        }
        Native::Uuid => Cell::Uuid(uuid(v)?),
        Native::TimeUuid => {
            let u = uuid(v)?;
            if u.get_version_num() != 1 {
                return Err(format!("{u} is not a time-based (version 1) UUID"));
            }
            Cell::TimeUuid(CqlTimeuuid::from(u))
        }
        Native::Timestamp => Cell::Timestamp(temporal::timestamp(v, epoch_unit)?),
        Native::Date => Cell::Date(temporal::date(v)?),
        Native::Time => value(CqlValue::Time(temporal::time(v)?)),
        Native::Duration => value(CqlValue::Duration(temporal::duration(v)?)),
        Native::TinyInt => Cell::TinyInt(numbers::whole(v, i8::MIN.into(), i8::MAX.into())? as i8),
        Native::SmallInt => {
            Cell::SmallInt(numbers::whole(v, i16::MIN.into(), i16::MAX.into())? as i16)
        }
        Native::Int => Cell::Int(numbers::whole(v, i32::MIN.into(), i32::MAX.into())? as i32),
        Native::BigInt => Cell::BigInt(numbers::whole(v, i64::MIN, i64::MAX)?),
        Native::Counter => value(CqlValue::Counter(scylla::value::Counter(numbers::whole(
            v,
            i64::MIN,
            i64::MAX,
        )?))),
        Native::Varint => value(CqlValue::Varint(numbers::varint(v)?)),
        Native::Decimal => value(CqlValue::Decimal(numbers::decimal(v)?)),
        Native::Double => Cell::Double(numbers::finite(v)?),
        Native::Float => match numbers::finite(v)? {
            n if (n as f32).is_finite() => Cell::Float(n as f32),
            n => return Err(format!("{n} is out of range for a float")),
        },
        Native::Boolean => match v {
            Field::Json(Value::Bool(b)) => Cell::Boolean(*b),
            Field::Text(s) if s.trim().eq_ignore_ascii_case("true") => Cell::Boolean(true),
            Field::Text(s) if s.trim().eq_ignore_ascii_case("false") => Cell::Boolean(false),
            other => {
                return Err(format!(
                    "{} is not a boolean (true or false)",
                    shown_field(other)
                ))
            }
        },
        Native::Inet => {
            let s = text_of(v);
            let ip = s.trim().parse::<std::net::IpAddr>().map_err(|_| {
                format!(
                    "{} is not an IPv4 or IPv6 address",
                    shown(&Value::String(s.to_string()))
                )
            })?;
            value(CqlValue::Inet(ip))
        }
        Native::Blob => value(CqlValue::Blob(blob(v)?)),
    })
}

fn shown_field(v: Field<'_>) -> String {
    match v {
        Field::Json(j) => shown(j),
        other => shown(&Value::String(text_of(other).into_owned())),
    }
}

fn uuid(v: Field<'_>) -> Result<Uuid, String> {
    match v {
        Field::Uuid(u) => Ok(u),
        Field::Text(s) => Uuid::parse_str(s.trim())
            .map_err(|_| format!("{} is not a UUID", shown(&Value::String(s.to_string())))),
        other => Err(format!("{} is not a UUID", shown_field(other))),
    }
}

/// Bytes from base64 text (standard alphabet, padding optional), or `0x` and hex digits
/// as CQL writes a blob.
fn blob(v: Field<'_>) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let Field::Text(s) = v else {
        return Err(format!("{} is not base64 text", shown_field(v)));
    };
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.len() % 2 == 0 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok((0..hex.len())
                .step_by(2)
                .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
                .collect());
        }
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(s).map_err(|e| {
        format!(
            "{} is not base64 ({e}; bytes 1 2 3 are \"AQID\")",
            shown(&Value::String(s.to_string()))
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(kind: &str) -> ColumnPlan {
        let mut plan = ColumnPlan::new("c", Source::same_named("f"), kind.parse().expect("a type"));
        plan.field = "f".into();
        plan
    }

    /// The field of a message holding `v` (JSON null is no field) into a column of `kind`.
    fn field_of(v: &Value) -> Field<'_> {
        Field::of_json(v).expect("not null")
    }

    fn one(kind: &str, v: Value) -> Result<Cell<'static>, ConvertError> {
        // Leaked so the cells may borrow from it (a few bytes per test).
        let v: &'static Value = Box::leak(Box::new(v));
        convert(&plan(kind), field_of(v))
    }

    #[test]
    fn typed_and_text_tables_take_the_same_record() {
        assert_eq!(
            one("timestamp", json!("2007-07-09T05:51:59.390Z")),
            Ok(Cell::Timestamp(CqlTimestamp(1_183_960_319_390)))
        );
        assert_eq!(
            one("text", json!("2007-07-09T05:51:59.390Z")),
            Ok(Cell::Text("2007-07-09T05:51:59.390Z".into()))
        );
        assert_eq!(one("text", json!(63104)), Ok(Cell::Text("63104".into())));
    }

    #[test]
    fn conversions_and_their_failures() {
        assert_eq!(one("int", json!("42")), Ok(Cell::Int(42)));
        assert!(one("int", json!(1u64 << 40)).is_err());
        assert!(one("tinyint", json!(300)).is_err());
        assert_eq!(one("boolean", json!("TRUE")), Ok(Cell::Boolean(true)));
        assert!(one("uuid", json!("nope")).is_err());
        assert_eq!(
            one("date", json!("1970-01-02")),
            Ok(Cell::Date(CqlDate((1u32 << 31) + 1)))
        );
        let err = one("timestamp", json!("soon")).unwrap_err();
        assert_eq!(err.reason(), "incompatible_value");
        let v1 = "f81d4fae-7dec-11d0-a765-00a0c91e6bf6";
        assert!(matches!(one("timeuuid", json!(v1)), Ok(Cell::TimeUuid(_))));
        let v4 = "5f0c8c2e-8f5e-4d7b-9a53-0b8a5e1c2d3f";
        assert!(one("timeuuid", json!(v4)).is_err());
    }

    #[test]
    fn numbers_beyond_float_and_double_are_refused_not_infinite() {
        let json: Value = serde_json::from_str(r#"{"f": 1e39}"#).expect("json");
        let obj = json.as_object().expect("object");
        let err = convert(&plan("float"), field_of(&obj["f"])).unwrap_err();
        assert_eq!(err.reason(), "incompatible_value");
        let message = err.to_string();
        for part in ["`f`", "`c`", "(float)", "out of range"] {
            assert!(message.contains(part), "{message}");
        }
        assert!(one("float", json!(-3.5e38)).is_err());
        assert!(one("float", json!("1e39")).is_err());
        assert_eq!(one("float", json!(3.0e38)), Ok(Cell::Float(3.0e38)));
        assert_eq!(one("float", json!(1e-50)), Ok(Cell::Float(0.0)));
        // serde_json refuses a literal beyond a double, so only text can get there.
        assert!(serde_json::from_str::<Value>(r#"{"f": 1e400}"#).is_err());
        for text in ["1e400", "-1e309", "inf", "NaN", "-infinity"] {
            let err = one("double", json!(text)).unwrap_err();
            assert!(err.to_string().contains("(double)"), "{err}");
            assert!(one("float", json!(text)).is_err(), "{text}");
        }
        assert_eq!(one("double", json!(1e308)), Ok(Cell::Double(1e308)));
    }

    #[test]
    fn record_metadata_converts() {
        let c = |kind: &str| ColumnPlan::new("c", Source::Offset, kind.parse().expect("a type"));
        assert_eq!(convert(&c("bigint"), Field::Int(42)), Ok(Cell::BigInt(42)));
        assert_eq!(convert(&c("int"), Field::Int(42)), Ok(Cell::Int(42)));
        assert!(convert(&c("tinyint"), Field::Int(420)).is_err());
        assert_eq!(
            convert(&c("text"), Field::Int(42)),
            Ok(Cell::Text("42".into()))
        );
        let t = chrono::DateTime::from_timestamp_millis(1_700_000_000_123).expect("time");
        assert_eq!(
            convert(&c("bigint"), Field::Time(t)),
            Ok(Cell::BigInt(1_700_000_000_123)),
            "kafka.timestamp into a bigint is its epoch milliseconds"
        );
        assert_eq!(
            convert(&c("timestamp"), Field::Time(t)),
            Ok(Cell::Timestamp(CqlTimestamp(1_700_000_000_123)))
        );
    }

    #[test]
    fn every_scalar_type_and_its_refusals() {
        let value = |kind: &str, v: Value| match one(kind, v) {
            Ok(Cell::Value(v)) => Ok(*v),
            Ok(other) => panic!("{kind}: {other:?}"),
            Err(e) => Err(e.to_string()),
        };
        assert_eq!(one("tinyint", json!(-128)), Ok(Cell::TinyInt(i8::MIN)));
        assert_eq!(one("smallint", json!(32767)), Ok(Cell::SmallInt(i16::MAX)));
        assert_eq!(one("int", json!(i32::MIN)), Ok(Cell::Int(i32::MIN)));
        assert_eq!(one("bigint", json!(i64::MAX)), Ok(Cell::BigInt(i64::MAX)));
        assert!(one("bigint", json!(u64::MAX)).is_err());
        assert!(one("smallint", json!(32768)).is_err());
        assert_eq!(
            value("counter", json!(-5)),
            Ok(CqlValue::Counter(scylla::value::Counter(-5)))
        );
        assert_eq!(
            value("varint", json!("-170141183460469231731687303715884105729")).map(|v| match v {
                CqlValue::Varint(v) => v.as_signed_bytes_be_slice().len(),
                _ => 0,
            }),
            Ok(17)
        );
        assert_eq!(
            value("inet", json!("::1")),
            Ok(CqlValue::Inet("::1".parse().expect("ip")))
        );
        assert_eq!(
            value("inet", json!("10.0.0.1")),
            Ok(CqlValue::Inet("10.0.0.1".parse().expect("ip")))
        );
        assert!(value("inet", json!("10.0.0.256")).is_err());
        assert_eq!(
            value("blob", json!("AQID")),
            Ok(CqlValue::Blob(vec![1, 2, 3]))
        );
        assert_eq!(value("blob", json!("AQI")), Ok(CqlValue::Blob(vec![1, 2])));
        assert_eq!(
            value("blob", json!("0x0102ff")),
            Ok(CqlValue::Blob(vec![1, 2, 255]))
        );
        assert_eq!(value("blob", json!("")), Ok(CqlValue::Blob(vec![])));
        let e = value("blob", json!("not base64!")).unwrap_err();
        assert!(e.contains("(blob)") && e.contains("is not base64"), "{e}");
        assert_eq!(one("ascii", json!("plain")), Ok(Cell::Text("plain".into())));
        let e = one("ascii", json!("café")).unwrap_err().to_string();
        assert!(e.contains("(ascii)") && e.contains("beyond ASCII"), "{e}");
        assert_eq!(
            value("duration", json!("1h30m")),
            Ok(CqlValue::Duration(scylla::value::CqlDuration {
                months: 0,
                days: 0,
                nanoseconds: 5_400_000_000_000
            }))
        );
        assert_eq!(
            value("time", json!("12:00:00")),
            Ok(CqlValue::Time(scylla::value::CqlTime(43_200_000_000_000)))
        );
        assert!(one("boolean", json!(1)).is_err());
        assert!(one("double", json!("NaN")).is_err());
    }

    #[test]
    fn decimals_keep_every_digit_through_the_exact_parse() {
        let message = br#"{"f": 12345678901234567890.123456789}"#;
        let exact = parse_json(message, true).expect("parses");
        let obj = exact.as_object().expect("object");
        let cell = convert(&plan("decimal"), field_of(&obj["f"])).expect("converts");
        let Cell::Value(v) = &cell else {
            panic!("{cell:?}")
        };
        let CqlValue::Decimal(d) = v.as_ref() else {
            panic!("{v:?}")
        };
        let (bytes, scale) = d.as_signed_be_bytes_slice_and_exponent();
        assert_eq!(scale, 9);
        // 12345678901234567890123456789 in two's complement (positive, so its top bit is 0).
        let unscaled: u128 = 12_345_678_901_234_567_890_123_456_789;
        assert_eq!(bytes, &unscaled.to_be_bytes()[4..]);
        // Without it the double has lost the digits, and says so instead of writing them.
        let lossy = parse_json(message, false).expect("parses");
        let cell = convert(&plan("decimal"), field_of(&lossy["f"]));
        assert!(cell.is_err(), "{cell:?}");
        assert_eq!(
            one("decimal", json!(12.5)).map(|c| matches!(c, Cell::Value(_))),
            Ok(true)
        );
    }

    #[test]
    fn a_refusal_names_field_column_and_the_type_as_cql_spells_it() {
        let err = one("map<int, frozen<list<text>>>", json!({"1": "nope"})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `f` cannot be stored in column `c` (map<int, frozen<list<text>>>): \
             key \"1\": \"nope\" is neither a JSON array nor text holding one"
        );
    }

    #[test]
    fn the_cells_of_the_users_record_stay_as_small_as_before() {
        // Text (a Cow) is the largest common cell; every other type hides behind a box.
        assert!(
            std::mem::size_of::<Cell<'_>>() <= 32,
            "{}",
            std::mem::size_of::<Cell<'_>>()
        );
    }
}
