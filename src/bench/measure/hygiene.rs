//! Machine hygiene before a bench: the figures of a busy machine are lower and noisier for
//! every peer, so the bench reads the load average (`/proc/loadavg`) and the core count
//! first, prints both, and refuses to start when the 1-minute load is above
//! [`MAX_LOAD_PER_CORE`] per core, unless `--allow-busy` is given; the report then says
//! loudly that the figures were taken on a busy machine ([`Busy`]).

use crate::bench::{say, BenchError};
use serde::{Deserialize, Serialize};

/// The most 1-minute load average per core at which the bench starts on its own.
pub const MAX_LOAD_PER_CORE: f64 = 0.5;

/// The machine's load when the bench was about to start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Load {
    /// Load averages over 1, 5 and 15 minutes.
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
    pub cores: usize,
}

impl Load {
    /// The 1-minute load average per core.
    pub fn per_core(&self) -> f64 {
        self.one / self.cores.max(1) as f64
    }

    /// Whether other work would skew the figures.
    pub fn busy(&self) -> bool {
        self.per_core() > MAX_LOAD_PER_CORE
    }

    /// "load average 0.14 0.74 3.39 (1, 5, 15 min) on 2 cores: 0.07 per core".
    pub fn describe(&self) -> String {
        format!(
            "load average {:.2} {:.2} {:.2} (1, 5, 15 min) on {} cores: {:.2} per core over the last minute",
            self.one,
            self.five,
            self.fifteen,
            self.cores,
            self.per_core()
        )
    }
}

/// A run measured on a busy machine (`--allow-busy`): recorded in the JSON and shown at the
/// top of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Busy {
    pub load: Load,
    /// The per-core limit the load was above.
    pub limit_per_core: f64,
    /// What the report says about it.
    pub warning: String,
}

/// The three load averages of a `/proc/loadavg` line.
pub fn parse_loadavg(text: &str) -> Option<(f64, f64, f64)> {
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    let (one, five, fifteen) = (
        fields.next()?.ok()?,
        fields.next()?.ok()?,
        fields.next()?.ok()?,
    );
    [one, five, fifteen]
        .iter()
        .all(|v| v.is_finite() && *v >= 0.0)
        .then_some((one, five, fifteen))
}

/// Whether the bench may start at `load`: `Ok(None)` on an idle machine, `Ok(Some)` on a
/// busy one with `allow_busy` (the figures are then marked), else the refusal.
pub fn decide(load: Load, allow_busy: bool) -> Result<Option<Busy>, BenchError> {
    if !load.busy() {
        return Ok(None);
    }
    if !allow_busy {
        return Err(BenchError::Busy {
            one_minute: load.one,
            cores: load.cores,
            per_core: load.per_core(),
            limit: MAX_LOAD_PER_CORE,
        });
    }
    Ok(Some(Busy {
        load,
        limit_per_core: MAX_LOAD_PER_CORE,
        warning: format!(
            "measured on a busy machine (--allow-busy): at the start the {}, above the {MAX_LOAD_PER_CORE:.2} per core the bench allows; other work shared the cores, so every figure here is lower and noisier than on an idle machine and is no result to quote",
            load.describe()
        ),
    }))
}

/// Reads the machine's load, prints it, and decides whether the bench may start.
pub fn check(allow_busy: bool) -> Result<Option<Busy>, BenchError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let text = match std::fs::read_to_string("/proc/loadavg") {
        Ok(text) => text,
        Err(e) => {
            say!(
                "machine: cannot read /proc/loadavg ({e}): how busy the machine is was not checked"
            );
            return Ok(None);
        }
    };
    let Some((one, five, fifteen)) = parse_loadavg(&text) else {
        say!(
            "machine: /proc/loadavg reads `{}`, no load average: how busy the machine is was not checked",
            text.trim()
        );
        return Ok(None);
    };
    let load = Load {
        one,
        five,
        fifteen,
        cores,
    };
    say!(
        "machine: {} (at most {MAX_LOAD_PER_CORE:.2} wanted)",
        load.describe()
    );
    let busy = decide(load, allow_busy)?;
    if busy.is_some() {
        say!("machine: busy, running anyway (--allow-busy); the report marks every figure as measured on a busy machine");
    }
    Ok(busy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(one: f64, cores: usize) -> Load {
        Load {
            one,
            five: 0.0,
            fifteen: 0.0,
            cores,
        }
    }

    #[test]
    fn parses_the_three_averages_of_proc_loadavg() {
        assert_eq!(
            parse_loadavg("0.14 0.74 3.39 1/111 27047\n"),
            Some((0.14, 0.74, 3.39))
        );
        assert_eq!(
            parse_loadavg("12.16 10.33 7.92"),
            Some((12.16, 10.33, 7.92))
        );
        assert_eq!(parse_loadavg(""), None);
        assert_eq!(parse_loadavg("0.1 0.2"), None);
        assert_eq!(parse_loadavg("0.1 x 0.3 1/2 3"), None);
        assert_eq!(parse_loadavg("-1 0.2 0.3"), None);
        assert_eq!(parse_loadavg("NaN 0.2 0.3"), None);
    }

    #[test]
    fn starts_on_an_idle_machine_and_refuses_a_busy_one() {
        // At the limit is still idle; above it is busy.
        assert_eq!(decide(load(1.0, 2), false).ok(), Some(None));
        assert_eq!(decide(load(0.0, 2), true).ok(), Some(None));
        match decide(load(1.1, 2), false) {
            Err(BenchError::Busy {
                one_minute,
                cores,
                per_core,
                limit,
            }) => {
                assert_eq!((one_minute, cores, limit), (1.1, 2, 0.5));
                assert!((per_core - 0.55).abs() < 1e-9);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Zero cores reported is read as one.
        assert!(decide(load(0.6, 0), false).is_err());
    }

    #[test]
    fn the_refusal_says_what_is_busy_the_numbers_and_the_fix() {
        let Err(e) = decide(load(3.1, 2), false) else {
            panic!("a busy machine is refused");
        };
        let line = e.to_string();
        assert!(!line.contains('\n'), "{line}");
        for part in [
            "busy",
            "3.10",
            "2 cores",
            "1.55 per core",
            "0.50",
            "--allow-busy",
        ] {
            assert!(line.contains(part), "{part} in {line}");
        }
    }

    #[test]
    fn allowed_busy_runs_are_marked() {
        let busy = decide(load(3.1, 2), true)
            .expect("allowed")
            .expect("marked");
        assert_eq!(busy.load.one, 3.1);
        assert!(busy.warning.contains("busy machine"), "{}", busy.warning);
        assert!(busy.warning.contains("3.10"), "{}", busy.warning);
    }
}
