//! How long the stream takes, on one core, to decode a users message and map it into the
//! row of `spark_streams.created_users` (the `format = "users"` path of every record), and
//! how much of it is the decode alone. Best of 7 passes over 200k generated messages.
//! Run: `cargo run --release --example users_decode`.

use cassflow::config::PipelineConfig;
use cassflow::record::UserView;
use cassflow::source::generator::Generator;
use cassflow::stream::convert::ColumnPlan;
use cassflow::stream::mapping::{Mapping, RecordContext, Source};
use std::time::Instant;

/// The users table's columns, as `system_schema` has them.
const COLUMNS: [(&str, &str); 12] = [
    ("id", "uuid"),
    ("first_name", "text"),
    ("last_name", "text"),
    ("gender", "text"),
    ("address", "text"),
    ("post_code", "text"),
    ("email", "text"),
    ("username", "text"),
    ("dob", "timestamp"),
    ("registered_date", "timestamp"),
    ("phone", "text"),
    ("picture", "text"),
];

const MESSAGES: usize = 200_000;
const PASSES: usize = 7;

/// Nanoseconds per message of the fastest of [`PASSES`] runs of `pass`.
fn best_of(mut pass: impl FnMut() -> usize) -> f64 {
    (0..PASSES)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(pass());
            started.elapsed().as_nanos() as f64 / MESSAGES as f64
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    let mut generator = Generator::new(Some("decode"));
    let users: Vec<_> = (0..MESSAGES).map(|_| generator.next_user()).collect();
    let payloads: Vec<Vec<u8>> = users.iter().map(|u| u.to_json().into_bytes()).collect();
    let keys: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
    let mut plan: Vec<ColumnPlan> = COLUMNS
        .iter()
        .map(|(column, kind)| {
            let mut c = ColumnPlan::new(
                column,
                Source::same_named(column),
                kind.parse().expect("a CQL type"),
            );
            c.key = *column == "id";
            c
        })
        .collect();
    plan.sort_by(|a, b| a.column.cmp(&b.column));
    let key_plan = plan.iter().filter(|c| c.key).cloned().collect();
    let mapping = Mapping::new(&PipelineConfig::default(), plan, key_plan).expect("a mapping");

    let decode = best_of(|| {
        payloads
            .iter()
            .map(|p| UserView::decode(p).expect("a user").0.first_name.len())
            .sum()
    });
    let decode_and_map = best_of(|| {
        let mut cells = 0;
        for (offset, (payload, key)) in payloads.iter().zip(&keys).enumerate() {
            let record = RecordContext::new(
                Some(key.as_bytes()),
                None,
                "users_created",
                0,
                offset as i64,
                None,
            );
            let (view, _) = UserView::decode(payload).expect("a user");
            cells += mapping.row(&view, &record).expect("a row").cells.len();
        }
        cells
    });
    println!(
        "decode {decode:.0} ns/message, decode and map into the row {decode_and_map:.0} ns/message \
         (best of {PASSES} passes over {MESSAGES} messages)"
    );
}
