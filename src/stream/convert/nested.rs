//! Collections, tuples, user-defined types and vectors: lists, sets, tuples and vectors
//! from JSON arrays, maps and user-defined types from JSON objects (a map's keys are
//! converted from their text, so `{"1": "a"}` fills a `map<int, text>`), or from text
//! holding that JSON (`"[1, 2]"`, as the DataStax connector accepts). A user-defined type
//! refuses a field it does not have and leaves a missing one null, as DataStax does.

use super::exact_json::parse_json;
use super::{scalar, shown, Field};
use crate::cassandra::cql_type::{CqlType, Native};
use crate::config::EpochUnit;
use scylla::value::CqlValue;
use serde_json::Value;

/// A value of any type (a scalar nested in a collection included).
pub(super) fn value(t: &CqlType, v: Field<'_>, unit: EpochUnit) -> Result<CqlValue, String> {
    let t = t.unfrozen();
    if let CqlType::Native(n) = t {
        return scalar(*n, v, unit)?
            .into_value(*n == Native::Ascii)
            .ok_or_else(|| "no value".to_string());
    }
    let parsed;
    let json = match v {
        Field::Json(json) => json,
        Field::Text(s) => {
            parsed = parse_json(s.as_bytes(), t.needs_exact_numbers()).map_err(|_| {
                format!(
                    "{} is neither {} nor text holding one",
                    shown(&Value::String(s.to_string())),
                    expected(t)
                )
            })?;
            &parsed
        }
        Field::Uuid(u) => return Err(format!("{u} is not {}", expected(t))),
        Field::Time(_) => return Err(format!("a time is not {}", expected(t))),
        Field::Int(n) => return Err(format!("{n} is not {}", expected(t))),
    };
    container(t, json, unit)
}

/// What a type is written as, for messages.
fn expected(t: &CqlType) -> &'static str {
    match t {
        CqlType::Map(..) | CqlType::Udt(_) => "a JSON object",
        _ => "a JSON array",
    }
}

fn container(t: &CqlType, json: &Value, unit: EpochUnit) -> Result<CqlValue, String> {
    Ok(match (t, json) {
        (CqlType::List(e), Value::Array(items)) => CqlValue::List(elements(e, items, unit)?),
        (CqlType::Set(e), Value::Array(items)) => CqlValue::Set(elements(e, items, unit)?),
        (CqlType::Vector(e, n), Value::Array(items)) => {
            if items.len() != usize::from(*n) {
                return Err(format!(
                    "has {} elements, and a {t} takes exactly {n}",
                    items.len()
                ));
            }
            CqlValue::Vector(elements(e, items, unit)?)
        }
        (CqlType::Map(k, v), Value::Object(entries)) => {
            let mut pairs = Vec::with_capacity(entries.len());
            for (key, item) in entries {
                let key_value =
                    value(k, Field::Text(key), unit).map_err(|e| format!("key {key:?}: {e}"))?;
                let Some(item_field) = Field::of_json(item) else {
                    return Err(format!("key {key:?} has null, which a map cannot hold"));
                };
                let item_value =
                    value(v, item_field, unit).map_err(|e| format!("key {key:?}: {e}"))?;
                pairs.push((key_value, item_value));
            }
            CqlValue::Map(pairs)
        }
        (CqlType::Tuple(types), Value::Array(items)) => {
            if items.len() != types.len() {
                return Err(format!(
                    "has {} elements, and a {t} has {}",
                    items.len(),
                    types.len()
                ));
            }
            let mut values = Vec::with_capacity(items.len());
            for (i, (et, item)) in types.iter().zip(items).enumerate() {
                values.push(match Field::of_json(item) {
                    None => None,
                    Some(f) => Some(value(et, f, unit).map_err(|e| format!("element {i}: {e}"))?),
                });
            }
            CqlValue::Tuple(values)
        }
        (CqlType::Udt(udt), Value::Object(entries)) => {
            if let Some(unknown) = entries
                .keys()
                .find(|k| !udt.fields.iter().any(|(name, _)| name == *k))
            {
                let names: Vec<&str> = udt.fields.iter().map(|(n, _)| n.as_str()).collect();
                return Err(format!(
                    "{unknown:?} is not a field of type {t} (its fields: {})",
                    names.join(", ")
                ));
            }
            let mut fields = Vec::with_capacity(udt.fields.len());
            for (name, ft) in &udt.fields {
                let field = match entries.get(name).and_then(Field::of_json) {
                    None => None,
                    Some(f) => {
                        Some(value(ft, f, unit).map_err(|e| format!("field {name:?}: {e}"))?)
                    }
                };
                fields.push((name.clone(), field));
            }
            CqlValue::UserDefinedType {
                keyspace: udt.keyspace.clone(),
                name: udt.name.clone(),
                fields,
            }
        }
        (_, other) => return Err(format!("{} is not {}", shown(other), expected(t))),
    })
}

/// The elements of a list, set or vector, none of them null (Cassandra refuses those).
fn elements(t: &CqlType, items: &[Value], unit: EpochUnit) -> Result<Vec<CqlValue>, String> {
    let mut values = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(f) = Field::of_json(item) else {
            return Err(format!(
                "element {i} is null, which a collection cannot hold"
            ));
        };
        values.push(value(t, f, unit).map_err(|e| format!("element {i}: {e}"))?);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassandra::cql_type::UdtCatalog;
    use crate::stream::convert::{convert, Cell, ColumnPlan, ConvertError};
    use scylla::value::{CqlDate, CqlDecimal};
    use serde_json::json;

    fn catalog() -> UdtCatalog {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        UdtCatalog::new(
            "ks",
            [
                ("address".into(), s(&["street", "zip"]), s(&["text", "int"])),
                (
                    "person".into(),
                    s(&["name", "home", "born"]),
                    s(&["text", "frozen<address>", "date"]),
                ),
            ],
        )
    }

    fn convert_to(kind: &str, v: Value) -> Result<CqlValue, ConvertError> {
        let mut plan = ColumnPlan::new(
            "c",
            crate::stream::mapping::Source::same_named("f"),
            catalog().parse(kind).expect("a type"),
        );
        plan.field = "f".into();
        let field = Field::of_json(&v).expect("not null");
        match convert(&plan, field)? {
            Cell::Value(v) => Ok(*v),
            other => panic!("{kind}: not a driver value: {other:?}"),
        }
    }

    fn detail(kind: &str, v: Value) -> String {
        match convert_to(kind, v) {
            Err(e @ ConvertError::Incompatible { .. }) => e.to_string(),
            other => panic!("{kind}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn collections_from_arrays_objects_and_text_holding_them() {
        assert_eq!(
            convert_to("list<int>", json!([1, 2, 2])),
            Ok(CqlValue::List(vec![
                CqlValue::Int(1),
                CqlValue::Int(2),
                CqlValue::Int(2)
            ]))
        );
        assert_eq!(
            convert_to("set<text>", json!("[\"a\", \"a\"]")),
            Ok(CqlValue::Set(vec![
                CqlValue::Text("a".into()),
                CqlValue::Text("a".into())
            ]))
        );
        assert_eq!(
            convert_to("list<text>", json!([])),
            Ok(CqlValue::List(vec![]))
        );
        assert_eq!(
            convert_to("map<int, text>", json!({})),
            Ok(CqlValue::Map(vec![]))
        );
        assert_eq!(
            convert_to("map<int, text>", json!({"1": "a"})),
            Ok(CqlValue::Map(vec![(
                CqlValue::Int(1),
                CqlValue::Text("a".into())
            )]))
        );
        assert_eq!(
            convert_to("map<frozen<list<int>>, ascii>", json!({"[1]": "x"})),
            Ok(CqlValue::Map(vec![(
                CqlValue::List(vec![CqlValue::Int(1)]),
                CqlValue::Ascii("x".into())
            )]))
        );
        assert_eq!(
            convert_to("frozen<list<decimal>>", json!(["12.50"])),
            Ok(CqlValue::List(vec![CqlValue::Decimal(
                CqlDecimal::from_signed_be_bytes_and_exponent(vec![0x04, 0xE2], 2)
            )]))
        );
        let e = detail("map<int, text>", json!({"x": "a"}));
        assert!(
            e.contains("map<int, text>") && e.contains("key \"x\""),
            "{e}"
        );
        let e = detail("list<int>", json!([1, null]));
        assert!(e.contains("element 1 is null"), "{e}");
        let e = detail("list<int>", json!({"a": 1}));
        assert!(e.contains("is not a JSON array"), "{e}");
        let e = detail("list<int>", json!("[1,"));
        assert!(
            e.contains("neither a JSON array nor text holding one"),
            "{e}"
        );
        let e = detail("map<text, int>", json!({"a": null}));
        assert!(e.contains("null"), "{e}");
    }

    #[test]
    fn tuples_udts_and_vectors() {
        assert_eq!(
            convert_to("tuple<int, text, boolean>", json!([1, null, true])),
            Ok(CqlValue::Tuple(vec![
                Some(CqlValue::Int(1)),
                None,
                Some(CqlValue::Boolean(true))
            ]))
        );
        let e = detail("frozen<tuple<int, text>>", json!([1]));
        assert!(
            e.contains("(frozen<tuple<int, text>>)") && e.contains("has 1 elements"),
            "{e}"
        );
        let person = convert_to(
            "frozen<person>",
            json!({"name": "ann", "home": {"zip": "123"}, "born": "-5877641-06-23"}),
        );
        assert_eq!(
            person,
            Ok(CqlValue::UserDefinedType {
                keyspace: "ks".into(),
                name: "person".into(),
                fields: vec![
                    ("name".into(), Some(CqlValue::Text("ann".into()))),
                    (
                        "home".into(),
                        Some(CqlValue::UserDefinedType {
                            keyspace: "ks".into(),
                            name: "address".into(),
                            fields: vec![
                                ("street".into(), None),
                                ("zip".into(), Some(CqlValue::Int(123)))
                            ],
                        })
                    ),
                    ("born".into(), Some(CqlValue::Date(CqlDate(0)))),
                ],
            })
        );
        let e = detail("person", json!({"name": "x", "age": 3}));
        assert!(
            e.contains("\"age\" is not a field of type person (its fields: name, home, born)"),
            "{e}"
        );
        let e = detail("person", json!({"home": {"zip": 1.5}}));
        assert!(
            e.contains("field \"home\": field \"zip\": 1.5 is not a whole number"),
            "{e}"
        );
        assert_eq!(
            convert_to("vector<float, 2>", json!([1, 2.5])),
            Ok(CqlValue::Vector(vec![
                CqlValue::Float(1.0),
                CqlValue::Float(2.5)
            ]))
        );
        let e = detail("vector<float, 3>", json!([1, 2]));
        assert!(
            e.contains("(vector<float, 3>)") && e.contains("exactly 3"),
            "{e}"
        );
        let e = detail("vector<float, 1>", json!(["NaN"]));
        assert!(e.contains("not a finite number"), "{e}");
    }
}
