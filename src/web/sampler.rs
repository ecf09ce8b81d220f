//! The Stream page's data: once a second, read the process's Prometheus metrics (the
//! same text `/metrics` serves, so the charts and Prometheus agree), turn counters into
//! rates and the write-latency histogram into p50/p99 over the last few seconds, and keep
//! the results in a ring buffer the page polls.

use crate::stream::metrics::{self, LastError};
use crate::stream::status::{self, PipelineStatus};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Samples kept: ten minutes at one a second.
pub const CAPACITY: usize = 600;
/// Rates and quantiles are computed over this many seconds.
const WINDOW: usize = 5;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PipelineSample {
    pub rows_per_sec: f64,
    pub written: u64,
    pub consumed: u64,
    pub lag: i64,
    pub dead_letters: u64,
    pub dead_letters_per_sec: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub in_flight: i64,
    pub paused: bool,
    pub last_error: Option<LastError>,
    /// Running, paused (and why), failed at start (and why); None if not run here.
    pub status: Option<PipelineStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub seq: u64,
    /// Milliseconds since the epoch.
    pub at: i64,
    pub pipelines: BTreeMap<String, PipelineSample>,
}

/// One parsed reading of the metrics, per pipeline.
#[derive(Debug, Clone, Default)]
struct Raw {
    written: f64,
    consumed: f64,
    dead_letters: f64,
    lag: f64,
    in_flight: f64,
    paused: f64,
    /// (upper bound, cumulative count), ascending.
    buckets: Vec<(f64, f64)>,
}

#[derive(Default)]
pub struct Samples {
    inner: Mutex<Ring>,
}

#[derive(Default)]
struct Ring {
    samples: VecDeque<Sample>,
    readings: VecDeque<(Instant, HashMap<String, Raw>)>,
    seq: u64,
}

impl Samples {
    /// Reads the metrics now and appends a sample.
    pub fn take(&self) {
        let reading = parse_readings(&metrics::encode());
        let Ok(mut ring) = self.inner.lock() else {
            return;
        };
        let now = Instant::now();
        ring.readings.push_back((now, reading));
        while ring.readings.len() > WINDOW + 1 {
            ring.readings.pop_front();
        }
        let Some(((then, old), (_, new))) = ring.readings.front().zip(ring.readings.back()) else {
            return;
        };
        let secs = now.duration_since(*then).as_secs_f64();
        let pipelines = new
            .iter()
            .map(|(name, cur)| {
                let prev = old.get(name).cloned().unwrap_or_default();
                (name.clone(), summarize(name, &prev, cur, secs))
            })
            .collect();
        ring.seq += 1;
        let sample = Sample {
            seq: ring.seq,
            at: chrono::Utc::now().timestamp_millis(),
            pipelines,
        };
        ring.samples.push_back(sample);
        while ring.samples.len() > CAPACITY {
            ring.samples.pop_front();
        }
    }

    /// Samples newer than `since` (all kept ones for 0), oldest first.
    pub fn since(&self, since: u64) -> Vec<Sample> {
        self.inner
            .lock()
            .map(|r| {
                r.samples
                    .iter()
                    .filter(|s| s.seq > since)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn latest(&self) -> Option<Sample> {
        self.inner.lock().ok()?.samples.back().cloned()
    }
}

fn summarize(name: &str, prev: &Raw, cur: &Raw, secs: f64) -> PipelineSample {
    let rate = |a: f64, b: f64| {
        if secs > 0.0 {
            ((b - a).max(0.0) / secs * 10.0).round() / 10.0
        } else {
            0.0
        }
    };
    let deltas: Vec<(f64, f64)> = cur
        .buckets
        .iter()
        .map(|(le, n)| {
            let before = prev
                .buckets
                .iter()
                .find(|(l, _)| l == le)
                .map_or(0.0, |b| b.1);
            (*le, (n - before).max(0.0))
        })
        .collect();
    PipelineSample {
        rows_per_sec: rate(prev.written, cur.written),
        written: cur.written as u64,
        consumed: cur.consumed as u64,
        lag: cur.lag as i64,
        dead_letters: cur.dead_letters as u64,
        dead_letters_per_sec: rate(prev.dead_letters, cur.dead_letters),
        latency_p50_ms: quantile(&deltas, 0.5).map(|s| s * 1000.0),
        latency_p99_ms: quantile(&deltas, 0.99).map(|s| s * 1000.0),
        in_flight: cur.in_flight as i64,
        paused: cur.paused > 0.0,
        last_error: metrics::last_error(name),
        status: status::get(name),
    }
}

/// The `q` quantile of cumulative histogram buckets, interpolated inside its bucket.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(le, n) in buckets {
        if n >= rank {
            if le.is_infinite() {
                return Some(lower);
            }
            let share = if n > below {
                (rank - below) / (n - below)
            } else {
                1.0
            };
            return Some(lower + (le - lower) * share);
        }
        (lower, below) = (le, n);
    }
    Some(lower)
}

/// Per-pipeline readings from Prometheus text.
fn parse_readings(text: &str) -> HashMap<String, Raw> {
    let mut out: HashMap<String, Raw> = HashMap::new();
    for (name, labels, value) in text.lines().filter_map(parse_line) {
        let Some(pipeline) = labels
            .iter()
            .find(|(k, _)| k == "pipeline")
            .map(|l| l.1.clone())
        else {
            continue;
        };
        let raw = out.entry(pipeline).or_default();
        match name.as_str() {
            "cassflow_records_written_total" => raw.written += value,
            "cassflow_records_consumed_total" => raw.consumed += value,
            "cassflow_dead_letters_total" => raw.dead_letters += value,
            "cassflow_consumer_lag" => raw.lag += value,
            "cassflow_writes_in_flight" => raw.in_flight += value,
            "cassflow_stream_paused" => raw.paused += value,
            "cassflow_write_latency_seconds_bucket" => {
                let le = labels.iter().find(|(k, _)| k == "le").map(|l| l.1.as_str());
                let le = match le {
                    Some("+Inf") => f64::INFINITY,
                    Some(v) => v.parse().unwrap_or(f64::INFINITY),
                    None => continue,
                };
                raw.buckets.push((le, value));
            }
            _ => {}
        }
    }
    for raw in out.values_mut() {
        raw.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

type Labels = Vec<(String, String)>;

/// `name{k="v",...} value` (or `name value`); comments and malformed lines give None.
fn parse_line(line: &str) -> Option<(String, Labels, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices();
        let mut key = String::new();
        loop {
            let (i, c) = chars.next()?;
            match c {
                '}' => {
                    rest = &body[i + 1..];
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    chars.next().filter(|(_, c)| *c == '"')?;
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '"' => break,
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            other => value.push(other),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                other => key.push(other),
            }
        }
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((name, labels, value))
}

/// Takes a sample every second until `cancel`.
pub async fn run(samples: std::sync::Arc<Samples>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => samples.take(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_lines() {
        let (name, labels, value) = parse_line(
            r#"cassflow_write_latency_seconds_bucket{le="0.0002",pipeline="a \"b\""} 3"#,
        )
        .unwrap_or_else(|| unreachable!());
        assert_eq!(name, "cassflow_write_latency_seconds_bucket");
        assert_eq!(labels[0], ("le".into(), "0.0002".into()));
        assert_eq!(labels[1], ("pipeline".into(), "a \"b\"".into()));
        assert_eq!(value, 3.0);
        assert_eq!(parse_line("up 1").map(|l| l.2), Some(1.0));
        assert!(parse_line("# TYPE x counter").is_none());
    }

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let b = [(0.001, 50.0), (0.002, 100.0), (f64::INFINITY, 100.0)];
        assert_eq!(quantile(&b, 0.5), Some(0.001));
        let p75 = quantile(&b, 0.75).unwrap_or_default();
        assert!((p75 - 0.0015).abs() < 1e-9, "{p75}");
        assert_eq!(quantile(&[(0.001, 0.0)], 0.5), None);
    }

    #[test]
    fn readings_sum_labels_per_pipeline() {
        let text = "cassflow_consumer_lag{pipeline=\"p\",partition=\"0\"} 4\n\
                    cassflow_consumer_lag{pipeline=\"p\",partition=\"1\"} 6\n\
                    cassflow_records_written_total{pipeline=\"p\"} 10\n";
        let r = parse_readings(text);
        assert_eq!(r["p"].lag, 10.0);
        assert_eq!(r["p"].written, 10.0);
        let s = summarize("p", &Raw::default(), &r["p"], 2.0);
        assert_eq!(s.rows_per_sec, 5.0);
        assert_eq!(s.latency_p50_ms, None);
    }
}
