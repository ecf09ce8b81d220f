//! Mapping expressions (`columns.<c> = "..."`): parsed once at start into a [`Source`], so
//! that a record is never matched against text. Owns the syntax and nothing else: what a
//! source yields for a record is [`super::record`]'s.
//!
//! - `value.<path>` (or a bare `<path>`): a field of the message value; a path is segments
//!   separated by `.`, each a field name optionally followed by `[N]` array indexes
//!   (`value.items[0].sku`); a name with dots, brackets or spaces is quoted: `value."a.b"`.
//! - `key` (the whole key) and `key.<path>` (a field of a JSON key).
//! - `header.<name>`: the last header of that name, as UTF-8 text.
//! - `kafka.topic`, `kafka.partition`, `kafka.offset`, `kafka.timestamp`.
//! - `now()`: a new version-1 timeuuid.

use std::fmt;

/// The valid forms, for error messages.
pub const FORMS: &str = "value.<path>, <path>, key, key.<path>, header.<name>, kafka.topic, \
                         kafka.partition, kafka.offset, kafka.timestamp, now()";

/// One step of a path: an object field or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Field(String),
    Index(usize),
}

/// Where a column's value comes from, compiled from its expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A field of the message value (never empty; starts with a [`Segment::Field`]).
    Value(Vec<Segment>),
    /// The whole key: JSON if it parses as JSON, else its UTF-8 text.
    Key,
    /// A field of a JSON key (never empty).
    KeyPath(Vec<Segment>),
    /// The last header of this name.
    Header(String),
    Topic,
    Partition,
    Offset,
    Timestamp,
    /// A new version-1 timeuuid per record.
    Now,
}

/// An expression that is none of [`FORMS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{expression}` is not a mapping expression: {problem} (valid forms: {FORMS})")]
pub struct ExprError {
    pub expression: String,
    pub problem: String,
}

impl Source {
    /// The source a column reads when `columns` does not name it: the value field of the
    /// column's name.
    pub fn same_named(column: &str) -> Source {
        Source::Value(vec![Segment::Field(column.to_string())])
    }

    /// Parses one expression.
    pub fn parse(expression: &str) -> Result<Source, ExprError> {
        let bad = |problem: &str| ExprError {
            expression: expression.to_string(),
            problem: problem.to_string(),
        };
        let e = expression.trim();
        let after = |prefix: &str| e.strip_prefix(prefix).and_then(|r| r.strip_prefix('.'));
        Ok(match e {
            "" => return Err(bad("it is empty")),
            "now()" => Source::Now,
            "key" => Source::Key,
            "kafka.topic" => Source::Topic,
            "kafka.partition" => Source::Partition,
            "kafka.offset" => Source::Offset,
            "kafka.timestamp" => Source::Timestamp,
            "value" => return Err(bad("name a field of the value, e.g. `value.id`")),
            "header" | "kafka" => return Err(bad("it names no field")),
            _ if e.starts_with("kafka.") => {
                return Err(bad(
                    "the record's fields are kafka.topic, kafka.partition, kafka.offset and kafka.timestamp",
                ))
            }
            _ => {
                if let Some(name) = after("header") {
                    let name = unquote(name).unwrap_or(name);
                    if name.is_empty() {
                        return Err(bad("the header's name is missing"));
                    }
                    Source::Header(name.to_string())
                } else if let Some(path) = after("key") {
                    Source::KeyPath(parse_path(path).map_err(|p| bad(&p))?)
                } else if let Some(path) = after("value") {
                    Source::Value(parse_path(path).map_err(|p| bad(&p))?)
                } else {
                    Source::Value(parse_path(e).map_err(|p| bad(&p))?)
                }
            }
        })
    }

    /// Whether a tombstone (a message without a value) can fill it with the value the
    /// record it deletes had: the key, headers, topic and partition. Not the value, and not
    /// what differs between a tombstone and that record (its offset, timestamp, `now()`).
    pub fn outside_value(&self) -> bool {
        matches!(
            self,
            Source::Key
                | Source::KeyPath(_)
                | Source::Header(_)
                | Source::Topic
                | Source::Partition
        )
    }

    /// The single field name of a one-segment value path (what a user record has).
    pub fn value_field(&self) -> Option<&str> {
        match self {
            Source::Value(path) => match path.as_slice() {
                [Segment::Field(name)] => Some(name),
                _ => None,
            },
            _ => None,
        }
    }
}

/// `"name"` without its quotes (`\"` and `\\` unescaped), or None if not quoted.
fn unquote(s: &str) -> Option<&str> {
    s.strip_prefix('"')?.strip_suffix('"')
}

/// `a.b[0]."c.d"`: field names (quoted when they hold `.`, `[`, `]`, `"`, parentheses or
/// spaces), each followed by any number of `[N]`.
fn parse_path(s: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        // One field name.
        let mut name = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("a quoted name is not closed".into()),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c @ ('"' | '\\')) => name.push(c),
                        _ => return Err("in a quoted name, `\\` escapes only `\"` or `\\`".into()),
                    },
                    Some(c) => name.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if matches!(c, '.' | '[') {
                    break;
                }
                if matches!(c, ']' | '"' | '(' | ')') || c.is_whitespace() {
                    return Err(format!(
                        "`{c}` cannot be part of a field name unless the name is quoted, e.g. `value.\"a b\"`"
                    ));
                }
                name.push(c);
                chars.next();
            }
        }
        if name.is_empty() {
            return Err("a field name is missing (two dots, or a dot at an end)".into());
        }
        out.push(Segment::Field(name));
        // Its indexes.
        while chars.peek() == Some(&'[') {
            chars.next();
            let mut digits = String::new();
            while let Some(c) = chars.next_if(char::is_ascii_digit) {
                digits.push(c);
            }
            if chars.next() != Some(']') || digits.is_empty() {
                return Err("an array index is written `[N]` with N a whole number".into());
            }
            let index = digits
                .parse()
                .map_err(|_| format!("array index {digits} is too large"))?;
            out.push(Segment::Index(index));
        }
        match chars.next() {
            None => return Ok(out),
            Some('.') => continue,
            Some(c) => return Err(format!("`{c}` after an array index (use `.` or `[N]`)")),
        }
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Index(i) => write!(f, "[{i}]"),
            Segment::Field(name)
                if name.is_empty()
                    || name.contains(['.', '[', ']', '"', '(', ')', '\\'])
                    || name.contains(char::is_whitespace) =>
            {
                write!(
                    f,
                    ".\"{}\"",
                    name.replace('\\', "\\\\").replace('"', "\\\"")
                )
            }
            Segment::Field(name) => write!(f, ".{name}"),
        }
    }
}

/// The expression in its canonical form (`value.a[0]`, `key`, `kafka.offset`).
impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = |f: &mut fmt::Formatter<'_>, prefix: &str, path: &[Segment]| {
            f.write_str(prefix)?;
            path.iter().try_for_each(|s| write!(f, "{s}"))
        };
        match self {
            Source::Value(p) => path(f, "value", p),
            Source::Key => f.write_str("key"),
            Source::KeyPath(p) => path(f, "key", p),
            Source::Header(name) => write!(f, "header.{name}"),
            Source::Topic => f.write_str("kafka.topic"),
            Source::Partition => f.write_str("kafka.partition"),
            Source::Offset => f.write_str("kafka.offset"),
            Source::Timestamp => f.write_str("kafka.timestamp"),
            Source::Now => f.write_str("now()"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(s: &str) -> Segment {
        Segment::Field(s.into())
    }

    #[test]
    fn every_form_parses_and_prints_back() {
        let cases = [
            ("value.id", Source::Value(vec![field("id")])),
            ("email", Source::Value(vec![field("email")])),
            (
                "customer.name",
                Source::Value(vec![field("customer"), field("name")]),
            ),
            (
                "value.items[0].sku",
                Source::Value(vec![field("items"), Segment::Index(0), field("sku")]),
            ),
            (
                "value.m[1][2]",
                Source::Value(vec![field("m"), Segment::Index(1), Segment::Index(2)]),
            ),
            (
                "value.\"a.b\".c",
                Source::Value(vec![field("a.b"), field("c")]),
            ),
            ("key", Source::Key),
            ("key.order_id", Source::KeyPath(vec![field("order_id")])),
            ("header.trace-id", Source::Header("trace-id".into())),
            (
                "header.cassflow.reason",
                Source::Header("cassflow.reason".into()),
            ),
            ("kafka.topic", Source::Topic),
            ("kafka.partition", Source::Partition),
            ("kafka.offset", Source::Offset),
            ("kafka.timestamp", Source::Timestamp),
            ("now()", Source::Now),
            (" value.id ", Source::Value(vec![field("id")])),
            ("value.key", Source::Value(vec![field("key")])),
        ];
        for (text, want) in cases {
            let got = Source::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(got, want, "{text}");
            assert_eq!(Source::parse(&got.to_string()), Ok(want), "{got}");
        }
        assert_eq!(
            Source::parse("email").map(|s| s.to_string()),
            Ok("value.email".into())
        );
    }

    #[test]
    fn anything_else_is_refused_with_the_valid_forms() {
        for text in [
            "",
            "kafka.foo",
            "uuid()",
            "value.",
            "value",
            "header.",
            "key.",
            "value.a..b",
            "value.items[x]",
            "value.items[0",
            "value.items[]",
            "value.items[0]x",
            "value.\"open",
            "a b",
            "value.a]",
        ] {
            let err = Source::parse(text).expect_err(text);
            let message = err.to_string();
            assert!(message.contains(&format!("`{text}`")), "{message}");
            assert!(message.contains("kafka.timestamp, now()"), "{message}");
        }
    }

    #[test]
    fn which_sources_a_tombstone_can_fill() {
        assert!(Source::Key.outside_value());
        assert!(Source::parse("key.id").expect("parses").outside_value());
        assert!(Source::parse("header.id").expect("parses").outside_value());
        assert!(!Source::parse("id").expect("parses").outside_value());
        for differs in ["kafka.offset", "kafka.timestamp", "now()"] {
            let source = Source::parse(differs).expect("parses");
            assert!(!source.outside_value(), "{differs}");
        }
        assert_eq!(Source::same_named("id").value_field(), Some("id"));
        assert_eq!(Source::parse("a.b").expect("parses").value_field(), None);
    }
}
