//! The key of a message `cassflow produce --pipeline` writes: the pipeline's `key` setting,
//! a value path (`value.order_id`, `value.customer.id`, `value.items[0].sku`,
//! `value."a.b"`; the `value.` prefix may be left out) evaluated on the line's JSON object.
//! Only value paths: what a produced line has is its value. A small evaluator of its own,
//! kept private to producing, so the stream's mapping expressions can replace it.

use serde_json::Value;

/// A parsed `key` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Field(String),
    Index(usize),
}

/// The forms a `key` setting may take, for messages.
pub const KEY_FORMS: &str =
    "a value path such as `value.order_id`, `value.customer.id` or `value.items[0].sku`";

impl KeyPath {
    /// Parses `value.<path>` or a bare `<path>`; anything else is refused with the reason.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let path = match trimmed.strip_prefix("value.") {
            Some(rest) => rest,
            None if trimmed == "value" || trimmed == "key" || trimmed.starts_with("key.") => {
                return Err(format!("`{trimmed}` is not a value path"))
            }
            None if trimmed.starts_with("header.")
                || trimmed.starts_with("kafka.")
                || trimmed.contains('(') =>
            {
                return Err(format!(
                    "`{trimmed}` is not known when producing: a produced line has only a value"
                ))
            }
            None => trimmed,
        };
        let segments = parse_path(path).map_err(|e| format!("`{trimmed}`: {e}"))?;
        Ok(KeyPath {
            text: trimmed.to_string(),
            segments,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The key bytes for one value: a string as its text, a number or boolean as JSON, an
    /// object or array as compact JSON; absent or null is an error naming the path.
    pub fn key_of(&self, value: &Value) -> Result<Vec<u8>, String> {
        let mut at = value;
        for segment in &self.segments {
            let next = match segment {
                Segment::Field(name) => at.as_object().and_then(|o| o.get(name)),
                Segment::Index(i) => at.as_array().and_then(|a| a.get(*i)),
            };
            at = next.ok_or_else(|| format!("the key `{}` is missing from the line", self.text))?;
        }
        match at {
            Value::Null => Err(format!("the key `{}` is null in the line", self.text)),
            Value::String(s) => Ok(s.as_bytes().to_vec()),
            other => Ok(other.to_string().into_bytes()),
        }
    }
}

fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut rest = path;
    loop {
        let name_end;
        if let Some(quoted) = rest.strip_prefix('"') {
            let close = quoted
                .find('"')
                .ok_or_else(|| "a quoted field name is not closed".to_string())?;
            segments.push(Segment::Field(quoted[..close].to_string()));
            name_end = 1 + close + 1;
        } else {
            name_end = rest.find(['.', '[']).unwrap_or(rest.len());
            let name = &rest[..name_end];
            if name.is_empty() {
                return Err("a field name is empty".into());
            }
            segments.push(Segment::Field(name.to_string()));
        }
        rest = &rest[name_end..];
        while let Some(index) = rest.strip_prefix('[') {
            let close = index
                .find(']')
                .ok_or_else(|| "an array index is not closed with `]`".to_string())?;
            let n = index[..close]
                .parse::<usize>()
                .map_err(|_| format!("`[{}]` is not an array index", &index[..close]))?;
            segments.push(Segment::Index(n));
            rest = &index[close + 1..];
        }
        match rest.strip_prefix('.') {
            Some(more) => rest = more,
            None if rest.is_empty() => return Ok(segments),
            None => return Err(format!("unexpected `{rest}`")),
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
