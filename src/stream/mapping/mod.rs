//! How a Kafka record becomes the bound values of a statement: which source fills which
//! column (or bind marker), what an absent field or a JSON null writes, a record's TTL and
//! write time from `columns.__ttl` / `columns.__timestamp`, and the key of a tombstone's
//! delete. Expressions are compiled once at start ([`expr`]) and evaluated per record
//! against the record's value, key, headers and metadata ([`record`]).
//!
//! It does not convert values into CQL types ([`super::convert`]) nor decide which
//! statement a pipeline writes with ([`super::statement`]).

pub mod expr;
pub mod record;

pub use expr::{ExprError, Segment, Source};
pub use record::{Fields, Lookup, NoValue, RecordContext};

use super::convert::{convert, Cell, ColumnPlan, ConvertError, Field};
use super::metrics::stream_metrics;
use crate::config::{Nulls, PipelineConfig, TimestampUnit, TtlUnit};
use prometheus_client::metrics::counter::Counter;

/// The `columns` key of a record's TTL.
pub const TTL: &str = "__ttl";
/// The `columns` key of a record's write time.
pub const TIMESTAMP: &str = "__timestamp";

/// The longest TTL Cassandra accepts: 20 years, in seconds.
pub const MAX_TTL_SECONDS: i64 = 20 * 365 * 24 * 3600;

/// The source of `column`: its `columns` expression, or the value field of its name.
pub fn source_of(pipeline: &PipelineConfig, column: &str) -> Result<Source, ExprError> {
    match pipeline.columns.get(column) {
        Some(expression) => Source::parse(expression),
        None => Ok(Source::same_named(column)),
    }
}

/// What a record gives besides its columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Extras {
    /// The row's TTL in seconds, if the record or the pipeline sets one.
    pub ttl_seconds: Option<i32>,
    /// The write time from `columns.__timestamp`, in microseconds since the epoch.
    pub write_time_micros: Option<i64>,
}

/// One record's values: the plan's cells in plan order, and its TTL and write time.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    pub cells: Vec<Cell<'a>>,
    pub extras: Extras,
}

impl Row<'_> {
    /// The same row owning its text.
    pub fn into_owned(self) -> Row<'static> {
        Row {
            cells: self.cells.into_iter().map(Cell::into_owned).collect(),
            extras: self.extras,
        }
    }
}

/// A column's counter of records that lacked its field.
struct Absent {
    counter: Counter,
    column: String,
}

/// The compiled mapping of one pipeline onto one statement's plan.
pub struct Mapping {
    pipeline: String,
    /// What the statement binds, in its order.
    pub plan: Vec<ColumnPlan>,
    /// The table's primary key columns, for a tombstone's delete.
    pub keys: Vec<ColumnPlan>,
    nulls: Nulls,
    ttl: Option<Source>,
    ttl_unit: TtlUnit,
    default_ttl: Option<i32>,
    timestamp: Option<Source>,
    timestamp_unit: TimestampUnit,
    /// One per plan column, then `__ttl`, then `__timestamp`.
    absent: Vec<Absent>,
    /// Whether a message must be parsed with its numbers as written (a decimal or varint
    /// in the plan).
    exact_numbers: bool,
}

impl Mapping {
    /// Compiles the pipeline's `__ttl`, `__timestamp` and options around a plan.
    pub fn new(
        pipeline: &PipelineConfig,
        plan: Vec<ColumnPlan>,
        keys: Vec<ColumnPlan>,
    ) -> Result<Mapping, ExprError> {
        let extra = |name: &str| {
            pipeline
                .columns
                .get(name)
                .map(|e| Source::parse(e))
                .transpose()
        };
        let metrics = stream_metrics();
        let absent = plan
            .iter()
            .map(|c| c.column.as_str())
            .chain([TTL, TIMESTAMP])
            .map(|column| Absent {
                counter: metrics.field_absent(&pipeline.name, column),
                column: column.to_string(),
            })
            .collect();
        Ok(Mapping {
            exact_numbers: super::convert::needs_exact_numbers(&plan),
            pipeline: pipeline.name.clone(),
            plan,
            keys,
            nulls: pipeline.nulls,
            ttl: extra(TTL)?,
            ttl_unit: pipeline.ttl_unit,
            // Validation keeps it within Cassandra's 20 years.
            default_ttl: pipeline
                .ttl
                .map(|d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX)),
            timestamp: extra(TIMESTAMP)?,
            timestamp_unit: pipeline.timestamp_unit,
            absent,
        })
    }

    /// Whether a message for this plan is parsed with its numbers as written
    /// ([`super::convert::parse_json`]).
    pub fn exact_numbers(&self) -> bool {
        self.exact_numbers
    }

    /// Whether rows may carry a TTL (the statement then binds one).
    pub fn has_ttl(&self) -> bool {
        self.ttl.is_some() || self.default_ttl.is_some()
    }

    /// The record's values for the plan. A key column without a value fails the record;
    /// another column absent from it is left unset (and counted); a null one is unset or
    /// null as `nulls` says.
    pub fn row<'a, F: Fields + ?Sized>(
        &self,
        value: &'a F,
        record: &'a RecordContext<'a>,
    ) -> Result<Row<'a>, ConvertError> {
        // Room for the TTL and write time the statement may append.
        let mut cells = Vec::with_capacity(self.plan.len() + 2);
        for (i, c) in self.plan.iter().enumerate() {
            cells.push(self.cell(i, c, value, record)?);
        }
        Ok(Row {
            cells,
            extras: self.extras(value, record)?,
        })
    }

    /// The key of a tombstone's delete, in [`Mapping::keys`] order: every key column must
    /// be filled from outside the value (key, headers, metadata).
    pub fn delete_key<'a>(
        &self,
        record: &'a RecordContext<'a>,
    ) -> Result<Vec<Cell<'a>>, ConvertError> {
        if let Some(c) = self.keys.iter().find(|c| !c.source.outside_value()) {
            return Err(ConvertError::TombstoneKey {
                column: c.column.clone(),
                field: c.field.clone(),
            });
        }
        self.keys
            .iter()
            .map(|c| self.cell(usize::MAX, c, &NoValue, record))
            .collect()
    }

    /// A tombstone's write time: `columns.__timestamp` when the tombstone carries it (read
    /// from its key or headers, as the record it deletes had it), else None (its Kafka
    /// timestamp), so a delete is ordered against upserts by the same clock.
    pub fn delete_write_time(
        &self,
        record: &RecordContext<'_>,
    ) -> Result<Option<i64>, ConvertError> {
        match &self.timestamp {
            Some(source) if source.outside_value() => {
                let n = self.plan.len();
                match self.extra(n + 1, TIMESTAMP, source, &NoValue, record)? {
                    None => Ok(None),
                    Some(v) => {
                        write_time_micros(v, self.timestamp_unit)
                            .map(Some)
                            .map_err(|detail| ConvertError::WriteOption {
                                option: "columns.__timestamp",
                                field: source.to_string(),
                                detail,
                            })
                    }
                }
            }
            _ => Ok(None),
        }
    }

    fn cell<'a, F: Fields + ?Sized>(
        &self,
        index: usize,
        c: &ColumnPlan,
        value: &'a F,
        record: &'a RecordContext<'a>,
    ) -> Result<Cell<'a>, ConvertError> {
        let found =
            record
                .lookup(&c.source, value)
                .map_err(|detail| ConvertError::Incompatible {
                    field: c.field.clone(),
                    column: c.column.clone(),
                    kind: c.kind.to_string(),
                    detail,
                })?;
        Ok(match found {
            Lookup::Absent | Lookup::Null if c.key => {
                return Err(ConvertError::MissingKey {
                    column: c.column.clone(),
                    field: c.field.clone(),
                })
            }
            Lookup::Absent => {
                self.note_absent(index, &c.field);
                Cell::Unset
            }
            Lookup::Null => match self.nulls {
                Nulls::Unset => Cell::Unset,
                Nulls::Null => Cell::Null,
            },
            Lookup::Found(v) => convert(c, v)?,
        })
    }

    /// Counts a record without the field of the `index`th counter; the first time for a
    /// column (in this process) it is also logged, since it is often a typo in `columns`.
    fn note_absent(&self, index: usize, field: &str) {
        let Some(absent) = self.absent.get(index) else {
            return;
        };
        if absent.counter.inc() == 0 {
            tracing::warn!(
                pipeline = %self.pipeline,
                column = %absent.column,
                field,
                "a record has no value for this column, which is left unset; if every record lacks it, check the column's mapping in `columns` (counted in cassflow_stream_field_absent_total)"
            );
        }
    }

    fn extras<F: Fields + ?Sized>(
        &self,
        value: &F,
        record: &RecordContext<'_>,
    ) -> Result<Extras, ConvertError> {
        let n = self.plan.len();
        let ttl_seconds = match &self.ttl {
            None => self.default_ttl,
            Some(source) => match self.extra(n, TTL, source, value, record)? {
                None => self.default_ttl,
                Some(v) => Some(ttl_seconds(v, self.ttl_unit).map_err(|detail| {
                    ConvertError::WriteOption {
                        option: "columns.__ttl",
                        field: source.to_string(),
                        detail,
                    }
                })?),
            },
        };
        let write_time_micros = match &self.timestamp {
            None => None,
            Some(source) => match self.extra(n + 1, TIMESTAMP, source, value, record)? {
                None => None,
                Some(v) => Some(write_time_micros(v, self.timestamp_unit).map_err(|detail| {
                    ConvertError::WriteOption {
                        option: "columns.__timestamp",
                        field: source.to_string(),
                        detail,
                    }
                })?),
            },
        };
        Ok(Extras {
            ttl_seconds,
            write_time_micros,
        })
    }

    /// The value of `__ttl` or `__timestamp`; absent and null fall back to the default.
    fn extra<'v, F: Fields + ?Sized>(
        &self,
        index: usize,
        option: &'static str,
        source: &Source,
        value: &'v F,
        record: &'v RecordContext<'_>,
    ) -> Result<Option<Field<'v>>, ConvertError> {
        let found = record
            .lookup(source, value)
            .map_err(|detail| ConvertError::WriteOption {
                option,
                field: source.to_string(),
                detail,
            })?;
        Ok(match found {
            Lookup::Found(v) => Some(v),
            Lookup::Null => None,
            Lookup::Absent => {
                self.note_absent(index, &source.to_string());
                None
            }
        })
    }
}

/// A whole number from a field, read as an integer column reads it (a JSON number, numeric
/// text such as `"3600"` or `"3600.0"`, record metadata).
fn whole_number(v: Field<'_>) -> Result<i64, String> {
    super::convert::whole(v, i64::MIN, i64::MAX)
}

/// A record's TTL in seconds: a number in `unit` (0: no TTL). A part of a second rounds
/// up, so a TTL the record gives never becomes `TTL 0` (which would keep the row forever).
fn ttl_seconds(v: Field<'_>, unit: TtlUnit) -> Result<i32, String> {
    let n = whole_number(v)?;
    if n < 0 {
        return Err(format!("a TTL of {n} is negative"));
    }
    let up = |per: i64| Some(n / per + i64::from(n % per > 0));
    let seconds = match unit {
        TtlUnit::Seconds => Some(n),
        TtlUnit::Milliseconds => up(1_000),
        TtlUnit::Microseconds => up(1_000_000),
        TtlUnit::Nanoseconds => up(1_000_000_000),
        TtlUnit::Minutes => n.checked_mul(60),
        TtlUnit::Hours => n.checked_mul(3_600),
        TtlUnit::Days => n.checked_mul(86_400),
    };
    match seconds {
        Some(s) if (0..=MAX_TTL_SECONDS).contains(&s) => Ok(s as i32),
        _ if n < 0 => Err(format!("a TTL of {n} is negative")),
        _ => Err(format!(
            "a TTL of {n} {unit:?} is more than Cassandra's 20 years",
            unit = unit
        )),
    }
}

/// A record's write time in microseconds: a number in `unit`, a time (`kafka.timestamp`),
/// or ISO-8601 text.
fn write_time_micros(v: Field<'_>, unit: TimestampUnit) -> Result<i64, String> {
    if let Field::Time(t) = v {
        return Ok(t.timestamp_micros());
    }
    if let Field::Text(s) = v {
        if let Some(micros) = super::convert::iso_micros(s.trim()) {
            return Ok(micros);
        }
    }
    let n = whole_number(v).map_err(|e| format!("{e} (nor an ISO-8601 time)"))?;
    match unit {
        TimestampUnit::Microseconds => Some(n),
        TimestampUnit::Milliseconds => n.checked_mul(1_000),
        TimestampUnit::Seconds => n.checked_mul(1_000_000),
        TimestampUnit::Nanoseconds => Some(n / 1_000),
    }
    .ok_or_else(|| format!("{n} {unit:?} is out of range"))
}

#[cfg(test)]
mod tests;
