//! The JSON-to-row conversion (`stream::mapping::Mapping::row`) for a plan with a column of every
//! CQL type (scalars, collections, tuples, a vector), fed any JSON object (`format =
//! "json"`, parsed both ways `parse_json` does) and any decoded user record.
//! Properties: it never panics; a key column never comes back unset; every cell has its
//! column's type, and a float or double cell is finite (no infinity is ever written).
#![no_main]

use cassflow::config::PipelineConfig;
use cassflow::record::UserView;
use cassflow::stream::convert::{parse_json, Cell, ColumnPlan, CqlValue};
use cassflow::cassandra::cql_type::{CqlType, Native};
use cassflow::stream::mapping::{Fields, Mapping, RecordContext, Source};
use libfuzzer_sys::fuzz_target;

const TYPES: [&str; 27] = [
    "text",
    "ascii",
    "uuid",
    "timeuuid",
    "timestamp",
    "date",
    "time",
    "duration",
    "int",
    "bigint",
    "smallint",
    "tinyint",
    "varint",
    "counter",
    "decimal",
    "double",
    "float",
    "boolean",
    "inet",
    "blob",
    "list<int>",
    "set<text>",
    "map<int, double>",
    "frozen<list<decimal>>",
    "tuple<int, text>",
    "vector<float, 2>",
    "map<frozen<tuple<date, varint>>, list<blob>>",
];

/// Every type reading each of `fields`, as a key column and as a plain one.
fn plan(fields: &[&str]) -> Vec<ColumnPlan> {
    let mut plan = Vec::new();
    for field in fields {
        for kind in TYPES {
            for key in [false, true] {
                let mut c = ColumnPlan::new(
                    &format!("{field}_{kind}_{key}"),
                    Source::same_named(field),
                    kind.parse().expect("a type"),
                );
                c.key = key;
                plan.push(c);
            }
        }
    }
    plan
}

fn matches_kind(cell: &Cell<'_>, kind: &CqlType) -> bool {
    let CqlType::Native(n) = kind.unfrozen() else {
        return matches!(cell, Cell::Unset)
            || matches!(cell, Cell::Value(v) if value_matches(v, kind));
    };
    match (cell, n) {
        (Cell::Unset, _) => true,
        (Cell::Text(t), Native::Ascii) => t.is_ascii(),
        (Cell::Text(_), Native::Text)
        | (Cell::Uuid(_), Native::Uuid)
        | (Cell::TimeUuid(_), Native::TimeUuid)
        | (Cell::Timestamp(_), Native::Timestamp)
        | (Cell::Date(_), Native::Date)
        | (Cell::Int(_), Native::Int)
        | (Cell::BigInt(_), Native::BigInt)
        | (Cell::SmallInt(_), Native::SmallInt)
        | (Cell::TinyInt(_), Native::TinyInt)
        | (Cell::Boolean(_), Native::Boolean) => true,
        (Cell::Double(v), Native::Double) => v.is_finite(),
        (Cell::Float(v), Native::Float) => v.is_finite(),
        (Cell::Value(v), _) => value_matches(v, kind),
        _ => false,
    }
}

/// Whether a driver value has the (nested) type.
fn value_matches(v: &CqlValue, kind: &CqlType) -> bool {
    let all = |items: &[CqlValue], t: &CqlType| items.iter().all(|i| value_matches(i, t));
    match (v, kind.unfrozen()) {
        (CqlValue::List(items), CqlType::List(t)) | (CqlValue::Set(items), CqlType::Set(t)) => {
            all(items, t)
        }
        (CqlValue::Vector(items), CqlType::Vector(t, n)) => {
            items.len() == usize::from(*n) && all(items, t)
        }
        (CqlValue::Map(pairs), CqlType::Map(k, t)) => pairs
            .iter()
            .all(|(a, b)| value_matches(a, k) && value_matches(b, t)),
        (CqlValue::Tuple(items), CqlType::Tuple(ts)) => {
            items.len() == ts.len()
                && items
                    .iter()
                    .zip(ts)
                    .all(|(i, t)| i.as_ref().is_none_or(|i| value_matches(i, t)))
        }
        (CqlValue::Float(f), CqlType::Native(Native::Float)) => f.is_finite(),
        (CqlValue::Double(f), CqlType::Native(Native::Double)) => f.is_finite(),
        (CqlValue::Ascii(t), CqlType::Native(Native::Ascii)) => t.is_ascii(),
        (v, CqlType::Native(n)) => matches!(
            (v, n),
            (CqlValue::Text(_), Native::Text)
                | (CqlValue::Uuid(_), Native::Uuid)
                | (CqlValue::Timeuuid(_), Native::TimeUuid)
                | (CqlValue::Timestamp(_), Native::Timestamp)
                | (CqlValue::Date(_), Native::Date)
                | (CqlValue::Time(_), Native::Time)
                | (CqlValue::Duration(_), Native::Duration)
                | (CqlValue::Int(_), Native::Int)
                | (CqlValue::BigInt(_), Native::BigInt)
                | (CqlValue::SmallInt(_), Native::SmallInt)
                | (CqlValue::TinyInt(_), Native::TinyInt)
                | (CqlValue::Varint(_), Native::Varint)
                | (CqlValue::Counter(_), Native::Counter)
                | (CqlValue::Decimal(_), Native::Decimal)
                | (CqlValue::Boolean(_), Native::Boolean)
                | (CqlValue::Inet(_), Native::Inet)
                | (CqlValue::Blob(_), Native::Blob)
        ),
        _ => false,
    }
}

/// The row `plan` makes of `fields`.
fn row<'a, F: Fields + ?Sized>(
    plan: &[ColumnPlan],
    fields: &'a F,
    record: &'a RecordContext<'a>,
) -> Result<Vec<Cell<'a>>, cassflow::stream::convert::ConvertError> {
    let pipeline = PipelineConfig::default();
    let mapping = Mapping::new(&pipeline, plan.to_vec(), Vec::new()).expect("no extras");
    mapping.row(fields, record).map(|r| r.cells)
}

/// Each column on its own (a row stops at its first bad column), then the whole plan.
fn check<F: Fields + ?Sized>(plan: &[ColumnPlan], fields: &F) {
    let record = RecordContext::new(None, None, "fuzz", 0, 0, None);
    for c in plan {
        if let Ok(cells) = row(std::slice::from_ref(c), fields, &record) {
            assert_eq!(cells.len(), 1);
            assert!(matches_kind(&cells[0], &c.kind), "{c:?}: {:?}", cells[0]);
            assert!(!(c.key && cells[0] == Cell::Unset), "{c:?} unset");
        }
    }
    if let Ok(cells) = row(plan, fields, &record) {
        assert_eq!(cells.len(), plan.len());
    }
}

fuzz_target!(|data: &[u8]| {
    for exact in [false, true] {
        if let Ok(serde_json::Value::Object(map)) = parse_json(data, exact) {
            let mut fields: Vec<&str> = map.keys().map(String::as_str).take(4).collect();
            fields.push("absent");
            check(&plan(&fields), &map);
        }
    }
    if let Ok((view, _)) = UserView::decode(data) {
        check(&plan(&cassflow::record::FIELDS), &view);
    }
});
