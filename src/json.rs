//! Reading JSON from outside (message values and keys) into a `serde_json::Value` exactly
//! as written.
//!
//! `serde_json::Value`'s own `Deserialize` treats an object whose first key is
//! `$serde_json::private::RawValue` as a raw value when serde_json's `raw_value` feature is
//! on (axum turns it on for the whole build): `{"$serde_json::private::RawValue": "[1]"}`
//! would be read as the array `[1]`, and a nested one would silently replace its field with
//! whatever its string holds. Messages are hostile input, so they are read by a plain
//! visitor here that keeps every key a key.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Parses `bytes` as one JSON document (trailing whitespace allowed, as
/// `serde_json::from_slice`), keeping every object key as written.
pub fn from_slice(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = PlainValue.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Builds a `Value` without serde_json's special keys.
#[derive(Clone, Copy)]
struct PlainValue;

impl<'de> DeserializeSeed<'de> for PlainValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PlainValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // serde_json refuses non-finite literals, so this is always a number.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(PlainValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(PlainValue)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const TOKEN: &str = "$serde_json::private::RawValue";

    #[test]
    fn serde_jsons_raw_value_key_is_just_a_key() {
        let text = format!(r#"{{"{TOKEN}": "[1, 2]"}}"#);
        assert_eq!(
            from_slice(text.as_bytes()).expect("parses"),
            json!({ TOKEN: "[1, 2]" })
        );
        let nested = format!(r#"{{"id": 1, "customer": {{"{TOKEN}": "\"x\""}}}}"#);
        assert_eq!(
            from_slice(nested.as_bytes()).expect("parses"),
            json!({"id": 1, "customer": { TOKEN: "\"x\"" }})
        );
    }

    #[test]
    fn errors_and_trailing_input_as_serde_json() {
        assert!(from_slice(b"{\"a\": 1} x").is_err());
        assert!(from_slice(b"{\"a\": }").is_err());
        assert!(from_slice(b"").is_err());
        assert_eq!(from_slice(b" [1] \n").expect("parses"), json!([1]));
        assert_eq!(
            from_slice(br#"{"a":1,"a":2}"#).expect("parses"),
            json!({"a": 2})
        );
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            (-1e300f64..1e300).prop_map(|n| json!(n)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,8}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any document serde_json writes reads back as serde_json itself reads it (floats
        /// included: both parse them alike, though not always to the bit they were written).
        #[test]
        fn reads_what_serde_json_reads(value in json_value()) {
            let text = serde_json::to_vec(&value).expect("serializes");
            let theirs: Value = serde_json::from_slice(&text).expect("parses");
            prop_assert_eq!(from_slice(&text).expect("parses"), theirs);
        }
    }
}
