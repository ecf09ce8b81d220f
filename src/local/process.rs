//! One background server process: spawning it detached with its output in a log file,
//! remembering it in a pid file, telling whether it still runs, how it ended, whether it
//! was stopped on purpose, and stopping it. Knows nothing about Kafka or Cassandra.

use super::LocalError;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The files that identify one managed process.
#[derive(Debug, Clone)]
pub struct ProcessFiles {
    pub pid: PathBuf,
    /// stdout and stderr of the process.
    pub log: PathBuf,
    /// A string that must appear in the process's command line (its Java main class), so a
    /// recycled pid is never mistaken for our server.
    pub marker: String,
}

impl ProcessFiles {
    /// Present while [`stop`] stops the process: its end is then on purpose, not a crash.
    fn stopping(&self) -> PathBuf {
        self.pid.with_extension("stopping")
    }

    /// How the process this command spawned ended: `<pid> <description>`.
    fn exit(&self) -> PathBuf {
        self.pid.with_extension("exit")
    }
}

/// Spawns `command` in its own process group (so Ctrl-C in the terminal does not reach it),
/// appends its output to the log file and records its pid.
pub fn spawn(mut command: Command, files: &ProcessFiles) -> Result<u32, LocalError> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&files.log)
        .map_err(|e| LocalError::io(format!("open {}", files.log.display()), e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| LocalError::io(format!("open {}", files.log.display()), e))?;
    let child = command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(|e| LocalError::io(format!("run {:?}", command.get_program()), e))?;
    let pid = child.id();
    let _ = fs::remove_file(files.stopping());
    let _ = fs::remove_file(files.exit());
    fs::write(&files.pid, format!("{pid}\n"))
        .map_err(|e| LocalError::io(format!("write {}", files.pid.display()), e))?;
    // The child outlives this handle on purpose: it is a daemon tracked by its pid file.
    // A reaper thread collects its exit status if it dies while we are still running, so it
    // never lingers as a zombie that looks alive, and records how it ended for the
    // supervisor's message.
    let exit_file = files.exit();
    std::thread::spawn(move || {
        let mut child = child;
        if let Ok(status) = child.wait() {
            let _ = fs::write(&exit_file, format!("{pid} {}\n", describe_exit(status)));
        }
    });
    Ok(pid)
}

/// "killed by signal 9 (SIGKILL)" or "exited with code 1".
fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => match Signal::try_from(signal) {
            Ok(name) => format!("killed by signal {signal} ({name})"),
            Err(_) => format!("killed by signal {signal}"),
        },
        (None, None) => "ended".into(),
    }
}

/// How process `pid`, spawned by this command, ended, if its reaper has recorded it. The
/// reaper writes just after the process is gone, so this waits for it up to `wait`.
pub async fn exit_description(files: &ProcessFiles, pid: u32, wait: Duration) -> Option<String> {
    let started = Instant::now();
    loop {
        if let Ok(text) = fs::read_to_string(files.exit()) {
            if let Some((recorded, how)) = text.trim().split_once(' ') {
                if recorded.parse() == Ok(pid) {
                    return Some(how.to_string());
                }
            }
        }
        if started.elapsed() >= wait {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The pid in the pid file, alive or not.
pub fn recorded_pid(files: &ProcessFiles) -> Option<u32> {
    fs::read_to_string(&files.pid).ok()?.trim().parse().ok()
}

/// Whether the process is gone because someone stopped it ([`stop`] removes the pid file,
/// and marks the stop while it runs), rather than by a crash or a kill.
pub fn stopped_on_purpose(files: &ProcessFiles) -> bool {
    !files.pid.exists() || files.stopping().exists()
}

/// The pid from the pid file if that process is alive and is ours.
pub fn running_pid(files: &ProcessFiles) -> Option<u32> {
    let pid = recorded_pid(files)?;
    is_ours(pid, &files.marker).then_some(pid)
}

fn is_ours(pid: u32, marker: &str) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    String::from_utf8_lossy(&cmdline).contains(marker) && is_alive(pid)
}

/// Whether a process we started ourselves still runs (exists and is not a zombie). Unlike
/// the marker check, this holds while the Java launcher re-executes itself at start, when
/// its command line is briefly not yet the server's.
pub fn is_alive(pid: u32) -> bool {
    // A zombie still has a /proc entry but is not running.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Whether every thread of a process has exited, so its sockets are closed. A killed
/// JVM's main thread turns zombie first while its other threads still tear down, holding
/// its listening sockets for a moment: [`is_alive`] is already false then.
pub fn is_gone(pid: u32) -> bool {
    let threads = match fs::read_dir(format!("/proc/{pid}/task")) {
        Ok(tasks) => tasks.count(),
        Err(_) => return true,
    };
    threads <= 1 && !is_alive(pid)
}

/// Waits up to `timeout` until the process is [`is_gone`]; false if it is not by then.
pub async fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let started = Instant::now();
    while !is_gone(pid) {
        if started.elapsed() >= timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}

/// How a stop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    NotRunning,
    Gracefully(Duration),
    Killed,
}

/// Sends SIGTERM, waits up to `timeout`, then SIGKILL. Removes the pid file.
pub async fn stop(files: &ProcessFiles, timeout: Duration) -> Stopped {
    let Some(pid) = running_pid(files) else {
        let _ = fs::remove_file(&files.pid);
        return Stopped::NotRunning;
    };
    let target = Pid::from_raw(pid as i32);
    let started = Instant::now();
    let _ = fs::write(files.stopping(), format!("{pid}\n"));
    let _ = kill(target, Signal::SIGTERM);
    let outcome = loop {
        if !is_ours(pid, &files.marker) {
            break Stopped::Gracefully(started.elapsed());
        }
        if started.elapsed() >= timeout {
            let _ = kill(target, Signal::SIGKILL);
            while is_ours(pid, &files.marker)
                && started.elapsed() < timeout + Duration::from_secs(10)
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            break Stopped::Killed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = fs::remove_file(&files.pid);
    let _ = fs::remove_file(files.stopping());
    outcome
}

/// Seconds since the process started, from /proc.
pub fn uptime(pid: u32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Field 22 (starttime) counts from 1; after the ')' split, index 19 holds it.
    let start_ticks: f64 = fields.get(19)?.parse().ok()?;
    let ticks_per_sec = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()? as f64;
    let boot_uptime: f64 = fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(Duration::from_secs_f64(
        (boot_uptime - start_ticks / ticks_per_sec).max(0.0),
    ))
}

/// Resident memory of the process in bytes, from /proc.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The last `lines` lines of a file (all of it if shorter), reading at most the last 1 MiB.
pub fn tail(path: &Path, lines: usize) -> std::io::Result<String> {
    let mut file = fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(1 << 20);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    let mut out = all[from..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

/// Disk space the files below `dir` take, in bytes: their allocated blocks, not their
/// apparent length (Kafka preallocates 10 MiB index files per segment, which a listing would
/// count whole though they hold a few KiB).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map(|m| on_disk(&m)).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// Bytes a file occupies on disk (`st_blocks` counts 512-byte units whatever the block size).
fn on_disk(metadata: &fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    metadata.blocks().saturating_mul(512)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparse_file_counts_its_blocks_not_its_length() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = fs::File::create(dir.path().join("00000.index")).expect("create");
        file.set_len(1 << 30).expect("preallocate like Kafka");
        fs::write(dir.path().join("00000.log"), vec![1u8; 8192]).expect("write");
        let size = dir_size(dir.path());
        assert!((8192..1 << 20).contains(&size), "{size}");
    }

    #[tokio::test]
    async fn spawn_track_and_stop_a_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = ProcessFiles {
            pid: dir.path().join("p.pid"),
            log: dir.path().join("p.log"),
            marker: "cassflow-process-test".into(),
        };
        // `sh -c script NAME`: NAME is $0, so the marker shows in the command line.
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "while true; do sleep 0.1; done",
            "cassflow-process-test",
        ]);
        let pid = spawn(cmd, &files).expect("spawn");
        assert!(is_alive(pid));
        // Until exec completes, the command line may not show the marker yet.
        for _ in 0..100 {
            if running_pid(&files).is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(running_pid(&files), Some(pid));
        assert!(uptime(pid).is_some());
        assert!(rss_bytes(pid).unwrap_or(0) > 0);
        let outcome = stop(&files, Duration::from_secs(5)).await;
        assert!(matches!(outcome, Stopped::Gracefully(_)), "{outcome:?}");
        assert_eq!(running_pid(&files), None);
        assert!(!files.pid.exists());
    }

    #[tokio::test]
    async fn stop_kills_a_process_that_ignores_sigterm() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = ProcessFiles {
            pid: dir.path().join("p.pid"),
            log: dir.path().join("p.log"),
            marker: "cassflow-stubborn".into(),
        };
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "trap '' TERM; echo ready; while true; do sleep 0.1; done",
            "cassflow-stubborn",
        ]);
        spawn(cmd, &files).expect("spawn");
        // SIGTERM must not arrive before the trap is set.
        for _ in 0..100 {
            if fs::read_to_string(&files.log)
                .unwrap_or_default()
                .contains("ready")
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let outcome = stop(&files, Duration::from_millis(500)).await;
        assert_eq!(outcome, Stopped::Killed);
        assert_eq!(running_pid(&files), None);
    }

    #[tokio::test]
    async fn a_kill_is_recorded_and_told_apart_from_a_stop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = ProcessFiles {
            pid: dir.path().join("p.pid"),
            log: dir.path().join("p.log"),
            marker: "cassflow-killed".into(),
        };
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "while true; do sleep 0.1; done", "cassflow-killed"]);
        let pid = spawn(cmd, &files).expect("spawn");
        assert!(!stopped_on_purpose(&files), "running");
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill");
        let how = exit_description(&files, pid, Duration::from_secs(10)).await;
        assert_eq!(how.as_deref(), Some("killed by signal 9 (SIGKILL)"));
        assert_eq!(running_pid(&files), None);
        assert_eq!(
            recorded_pid(&files),
            Some(pid),
            "a crash leaves the pid file"
        );
        assert!(!stopped_on_purpose(&files), "a kill is not a stop");
        assert_eq!(
            exit_description(&files, pid + 1, Duration::ZERO).await,
            None,
            "another pid's exit is not this one's"
        );

        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exit 3", "cassflow-killed"]);
        let pid = spawn(cmd, &files).expect("spawn");
        let how = exit_description(&files, pid, Duration::from_secs(10)).await;
        assert_eq!(how.as_deref(), Some("exited with code 3"));

        let mut cmd = Command::new("sh");
        cmd.args(["-c", "while true; do sleep 0.1; done", "cassflow-killed"]);
        spawn(cmd, &files).expect("spawn");
        for _ in 0..100 {
            if running_pid(&files).is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        stop(&files, Duration::from_secs(5)).await;
        assert!(stopped_on_purpose(&files), "stop removes the pid file");
    }

    #[test]
    fn stale_pid_file_is_not_running() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = ProcessFiles {
            pid: dir.path().join("p.pid"),
            log: dir.path().join("p.log"),
            marker: "no-such-marker-xyz".into(),
        };
        fs::write(&files.pid, format!("{}\n", std::process::id())).expect("write");
        assert_eq!(running_pid(&files), None, "our own pid lacks the marker");
    }

    #[test]
    fn tail_returns_last_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.log");
        fs::write(&p, "a\nb\nc\n").expect("write");
        assert_eq!(tail(&p, 2).expect("tail"), "b\nc\n");
        assert_eq!(tail(&p, 10).expect("tail"), "a\nb\nc\n");
    }
}
