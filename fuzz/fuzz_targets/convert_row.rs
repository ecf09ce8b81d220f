//! The JSON-to-row conversion (`stream::mapping::Mapping::row`) for a plan with a column of every
//! supported CQL type, fed any JSON object (`format = "json"`) and any decoded user record.
//! Properties: it never panics; a key column never comes back unset; every cell has its
//! column's type, and a float or double cell is finite (no infinity is ever written).
#![no_main]

use cassflow::record::UserView;
use cassflow::config::PipelineConfig;
use cassflow::stream::convert::{Cell, ColumnPlan, ColumnType};
use cassflow::stream::mapping::{Fields, Mapping, RecordContext, Source};
use libfuzzer_sys::fuzz_target;

const TYPES: [ColumnType; 12] = [
    ColumnType::Text,
    ColumnType::Uuid,
    ColumnType::TimeUuid,
    ColumnType::Timestamp,
    ColumnType::Date,
    ColumnType::Int,
    ColumnType::BigInt,
    ColumnType::SmallInt,
    ColumnType::TinyInt,
    ColumnType::Double,
    ColumnType::Float,
    ColumnType::Boolean,
];

/// Every type reading each of `fields`, as a key column and as a plain one.
fn plan(fields: &[&str]) -> Vec<ColumnPlan> {
    let mut plan = Vec::new();
    for field in fields {
        for kind in TYPES {
            for key in [false, true] {
                let mut c = ColumnPlan::new(
                    &format!("{field}_{kind:?}_{key}"),
                    Source::same_named(field),
                    kind,
                );
                c.key = key;
                plan.push(c);
            }
        }
    }
    plan
}

fn matches_kind(cell: &Cell<'_>, kind: ColumnType) -> bool {
    match (cell, kind) {
        (Cell::Unset, _) => true,
        (Cell::Text(_), ColumnType::Text)
        | (Cell::Uuid(_), ColumnType::Uuid)
        | (Cell::TimeUuid(_), ColumnType::TimeUuid)
        | (Cell::Timestamp(_), ColumnType::Timestamp)
        | (Cell::Date(_), ColumnType::Date)
        | (Cell::Int(_), ColumnType::Int)
        | (Cell::BigInt(_), ColumnType::BigInt)
        | (Cell::SmallInt(_), ColumnType::SmallInt)
        | (Cell::TinyInt(_), ColumnType::TinyInt)
        | (Cell::Boolean(_), ColumnType::Boolean) => true,
        (Cell::Double(v), ColumnType::Double) => v.is_finite(),
        (Cell::Float(v), ColumnType::Float) => v.is_finite(),
        _ => false,
    }
}

/// Each column on its own (a row stops at its first bad column), then the whole plan.
fn row<'a, F: Fields + ?Sized>(
    plan: &[ColumnPlan],
    fields: &'a F,
    record: &'a RecordContext<'a>,
) -> Result<Vec<Cell<'a>>, cassflow::stream::convert::ConvertError> {
    let pipeline = PipelineConfig::default();
    let mapping = Mapping::new(&pipeline, plan.to_vec(), Vec::new()).expect("no extras");
    mapping.row(fields, record).map(|r| r.cells)
}

fn check<F: Fields + ?Sized>(plan: &[ColumnPlan], fields: &F) {
    let record = RecordContext::new(None, None, "fuzz", 0, 0, None);
    for c in plan {
        if let Ok(cells) = row(std::slice::from_ref(c), fields, &record) {
            assert_eq!(cells.len(), 1);
            assert!(matches_kind(&cells[0], c.kind), "{c:?}: {:?}", cells[0]);
            assert!(!(c.key && cells[0] == Cell::Unset), "{c:?} unset");
        }
    }
    if let Ok(cells) = row(plan, fields, &record) {
        assert_eq!(cells.len(), plan.len());
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(serde_json::Value::Object(map)) = cassflow::json::from_slice(data) {
        let mut fields: Vec<&str> = map.keys().map(String::as_str).take(4).collect();
        fields.push("absent");
        check(&plan(&fields), &map);
    }
    if let Ok((view, _)) = UserView::decode(data) {
        check(&plan(&cassflow::record::FIELDS), &view);
    }
});
