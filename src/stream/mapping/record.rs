//! What a compiled [`Source`] yields for one Kafka record: the record's value (a JSON tree,
//! a decoded user record, or nothing for a tombstone), its key, headers and metadata.
//! Values are borrowed from the message and its decoded value; nothing is converted into a
//! CQL type here (that is [`crate::stream::convert`]'s).

use super::expr::{Segment, Source};
use crate::record::UserView;
use crate::stream::convert::Field;
use rdkafka::message::{Headers, OwnedHeaders};
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// What a source found in a record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup<'a> {
    /// Nothing there: the column is left unset (and counted as absent).
    Absent,
    /// An explicit null (JSON `null`, a header without a value).
    Null,
    Found(Field<'a>),
}

/// Where the value's fields come from.
pub trait Fields {
    /// The value's top-level field `name`.
    fn field(&self, name: &str) -> Lookup<'_>;

    /// The field at `path` (starting with a field name); a flat value has only one level.
    fn path(&self, path: &[Segment]) -> Lookup<'_> {
        match path {
            [Segment::Field(name)] => self.field(name),
            _ => Lookup::Absent,
        }
    }
}

/// A JSON value as a field: strings as text (bound without copying).
fn json(v: &Value) -> Lookup<'_> {
    match v {
        Value::Null => Lookup::Null,
        Value::String(s) => Lookup::Found(Field::Text(s)),
        v => Lookup::Found(Field::Json(v)),
    }
}

/// Walks `path` from `start` through objects and arrays.
pub fn walk<'a>(start: &'a Value, path: &[Segment]) -> Lookup<'a> {
    let mut at = start;
    for segment in path {
        let next = match (segment, at) {
            (Segment::Field(name), Value::Object(map)) => map.get(name),
            (Segment::Index(i), Value::Array(items)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => return Lookup::Absent,
        }
    }
    json(at)
}

impl Fields for Map<String, Value> {
    fn field(&self, name: &str) -> Lookup<'_> {
        self.get(name).map_or(Lookup::Absent, json)
    }

    fn path(&self, path: &[Segment]) -> Lookup<'_> {
        match path.split_first() {
            Some((Segment::Field(name), rest)) => match self.get(name) {
                Some(v) => walk(v, rest),
                None => Lookup::Absent,
            },
            _ => Lookup::Absent,
        }
    }
}

impl Fields for UserView<'_> {
    fn field(&self, name: &str) -> Lookup<'_> {
        Lookup::Found(match name {
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
            _ => return Lookup::Absent,
        })
    }
}

/// The value of a tombstone: it has none.
pub struct NoValue;

impl Fields for NoValue {
    fn field(&self, _: &str) -> Lookup<'_> {
        Lookup::Absent
    }
}

/// A Kafka record around its value: key, headers and metadata.
pub struct RecordContext<'a> {
    pub key: Option<&'a [u8]>,
    pub headers: Option<&'a OwnedHeaders>,
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    /// The record's timestamp in milliseconds since the epoch, if it has one.
    pub timestamp_millis: Option<i64>,
    /// The key parsed as JSON, once, when a source first needs it (None: not JSON).
    parsed_key: OnceLock<Option<Value>>,
}

impl<'a> RecordContext<'a> {
    pub fn new(
        key: Option<&'a [u8]>,
        headers: Option<&'a OwnedHeaders>,
        topic: &'a str,
        partition: i32,
        offset: i64,
        timestamp_millis: Option<i64>,
    ) -> Self {
        RecordContext {
            key,
            headers,
            topic,
            partition,
            offset,
            timestamp_millis,
            parsed_key: OnceLock::new(),
        }
    }

    /// The context of a Kafka message.
    pub fn of(message: &'a rdkafka::message::OwnedMessage) -> Self {
        use rdkafka::message::Message;
        Self::new(
            message.key(),
            message.headers(),
            message.topic(),
            message.partition(),
            message.offset(),
            message.timestamp().to_millis(),
        )
    }

    /// Gives the key as already decoded (a key in the wire format, read with its schema),
    /// so `key` and `key.<path>` read this tree instead of parsing the key as JSON.
    pub fn set_key_json(&mut self, key: Value) {
        self.parsed_key = OnceLock::from(Some(key));
    }

    fn key_json(&self) -> Option<&Value> {
        self.parsed_key
            .get_or_init(|| self.key.and_then(|k| crate::json::from_slice(k).ok()))
            .as_ref()
    }

    /// What `source` yields for this record whose value is `value`; an error says why a
    /// present value cannot be read (a key or header that is not UTF-8 text).
    pub fn lookup<'v, F: Fields + ?Sized>(
        &'v self,
        source: &Source,
        value: &'v F,
    ) -> Result<Lookup<'v>, String> {
        Ok(match source {
            Source::Value(path) => value.path(path),
            Source::Key => match self.key {
                None => Lookup::Absent,
                Some(bytes) => match self.key_json() {
                    // A number as its own text: JSON would read `1.10` as 1.1 and a long
                    // one as a double, changing the key.
                    Some(Value::Number(_)) | Some(Value::Null) => {
                        match std::str::from_utf8(bytes) {
                            Ok(text) => Lookup::Found(Field::Text(text.trim())),
                            Err(_) => return Err("the key is not UTF-8 text".into()),
                        }
                    }
                    Some(v) => json(v),
                    None => match std::str::from_utf8(bytes) {
                        Ok(text) => Lookup::Found(Field::Text(text)),
                        Err(_) => return Err("the key is neither JSON nor UTF-8 text".into()),
                    },
                },
            },
            Source::KeyPath(path) => match self.key_json() {
                Some(v) => walk(v, path),
                None => Lookup::Absent,
            },
            Source::Header(name) => {
                let last = self
                    .headers
                    .and_then(|h| h.iter().filter(|h| h.key == name.as_str()).last());
                match last {
                    None => Lookup::Absent,
                    Some(h) => match h.value {
                        None => Lookup::Null,
                        Some(bytes) => match std::str::from_utf8(bytes) {
                            Ok(text) => Lookup::Found(Field::Text(text)),
                            Err(_) => {
                                return Err(format!("header `{name}` is not UTF-8 text"));
                            }
                        },
                    },
                }
            }
            Source::Topic => Lookup::Found(Field::Text(self.topic)),
            Source::Partition => Lookup::Found(Field::Int(self.partition.into())),
            Source::Offset => Lookup::Found(Field::Int(self.offset)),
            Source::Timestamp => match self
                .timestamp_millis
                .and_then(chrono::DateTime::from_timestamp_millis)
            {
                Some(t) => Lookup::Found(Field::Time(t)),
                None => Lookup::Absent,
            },
            Source::Now => Lookup::Found(Field::Uuid(timeuuid_now())),
        })
    }
}

/// A version-1 (time-based) UUID for now: 100 ns ticks since 1582-10-15, with a random
/// clock sequence and node (multicast bit set, as RFC 9562 asks for a random node), so
/// two made in the same tick differ.
pub fn timeuuid_now() -> uuid::Uuid {
    // 100 ns intervals between 1582-10-15 and 1970-01-01.
    const GREGORIAN_OFFSET: u64 = 0x01B2_1DD2_1381_4000;
    let now = chrono::Utc::now();
    let since_epoch = now.timestamp_nanos_opt().unwrap_or(0).max(0) as u64 / 100;
    let ticks = since_epoch + GREGORIAN_OFFSET;
    let random: u64 = rand::random();
    let clock_seq = (random & 0x3FFF) as u16;
    let mut node = ((random >> 16) & 0xFFFF_FFFF_FFFF).to_be_bytes();
    node[2] |= 0x01; // the multicast bit of the 6-byte node (bytes 2..8 of the u64)
    let d4 = [
        0x80 | (clock_seq >> 8) as u8,
        clock_seq as u8,
        node[2],
        node[3],
        node[4],
        node[5],
        node[6],
        node[7],
    ];
    uuid::Uuid::from_fields(
        ticks as u32,
        (ticks >> 32) as u16,
        0x1000 | ((ticks >> 48) as u16 & 0x0FFF),
        &d4,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::Header;
    use serde_json::json;

    fn parse(e: &str) -> Source {
        Source::parse(e).expect("parses")
    }

    #[test]
    fn value_paths_walk_objects_and_arrays() {
        let v = json!({"customer": {"name": "x"}, "items": [{"sku": "a"}, {"sku": null}], "n": 3});
        let map = v.as_object().expect("object");
        let ctx = RecordContext::new(None, None, "t", 0, 0, None);
        let get = |e: &str| ctx.lookup(&parse(e), map).expect("reads");
        assert_eq!(get("customer.name"), Lookup::Found(Field::Text("x")));
        assert_eq!(get("value.items[0].sku"), Lookup::Found(Field::Text("a")));
        assert_eq!(get("items[1].sku"), Lookup::Null);
        assert_eq!(get("items[2].sku"), Lookup::Absent);
        assert_eq!(get("customer.name.first"), Lookup::Absent);
        assert_eq!(get("n[0]"), Lookup::Absent);
        assert_eq!(get("missing"), Lookup::Absent);
        assert!(matches!(get("n"), Lookup::Found(Field::Json(_))));
    }

    #[test]
    fn key_headers_and_metadata() {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "h",
                value: Some("one"),
            })
            .insert(Header {
                key: "h",
                value: Some("two"),
            })
            .insert(Header::<&str> {
                key: "empty",
                value: None,
            })
            .insert(Header {
                key: "bin",
                value: Some(&[0xff_u8][..]),
            });
        let key = br#"{"id": "k1", "n": 2}"#;
        let ctx = RecordContext::new(Some(key), Some(&headers), "orders", 3, 42, Some(1_000));
        let get = |e: &str| ctx.lookup(&parse(e), &NoValue);
        assert_eq!(get("key.id"), Ok(Lookup::Found(Field::Text("k1"))));
        assert!(matches!(get("key"), Ok(Lookup::Found(Field::Json(_)))));
        assert_eq!(get("header.h"), Ok(Lookup::Found(Field::Text("two"))));
        assert_eq!(get("header.empty"), Ok(Lookup::Null));
        assert_eq!(get("header.none"), Ok(Lookup::Absent));
        assert!(get("header.bin").expect_err("not text").contains("`bin`"));
        assert_eq!(get("kafka.topic"), Ok(Lookup::Found(Field::Text("orders"))));
        assert_eq!(get("kafka.partition"), Ok(Lookup::Found(Field::Int(3))));
        assert_eq!(get("kafka.offset"), Ok(Lookup::Found(Field::Int(42))));
        assert!(
            matches!(get("kafka.timestamp"), Ok(Lookup::Found(Field::Time(t))) if t.timestamp_millis() == 1_000)
        );
        assert_eq!(get("id"), Ok(Lookup::Absent), "a tombstone has no value");

        let plain = RecordContext::new(Some(b"abc-1"), None, "t", 0, 0, None);
        assert_eq!(
            plain.lookup(&Source::Key, &NoValue),
            Ok(Lookup::Found(Field::Text("abc-1")))
        );
        assert_eq!(plain.lookup(&parse("key.id"), &NoValue), Ok(Lookup::Absent));
        let quoted = RecordContext::new(Some(br#""abc""#), None, "t", 0, 0, None);
        assert_eq!(
            quoted.lookup(&Source::Key, &NoValue),
            Ok(Lookup::Found(Field::Text("abc"))),
            "a JSON string key is its string"
        );
        let none = RecordContext::new(None, None, "t", 0, 0, None);
        assert_eq!(none.lookup(&Source::Key, &NoValue), Ok(Lookup::Absent));
        assert_eq!(
            none.lookup(&Source::Timestamp, &NoValue),
            Ok(Lookup::Absent)
        );
    }

    #[test]
    fn now_is_a_fresh_version_one_uuid() {
        let (a, b) = (timeuuid_now(), timeuuid_now());
        assert_ne!(a, b);
        assert_eq!(a.get_version_num(), 1);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        let (secs, _) = a.get_timestamp().expect("time-based").to_unix();
        let now = chrono::Utc::now().timestamp() as u64;
        assert!(now.abs_diff(secs) < 5, "{secs} vs {now}");
    }
}
