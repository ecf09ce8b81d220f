//! The key of a message `cassflow produce --pipeline` writes: the pipeline's `key` setting,
//! a value path (`value.order_id`, `value.customer.id`, `value.items[0].sku`,
//! `value."a.b"`; the `value.` prefix may be left out), parsed and walked as the stream's
//! mapping expressions are ([`crate::stream::mapping`]). Only value paths: what a produced
//! line has is its value.

use crate::stream::convert::Field;
use crate::stream::mapping::{record::walk, Lookup, Segment, Source};
use serde_json::Value;

/// A parsed `key` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath {
    text: String,
    path: Vec<Segment>,
}

/// The forms a `key` setting may take, for messages.
pub const KEY_FORMS: &str =
    "a value path such as `value.order_id`, `value.customer.id` or `value.items[0].sku`";

impl KeyPath {
    /// Parses `value.<path>` or a bare `<path>`; anything else is refused with the reason.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        match Source::parse(trimmed) {
            Ok(Source::Value(path)) => Ok(KeyPath {
                text: trimmed.to_string(),
                path,
            }),
            Ok(_) => Err(format!(
                "`{trimmed}` is not known when producing: a produced line has only a value"
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The key bytes for one value: a string as its text, a number or boolean as JSON, an
    /// object or array as compact JSON; absent or null is an error naming the path.
    pub fn key_of(&self, value: &Value) -> Result<Vec<u8>, String> {
        match walk(value, &self.path) {
            Lookup::Found(Field::Text(s)) => Ok(s.as_bytes().to_vec()),
            Lookup::Found(Field::Json(other)) => Ok(other.to_string().into_bytes()),
            Lookup::Null => Err(format!("the key `{}` is null in the line", self.text)),
            _ => Err(format!("the key `{}` is missing from the line", self.text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_value_paths() {
        let line = json!({"order_id": "o-1", "n": 7, "c": {"id": true}, "items": [{"sku": "s9"}], "a.b": [1]});
        let key =
            |e: &str| String::from_utf8(KeyPath::parse(e).unwrap().key_of(&line).unwrap()).unwrap();
        assert_eq!(key("value.order_id"), "o-1");
        assert_eq!(key("order_id"), "o-1");
        assert_eq!(key("value.n"), "7");
        assert_eq!(key("c.id"), "true");
        assert_eq!(key("value.items[0].sku"), "s9");
        assert_eq!(key("value.items[0]"), "{\"sku\":\"s9\"}");
        assert_eq!(key("value.\"a.b\"[0]"), "1");
        let missing = KeyPath::parse("value.items[3].sku")
            .unwrap()
            .key_of(&line)
            .unwrap_err();
        assert!(missing.contains("value.items[3].sku"), "{missing}");
        assert!(KeyPath::parse("value.nope")
            .unwrap()
            .key_of(&json!({"nope": null}))
            .is_err());
    }

    #[test]
    fn refuses_what_a_line_does_not_have() {
        for bad in [
            "key",
            "key.id",
            "header.h",
            "kafka.offset",
            "now()",
            "value.",
            "value.a..b",
            "a[x]",
            "a[1",
            "value.\"a",
        ] {
            assert!(KeyPath::parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
