//! From one field's value to the value of one Cassandra column: converted to the column's
//! CQL type as `system_schema` reports it, so the typed table of docs/record.md and the seed's
//! all-text table both work. A field is a JSON value (`format = "json"`), a typed field of a
//! decoded user record, or what a mapping expression yields (key, header, record metadata);
//! text is bound straight from the message where it needed no unescaping. Which field fills
//! which column is [`super::mapping`]'s.

use super::mapping::Source;
use crate::record::{format_timestamp, parse_timestamp};
use scylla::frame::response::result::{ColumnType as CqlType, NativeType};
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::{CellWriter, WrittenCellProof};
use scylla::serialize::SerializationError;
use scylla::value::{CqlDate, CqlTimestamp, CqlTimeuuid};
use serde_json::Value;
use std::borrow::Cow;
use uuid::Uuid;

/// The CQL types cassflow can fill from JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Uuid,
    TimeUuid,
    Timestamp,
    Date,
    Int,
    BigInt,
    SmallInt,
    TinyInt,
    Double,
    Float,
    Boolean,
}

impl ColumnType {
    /// Parses a type as `system_schema.columns.type` spells it; None if unsupported.
    pub fn from_cql(name: &str) -> Option<ColumnType> {
        Some(match name {
            "text" | "varchar" | "ascii" => ColumnType::Text,
            "uuid" => ColumnType::Uuid,
            "timeuuid" => ColumnType::TimeUuid,
            "timestamp" => ColumnType::Timestamp,
            "date" => ColumnType::Date,
            "int" => ColumnType::Int,
            "bigint" => ColumnType::BigInt,
            "smallint" => ColumnType::SmallInt,
            "tinyint" => ColumnType::TinyInt,
            "double" => ColumnType::Double,
            "float" => ColumnType::Float,
            "boolean" => ColumnType::Boolean,
            _ => return None,
        })
    }
}

/// One column (or bind marker) to fill: its name, type, where its value comes from, and
/// whether it is part of the primary key (a key column must have a value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnPlan {
    pub column: String,
    /// The source as the user reads it (`value.customer.name`), for messages.
    pub field: String,
    pub source: Source,
    pub kind: ColumnType,
    pub key: bool,
    /// A static column (one value per partition).
    pub static_: bool,
}

impl ColumnPlan {
    /// A regular column filled from `source`.
    pub fn new(column: &str, source: Source, kind: ColumnType) -> Self {
        ColumnPlan {
            column: column.to_string(),
            field: source.to_string(),
            source,
            kind,
            key: false,
            static_: false,
        }
    }
}

/// Why a message cannot become a row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    #[error("primary key column `{column}` has no value (`{field}` missing or null)")]
    MissingKey { column: String, field: String },
    #[error("a tombstone (null value) cannot delete its row: primary key column `{column}` reads `{field}`, and a tombstone has no value (fix: fill the key column from the message key, e.g. `columns.{column} = \"key\"`, or set `deletes = false` to dead-letter tombstones)")]
    TombstoneKey { column: String, field: String },
    #[error("`{option}` from `{field}`: {detail}")]
    WriteOption {
        option: &'static str,
        field: String,
        detail: String,
    },
    #[error("field `{field}` cannot be stored in column `{column}` ({kind:?}): {detail}")]
    Incompatible {
        field: String,
        column: String,
        kind: ColumnType,
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

/// One bound value of the upsert. Text borrows from the message when it can.
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
}

impl SerializeValue for Cell<'_> {
    fn serialize<'b>(
        &self,
        typ: &CqlType,
        writer: CellWriter<'b>,
    ) -> Result<WrittenCellProof<'b>, SerializationError> {
        match self {
            Cell::Unset => Ok(writer.set_unset()),
            Cell::Null => Ok(writer.set_null()),
            Cell::Text(v) => v.as_ref().serialize(typ, writer),
            Cell::Uuid(v) => v.serialize(typ, writer),
            Cell::TimeUuid(v) => v.serialize(typ, writer),
            Cell::Timestamp(v) => v.serialize(typ, writer),
            Cell::Date(v) => v.serialize(typ, writer),
            Cell::Int(v) => v.serialize(typ, writer),
            // A counter column's increment is a bigint on the wire, typed `counter`.
            Cell::BigInt(v) if matches!(typ, CqlType::Native(NativeType::Counter)) => {
                scylla::value::Counter(*v).serialize(typ, writer)
            }
            Cell::BigInt(v) => v.serialize(typ, writer),
            Cell::SmallInt(v) => v.serialize(typ, writer),
            Cell::TinyInt(v) => v.serialize(typ, writer),
            Cell::Double(v) => v.serialize(typ, writer),
            Cell::Float(v) => v.serialize(typ, writer),
            Cell::Boolean(v) => v.serialize(typ, writer),
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
        }
    }
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

/// A number from a JSON number (read by `from_json`) or from text; `what` names the kind.
fn number<T: std::str::FromStr>(
    v: Field<'_>,
    from_json: fn(&serde_json::Number) -> Option<T>,
    what: &str,
) -> Result<T, String> {
    match v {
        Field::Json(Value::Number(n)) => from_json(n).ok_or_else(|| format!("{n} is not {what}")),
        Field::Json(other) => Err(format!("{other} is not a number")),
        Field::Int(n) => from_json(&n.into()).ok_or_else(|| format!("{n} is not {what}")),
        _ => {
            let s = text_of(v);
            s.trim().parse().map_err(|_| format!("{s:?} is not {what}"))
        }
    }
}

/// The field as a value of the column's type, or why it cannot be one.
pub fn convert<'a>(c: &ColumnPlan, v: Field<'a>) -> Result<Cell<'a>, ConvertError> {
    let bad = |detail: String| ConvertError::Incompatible {
        field: c.field.clone(),
        column: c.column.clone(),
        kind: c.kind,
        detail,
    };
    let as_text = || text_of(v);
    let as_i64 = || number(v, serde_json::Number::as_i64, "a whole number").map_err(bad);
    let as_f64 = || number(v, serde_json::Number::as_f64, "a number").map_err(bad);
    let as_uuid = || -> Result<Uuid, ConvertError> {
        match v {
            Field::Uuid(u) => Ok(u),
            _ => {
                let s = as_text();
                Uuid::parse_str(&s).map_err(|_| bad(format!("{s:?} is not a UUID")))
            }
        }
    };
    let ranged = |n: i64, min: i64, max: i64| {
        if (min..=max).contains(&n) {
            Ok(n)
        } else {
            Err(bad(format!("{n} is out of range")))
        }
    };
    Ok(match c.kind {
        ColumnType::Text => Cell::Text(as_text()),
        ColumnType::Uuid => Cell::Uuid(as_uuid()?),
        ColumnType::TimeUuid => {
            let u = as_uuid()?;
            if u.get_version_num() != 1 {
                return Err(bad(format!("{u} is not a time-based (version 1) UUID")));
            }
            Cell::TimeUuid(CqlTimeuuid::from(u))
        }
        ColumnType::Timestamp => match v {
            Field::Time(t) => Cell::Timestamp(CqlTimestamp(t.timestamp_millis())),
            Field::Json(Value::Number(_)) => Cell::Timestamp(CqlTimestamp(as_i64()?)),
            _ => {
                let s = as_text();
                let t = parse_timestamp(&s)
                    .ok_or_else(|| bad(format!("{s:?} is not an ISO-8601 timestamp")))?;
                Cell::Timestamp(CqlTimestamp(t.timestamp_millis()))
            }
        },
        ColumnType::Date => {
            let s = as_text();
            let d = chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|_| bad(format!("{s:?} is not a YYYY-MM-DD date")))?;
            let days = d
                .signed_duration_since(chrono::NaiveDate::default())
                .num_days();
            Cell::Date(CqlDate((days + (1i64 << 31)) as u32))
        }
        ColumnType::Int => Cell::Int(ranged(as_i64()?, i32::MIN.into(), i32::MAX.into())? as i32),
        ColumnType::BigInt => match v {
            // `kafka.timestamp` into a bigint: its epoch milliseconds.
            Field::Time(t) => Cell::BigInt(t.timestamp_millis()),
            _ => Cell::BigInt(as_i64()?),
        },
        ColumnType::SmallInt => {
            Cell::SmallInt(ranged(as_i64()?, i16::MIN.into(), i16::MAX.into())? as i16)
        }
        ColumnType::TinyInt => {
            Cell::TinyInt(ranged(as_i64()?, i8::MIN.into(), i8::MAX.into())? as i8)
        }
        // A value beyond the type's range (JSON `1e39` for a float, text `1e400` for a
        // double) would become infinity, which is no number the record holds.
        ColumnType::Double => match as_f64()? {
            n if n.is_finite() => Cell::Double(n),
            n => return Err(bad(format!("{n} is not a finite double"))),
        },
        ColumnType::Float => match as_f64()? {
            n if (n as f32).is_finite() => Cell::Float(n as f32),
            n => return Err(bad(format!("{n} is out of range for a float"))),
        },
        ColumnType::Boolean => match v {
            Field::Json(Value::Bool(b)) => Cell::Boolean(*b),
            Field::Text(s) if s.eq_ignore_ascii_case("true") => Cell::Boolean(true),
            Field::Text(s) if s.eq_ignore_ascii_case("false") => Cell::Boolean(false),
            Field::Json(other) => return Err(bad(format!("{other} is not a boolean"))),
            _ => return Err(bad(format!("{:?} is not a boolean", as_text()))),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(kind: ColumnType) -> ColumnPlan {
        ColumnPlan::new("c", Source::same_named("f"), kind)
    }

    fn one(kind: ColumnType, v: Value) -> Result<Cell<'static>, ConvertError> {
        // Leaked so the cells may borrow from it (a few bytes per test).
        let v: &'static Value = Box::leak(Box::new(v));
        let field = match v {
            Value::String(s) => Field::Text(s),
            v => Field::Json(v),
        };
        convert(&plan(kind), field)
    }

    #[test]
    fn typed_and_text_tables_take_the_same_record() {
        assert_eq!(
            one(ColumnType::Timestamp, json!("2007-07-09T05:51:59.390Z")),
            Ok(Cell::Timestamp(CqlTimestamp(1_183_960_319_390)))
        );
        assert_eq!(
            one(ColumnType::Text, json!("2007-07-09T05:51:59.390Z")),
            Ok(Cell::Text("2007-07-09T05:51:59.390Z".into()))
        );
        assert_eq!(
            one(ColumnType::Text, json!(63104)),
            Ok(Cell::Text("63104".into()))
        );
    }

    #[test]
    fn conversions_and_their_failures() {
        assert_eq!(one(ColumnType::Int, json!("42")), Ok(Cell::Int(42)));
        assert!(one(ColumnType::Int, json!(1u64 << 40)).is_err());
        assert!(one(ColumnType::TinyInt, json!(300)).is_err());
        assert_eq!(
            one(ColumnType::Boolean, json!("TRUE")),
            Ok(Cell::Boolean(true))
        );
        assert!(one(ColumnType::Uuid, json!("nope")).is_err());
        assert_eq!(
            one(ColumnType::Date, json!("1970-01-02")),
            Ok(Cell::Date(CqlDate((1u32 << 31) + 1)))
        );
        let err = one(ColumnType::Timestamp, json!("soon")).unwrap_err();
        assert_eq!(err.reason(), "incompatible_value");
        let v1 = "f81d4fae-7dec-11d0-a765-00a0c91e6bf6";
        assert!(matches!(
            one(ColumnType::TimeUuid, json!(v1)),
            Ok(Cell::TimeUuid(_))
        ));
        let v4 = "5f0c8c2e-8f5e-4d7b-9a53-0b8a5e1c2d3f";
        assert!(one(ColumnType::TimeUuid, json!(v4)).is_err());
    }

    #[test]
    fn numbers_beyond_float_and_double_are_refused_not_infinite() {
        let json: Value = serde_json::from_str(r#"1e39"#).expect("json");
        let err = convert(&plan(ColumnType::Float), Field::Json(&json)).unwrap_err();
        assert_eq!(err.reason(), "incompatible_value");
        let message = err.to_string();
        for part in ["`value.f`", "`c`", "Float", "out of range"] {
            assert!(message.contains(part), "{message}");
        }
        assert!(one(ColumnType::Float, json!(-3.5e38)).is_err());
        assert!(one(ColumnType::Float, json!("1e39")).is_err());
        assert_eq!(
            one(ColumnType::Float, json!(3.0e38)),
            Ok(Cell::Float(3.0e38))
        );
        assert_eq!(one(ColumnType::Float, json!(1e-50)), Ok(Cell::Float(0.0)));
        // serde_json refuses a literal beyond a double, so only text can get there.
        assert!(serde_json::from_str::<Value>(r#"{"f": 1e400}"#).is_err());
        for text in ["1e400", "-1e309", "inf", "NaN", "-infinity"] {
            let err = one(ColumnType::Double, json!(text)).unwrap_err();
            assert!(err.to_string().contains("Double"), "{err}");
            assert!(one(ColumnType::Float, json!(text)).is_err(), "{text}");
        }
        assert_eq!(
            one(ColumnType::Double, json!(1e308)),
            Ok(Cell::Double(1e308))
        );
    }

    #[test]
    fn record_metadata_converts() {
        let c = |kind| ColumnPlan::new("c", Source::Offset, kind);
        assert_eq!(
            convert(&c(ColumnType::BigInt), Field::Int(42)),
            Ok(Cell::BigInt(42))
        );
        assert_eq!(
            convert(&c(ColumnType::Int), Field::Int(42)),
            Ok(Cell::Int(42))
        );
        assert!(convert(&c(ColumnType::TinyInt), Field::Int(420)).is_err());
        assert_eq!(
            convert(&c(ColumnType::Text), Field::Int(42)),
            Ok(Cell::Text("42".into()))
        );
        let t = chrono::DateTime::from_timestamp_millis(1_700_000_000_123).expect("time");
        assert_eq!(
            convert(&c(ColumnType::BigInt), Field::Time(t)),
            Ok(Cell::BigInt(1_700_000_000_123)),
            "kafka.timestamp into a bigint is its epoch milliseconds"
        );
        assert_eq!(
            convert(&c(ColumnType::Timestamp), Field::Time(t)),
            Ok(Cell::Timestamp(CqlTimestamp(1_700_000_000_123)))
        );
    }
}
