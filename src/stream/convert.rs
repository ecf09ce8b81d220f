//! From a decoded message to the values of one Cassandra row: each table column is filled
//! from a JSON field and converted to the column's CQL type as `system_schema` reports it,
//! so the typed table of design.md and the seed's all-text table both work.

use crate::record::parse_timestamp;
use scylla::value::{CqlDate, CqlTimestamp, CqlValue, MaybeUnset};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The CQL types cassflow can fill from JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Uuid,
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
            "uuid" | "timeuuid" => ColumnType::Uuid,
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

/// One column to fill: its name, type, the JSON field it reads, and whether it is part of
/// the primary key (a key column must have a value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnPlan {
    pub column: String,
    pub field: String,
    pub kind: ColumnType,
    pub key: bool,
}

/// Why a message cannot become a row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    #[error("primary key column `{column}` has no value (field `{field}` missing or null)")]
    MissingKey { column: String, field: String },
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
            ConvertError::MissingKey { .. } => "missing_key",
            ConvertError::Incompatible { .. } => "incompatible_value",
        }
    }
}

/// The row's bound values, in plan order; absent non-key fields stay unset (no tombstone).
pub fn row(
    plan: &[ColumnPlan],
    object: &Map<String, Value>,
) -> Result<Vec<MaybeUnset<CqlValue>>, ConvertError> {
    plan.iter()
        .map(|c| match object.get(&c.field) {
            None | Some(Value::Null) if c.key => Err(ConvertError::MissingKey {
                column: c.column.clone(),
                field: c.field.clone(),
            }),
            None | Some(Value::Null) => Ok(MaybeUnset::Unset),
            Some(v) => convert(c, v).map(MaybeUnset::Set),
        })
        .collect()
}

fn convert(c: &ColumnPlan, v: &Value) -> Result<CqlValue, ConvertError> {
    let bad = |detail: String| ConvertError::Incompatible {
        field: c.field.clone(),
        column: c.column.clone(),
        kind: c.kind,
        detail,
    };
    let as_text = || match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let as_i64 = || -> Result<i64, ConvertError> {
        match v {
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| bad(format!("{n} is not a whole number"))),
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| bad(format!("{s:?} is not a whole number"))),
            other => Err(bad(format!("{other} is not a number"))),
        }
    };
    let as_f64 = || -> Result<f64, ConvertError> {
        match v {
            Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| bad(format!("{n} is not a number"))),
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| bad(format!("{s:?} is not a number"))),
            other => Err(bad(format!("{other} is not a number"))),
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
        ColumnType::Text => CqlValue::Text(as_text()),
        ColumnType::Uuid => {
            let s = as_text();
            CqlValue::Uuid(Uuid::parse_str(&s).map_err(|_| bad(format!("{s:?} is not a UUID")))?)
        }
        ColumnType::Timestamp => match v {
            Value::Number(_) => CqlValue::Timestamp(CqlTimestamp(as_i64()?)),
            _ => {
                let s = as_text();
                let t = parse_timestamp(&s)
                    .ok_or_else(|| bad(format!("{s:?} is not an ISO-8601 timestamp")))?;
                CqlValue::Timestamp(CqlTimestamp(t.timestamp_millis()))
            }
        },
        ColumnType::Date => {
            let s = as_text();
            let d = chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|_| bad(format!("{s:?} is not a YYYY-MM-DD date")))?;
            let days = d
                .signed_duration_since(chrono::NaiveDate::default())
                .num_days();
            CqlValue::Date(CqlDate((days + (1i64 << 31)) as u32))
        }
        ColumnType::Int => {
            CqlValue::Int(ranged(as_i64()?, i32::MIN.into(), i32::MAX.into())? as i32)
        }
        ColumnType::BigInt => CqlValue::BigInt(as_i64()?),
        ColumnType::SmallInt => {
            CqlValue::SmallInt(ranged(as_i64()?, i16::MIN.into(), i16::MAX.into())? as i16)
        }
        ColumnType::TinyInt => {
            CqlValue::TinyInt(ranged(as_i64()?, i8::MIN.into(), i8::MAX.into())? as i8)
        }
        ColumnType::Double => CqlValue::Double(as_f64()?),
        ColumnType::Float => CqlValue::Float(as_f64()? as f32),
        ColumnType::Boolean => match v {
            Value::Bool(b) => CqlValue::Boolean(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => CqlValue::Boolean(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => CqlValue::Boolean(false),
            other => return Err(bad(format!("{other} is not a boolean"))),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(kind: ColumnType, key: bool) -> Vec<ColumnPlan> {
        vec![ColumnPlan {
            column: "c".into(),
            field: "f".into(),
            kind,
            key,
        }]
    }

    fn one(kind: ColumnType, v: Value) -> Result<CqlValue, ConvertError> {
        let obj = json!({ "f": v });
        let mut r = row(&plan(kind, false), obj.as_object().expect("object"))?;
        match r.pop() {
            Some(MaybeUnset::Set(v)) => Ok(v),
            other => panic!("expected a value, got {other:?}"),
        }
    }

    #[test]
    fn typed_and_text_tables_take_the_same_record() {
        assert_eq!(
            one(ColumnType::Timestamp, json!("2007-07-09T05:51:59.390Z")),
            Ok(CqlValue::Timestamp(CqlTimestamp(1_183_960_319_390)))
        );
        assert_eq!(
            one(ColumnType::Text, json!("2007-07-09T05:51:59.390Z")),
            Ok(CqlValue::Text("2007-07-09T05:51:59.390Z".into()))
        );
        assert_eq!(
            one(ColumnType::Text, json!(63104)),
            Ok(CqlValue::Text("63104".into()))
        );
    }

    #[test]
    fn conversions_and_their_failures() {
        assert_eq!(one(ColumnType::Int, json!("42")), Ok(CqlValue::Int(42)));
        assert!(one(ColumnType::Int, json!(1u64 << 40)).is_err());
        assert!(one(ColumnType::TinyInt, json!(300)).is_err());
        assert_eq!(
            one(ColumnType::Boolean, json!("TRUE")),
            Ok(CqlValue::Boolean(true))
        );
        assert!(one(ColumnType::Uuid, json!("nope")).is_err());
        assert_eq!(
            one(ColumnType::Date, json!("1970-01-02")),
            Ok(CqlValue::Date(CqlDate((1u32 << 31) + 1)))
        );
        let err = one(ColumnType::Timestamp, json!("soon")).unwrap_err();
        assert_eq!(err.reason(), "incompatible_value");
    }

    #[test]
    fn missing_key_is_an_error_and_missing_other_is_unset() {
        let obj = json!({});
        let err = row(
            &plan(ColumnType::Uuid, true),
            obj.as_object().expect("object"),
        )
        .unwrap_err();
        assert_eq!(err.reason(), "missing_key");
        let r = row(
            &plan(ColumnType::Text, false),
            obj.as_object().expect("object"),
        )
        .expect("unset is fine");
        assert!(matches!(r[0], MaybeUnset::Unset));
    }
}
