//! Footprint of pipeline processes, read from `/proc`: peak resident memory (`VmHWM` of
//! `/proc/<pid>/status`) and CPU seconds (`utime + stime` of `/proc/<pid>/stat`), summed
//! over a process and all its descendants (Spark's Python driver and its JVM). A sampler
//! polls while the processes run, because both figures vanish when a process is reaped.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What one process (with its descendants) used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Footprint {
    /// Sum of each process's peak RSS (`VmHWM`) in the tree, in bytes.
    pub peak_rss_bytes: u64,
    /// User + system CPU time of every process in the tree, in seconds.
    pub cpu_seconds: f64,
    /// How many processes the tree had (1 for a single process).
    pub processes: usize,
}

/// Waits for a child process to exit while sampling it (its tree), and returns its exit
/// status with what it used. Samples every 100 ms, and keeps the last sample taken before
/// the exit, which holds the peak (the figures vanish when the process is reaped).
pub async fn wait_sampled(
    child: &mut tokio::process::Child,
) -> (std::io::Result<std::process::ExitStatus>, Footprint) {
    let pid = child.id().unwrap_or(0);
    let sampler = Sampler::start(vec![pid]);
    let mut footprint = Footprint::default();
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                footprint = sampler.snapshot(&[pid]).pop().unwrap_or_default();
            }
        }
    };
    // What the samples saw while it lived (it may exit before the loop's first tick).
    let footprint = sampler.finish(&[pid]).pop().unwrap_or(footprint);
    (status, footprint)
}

#[derive(Debug, Default)]
struct Seen {
    /// pid -> (peak RSS bytes, CPU ticks), the largest values read while it lived.
    per_pid: HashMap<u32, (u64, u64)>,
}

/// Polls the trees rooted at some pids until stopped.
#[derive(Debug, Clone)]
pub struct Sampler {
    seen: Arc<Mutex<HashMap<u32, Seen>>>,
    stop: CancellationToken,
}

impl Sampler {
    /// Starts polling the trees of `roots` every 200 ms.
    pub fn start(roots: Vec<u32>) -> Sampler {
        let seen: Arc<Mutex<HashMap<u32, Seen>>> = Arc::new(Mutex::new(
            roots.iter().map(|r| (*r, Seen::default())).collect(),
        ));
        let stop = CancellationToken::new();
        let sampler = Sampler {
            seen: seen.clone(),
            stop: stop.clone(),
        };
        tokio::spawn(async move {
            loop {
                sample(&seen, &roots);
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        });
        sampler
    }

    /// Takes one last sample (call it just before stopping the processes) and stops polling.
    /// Returns one footprint per root, in the order given.
    pub fn finish(&self, roots: &[u32]) -> Vec<Footprint> {
        let footprints = self.snapshot(roots);
        self.stop.cancel();
        footprints
    }

    /// Samples now and returns what each root's tree used so far.
    pub fn snapshot(&self, roots: &[u32]) -> Vec<Footprint> {
        sample(&self.seen, roots);
        let ticks = clock_ticks();
        let Ok(seen) = self.seen.lock() else {
            return Vec::new();
        };
        roots
            .iter()
            .map(|root| {
                seen.get(root)
                    .map_or_else(Footprint::default, |s| Footprint {
                        peak_rss_bytes: s.per_pid.values().map(|(rss, _)| rss).sum(),
                        cpu_seconds: s.per_pid.values().map(|(_, t)| *t as f64).sum::<f64>()
                            / ticks,
                        processes: s.per_pid.len(),
                    })
            })
            .collect()
    }
}

fn sample(seen: &Mutex<HashMap<u32, Seen>>, roots: &[u32]) {
    let parents = parent_map();
    let Ok(mut seen) = seen.lock() else {
        return;
    };
    for root in roots {
        let entry = seen.entry(*root).or_default();
        for pid in tree(*root, &parents) {
            if let Some((rss, ticks)) = read_process(pid) {
                let slot = entry.per_pid.entry(pid).or_insert((0, 0));
                slot.0 = slot.0.max(rss);
                slot.1 = slot.1.max(ticks);
            }
        }
    }
}

/// `root` and every descendant of it.
fn tree(root: u32, parents: &HashMap<u32, u32>) -> Vec<u32> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(
            parents
                .iter()
                .filter(|(_, p)| **p == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    out
}

/// pid -> parent pid of every process.
fn parent_map() -> HashMap<u32, u32> {
    all_stats()
        .filter_map(|(pid, stat)| Some((pid, stat_fields(&stat)?.get(1)?.parse().ok()?)))
        .collect()
}

/// Whether a process group has a member that has not exited (a zombie waiting to be
/// reaped does not count).
pub fn group_running(group: u32) -> bool {
    let group = group.to_string();
    all_stats().any(|(_, stat)| {
        stat_fields(&stat)
            .is_some_and(|f| f.first() != Some(&"Z") && f.get(2) == Some(&group.as_str()))
    })
}

/// `(pid, /proc/<pid>/stat)` of every process.
fn all_stats() -> impl Iterator<Item = (u32, String)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            Some((
                pid,
                std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?,
            ))
        })
}

/// The fields after the `(comm)` of a `/proc/<pid>/stat` line: index 0 is the state,
/// 1 the parent pid, 2 the process group, 11 utime, 12 stime.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let after = stat.get(stat.rfind(')')? + 1..)?;
    Some(after.split_whitespace().collect())
}

/// (peak RSS in bytes, utime + stime in clock ticks) of one live process.
fn read_process(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields = stat_fields(&stat)?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    Some((hwm_kb * 1024, utime + stime))
}

/// CPU seconds (user + system, every thread) process `pid` has used so far; None once it
/// is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let (_, ticks) = read_process(pid)?;
    Some(ticks as f64 / clock_ticks())
}

/// What this process has used so far: a bench worker reports it at its end, since one that
/// ends within a sampling interval is never sampled by its parent.
pub fn own_footprint() -> Option<Footprint> {
    let (rss, ticks) = read_process(std::process::id())?;
    Some(Footprint {
        peak_rss_bytes: rss,
        cpu_seconds: ticks as f64 / clock_ticks(),
        processes: 1,
    })
}

fn clock_ticks() -> f64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as f64,
        _ => 100.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn a_group_runs_until_its_last_live_member_exits() {
        let spawn = |program: &str, arg: &str| {
            std::process::Command::new(program)
                .arg(arg)
                .process_group(0)
                .spawn()
                .expect("spawn")
        };
        let mut sleeper = spawn("sleep", "30");
        assert!(group_running(sleeper.id()));
        sleeper.kill().expect("kill");
        sleeper.wait().expect("reap");
        assert!(!group_running(sleeper.id()));
        // Exited but not reaped: a zombie, which no longer runs.
        let mut done = spawn("true", "");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while group_running(done.id()) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!group_running(done.id()));
        done.wait().expect("reap");
    }

    #[test]
    fn stat_fields_skip_a_command_with_spaces_and_parens() {
        let line = "42 (my (odd) cmd) S 7 42 42 0 -1 4194560 1 0 0 0 15 3 0 0 20 0 1 0";
        let f = stat_fields(line).expect("fields");
        assert_eq!(f[0], "S");
        assert_eq!(f[1], "7");
        assert_eq!(f[11], "15");
        assert_eq!(f[12], "3");
    }

    #[test]
    fn reads_this_process() {
        let (rss, _) = read_process(std::process::id()).expect("own /proc entry");
        assert!(rss > 0);
    }
}
