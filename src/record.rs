//! The record: one flattened user, as the seed's `format_data` makes it, made strict.
//! Owns its JSON encoding (one object per Kafka message) and its validating decoder, which
//! both the producer and the stream job use, so the two can never disagree.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
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

impl UserRecord {
    /// The message value: one compact JSON object, timestamps as ISO-8601 with milliseconds.
    pub fn to_json(&self) -> String {
        Value::Object(self.to_json_map()).to_string()
    }

    pub fn to_json_map(&self) -> Map<String, Value> {
        let mut m = Map::with_capacity(FIELDS.len());
        m.insert("id".into(), Value::String(self.id.to_string()));
        m.insert("first_name".into(), self.first_name.clone().into());
        m.insert("last_name".into(), self.last_name.clone().into());
        m.insert("gender".into(), self.gender.clone().into());
        m.insert("address".into(), self.address.clone().into());
        m.insert("post_code".into(), self.post_code.clone().into());
        m.insert("email".into(), self.email.clone().into());
        m.insert("username".into(), self.username.clone().into());
        m.insert("dob".into(), format_timestamp(&self.dob).into());
        m.insert(
            "registered_date".into(),
            format_timestamp(&self.registered_date).into(),
        );
        m.insert("phone".into(), self.phone.clone().into());
        m.insert("picture".into(), self.picture.clone().into());
        m
    }

    /// Decodes and validates one message value.
    pub fn decode(bytes: &[u8]) -> Result<(UserRecord, DecodeNotes), DecodeError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(DecodeError::Empty);
        }
        let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::InvalidUtf8 {
            offset: e.valid_up_to(),
        })?;
        let value: Value = serde_json::from_str(text).map_err(|e| DecodeError::InvalidJson {
            detail: e.to_string(),
        })?;
        match value {
            Value::Object(map) => Self::from_json_map(&map),
            _ => Err(DecodeError::NotAnObject),
        }
    }

    /// Validates a JSON object as a record.
    pub fn from_json_map(
        map: &Map<String, Value>,
    ) -> Result<(UserRecord, DecodeNotes), DecodeError> {
        let mut notes = DecodeNotes {
            unknown_fields: map.keys().filter(|k| !FIELDS.contains(&k.as_str())).count(),
            ..DecodeNotes::default()
        };
        let id_text = text(map, "id")?;
        let id = Uuid::parse_str(id_text).map_err(|_| DecodeError::BadUuid {
            value: id_text.chars().take(64).collect(),
        })?;
        let post_code = match map.get("post_code") {
            None | Some(Value::Null) => {
                return Err(DecodeError::MissingField { field: "post_code" })
            }
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => {
                notes.numeric_post_code = true;
                n.to_string()
            }
            Some(other) => {
                return Err(DecodeError::WrongType {
                    field: "post_code",
                    expected: "a string or a number",
                    found: kind(other),
                })
            }
        };
        let record = UserRecord {
            id,
            first_name: text(map, "first_name")?.to_string(),
            last_name: text(map, "last_name")?.to_string(),
            gender: text(map, "gender")?.to_string(),
            address: text(map, "address")?.to_string(),
            post_code,
            email: text(map, "email")?.to_string(),
            username: text(map, "username")?.to_string(),
            dob: timestamp(map, "dob")?,
            registered_date: timestamp(map, "registered_date")?,
            phone: text(map, "phone")?.to_string(),
            picture: text(map, "picture")?.to_string(),
        };
        Ok((record, notes))
    }
}

fn text<'a>(map: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, DecodeError> {
    match map.get(field) {
        None | Some(Value::Null) => Err(DecodeError::MissingField { field }),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(DecodeError::WrongType {
            field,
            expected: "a string",
            found: kind(other),
        }),
    }
}

fn timestamp(map: &Map<String, Value>, field: &'static str) -> Result<DateTime<Utc>, DecodeError> {
    let s = text(map, field)?;
    parse_timestamp(s).ok_or_else(|| DecodeError::BadTimestamp {
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
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
