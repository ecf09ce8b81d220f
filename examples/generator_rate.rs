//! How fast the built-in generator makes users on one core, with and without encoding them
//! as message JSON. Run: `cargo run --release --example generator_rate [-- N]`.

use cassflow::source::generator::Generator;
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let mut generator = Generator::new(Some("rate"));
    let started = Instant::now();
    let mut bytes = 0usize;
    for _ in 0..n {
        bytes += generator.next_user().email.len();
    }
    let generate = started.elapsed();
    let started = Instant::now();
    for _ in 0..n {
        bytes += generator.next_user().to_json().len();
    }
    let with_json = started.elapsed();
    let per_minute = |d: std::time::Duration| n as f64 / d.as_secs_f64() * 60.0;
    println!(
        "generator: {n} users in {:.2}s = {:.1} M/min; with JSON encoding: {:.2}s = {:.1} M/min (checksum {bytes})",
        generate.as_secs_f64(),
        per_minute(generate) / 1e6,
        with_json.as_secs_f64(),
        per_minute(with_json) / 1e6,
    );
}
