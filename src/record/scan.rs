//! One pass over a message value's JSON: each top-level field of the record lands in its
//! slot, borrowed from the message when it needs no unescaping; unknown fields are counted
//! and skipped, nested values are skipped without being built. No JSON tree is made.

use super::FIELDS;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
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
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match FIELDS.iter().position(|f| *f == key) {
                // A repeated field keeps its last value, as a JSON object map would.
                Some(i) => slots.values[i] = Some(map.next_value::<Scalar<'de>>()?),
                None => {
                    slots.unknown_fields += 1;
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(slots))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<Slots<'de>>, A::Error> {
        IgnoredAny.visit_seq(seq)?;
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
        IgnoredAny.visit_seq(seq)?;
        Ok(Scalar::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar<'de>, A::Error> {
        IgnoredAny.visit_map(map)?;
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
