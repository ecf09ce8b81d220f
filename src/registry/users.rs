//! The users record (docs/record.md) in the registry's formats, for `cassflow produce
//! --format`: its Avro schema, Protobuf schema and JSON Schema, registered under `<topic>-value`
//! (TopicNameStrategy), and [`UsersEncoder`], which writes a record in the wire format.
//! Read back by a pipeline of that format, its fields fill the users table by name.

use super::{wire, Registry, RegistryError};
use crate::record::UserRecord;
use apache_avro::types::Value as Avro;
use apache_avro::Schema;

/// The users record as Avro: the id a `uuid`, the two dates `timestamp-millis`.
pub const AVRO_SCHEMA: &str = r#"{
  "type": "record", "name": "User", "namespace": "cassflow",
  "fields": [
    {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "first_name", "type": "string"},
    {"name": "last_name", "type": "string"},
    {"name": "gender", "type": "string"},
    {"name": "address", "type": "string"},
    {"name": "post_code", "type": "string"},
    {"name": "email", "type": "string"},
    {"name": "username", "type": "string"},
    {"name": "dob", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "registered_date", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "phone", "type": "string"},
    {"name": "picture", "type": "string"}
  ]
}"#;

/// The users record as Protobuf: the two dates `google.protobuf.Timestamp`.
pub const PROTOBUF_SCHEMA: &str = r#"syntax = "proto3";
package cassflow;

import "google/protobuf/timestamp.proto";

message User {
  string id = 1;
  string first_name = 2;
  string last_name = 3;
  string gender = 4;
  string address = 5;
  string post_code = 6;
  string email = 7;
  string username = 8;
  google.protobuf.Timestamp dob = 9;
  google.protobuf.Timestamp registered_date = 10;
  string phone = 11;
  string picture = 12;
}
"#;

/// The users record's JSON (as `format = "users"` reads it) as a JSON Schema.
pub const JSON_SCHEMA: &str = r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "User", "type": "object",
  "properties": {
    "id": {"type": "string", "format": "uuid"},
    "first_name": {"type": "string"}, "last_name": {"type": "string"},
    "gender": {"type": "string"}, "address": {"type": "string"},
    "post_code": {"type": "string"}, "email": {"type": "string"},
    "username": {"type": "string"},
    "dob": {"type": "string", "format": "date-time"},
    "registered_date": {"type": "string", "format": "date-time"},
    "phone": {"type": "string"}, "picture": {"type": "string"}
  },
  "required": ["id", "first_name", "last_name", "gender", "address", "post_code", "email",
    "username", "dob", "registered_date", "phone", "picture"]
}"#;

/// Which of the registry's formats a producer writes.
#[derive(Debug)]
enum Kind {
    Avro(Box<Schema>),
    Protobuf(prost_reflect::MessageDescriptor),
    JsonSchema,
}

/// Writes users records in the wire format of one registered schema.
#[derive(Debug)]
pub struct UsersEncoder {
    id: u32,
    kind: Kind,
}

/// The registry formats `cassflow produce --format` writes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ProducedFormat {
    /// Avro (the schema in [`AVRO_SCHEMA`]).
    Avro,
    /// Protobuf (the schema in [`PROTOBUF_SCHEMA`]).
    Protobuf,
    /// The record's JSON, its schema the JSON Schema in [`JSON_SCHEMA`].
    #[value(name = "json_schema")]
    JsonSchema,
}

impl ProducedFormat {
    /// The producer format of a pipeline's format, if it reads one.
    pub fn of(format: crate::config::RecordFormat) -> Option<ProducedFormat> {
        match format {
            crate::config::RecordFormat::Avro => Some(ProducedFormat::Avro),
            crate::config::RecordFormat::Protobuf => Some(ProducedFormat::Protobuf),
            crate::config::RecordFormat::JsonSchema => Some(ProducedFormat::JsonSchema),
            _ => None,
        }
    }
}

impl UsersEncoder {
    /// Registers the users schema of `format` under `subject` and makes its encoder.
    pub async fn register(
        registry: &Registry,
        subject: &str,
        format: ProducedFormat,
    ) -> Result<UsersEncoder, RegistryError> {
        let (schema_type, text) = match format {
            ProducedFormat::Avro => ("AVRO", AVRO_SCHEMA),
            ProducedFormat::Protobuf => ("PROTOBUF", PROTOBUF_SCHEMA),
            ProducedFormat::JsonSchema => ("JSON", JSON_SCHEMA),
        };
        let id = registry.register(subject, schema_type, text).await?;
        UsersEncoder::new(id, format)
    }

    /// The encoder of the users schema of `format`, registered as `id`.
    pub fn new(id: u32, format: ProducedFormat) -> Result<UsersEncoder, RegistryError> {
        let kind = match format {
            ProducedFormat::Avro => {
                let schema =
                    Schema::parse_str(AVRO_SCHEMA).map_err(|e| RegistryError::Unusable {
                        id,
                        detail: e.to_string(),
                    })?;
                Kind::Avro(Box::new(schema))
            }
            ProducedFormat::Protobuf => {
                let unusable = |detail: String| RegistryError::Unusable { id, detail };
                let schema = super::protobuf::Schema::parse(PROTOBUF_SCHEMA, &[])
                    .map_err(|e| unusable(e.to_string()))?;
                let user = schema
                    .message_named("cassflow.User")
                    .ok_or_else(|| unusable("no message cassflow.User".into()))?;
                Kind::Protobuf(user)
            }
            ProducedFormat::JsonSchema => Kind::JsonSchema,
        };
        Ok(UsersEncoder { id, kind })
    }

    /// The id of the schema it writes.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Appends `record` in the wire format to `out`.
    pub fn encode(&self, record: &UserRecord, out: &mut Vec<u8>) -> Result<(), String> {
        out.extend_from_slice(&wire::header(self.id));
        match &self.kind {
            Kind::JsonSchema => {
                record.write_json(out);
                Ok(())
            }
            Kind::Protobuf(user) => {
                use prost::Message as _;
                use prost_reflect::{DynamicMessage, Value as Proto};
                let mut message = DynamicMessage::new(user.clone());
                let timestamp = |field: &str, at: chrono::DateTime<chrono::Utc>| {
                    let kind = user.get_field_by_name(field).map(|f| f.kind());
                    let Some(prost_reflect::Kind::Message(desc)) = kind else {
                        return Err(format!("no message field {field}"));
                    };
                    let mut t = DynamicMessage::new(desc);
                    t.set_field_by_name("seconds", Proto::I64(at.timestamp()));
                    t.set_field_by_name("nanos", Proto::I32(at.timestamp_subsec_nanos() as i32));
                    Ok(Proto::Message(t))
                };
                let text = |s: &str| Proto::String(s.to_string());
                let fields = [
                    ("id", Proto::String(record.id.to_string())),
                    ("first_name", text(&record.first_name)),
                    ("last_name", text(&record.last_name)),
                    ("gender", text(&record.gender)),
                    ("address", text(&record.address)),
                    ("post_code", text(&record.post_code)),
                    ("email", text(&record.email)),
                    ("username", text(&record.username)),
                    ("dob", timestamp("dob", record.dob)?),
                    (
                        "registered_date",
                        timestamp("registered_date", record.registered_date)?,
                    ),
                    ("phone", text(&record.phone)),
                    ("picture", text(&record.picture)),
                ];
                for (name, value) in fields {
                    message
                        .try_set_field_by_name(name, value)
                        .map_err(|e| e.to_string())?;
                }
                wire::write_message_indexes(&[0], out);
                message.encode(out).map_err(|e| e.to_string())
            }
            Kind::Avro(schema) => {
                let text = |s: &str| Avro::String(s.to_string());
                let value = Avro::Record(vec![
                    ("id".into(), Avro::Uuid(record.id)),
                    ("first_name".into(), text(&record.first_name)),
                    ("last_name".into(), text(&record.last_name)),
                    ("gender".into(), text(&record.gender)),
                    ("address".into(), text(&record.address)),
                    ("post_code".into(), text(&record.post_code)),
                    ("email".into(), text(&record.email)),
                    ("username".into(), text(&record.username)),
                    (
                        "dob".into(),
                        Avro::TimestampMillis(record.dob.timestamp_millis()),
                    ),
                    (
                        "registered_date".into(),
                        Avro::TimestampMillis(record.registered_date.timestamp_millis()),
                    ),
                    ("phone".into(), text(&record.phone)),
                    ("picture".into(), text(&record.picture)),
                ]);
                super::avro::write(schema, value, out).map_err(|e| e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::avro::Plan;

    fn a_user() -> UserRecord {
        let json = r#"{"id":"6f1e4f3c-0b8d-4c59-9c1a-2f0a9d3b7e11","first_name":"Ada","last_name":"Lovelace","gender":"female","address":"1 Main St, London, England, UK","post_code":"N1","email":"ada@example.com","username":"ada","dob":"1815-12-10T00:00:00.000Z","registered_date":"2020-01-01T12:30:00.250Z","phone":"555","picture":"https://x/p.jpg"}"#;
        UserRecord::decode(json.as_bytes()).expect("a user").0
    }

    #[test]
    fn an_avro_user_reads_back_field_for_field() {
        let user = a_user();
        let encoder = UsersEncoder::new(7, ProducedFormat::Avro).expect("encoder");
        let mut out = Vec::new();
        encoder.encode(&user, &mut out).expect("encodes");
        let (id, body) = wire::split(&out).expect("framed");
        assert_eq!(id, 7);
        let read = Plan::parse(AVRO_SCHEMA, &[])
            .expect("plan")
            .read(body)
            .expect("reads");
        assert_eq!(read["id"], user.id.to_string());
        assert_eq!(read["first_name"], "Ada");
        assert_eq!(read["dob"], "1815-12-10T00:00:00Z");
        assert_eq!(read["registered_date"], "2020-01-01T12:30:00.250Z");
        assert_eq!(read.as_object().map(|m| m.len()), Some(12));
    }

    #[test]
    fn a_protobuf_user_reads_back_field_for_field() {
        let user = a_user();
        let encoder = UsersEncoder::new(9, ProducedFormat::Protobuf).expect("encoder");
        let mut out = Vec::new();
        encoder.encode(&user, &mut out).expect("encodes");
        let (id, body) = wire::split(&out).expect("framed");
        assert_eq!(id, 9);
        let (indexes, message) = wire::message_indexes(body).expect("indexes");
        let schema =
            crate::registry::protobuf::Schema::parse(PROTOBUF_SCHEMA, &[]).expect("schema");
        let descriptor = schema.message(&indexes).expect("User");
        let read = crate::registry::protobuf::read(&descriptor, message).expect("reads");
        assert_eq!(read["id"], user.id.to_string());
        assert_eq!(read["dob"], "1815-12-10T00:00:00Z");
        assert_eq!(read["registered_date"], "2020-01-01T12:30:00.250Z");
        assert_eq!(read.as_object().map(|m| m.len()), Some(12));
    }

    #[test]
    fn a_json_schema_user_is_its_json_after_the_header() {
        let user = a_user();
        let encoder = UsersEncoder::new(3, ProducedFormat::JsonSchema).expect("encoder");
        let mut out = Vec::new();
        encoder.encode(&user, &mut out).expect("encodes");
        let (id, body) = wire::split(&out).expect("framed");
        assert_eq!(id, 3);
        let mut plain = Vec::new();
        user.write_json(&mut plain);
        assert_eq!(body, plain.as_slice());
    }
}
