//! The JSON parse of a message for a table with a decimal or varint column: serde_json
//! (built without `arbitrary_precision`) reads `12345678901234567890.123456789` as a
//! double and loses digits, so here every number that is not an exact 64-bit integer is
//! kept as the text it was written with (a JSON string of its digits), which every numeric
//! conversion reads as the same number. Tables without such columns use serde_json's own
//! parse, unchanged.
//!
//! Each container is parsed into raw values, and each raw value again, so a byte is read
//! once per level it is nested in (records are shallow; a limit of 128 levels, serde_json's
//! own, bounds it).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Parses a message: exactly (numbers kept as written) when `exact`, else as serde_json does.
pub fn parse_json(bytes: &[u8], exact: bool) -> serde_json::Result<Value> {
    if !exact {
        return crate::json::from_slice(bytes);
    }
    let raw: &RawValue = serde_json::from_slice(bytes)?;
    exact_value(raw, 0)
}

/// As deep as serde_json's own parse goes (skipping a raw value has no limit, and this
/// recursion must not overflow the stack on `[[[[...`).
const MAX_DEPTH: usize = 128;

fn exact_value(raw: &RawValue, depth: usize) -> serde_json::Result<Value> {
    let text = raw.get();
    if depth >= MAX_DEPTH && matches!(text.as_bytes().first(), Some(b'{' | b'[')) {
        return Err(serde::de::Error::custom("recursion limit exceeded"));
    }
    Ok(match text.as_bytes().first() {
        Some(b'{') => {
            let entries: BTreeMap<String, &RawValue> = serde_json::from_str(text)?;
            let mut map = Map::new();
            for (k, v) in entries {
                map.insert(k, exact_value(v, depth + 1)?);
            }
            Value::Object(map)
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text)?;
            Value::Array(
                items
                    .into_iter()
                    .map(|v| exact_value(v, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        Some(b'-' | b'0'..=b'9') => {
            // The raw value is a valid JSON number; one beyond a double (`1e400`) is text
            // too, which a decimal holds and a double refuses.
            match serde_json::Number::deserialize(&mut serde_json::Deserializer::from_str(text)) {
                Ok(n) if n.is_i64() || n.is_u64() => Value::Number(n),
                _ => Value::String(text.to_string()),
            }
        }
        _ => serde_json::from_str(text)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_keep_their_digits_and_the_rest_is_unchanged() {
        let text = r#" {"d": 12345678901234567890.123456789, "n": [1, -2, 1.50, 1e400, {"x": 18446744073709551616}],
            "s": "a\"\u00e9", "b": true, "z": null, "i": 9223372036854775807} "#;
        let v = parse_json(text.as_bytes(), true).expect("parses");
        assert_eq!(
            v,
            json!({"d": "12345678901234567890.123456789",
                   "n": [1, -2, "1.50", "1e400", {"x": "18446744073709551616"}],
                   "s": "a\"é", "b": true, "z": null, "i": 9223372036854775807i64})
        );
        assert_eq!(
            parse_json(b"{\"a\": 1.5}", false).expect("parses"),
            json!({"a": 1.5})
        );
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_json(deep.as_bytes(), true).is_err());
        assert!(parse_json(deep.as_bytes(), false).is_err());
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse_json(ok.as_bytes(), true).is_ok());
        for bad in ["{", "{\"a\": 01}", "[1,]", "{} x", "nan"] {
            assert!(parse_json(bad.as_bytes(), true).is_err(), "{bad}");
        }
    }
}
