//! Avro records as the mapping reads them: a writer's schema (parsed by `apache-avro`)
//! compiled once into a [`Plan`], which reads a binary datum straight into a JSON tree. Each
//! logical type becomes the text the converter already reads for its CQL type (decimal and
//! uuid as text, date as `YYYY-MM-DD`, times and timestamps as ISO-8601, duration as
//! `1mo2d3ms`, bytes and fixed as base64), so `value.<path>` works as on JSON. Owns the
//! binary encoding's reading; writing (for `cassflow produce`) is the crate's.

use apache_avro::schema::{InnerDecimalSchema, Name, Schema, UuidSchema};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// How deep values may nest: serde_json's limit for JSON messages.
const MAX_DEPTH: usize = 128;

/// The most items one array or map block of zero-byte items (nulls) may claim.
const MAX_EMPTY_ITEMS: u64 = 1 << 16;

/// Why a schema cannot be used or a datum cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvroError {
    #[error("the Avro schema does not parse: {0}")]
    Schema(String),
    #[error("the Avro schema names `{0}`, which it does not define")]
    UnknownName(String),
    #[error("the payload ends inside {0}")]
    Truncated(&'static str),
    #[error("the payload is not valid Avro for its schema: {0}")]
    Invalid(String),
    #[error("{0} bytes are left after the record: the payload does not match its schema")]
    Trailing(usize),
}

/// One node of a compiled schema; children are indexes into [`Plan::nodes`], so a named type
/// used twice, or inside itself, is compiled once.
#[derive(Debug, Clone)]
enum Node {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Fixed(usize),
    Enum(Vec<String>),
    Union(Vec<usize>),
    Array(usize),
    Map(usize),
    Record(Vec<(String, usize)>),
    /// Unscaled two's complement big-endian, in bytes or a fixed of this size.
    Decimal {
        scale: usize,
        fixed: Option<usize>,
    },
    /// A decimal without a declared scale in the schema (`big-decimal`): bytes of
    /// the unscaled value then its scale.
    BigDecimal,
    UuidString,
    UuidBytes(Option<usize>),
    Date,
    TimeMillis,
    TimeMicros,
    /// Epoch time in units per second (1e3, 1e6, 1e9); local timestamps read as UTC.
    Timestamp(i64),
    Duration,
    /// A named type referenced before its definition is compiled (filled right after).
    Pending,
}

/// A writer's schema compiled for reading datums.
#[derive(Debug, Clone)]
pub struct Plan {
    nodes: Vec<Node>,
    root: usize,
}

impl Plan {
    /// Parses `text` (an Avro schema in JSON) with the schemas it references (their texts,
    /// in the registry's order) and compiles it.
    pub fn parse(text: &str, references: &[String]) -> Result<Plan, AvroError> {
        let schema = if references.is_empty() {
            Schema::parse_str(text)
        } else {
            Schema::parse_str_with_list(text, references).map(|(schema, _)| schema)
        }
        .map_err(|e| AvroError::Schema(e.to_string()))?;
        let referenced = if references.is_empty() {
            Vec::new()
        } else {
            Schema::parse_list(references).map_err(|e| AvroError::Schema(e.to_string()))?
        };
        Plan::compile(&schema, &referenced)
    }

    /// Compiles a parsed schema; `referenced` holds the named types it may use by name.
    pub fn compile(schema: &Schema, referenced: &[Schema]) -> Result<Plan, AvroError> {
        let mut named = HashMap::new();
        for schema in referenced.iter().chain(std::iter::once(schema)) {
            collect_names(schema, &mut named);
        }
        let mut compiler = Compiler {
            named,
            slots: HashMap::new(),
            nodes: Vec::new(),
        };
        let root = compiler.node(schema)?;
        Ok(Plan {
            nodes: compiler.nodes,
            root,
        })
    }

    /// Reads one datum, all of `bytes`, into a JSON tree.
    pub fn read(&self, bytes: &[u8]) -> Result<Value, AvroError> {
        let mut reader = Reader { bytes, at: 0 };
        let value = self.value(self.root, &mut reader, 0)?;
        match bytes.len() - reader.at {
            0 => Ok(value),
            left => Err(AvroError::Trailing(left)),
        }
    }

    fn value(&self, node: usize, r: &mut Reader<'_>, depth: usize) -> Result<Value, AvroError> {
        // A recursive schema nests as deep as the data says: bound it as JSON is.
        if depth > MAX_DEPTH {
            return Err(AvroError::Invalid(format!(
                "values nest deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(match &self.nodes[node] {
            Node::Null | Node::Pending => Value::Null,
            Node::Boolean => match r.take(1, "a boolean")?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(AvroError::Invalid(format!("{b} is not a boolean"))),
            },
            Node::Int => Value::from(r.int()?),
            Node::Long => Value::from(r.long()?),
            Node::Float => {
                let b = r.take(4, "a float")?;
                super::json_float(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            }
            Node::Double => {
                let b = r.take(8, "a double")?;
                super::json_float(f64::from_le_bytes(b.try_into().unwrap_or_default()))
            }
            Node::Bytes => Value::String(super::base64_text(r.bytes()?)),
            Node::String => Value::String(r.string()?.to_string()),
            Node::Fixed(size) => Value::String(super::base64_text(r.take(*size, "a fixed")?)),
            Node::Enum(symbols) => {
                let index = r.int()?;
                let symbol = usize::try_from(index).ok().and_then(|i| symbols.get(i));
                match symbol {
                    Some(symbol) => Value::String(symbol.clone()),
                    None => {
                        return Err(AvroError::Invalid(format!(
                            "enum index {index} of {} symbols",
                            symbols.len()
                        )))
                    }
                }
            }
            Node::Union(branches) => {
                let index = r.long()?;
                match usize::try_from(index).ok().and_then(|i| branches.get(i)) {
                    Some(branch) => self.value(*branch, r, depth + 1)?,
                    None => {
                        return Err(AvroError::Invalid(format!(
                            "union branch {index} of {}",
                            branches.len()
                        )))
                    }
                }
            }
            Node::Array(items) => {
                let mut out = Vec::new();
                while let Some(count) = r.block(self.zero_size(*items, 0))? {
                    for _ in 0..count {
                        out.push(self.value(*items, r, depth + 1)?);
                    }
                }
                Value::Array(out)
            }
            Node::Map(values) => {
                let mut out = Map::new();
                while let Some(count) = r.block(false)? {
                    for _ in 0..count {
                        let key = r.string()?.to_string();
                        out.insert(key, self.value(*values, r, depth + 1)?);
                    }
                }
                Value::Object(out)
            }
            Node::Record(fields) => {
                let mut out = Map::new();
                for (name, field) in fields {
                    let value = self.value(*field, r, depth + 1)?;
                    out.insert(name.clone(), value);
                }
                Value::Object(out)
            }
            Node::Decimal { scale, fixed } => {
                let unscaled = match fixed {
                    Some(size) => r.take(*size, "a decimal")?,
                    None => r.bytes()?,
                };
                Value::String(decimal_text(unscaled, *scale))
            }
            Node::BigDecimal => {
                let mut inner = Reader {
                    bytes: r.bytes()?,
                    at: 0,
                };
                let unscaled = inner.bytes()?;
                let scale = usize::try_from(inner.long()?)
                    .map_err(|_| AvroError::Invalid("a negative decimal scale".into()))?;
                Value::String(decimal_text(unscaled, scale))
            }
            Node::UuidString => Value::String(r.string()?.to_string()),
            Node::UuidBytes(size) => {
                let bytes = match size {
                    Some(size) => r.take(*size, "a uuid")?,
                    None => r.bytes()?,
                };
                match uuid::Uuid::from_slice(bytes) {
                    Ok(uuid) => Value::String(uuid.to_string()),
                    Err(_) => {
                        return Err(AvroError::Invalid("a uuid of other than 16 bytes".into()))
                    }
                }
            }
            Node::Date => {
                let days = r.int()?;
                let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).and_then(|epoch| {
                    epoch.checked_add_signed(chrono::TimeDelta::days(days.into()))
                });
                match date {
                    Some(date) => Value::String(date.format("%Y-%m-%d").to_string()),
                    None => Value::from(days),
                }
            }
            Node::TimeMillis => time_of_day(i64::from(r.int()?) * 1_000_000, 3)?,
            Node::TimeMicros => time_of_day(r.long()?.saturating_mul(1_000), 6)?,
            Node::Timestamp(per_second) => {
                let n = r.long()?;
                let nanos_per = 1_000_000_000 / per_second;
                let secs = n.div_euclid(*per_second);
                let nanos = n.rem_euclid(*per_second) * nanos_per;
                match chrono::DateTime::from_timestamp(secs, nanos as u32) {
                    Some(t) => {
                        Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                    }
                    None => {
                        return Err(AvroError::Invalid(format!("timestamp {n} is out of range")))
                    }
                }
            }
            Node::Duration => {
                let b = r.take(12, "a duration")?;
                let part = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
                Value::String(format!("{}mo{}d{}ms", part(0), part(4), part(8)))
            }
        })
    }
}

impl Plan {
    /// Whether a value of `node` may take no bytes (a null, a record of nulls).
    fn zero_size(&self, node: usize, depth: usize) -> bool {
        match &self.nodes[node] {
            Node::Null => true,
            Node::Record(fields) => {
                depth < MAX_DEPTH && fields.iter().all(|(_, f)| self.zero_size(*f, depth + 1))
            }
            _ => false,
        }
    }
}

/// Appends `value` in the binary encoding of `schema` (checked against it) to `out`.
pub fn write(
    schema: &Schema,
    value: apache_avro::types::Value,
    out: &mut Vec<u8>,
) -> Result<(), AvroError> {
    let invalid = |e: apache_avro::Error| AvroError::Invalid(e.to_string());
    let writer = apache_avro::writer::datum::GenericDatumWriter::builder(schema)
        .build()
        .map_err(invalid)?;
    writer.write_value(out, value).map_err(invalid)?;
    Ok(())
}

/// `HH:MM:SS.fff` (or `.ffffff`) of nanoseconds since midnight.
fn time_of_day(nanos: i64, digits: usize) -> Result<Value, AvroError> {
    if !(0..86_400_000_000_000).contains(&nanos) {
        return Err(AvroError::Invalid(format!(
            "a time of day {nanos} ns after midnight"
        )));
    }
    let secs = nanos / 1_000_000_000;
    let fraction = nanos % 1_000_000_000 / 10i64.pow(9 - digits as u32);
    Ok(Value::String(format!(
        "{:02}:{:02}:{:02}.{fraction:0digits$}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )))
}

/// The decimal text of an unscaled two's complement big-endian integer and its scale.
fn decimal_text(unscaled: &[u8], scale: usize) -> String {
    let digits = num_bigint::BigInt::from_signed_bytes_be(unscaled).to_string();
    let (sign, digits) = match digits.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", digits.as_str()),
    };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

/// Every named type `schema` defines, by full name.
fn collect_names(schema: &Schema, out: &mut HashMap<String, Schema>) {
    let mut define = |name: &Name| {
        out.insert(name.fullname(None), schema.clone());
    };
    match schema {
        Schema::Record(record) => {
            define(&record.name);
            for field in &record.fields {
                collect_names(&field.schema, out);
            }
        }
        Schema::Enum(e) => define(&e.name),
        Schema::Fixed(f) => define(&f.name),
        Schema::Array(a) => collect_names(&a.items, out),
        Schema::Map(m) => collect_names(&m.types, out),
        Schema::Union(u) => {
            for variant in u.variants() {
                collect_names(variant, out);
            }
        }
        _ => {}
    }
}

struct Compiler {
    named: HashMap<String, Schema>,
    /// The node of each named type compiled so far (or being compiled).
    slots: HashMap<String, usize>,
    nodes: Vec<Node>,
}

impl Compiler {
    fn push(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn node(&mut self, schema: &Schema) -> Result<usize, AvroError> {
        let named = match schema {
            Schema::Record(r) => Some(&r.name),
            Schema::Enum(e) => Some(&e.name),
            Schema::Fixed(f) => Some(&f.name),
            _ => None,
        };
        if let Some(name) = named {
            let full = name.fullname(None);
            if let Some(slot) = self.slots.get(&full) {
                return Ok(*slot);
            }
            // Reserve the slot first: a record may contain itself.
            let slot = self.push(Node::Pending);
            self.slots.insert(full, slot);
            let node = self.shape(schema)?;
            self.nodes[slot] = node;
            return Ok(slot);
        }
        if let Schema::Ref { name } = schema {
            let full = name.fullname(None);
            if let Some(slot) = self.slots.get(&full) {
                return Ok(*slot);
            }
            let defined = self
                .named
                .get(&full)
                .cloned()
                .ok_or(AvroError::UnknownName(full))?;
            return self.node(&defined);
        }
        let node = self.shape(schema)?;
        Ok(self.push(node))
    }

    fn shape(&mut self, schema: &Schema) -> Result<Node, AvroError> {
        Ok(match schema {
            Schema::Null => Node::Null,
            Schema::Boolean => Node::Boolean,
            Schema::Int => Node::Int,
            Schema::Long => Node::Long,
            Schema::Float => Node::Float,
            Schema::Double => Node::Double,
            Schema::Bytes => Node::Bytes,
            Schema::String => Node::String,
            Schema::Fixed(f) => Node::Fixed(f.size),
            Schema::Enum(e) => Node::Enum(e.symbols.clone()),
            Schema::Union(u) => {
                let mut branches = Vec::new();
                for variant in u.variants() {
                    branches.push(self.node(variant)?);
                }
                Node::Union(branches)
            }
            Schema::Array(a) => Node::Array(self.node(&a.items)?),
            Schema::Map(m) => Node::Map(self.node(&m.types)?),
            Schema::Record(record) => {
                let mut fields = Vec::new();
                for field in &record.fields {
                    fields.push((field.name.clone(), self.node(&field.schema)?));
                }
                Node::Record(fields)
            }
            Schema::Decimal(d) => Node::Decimal {
                scale: d.scale,
                fixed: match &d.inner {
                    InnerDecimalSchema::Bytes => None,
                    InnerDecimalSchema::Fixed(f) => Some(f.size),
                },
            },
            Schema::BigDecimal => Node::BigDecimal,
            Schema::Uuid(UuidSchema::String) => Node::UuidString,
            Schema::Uuid(UuidSchema::Bytes) => Node::UuidBytes(None),
            Schema::Uuid(UuidSchema::Fixed(f)) => Node::UuidBytes(Some(f.size)),
            Schema::Date => Node::Date,
            Schema::TimeMillis => Node::TimeMillis,
            Schema::TimeMicros => Node::TimeMicros,
            Schema::TimestampMillis | Schema::LocalTimestampMillis => Node::Timestamp(1_000),
            Schema::TimestampMicros | Schema::LocalTimestampMicros => Node::Timestamp(1_000_000),
            Schema::TimestampNanos | Schema::LocalTimestampNanos => Node::Timestamp(1_000_000_000),
            Schema::Duration(_) => Node::Duration,
            Schema::Ref { .. } => unreachable!("node() resolves references"),
        })
    }
}

/// The binary encoding's primitives over one datum.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], AvroError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let end = end.ok_or(AvroError::Truncated(what))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// A zigzag varint of at most 10 bytes.
    fn long(&mut self) -> Result<i64, AvroError> {
        let mut raw: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = *self
                .bytes
                .get(self.at)
                .ok_or(AvroError::Truncated("a number"))?;
            self.at += 1;
            if shift == 63 && byte > 1 {
                return Err(AvroError::Invalid("a varint longer than 64 bits".into()));
            }
            raw |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err(AvroError::Invalid("a varint longer than 64 bits".into()))
    }

    fn int(&mut self) -> Result<i32, AvroError> {
        let n = self.long()?;
        i32::try_from(n).map_err(|_| AvroError::Invalid(format!("{n} is out of an int's range")))
    }

    fn bytes(&mut self) -> Result<&'a [u8], AvroError> {
        let len = self.long()?;
        let len = usize::try_from(len)
            .map_err(|_| AvroError::Invalid(format!("a negative length {len}")))?;
        self.take(len, "bytes or a string")
    }

    fn string(&mut self) -> Result<&'a str, AvroError> {
        std::str::from_utf8(self.bytes()?)
            .map_err(|_| AvroError::Invalid("a string that is not UTF-8".into()))
    }

    /// The item count of the next block of an array or map; None at the end. A negative
    /// count is followed by the block's size in bytes, which is not needed here. A hostile
    /// count is bounded by the bytes left (every item takes one at least, unless
    /// `empty_items`, then by [`MAX_EMPTY_ITEMS`]), so it can neither spin nor exhaust memory.
    fn block(&mut self, empty_items: bool) -> Result<Option<u64>, AvroError> {
        let count = self.long()?;
        if count == 0 {
            return Ok(None);
        }
        if count < 0 {
            self.long()?;
        }
        let count = count.unsigned_abs();
        let bound = if empty_items {
            MAX_EMPTY_ITEMS
        } else {
            (self.bytes.len() - self.at) as u64
        };
        if count > bound {
            return Err(AvroError::Truncated("an array or map"));
        }
        Ok(Some(count))
    }
}

#[cfg(test)]
mod tests;
