//! The record: one flattened user, as the seed's `format_data` makes it, made strict.
//! Owns its JSON encoding (one object per Kafka message) and its validating decoder, which
//! both the producer and the stream job use, so the two can never disagree.

mod scan;

use chrono::{DateTime, NaiveDateTime, Utc};
use scan::Scalar;
use serde_json::{Map, Value};
use std::borrow::Cow;
use uuid::Uuid;

/// One user. Field names and meanings are those of the seed's Kafka messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub gender: String,
    /// `"<number> <street>, <city>, <state>, <country>"`.
    pub address: String,
    /// Always text, although randomuser sends numbers for some countries.
    pub post_code: String,
    pub email: String,
    pub username: String,
    pub dob: DateTime<Utc>,
    pub registered_date: DateTime<Utc>,
    pub phone: String,
    /// URL of the medium-size picture.
    pub picture: String,
}

/// The record's fields in their message and column order.
pub const FIELDS: [&str; 12] = [
    "id",
    "first_name",
    "last_name",
    "gender",
    "address",
    "post_code",
    "email",
    "username",
    "dob",
    "registered_date",
    "phone",
    "picture",
];

/// Why bytes are not a record. The `reason` code goes into dead-letter headers; the
/// display text says exactly what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("value is empty")]
    Empty,
    #[error("value is not valid UTF-8 (first bad byte at offset {offset})")]
    InvalidUtf8 { offset: usize },
    #[error("value is not valid JSON: {detail}")]
    InvalidJson { detail: String },
    #[error("value is JSON but not an object")]
    NotAnObject,
    #[error("required field `{field}` is missing")]
    MissingField { field: &'static str },
    #[error("field `{field}` must be {expected}, found {found}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error("field `id` is not a UUID: {value:?}")]
    BadUuid { value: String },
    #[error("field `{field}` is not an ISO-8601 timestamp: {value:?}")]
    BadTimestamp { field: &'static str, value: String },
}

impl DecodeError {
    /// A short stable code for headers, metrics labels and the UI.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty_value",
            DecodeError::InvalidUtf8 { .. } => "invalid_utf8",
            DecodeError::InvalidJson { .. } => "invalid_json",
            DecodeError::NotAnObject => "not_an_object",
            DecodeError::MissingField { .. } => "missing_field",
            DecodeError::WrongType { .. } => "wrong_type",
            DecodeError::BadUuid { .. } => "bad_uuid",
            DecodeError::BadTimestamp { .. } => "bad_timestamp",
        }
    }
}

/// What decoding noticed without rejecting the record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeNotes {
    /// Fields not part of the record, ignored.
    pub unknown_fields: usize,
    /// `post_code` arrived as a number and was kept as its text.
    pub numeric_post_code: bool,
}

/// A record borrowed from the message value it was decoded from (text fields stay in the
/// message unless they had escapes), or from a [`UserRecord`] being encoded. The stream job
/// writes rows straight from it; [`UserView::into_owned`] makes the record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserView<'a> {
    pub id: Uuid,
    pub first_name: Cow<'a, str>,
    pub last_name: Cow<'a, str>,
    pub gender: Cow<'a, str>,
    pub address: Cow<'a, str>,
    pub post_code: Cow<'a, str>,
    pub email: Cow<'a, str>,
    pub username: Cow<'a, str>,
    #[serde(serialize_with = "serialize_timestamp")]
    pub dob: DateTime<Utc>,
    #[serde(serialize_with = "serialize_timestamp")]
    pub registered_date: DateTime<Utc>,
    pub phone: Cow<'a, str>,
    pub picture: Cow<'a, str>,
}

impl UserRecord {
    /// The message value: one compact JSON object, fields in [`FIELDS`] order, timestamps as
    /// ISO-8601 with milliseconds.
    pub fn to_json(&self) -> String {
        // Writing strings, a UUID and timestamps cannot fail.
        serde_json::to_string(&self.view()).unwrap_or_default()
    }

    /// Appends the message value to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Writing strings, a UUID and timestamps into a Vec cannot fail.
        let _ = serde_json::to_writer(out, &self.view());
    }

    /// The message value as a JSON object (for tests and tools that edit fields).
    pub fn to_json_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self.view()) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// The record borrowed as a view.
    pub fn view(&self) -> UserView<'_> {
        UserView {
            id: self.id,
            first_name: Cow::Borrowed(&self.first_name),
            last_name: Cow::Borrowed(&self.last_name),
            gender: Cow::Borrowed(&self.gender),
            address: Cow::Borrowed(&self.address),
            post_code: Cow::Borrowed(&self.post_code),
            email: Cow::Borrowed(&self.email),
            username: Cow::Borrowed(&self.username),
            dob: self.dob,
            registered_date: self.registered_date,
            phone: Cow::Borrowed(&self.phone),
            picture: Cow::Borrowed(&self.picture),
        }
    }

    /// Decodes and validates one message value.
    pub fn decode(bytes: &[u8]) -> Result<(UserRecord, DecodeNotes), DecodeError> {
        UserView::decode(bytes).map(|(view, notes)| (view.into_owned(), notes))
    }
}

impl<'a> UserView<'a> {
    /// Decodes and validates one message value without copying its text.
    pub fn decode(bytes: &'a [u8]) -> Result<(UserView<'a>, DecodeNotes), DecodeError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(DecodeError::Empty);
        }
        let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::InvalidUtf8 {
            offset: e.valid_up_to(),
        })?;
        let slots = match scan::scan(text) {
            Ok(Some(slots)) => slots,
            Ok(None) => return Err(DecodeError::NotAnObject),
            Err(e) => {
                return Err(DecodeError::InvalidJson {
                    detail: e.to_string(),
                })
            }
        };
        Self::from_slots(slots)
    }

    fn from_slots(mut slots: scan::Slots<'a>) -> Result<(UserView<'a>, DecodeNotes), DecodeError> {
        let mut notes = DecodeNotes {
            unknown_fields: slots.unknown_fields,
            ..DecodeNotes::default()
        };
        let id_text = text(&mut slots, "id")?;
        let id = Uuid::parse_str(&id_text).map_err(|_| DecodeError::BadUuid {
            value: id_text.chars().take(64).collect(),
        })?;
        let post_code = match slots.take("post_code") {
            None | Some(Scalar::Null) => {
                return Err(DecodeError::MissingField { field: "post_code" })
            }
            Some(Scalar::Str(s)) => s,
            Some(Scalar::Number(n)) => {
                notes.numeric_post_code = true;
                Cow::Owned(n.to_string())
            }
            Some(other) => {
                return Err(DecodeError::WrongType {
                    field: "post_code",
                    expected: "a string or a number",
                    found: other.kind(),
                })
            }
        };
        let view = UserView {
            id,
            first_name: text(&mut slots, "first_name")?,
            last_name: text(&mut slots, "last_name")?,
            gender: text(&mut slots, "gender")?,
            address: text(&mut slots, "address")?,
            post_code,
            email: text(&mut slots, "email")?,
            username: text(&mut slots, "username")?,
            dob: timestamp(&mut slots, "dob")?,
            registered_date: timestamp(&mut slots, "registered_date")?,
            phone: text(&mut slots, "phone")?,
            picture: text(&mut slots, "picture")?,
        };
        Ok((view, notes))
    }

    /// The owned record.
    pub fn into_owned(self) -> UserRecord {
        UserRecord {
            id: self.id,
            first_name: self.first_name.into_owned(),
            last_name: self.last_name.into_owned(),
            gender: self.gender.into_owned(),
            address: self.address.into_owned(),
            post_code: self.post_code.into_owned(),
            email: self.email.into_owned(),
            username: self.username.into_owned(),
            dob: self.dob,
            registered_date: self.registered_date,
            phone: self.phone.into_owned(),
            picture: self.picture.into_owned(),
        }
    }
}

fn text<'a>(slots: &mut scan::Slots<'a>, field: &'static str) -> Result<Cow<'a, str>, DecodeError> {
    match slots.take(field) {
        None | Some(Scalar::Null) => Err(DecodeError::MissingField { field }),
        Some(Scalar::Str(s)) => Ok(s),
        Some(other) => Err(DecodeError::WrongType {
            field,
            expected: "a string",
            found: other.kind(),
        }),
    }
}

fn timestamp(
    slots: &mut scan::Slots<'_>,
    field: &'static str,
) -> Result<DateTime<Utc>, DecodeError> {
    let s = text(slots, field)?;
    parse_timestamp(&s).ok_or_else(|| DecodeError::BadTimestamp {
        field,
        value: s.chars().take(64).collect(),
    })
}

/// ISO-8601 with a zone (`2007-07-09T05:51:59.390Z`, `+02:00`), or without one (read as UTC).
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|n| n.and_utc())
}

/// The record's timestamp text: UTC, milliseconds, `Z` (as randomuser and Cassandra have it).
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.format(TIMESTAMP_FORMAT).to_string()
}

const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

fn serialize_timestamp<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.format(TIMESTAMP_FORMAT))
}

#[cfg(test)]
mod tests;
