//! One pass over a message value's JSON: each top-level field of the record lands in its
//! slot, borrowed from the message when it needs no unescaping; unknown fields are counted
//! and skipped, nested values are checked and skipped without being built. No JSON tree is
//! made, yet what a tree parse rejects is rejected here too.

use super::FIELDS;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

/// A top-level field's value, as far as the record cares.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scalar<'a> {
    Null,
    Bool,
    Number(serde_json::Number),
    Str(Cow<'a, str>),
    Array,
    Object,
}

impl Scalar<'_> {
    /// What the value is, for "found ..." in errors.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool => "a boolean",
            Scalar::Number(_) => "a number",
            Scalar::Str(_) => "a string",
            Scalar::Array => "an array",
            Scalar::Object => "an object",
        }
    }
}

/// The record's fields by their index in [`FIELDS`], and how many other fields there were.
#[derive(Debug, Default)]
pub(super) struct Slots<'a> {
    pub(super) values: [Option<Scalar<'a>>; FIELDS.len()],
    pub(super) unknown_fields: usize,
}

impl<'a> Slots<'a> {
    /// Takes the named record field's value out (None when absent or not a record field).
    pub(super) fn take(&mut self, field: &str) -> Option<Scalar<'a>> {
        let i = FIELDS.iter().position(|f| *f == field)?;
        self.values[i].take()
    }
}

/// Scans `text` (one JSON value and nothing after it): the object's slots, or None when
/// the value is not an object.
pub(super) fn scan(text: &str) -> Result<Option<Slots<'_>>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let top = (&mut de).deserialize_any(TopVisitor)?;
    de.end()?;
    Ok(top)
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Option<Slots<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Slots<'de>>, A::Error> {
        let mut slots = Slots::default();
        // A set: a message may hold many thousands of unknown keys.
        let mut unknown: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match FIELDS.iter().position(|f| *f == key) {
                // A repeated field keeps its last value, as a JSON object map would.
                Some(i) => slots.values[i] = Some(map.next_value::<Scalar<'de>>()?),
                None => {
                    map.next_value::<Checked>()?;
                    unknown.insert(key);
                }
            }
        }
        slots.unknown_fields = unknown.len();
        Ok(Some(slots))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<Slots<'de>>, A::Error> {
        CheckedVisitor.visit_seq(seq)?;
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<Slots<'de>>, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<Slots<'de>>, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<Slots<'de>>, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<Slots<'de>>, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Option<Slots<'de>>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Slots<'de>>, E> {
        Ok(None)
    }
}

/// A value the record does not keep, still checked as strictly as a parse into a JSON tree
/// would (lone surrogates, numbers out of range, nesting deeper than serde_json's limit are
/// errors), without building anything.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
}

/// An object key, borrowed unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Bool)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Number(n.into()))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Scalar<'de>, E> {
        // JSON has no NaN or infinity, so this is always a number.
        Ok(serde_json::Number::from_f64(n).map_or(Scalar::Null, Scalar::Number))
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar<'de>, A::Error> {
        CheckedVisitor.visit_seq(seq)?;
        Ok(Scalar::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar<'de>, A::Error> {
        CheckedVisitor.visit_map(map)?;
        Ok(Scalar::Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(text: &str) -> Slots<'_> {
        match scan(text).expect("valid JSON") {
            Some(s) => s,
            None => panic!("not an object: {text}"),
        }
    }

    #[test]
    fn plain_strings_are_borrowed_and_escaped_ones_owned() {
        let mut s = slots(r#"{"email":"a@b.c","phone":"\u0031 2"}"#);
        assert!(matches!(
            s.take("email"),
            Some(Scalar::Str(Cow::Borrowed("a@b.c")))
        ));
        assert!(matches!(s.take("phone"), Some(Scalar::Str(Cow::Owned(p))) if p == "1 2"));
    }

    #[test]
    fn nested_values_and_unknown_fields_are_skipped() {
        let mut s = slots(r#"{"nat":{"deep":[1,{"x":null}]},"id":[1],"dob":{},"gender":true}"#);
        assert_eq!(s.unknown_fields, 1);
        assert_eq!(s.take("id"), Some(Scalar::Array));
        assert_eq!(s.take("dob"), Some(Scalar::Object));
        assert_eq!(s.take("gender"), Some(Scalar::Bool));
        assert_eq!(s.take("email"), None);
    }

    #[test]
    fn non_objects_and_trailing_text() {
        for text in ["[1,2]", "3", "\"x\"", "null", "true", "-1.5"] {
            assert!(matches!(scan(text), Ok(None)), "{text}");
        }
        assert!(scan("{} x").is_err());
        assert!(scan("{\"id\":").is_err());
    }

    #[test]
    fn skipped_values_are_still_validated() {
        let deep = format!("{{\"nat\":{}{}}}", "[".repeat(200), "]".repeat(200));
        for text in [
            r#"{"nat":"\ud800"}"#,
            r#"{"nat":[1e400]}"#,
            r#"{"id":{"x":"\udfff"}}"#,
            deep.as_str(),
        ] {
            assert!(scan(text).is_err(), "{text}");
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_err(),
                "{text}"
            );
        }
    }

    #[test]
    fn repeated_keys_keep_the_last_value_and_count_once() {
        let mut s = slots(r#"{"email":"a","\u0065mail":"b","nat":1,"nat":2,"x":3}"#);
        assert_eq!(s.take("email"), Some(Scalar::Str(Cow::Borrowed("b"))));
        assert_eq!(s.unknown_fields, 2);
    }

    #[test]
    fn numbers_keep_their_text() {
        let mut s = slots(r#"{"post_code":63104,"phone":1.5,"email":18446744073709551615}"#);
        let mut text = |f| match s.take(f) {
            Some(Scalar::Number(n)) => n.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(text("post_code"), "63104");
        assert_eq!(text("phone"), "1.5");
        assert_eq!(text("email"), "18446744073709551615");
    }
}
