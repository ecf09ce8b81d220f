//! Repeated sink runs (`--repeats N`): on a shared machine one run of a pipeline can be
//! well off its usual rate, so the raw loop and every cassflow run are measured N times,
//! each into a fresh table, and the run reported is the median one by steady rows/s (the
//! lower of the two middle runs when N is even), with every run's figures kept beside it
//! ([`RunFigures`]) so the report can show the spread. Spark and Kafka Connect take
//! minutes a run and stay single runs.

use super::sink::SinkResult;
use super::{say, BenchError};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// What one of the repeated runs measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFigures {
    pub steady_records_per_second: f64,
    /// CPU seconds of the pipeline's processes.
    pub cpu_seconds: f64,
    /// CPU seconds of the Cassandra server meanwhile, when read.
    #[serde(default)]
    pub cassandra_cpu_seconds: Option<f64>,
}

impl RunFigures {
    pub fn of(r: &SinkResult) -> RunFigures {
        RunFigures {
            steady_records_per_second: r.steady_records_per_second,
            cpu_seconds: r.cpu_seconds(),
            cassandra_cpu_seconds: r.cassandra_cpu_seconds,
        }
    }
}

/// Smallest and largest of a figure over the runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The spread of a reported result over its runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub runs: usize,
    pub steady_records_per_second: Range,
    pub cpu_seconds: Range,
}

/// Runs `run` `repeats` times (at least once) and returns the median run with every run's
/// figures; fails as soon as one run fails (a figure stands on every run it summarises).
pub async fn repeated<F, Fut>(
    name: &str,
    repeats: usize,
    mut run: F,
) -> Result<SinkResult, BenchError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<SinkResult, BenchError>>,
{
    let repeats = repeats.max(1);
    let mut runs = Vec::with_capacity(repeats);
    for i in 1..=repeats {
        if repeats > 1 {
            say!("    {name}: run {i} of {repeats}");
        }
        match run().await {
            Ok(r) => {
                if repeats > 1 {
                    say!("    run {i} of {repeats}: {}", r.line());
                }
                runs.push(r);
            }
            Err(e) => {
                if repeats > 1 {
                    say!("    {name}: run {i} of {repeats} failed, so no figure for it");
                }
                return Err(e);
            }
        }
    }
    median_run(runs).ok_or_else(|| BenchError::Verify(format!("{name}: no run")))
}

/// The median run by steady rows/s (the lower middle one of an even count), carrying the
/// figures of every run in the order they ran; None for no runs.
pub fn median_run(runs: Vec<SinkResult>) -> Option<SinkResult> {
    let figures: Vec<RunFigures> = runs.iter().map(RunFigures::of).collect();
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|a, b| {
        runs[*a]
            .steady_records_per_second
            .total_cmp(&runs[*b].steady_records_per_second)
    });
    let median = *order.get(runs.len().checked_sub(1)? / 2)?;
    let mut chosen = runs.into_iter().nth(median)?;
    chosen.runs = figures;
    Some(chosen)
}

/// The spread of `r` over its runs (a single run, or a result of before `--repeats`, is
/// its own spread).
pub fn spread(r: &SinkResult) -> Spread {
    let own = [RunFigures::of(r)];
    let runs: &[RunFigures] = if r.runs.is_empty() { &own } else { &r.runs };
    let range = |f: fn(&RunFigures) -> f64| Range {
        min: runs.iter().map(f).fold(f64::INFINITY, f64::min),
        max: runs.iter().map(f).fold(f64::NEG_INFINITY, f64::max),
    };
    Spread {
        runs: runs.len(),
        steady_records_per_second: range(|f| f.steady_records_per_second),
        cpu_seconds: range(|f| f.cpu_seconds),
    }
}

impl Spread {
    /// "14200..15100 rows/s, CPU 18.2..19.9 s (3 runs)", or "1 run".
    pub fn describe(&self) -> String {
        if self.runs <= 1 {
            return "1 run".into();
        }
        format!(
            "{:.0}..{:.0} rows/s, CPU {:.1}..{:.1} s ({} runs)",
            self.steady_records_per_second.min,
            self.steady_records_per_second.max,
            self.cpu_seconds.min,
            self.cpu_seconds.max,
            self.runs
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::procstat::Footprint;

    fn run(steady: f64, cpu: f64) -> SinkResult {
        SinkResult {
            pipeline: "cassflow x1".into(),
            steady_records_per_second: steady,
            processes: vec![Footprint {
                cpu_seconds: cpu,
                ..Footprint::default()
            }],
            ..SinkResult::default()
        }
    }

    #[test]
    fn the_median_run_is_reported_with_every_run_beside_it() {
        let chosen =
            median_run(vec![run(300.0, 3.0), run(100.0, 1.0), run(200.0, 2.0)]).expect("a run");
        assert_eq!(chosen.steady_records_per_second, 200.0);
        assert_eq!(chosen.cpu_seconds(), 2.0);
        let steady: Vec<f64> = chosen
            .runs
            .iter()
            .map(|r| r.steady_records_per_second)
            .collect();
        assert_eq!(steady, [300.0, 100.0, 200.0], "in the order they ran");
        let s = spread(&chosen);
        assert_eq!(s.runs, 3);
        assert_eq!(
            s.steady_records_per_second,
            Range {
                min: 100.0,
                max: 300.0
            }
        );
        assert_eq!(s.cpu_seconds, Range { min: 1.0, max: 3.0 });
        assert_eq!(s.describe(), "100..300 rows/s, CPU 1.0..3.0 s (3 runs)");
    }

    #[test]
    fn an_even_count_reports_the_lower_middle_run() {
        let chosen = median_run(vec![
            run(400.0, 4.0),
            run(100.0, 1.0),
            run(300.0, 3.0),
            run(200.0, 2.0),
        ])
        .expect("a run");
        assert_eq!(chosen.steady_records_per_second, 200.0);
        let two = median_run(vec![run(50.0, 1.0), run(40.0, 2.0)]).expect("a run");
        assert_eq!(two.steady_records_per_second, 40.0);
    }

    #[test]
    fn one_run_or_none() {
        let one = median_run(vec![run(100.0, 1.0)]).expect("a run");
        assert_eq!(one.runs.len(), 1);
        assert_eq!(spread(&one).describe(), "1 run");
        assert!(median_run(Vec::new()).is_none());
        // A result without runs (Spark, or JSON from before --repeats) is its own spread.
        let single = run(70.0, 7.0);
        let s = spread(&single);
        assert_eq!((s.runs, s.steady_records_per_second.min), (1, 70.0));
    }

    #[test]
    fn old_results_without_runs_still_load() {
        let json = r#"{"pipeline":"raw driver","instances":1,"records":10,"wall_seconds":1.0,
            "first_row_seconds":0.0,"records_per_second":10.0,"steady_records_per_second":10.0,
            "processes":[],"verification":{"expected_rows":10,"counted_rows":10,
            "sample_checked":1,"sample_mismatches":0},"settings":[],"load_average":"1 1 1"}"#;
        let r: SinkResult = serde_json::from_str(json).expect("old JSON loads");
        assert!(r.runs.is_empty());
    }
}
