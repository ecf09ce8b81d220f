//! From a decoded message to the values of one Cassandra row: each table column is filled
//! from a field and converted to the column's CQL type as `system_schema` reports it, so the
//! typed table of docs/record.md and the seed's all-text table both work. A field is either a
//! JSON value (`format = "json"`) or a typed field of a decoded user record; text is bound
//! straight from the message where it needed no unescaping.

use crate::record::{format_timestamp, parse_timestamp, UserView};
use scylla::frame::response::result::ColumnType as CqlType;
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::{CellWriter, WrittenCellProof};
use scylla::serialize::SerializationError;
use scylla::value::{CqlDate, CqlTimestamp, CqlTimeuuid};
use serde_json::{Map, Value};
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

/// One column to fill: its name, type, the field it reads, and whether it is part of the
/// primary key (a key column must have a value).
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

/// One field's value as a message carries it.
#[derive(Debug, Clone, Copy)]
pub enum Field<'a> {
    Json(&'a Value),
    Text(&'a str),
    Uuid(Uuid),
    Time(chrono::DateTime<chrono::Utc>),
}

/// Where a row's fields come from.
pub trait Fields {
    /// The named field, or None when absent (JSON null counts as absent).
    fn field(&self, name: &str) -> Option<Field<'_>>;
}

impl Fields for Map<String, Value> {
    fn field(&self, name: &str) -> Option<Field<'_>> {
        match self.get(name)? {
            Value::Null => None,
            Value::String(s) => Some(Field::Text(s)),
            v => Some(Field::Json(v)),
        }
    }
}

impl Fields for UserView<'_> {
    fn field(&self, name: &str) -> Option<Field<'_>> {
        Some(match name {
            "id" => Field::Uuid(self.id),
            "first_name" => Field::Text(&self.first_name),
            "last_name" => Field::Text(&self.last_name),
            "gender" => Field::Text(&self.gender),
            "address" => Field::Text(&self.address),
            "post_code" => Field::Text(&self.post_code),
            "email" => Field::Text(&self.email),
            "username" => Field::Text(&self.username),
            "dob" => Field::Time(self.dob),
            "registered_date" => Field::Time(self.registered_date),
            "phone" => Field::Text(&self.phone),
            "picture" => Field::Text(&self.picture),
            _ => return None,
        })
    }
}

/// One bound value of the upsert. Text borrows from the message when it can.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// No value: the column is left as it is (no tombstone).
    Unset,
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
        }
    }
}

impl Cell<'_> {
    /// The same value owning its text, so that it outlives what it was read from.
    pub fn into_owned(self) -> Cell<'static> {
        match self {
            Cell::Unset => Cell::Unset,
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

/// The row's bound values, in plan order; absent non-key fields stay unset (no tombstone).
/// Room is left for one more value (the sink appends the write time).
pub fn row<'a, F: Fields + ?Sized>(
    plan: &[ColumnPlan],
    fields: &'a F,
) -> Result<Vec<Cell<'a>>, ConvertError> {
    let mut cells = Vec::with_capacity(plan.len() + 1);
    for c in plan {
        cells.push(match fields.field(&c.field) {
            None if c.key => {
                return Err(ConvertError::MissingKey {
                    column: c.column.clone(),
                    field: c.field.clone(),
                })
            }
            None => Cell::Unset,
            Some(v) => convert(c, v)?,
        });
    }
    Ok(cells)
}

/// The field as text (JSON values other than strings in their JSON form).
fn text_of(v: Field<'_>) -> Cow<'_, str> {
    match v {
        Field::Text(s) => Cow::Borrowed(s),
        Field::Json(other) => Cow::Owned(other.to_string()),
        Field::Uuid(u) => Cow::Owned(u.to_string()),
        Field::Time(t) => Cow::Owned(format_timestamp(&t)),
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
        _ => {
            let s = text_of(v);
            s.trim().parse().map_err(|_| format!("{s:?} is not {what}"))
        }
    }
}

fn convert<'a>(c: &ColumnPlan, v: Field<'a>) -> Result<Cell<'a>, ConvertError> {
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
        ColumnType::BigInt => Cell::BigInt(as_i64()?),
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

    fn plan(kind: ColumnType, key: bool) -> Vec<ColumnPlan> {
        vec![ColumnPlan {
            column: "c".into(),
            field: "f".into(),
            kind,
            key,
        }]
    }

    fn one(kind: ColumnType, v: Value) -> Result<Cell<'static>, ConvertError> {
        // Leaked so the cells may borrow from it (a few bytes per test).
        let obj: &'static Value = Box::leak(Box::new(json!({ "f": v })));
        let mut r = row(&plan(kind, false), obj.as_object().expect("object"))?;
        match r.pop() {
            Some(Cell::Unset) | None => panic!("expected a value"),
            Some(cell) => Ok(cell),
        }
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
        let json: Value = serde_json::from_str(r#"{"f": 1e39}"#).expect("json");
        let obj = json.as_object().expect("object");
        let err = row(&plan(ColumnType::Float, false), obj).unwrap_err();
        assert_eq!(err.reason(), "incompatible_value");
        let message = err.to_string();
        for part in ["`f`", "`c`", "Float", "out of range"] {
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
    fn a_user_record_fills_typed_and_text_columns_without_copying_text() {
        let json = crate::source::generator::Generator::new(Some("convert-test"))
            .next_user()
            .to_json();
        let (view, _) = UserView::decode(json.as_bytes()).expect("decodes");
        let plan = vec![
            ColumnPlan {
                column: "id".into(),
                field: "id".into(),
                kind: ColumnType::Uuid,
                key: true,
            },
            ColumnPlan {
                column: "dob".into(),
                field: "dob".into(),
                kind: ColumnType::Timestamp,
                key: false,
            },
            ColumnPlan {
                column: "dob_text".into(),
                field: "dob".into(),
                kind: ColumnType::Text,
                key: false,
            },
            ColumnPlan {
                column: "email".into(),
                field: "email".into(),
                kind: ColumnType::Text,
                key: false,
            },
            ColumnPlan {
                column: "nat".into(),
                field: "nat".into(),
                kind: ColumnType::Text,
                key: false,
            },
        ];
        let cells = row(&plan, &view).expect("converts");
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
        assert!(matches!(r[0], Cell::Unset));
    }
}
