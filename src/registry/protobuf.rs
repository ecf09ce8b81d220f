//! Protobuf records as the mapping reads them: a registry's `.proto` text (with the files it
//! imports: its references, and Google's well-known types) compiled by `protox` into
//! descriptors, the message the wire format's indexes name found in it, and each payload
//! decoded by `prost-reflect` into a JSON tree of the proto field names. The well-known
//! types become the text their CQL columns read: `Timestamp` as ISO-8601, `Duration` as
//! ISO-8601 (`PT1.5S`), the wrappers as their value; enums as their names, bytes as base64.
//! Fields without presence (proto3 scalars) read as their default when unset, as Kafka
//! Connect's converter reads them; an unset message, `optional` or `oneof` field is absent.

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    ReflectMessage, Value as Proto,
};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Why a schema cannot be used or a payload cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    #[error("the Protobuf schema does not compile: {0}")]
    Schema(String),
    #[error("the message indexes {0:?} name no message of the schema")]
    NoMessage(Vec<usize>),
    #[error("the payload is not valid Protobuf for message {message}: {detail}")]
    Invalid { message: String, detail: String },
}

/// The name the registry's own schema gets among its references.
const MAIN: &str = "cassflow-registry-schema.proto";

/// A compiled `.proto` file and its imports.
#[derive(Debug, Clone)]
pub struct Schema {
    pool: DescriptorPool,
}

impl Schema {
    /// Compiles `text` with the files it imports: `references` (import name, text), and
    /// Google's well-known types.
    pub fn parse(text: &str, references: &[(String, String)]) -> Result<Schema, ProtobufError> {
        let mut files: HashMap<String, String> = references.iter().cloned().collect();
        files.insert(MAIN.to_string(), text.to_string());
        let mut resolver = ChainFileResolver::new();
        resolver.add(Sources(files));
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true);
        compiler
            .open_file(MAIN)
            .map_err(|e| ProtobufError::Schema(e.to_string()))?;
        Ok(Schema {
            pool: compiler.descriptor_pool(),
        })
    }

    /// The message the wire format's `indexes` name: `[0]` the file's first message,
    /// `[1, 2]` the third message nested in the second.
    pub fn message(&self, indexes: &[usize]) -> Result<MessageDescriptor, ProtobufError> {
        let missing = || ProtobufError::NoMessage(indexes.to_vec());
        let file = self.pool.get_file_by_name(MAIN).ok_or_else(missing)?;
        let (first, rest) = indexes.split_first().ok_or_else(missing)?;
        let mut message = file.messages().nth(*first).ok_or_else(missing)?;
        for index in rest {
            let child = message.child_messages().nth(*index);
            message = child.ok_or_else(missing)?;
        }
        Ok(message)
    }

    /// The message named `full_name` (e.g. `shop.Order`), for producers.
    pub fn message_named(&self, full_name: &str) -> Option<MessageDescriptor> {
        self.pool.get_message_by_name(full_name)
    }
}

/// Reads one payload (after the message indexes) of `message` into a JSON tree.
pub fn read(message: &MessageDescriptor, payload: &[u8]) -> Result<Value, ProtobufError> {
    let decoded =
        DynamicMessage::decode(message.clone(), payload).map_err(|e| ProtobufError::Invalid {
            message: message.full_name().to_string(),
            detail: e.to_string(),
        })?;
    Ok(message_value(&decoded))
}

/// The files of a schema and its references, by import name.
struct Sources(HashMap<String, String>);

impl FileResolver for Sources {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match self.0.get(name) {
            Some(source) => File::from_source(name, source),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

fn message_value(message: &DynamicMessage) -> Value {
    let descriptor = message.descriptor();
    if let Some(text) = well_known(message, descriptor.full_name()) {
        return text;
    }
    let mut out = Map::new();
    for field in descriptor.fields() {
        if field.supports_presence() && !message.has_field(&field) {
            continue;
        }
        let value = message.get_field(&field);
        out.insert(field.name().to_string(), field_value(&field, &value));
    }
    Value::Object(out)
}

/// A well-known type as the value its CQL column reads, or None for any other message.
fn well_known(message: &DynamicMessage, name: &str) -> Option<Value> {
    let number = |field: &str| message.get_field_by_name(field);
    match name {
        "google.protobuf.Timestamp" => {
            let seconds = number("seconds")?.as_i64()?;
            let nanos = number("nanos")?.as_i32()?;
            let at = chrono::DateTime::from_timestamp(seconds, u32::try_from(nanos).ok()?)?;
            Some(Value::String(
                at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            ))
        }
        "google.protobuf.Duration" => {
            let seconds = number("seconds")?.as_i64()?;
            let nanos = number("nanos")?.as_i32()?;
            let negative = seconds < 0 || nanos < 0;
            let (seconds, nanos) = (seconds.unsigned_abs(), nanos.unsigned_abs());
            let sign = if negative { "-" } else { "" };
            Some(Value::String(format!("{sign}PT{seconds}.{nanos:09}S")))
        }
        "google.protobuf.DoubleValue"
        | "google.protobuf.FloatValue"
        | "google.protobuf.Int64Value"
        | "google.protobuf.UInt64Value"
        | "google.protobuf.Int32Value"
        | "google.protobuf.UInt32Value"
        | "google.protobuf.BoolValue"
        | "google.protobuf.StringValue"
        | "google.protobuf.BytesValue" => {
            let field = message.descriptor().get_field_by_name("value")?;
            Some(field_value(&field, &message.get_field(&field)))
        }
        _ => None,
    }
}

fn field_value(field: &FieldDescriptor, value: &Proto) -> Value {
    match value {
        Proto::List(items) => Value::Array(items.iter().map(|v| single(field, v)).collect()),
        Proto::Map(entries) => {
            let value_field = match field.kind() {
                Kind::Message(entry) => entry.map_entry_value_field(),
                _ => return Value::Null,
            };
            let mut out = Map::new();
            for (key, value) in entries {
                out.insert(map_key(key), single(&value_field, value));
            }
            Value::Object(out)
        }
        v => single(field, v),
    }
}

fn single(field: &FieldDescriptor, value: &Proto) -> Value {
    match value {
        Proto::Bool(b) => Value::Bool(*b),
        Proto::I32(n) => Value::from(*n),
        Proto::I64(n) => Value::from(*n),
        Proto::U32(n) => Value::from(*n),
        Proto::U64(n) => Value::from(*n),
        Proto::F32(f) => super::json_float(f64::from(*f)),
        Proto::F64(f) => super::json_float(*f),
        Proto::String(s) => Value::String(s.clone()),
        Proto::Bytes(b) => Value::String(super::base64_text(b)),
        Proto::EnumNumber(n) => match field.kind() {
            Kind::Enum(e) => e
                .get_value(*n)
                .map_or_else(|| Value::from(*n), |v| Value::String(v.name().to_string())),
            _ => Value::from(*n),
        },
        Proto::Message(m) => message_value(m),
        Proto::List(_) | Proto::Map(_) => field_value(field, value),
    }
}

fn map_key(key: &MapKey) -> String {
    match key {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

#[cfg(test)]
mod tests;
