//! `cassflow stream` says what it does while it runs: `partitions assigned` for each
//! pipeline, then `stream progress` lines (consumed, written, dead-lettered, lag, state);
//! and it still stops on SIGTERM when nothing reads those lines any more.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `cassflow stream` on `file` with its stderr (the log) and stdout (the summary) piped.
fn stream_logging_to_a_pipe(
    dir: &std::path::Path,
    file: &std::path::Path,
) -> (common::StopOnDrop, std::process::ChildStderr) {
    let mut child = Command::new(common::cassflow_bin())
        .arg("--config")
        .arg(file)
        .arg("stream")
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cassflow stream");
    let stderr = child.stderr.take().expect("stderr");
    (common::StopOnDrop(child), stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_logs_assignment_and_progress() {
    let config = common::stack().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = common::users_pipeline("progress");
    let records = common::users(200, "progress");
    common::produce(&config, &pipeline.topic, &records).await;
    let file = common::write_config(dir.path(), &config, std::slice::from_ref(&pipeline));
    let (_stream, stderr) = stream_logging_to_a_pipe(dir.path(), &file);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let ours = format!("pipeline={}", pipeline.name);
    let (mut assigned, mut progress) = (false, None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while progress.is_none() && Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        if !line.contains(&ours) {
            continue;
        }
        assigned |= line.contains("partitions assigned");
        if line.contains("stream progress") && line.contains("written=200") {
            progress = Some(line);
        }
    }
    assert!(assigned, "a line when the partitions are assigned");
    let line = progress.expect("a progress line once the 200 records are written");
    for field in ["consumed=200", "dead_lettered=0", "lag=", "state=running"] {
        assert!(line.contains(field), "{field}: {line}");
    }
}

/// A stream whose stderr reader went away (`cassflow stream 2>&1 | head`, a log shipper that
/// died) stops on SIGTERM with its summary: a log line that cannot be written is dropped, it
/// does not take down the task that logged it (before, the SIGTERM handler's own log line
/// panicked it and the stream ran on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_log_reader_went_away_still_stops_on_sigterm() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let config = common::stack().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = common::users_pipeline("closedlog");
    let file = common::write_config(dir.path(), &config, std::slice::from_ref(&pipeline));
    let (mut stream, stderr) = stream_logging_to_a_pipe(dir.path(), &file);
    let stdout = stream.0.stdout.take().expect("stdout");
    let ours = format!("pipeline={}", pipeline.name);
    let started = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
        lines.any(|l| l.contains("partitions assigned") && l.contains(&ours))
        // The reader (and with it the pipe) is dropped here.
    });
    let started = tokio::time::timeout(Duration::from_secs(120), started)
        .await
        .expect("partitions assigned within two minutes")
        .expect("reader");
    assert!(started, "the stream logged its assignment");
    kill(Pid::from_raw(stream.0.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = stream.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 60 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    let mut summary = String::new();
    std::io::Read::read_to_string(&mut { stdout }, &mut summary).expect("stdout");
    assert!(
        summary.contains(&format!("{}: consumed 0", pipeline.name)),
        "{summary}"
    );
}
