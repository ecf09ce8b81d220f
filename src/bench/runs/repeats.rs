//! Repeated sink runs (`--repeats N`): on a shared machine one run of a pipeline can be
//! well off its usual rate, so the raw loop and every cassflow run are measured N times,
//! each into a fresh table, and each figure is reported as its own median over the runs:
//! steady rows/s, pipeline CPU seconds and Cassandra CPU seconds, so one outlying figure of
//! one run decides none of them. Of the two middle runs of an even count, the less
//! flattering one is taken (the lower rows/s, the higher CPU). The result carries the run
//! of the median rows/s (its wall time, first row, footprint and verification) and every
//! run's figures beside it ([`RunFigures`]), so the report can show the spread. Spark and
//! Kafka Connect take minutes a run and stay single runs.

use super::sink::SinkResult;
use crate::bench::{say, BenchError};
use futures::future::BoxFuture;
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
            cpu_seconds: r.own_cpu_seconds(),
            cassandra_cpu_seconds: r.cassandra_cpu_seconds,
        }
    }
}

/// The median of `values`, the higher of the two middle values of an even count (for a
/// CPU figure, the less flattering one); None for no values.
fn median_upper(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// The median pipeline CPU seconds of `runs` (the higher middle of an even count).
pub fn median_cpu_seconds(runs: &[RunFigures]) -> Option<f64> {
    median_upper(runs.iter().map(|r| r.cpu_seconds).collect())
}

/// The median Cassandra CPU seconds of `runs` (the higher middle of an even count); None
/// unless it was read in every run.
pub fn median_cassandra_cpu_seconds(runs: &[RunFigures]) -> Option<f64> {
    let read: Option<Vec<f64>> = runs.iter().map(|r| r.cassandra_cpu_seconds).collect();
    median_upper(read?)
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
    /// None unless Cassandra's CPU was read in every run.
    pub cassandra_cpu_seconds: Option<Range>,
}

/// One pipeline's sink run, started anew for each round of [`interleaved`].
pub struct Repeatable<'a> {
    pub name: String,
    pub run: Box<dyn FnMut() -> BoxFuture<'a, Result<SinkResult, BenchError>> + 'a>,
}

impl<'a> Repeatable<'a> {
    pub fn new<F, Fut>(name: impl Into<String>, mut run: F) -> Self
    where
        F: FnMut() -> Fut + 'a,
        Fut: Future<Output = Result<SinkResult, BenchError>> + Send + 'a,
    {
        Repeatable {
            name: name.into(),
            run: Box::new(move || Box::pin(run())),
        }
    }
}

/// Runs each of `runs` `repeats` times (at least once), in rounds: every pipeline once per
/// round, in the order given. A shared machine drifts over the bench's minutes (other
/// tenants, Cassandra's compactions of earlier runs' tables), and in rounds that drift
/// falls on every pipeline alike instead of on whichever runs last. Returns each
/// pipeline's medians ([`median_run`]) in the order given; a pipeline one of whose runs
/// failed is not run again and has no figure (a figure stands on every run it
/// summarises).
pub async fn interleaved(
    mut runs: Vec<Repeatable<'_>>,
    repeats: usize,
) -> Vec<(String, Result<SinkResult, BenchError>)> {
    let repeats = repeats.max(1);
    let mut done: Vec<Result<Vec<SinkResult>, BenchError>> =
        runs.iter().map(|_| Ok(Vec::new())).collect();
    for i in 1..=repeats {
        if repeats > 1 {
            say!("    round {i} of {repeats}");
        }
        for (pipeline, results) in runs.iter_mut().zip(done.iter_mut()) {
            let Ok(finished) = results else {
                continue;
            };
            let name = &pipeline.name;
            match (pipeline.run)().await {
                Ok(r) => {
                    if repeats > 1 {
                        say!("    {name}, run {i} of {repeats}: {}", r.line());
                    }
                    finished.push(r);
                }
                Err(e) => {
                    if repeats > 1 {
                        say!("    {name}: run {i} of {repeats} failed, so no figure for it");
                    }
                    *results = Err(e);
                }
            }
        }
    }
    runs.into_iter()
        .zip(done)
        .map(|(pipeline, results)| {
            let name = pipeline.name;
            let median = results.and_then(|runs| {
                median_run(runs).ok_or_else(|| BenchError::Verify(format!("{name}: no run")))
            });
            (name, median)
        })
        .collect()
}

/// The median run by steady rows/s (the lower middle one of an even count), carrying the
/// figures of every run in the order they ran, with its CPU figures replaced by their own
/// medians over the runs: its pipeline CPU ([`SinkResult::cpu_seconds`] is the median of
/// `runs`) and its Cassandra CPU (the median of every run's, None unless read in each).
/// None for no runs.
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
    chosen.cassandra_cpu_seconds = median_cassandra_cpu_seconds(&figures);
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
    let cassandra: Option<Vec<f64>> = runs.iter().map(|f| f.cassandra_cpu_seconds).collect();
    Spread {
        runs: runs.len(),
        steady_records_per_second: range(|f| f.steady_records_per_second),
        cpu_seconds: range(|f| f.cpu_seconds),
        cassandra_cpu_seconds: cassandra.map(|c| Range {
            min: c.iter().copied().fold(f64::INFINITY, f64::min),
            max: c.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }),
    }
}

impl Spread {
    /// "14200..15100 rows/s, CPU 18.2..19.9 s, Cassandra CPU 30.1..35.0 s (3 runs)", or
    /// "1 run".
    pub fn describe(&self) -> String {
        if self.runs <= 1 {
            return "1 run".into();
        }
        let cassandra = self.cassandra_cpu_seconds.map_or(String::new(), |c| {
            format!(", Cassandra CPU {:.1}..{:.1} s", c.min, c.max)
        });
        format!(
            "{:.0}..{:.0} rows/s, CPU {:.1}..{:.1} s{cassandra} ({} runs)",
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
    use crate::bench::measure::procstat::Footprint;

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

    fn with_server(steady: f64, cpu: f64, cassandra: f64) -> SinkResult {
        SinkResult {
            cassandra_cpu_seconds: Some(cassandra),
            ..run(steady, cpu)
        }
    }

    #[test]
    fn each_figure_is_its_own_median_so_one_outlier_decides_nothing() {
        // The median run by rows/s (200) had a CPU outlier in both figures; the reported
        // CPU figures are the medians over the runs, not that run's own.
        let chosen = median_run(vec![
            with_server(300.0, 3.0, 30.0),
            with_server(200.0, 9.0, 90.0),
            with_server(100.0, 2.0, 20.0),
        ])
        .expect("a run");
        assert_eq!(chosen.steady_records_per_second, 200.0);
        assert_eq!(chosen.cpu_seconds(), 3.0);
        assert_eq!(chosen.own_cpu_seconds(), 9.0, "the run's own is kept");
        assert_eq!(chosen.cassandra_cpu_seconds, Some(30.0));
        assert_eq!(chosen.runs[1].cpu_seconds, 9.0);
        assert_eq!(chosen.runs[1].cassandra_cpu_seconds, Some(90.0));
        let s = spread(&chosen);
        assert_eq!(
            s.cassandra_cpu_seconds,
            Some(Range {
                min: 20.0,
                max: 90.0
            })
        );
        assert_eq!(
            s.describe(),
            "100..300 rows/s, CPU 2.0..9.0 s, Cassandra CPU 20.0..90.0 s (3 runs)"
        );
        // Per million rows follows the medians too (what the targets compare).
        let per_m = SinkResult {
            records: 1_000_000,
            ..chosen
        };
        assert_eq!(per_m.cpu_seconds_per_million_rows(), 3.0);
        assert_eq!(per_m.cassandra_cpu_seconds_per_million_rows(), Some(30.0));
    }

    #[test]
    fn cassandra_cpu_has_a_median_only_when_read_in_every_run() {
        let chosen = median_run(vec![
            with_server(300.0, 3.0, 30.0),
            run(200.0, 2.0),
            with_server(100.0, 1.0, 10.0),
        ])
        .expect("a run");
        assert_eq!(chosen.cassandra_cpu_seconds, None);
        assert_eq!(spread(&chosen).cassandra_cpu_seconds, None);
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
    fn an_even_count_reports_the_less_flattering_middle() {
        let chosen = median_run(vec![
            run(400.0, 4.0),
            run(100.0, 1.0),
            run(300.0, 3.0),
            run(200.0, 2.0),
        ])
        .expect("a run");
        assert_eq!(chosen.steady_records_per_second, 200.0);
        // CPU takes the higher middle: of the two middle values, the less flattering.
        assert_eq!(chosen.cpu_seconds(), 3.0);
        let two = median_run(vec![
            with_server(50.0, 1.0, 10.0),
            with_server(40.0, 2.0, 20.0),
        ])
        .expect("a run");
        assert_eq!(two.steady_records_per_second, 40.0);
        assert_eq!(two.cpu_seconds(), 2.0);
        assert_eq!(two.cassandra_cpu_seconds, Some(20.0));
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

    #[tokio::test]
    async fn runs_go_in_rounds_and_a_failed_pipeline_is_not_run_again() {
        let log = std::cell::RefCell::new(Vec::new());
        let runner = |name: &'static str, fails_in: Option<usize>| {
            let log = &log;
            let mut round = 0;
            Repeatable::new(name, move || {
                round += 1;
                log.borrow_mut().push(format!("{name}{round}"));
                let result = match fails_in == Some(round) {
                    true => Err(BenchError::Verify(format!("{name} failed"))),
                    false => Ok(run(100.0 * round as f64, 1.0)),
                };
                async move { result }
            })
        };
        let results = interleaved(vec![runner("a", None), runner("b", Some(2))], 3).await;
        assert_eq!(*log.borrow(), ["a1", "b1", "a2", "b2", "a3"]);
        assert_eq!(results[0].0, "a");
        let a = results[0].1.as_ref().expect("a has a figure");
        assert_eq!((a.runs.len(), a.steady_records_per_second), (3, 200.0));
        assert_eq!(results[1].0, "b");
        assert!(results[1].1.is_err(), "b failed in round 2: no figure");
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
