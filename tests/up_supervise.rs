//! `cassflow up` supervises the servers it started, as Compose's `restart: unless-stopped`
//! does: on a private stack (own ports and data dir) that `up` starts itself, a `kill -9` of
//! Cassandra and then of Kafka is reported at once with the end of the server's log, the
//! server is restarted, and records produced after each restart reach Cassandra. On SIGTERM
//! `up` exits 0 and stops both servers.

mod common;

use cassflow::local::{LocalStack, Server};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The lines `up` prints, read on a thread, waited for with a bound.
struct Output {
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Output {
    /// Reads until a line at or after index `from` satisfies `pred`; returns its index.
    fn wait_for(
        &mut self,
        from: usize,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> usize {
        if let Some(i) = self.seen.iter().skip(from).position(|l| pred(l)) {
            return from + i;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = pred(&line);
                    self.seen.push(line);
                    if hit {
                        return self.seen.len() - 1;
                    }
                }
                Err(_) => panic!(
                    "no line {what} within {timeout:?}; up printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Reads the lines up has printed so far without waiting for more.
    fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }
}

/// Kills `up` and the servers of its stack if the test fails half-way, so no process
/// outlives the test (their files go with the temporary directory).
struct KillOnDrop {
    /// None once `up` has exited: its pid may be another process's by then.
    up: Option<u32>,
    data_dir: std::path::PathBuf,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(up) = self.up {
            let _ = kill(Pid::from_raw(up as i32), Signal::SIGKILL);
        }
        for server in Server::ALL {
            let pid_file = self
                .data_dir
                .join(server.id())
                .join(format!("{}.pid", server.id()));
            if let Some(pid) = std::fs::read_to_string(pid_file)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
            {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// Waits (bounded) until every record's id is a row of the pipeline's table.
async fn wait_for_ids(
    config: &cassflow::config::Config,
    keyspace: &str,
    records: &[cassflow::record::UserRecord],
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        // A fresh session each time: Cassandra may just have restarted.
        if let Ok(session) = cassflow::cassandra::connect(&config.cassandra).await {
            let rows = common::read_users(&session, keyspace, "created_users").await;
            let missing = records.iter().filter(|r| !rows.contains_key(&r.id)).count();
            if missing == 0 {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "{missing} of {} records missing from {keyspace}",
                    records.len()
                );
            }
        } else if tokio::time::Instant::now() >= deadline {
            panic!("Cassandra does not answer");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn up_restarts_the_servers_it_started_after_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let [kafka, controller, cql, storage, web] = common::free_ports();
    let topic = common::unique("supervise");
    let keyspace = common::unique("supks");
    let data_dir = dir.path().join("stack");
    let file = dir.path().join("cassflow.toml");
    std::fs::write(
        &file,
        format!(
            "[kafka]\nbootstrap = \"127.0.0.1:{kafka}\"\n\
             [cassandra]\ncontact_points = \"127.0.0.1:{cql}\"\n\
             [[pipelines]]\nname = \"users\"\ntopic = \"{topic}\"\npartitions = 2\n\
             keyspace = \"{keyspace}\"\ntable = \"created_users\"\ngroup_id = \"{topic}-group\"\n\
             [source]\nkind = \"generator\"\n\
             [web]\nbind = \"127.0.0.1:{web}\"\n\
             [local]\ndata_dir = \"{}\"\nkafka_controller_port = {controller}\n\
             cassandra_storage_port = {storage}\nkafka_heap = \"384m\"\n\
             cassandra_heap = \"768m\"\n",
            data_dir.display()
        ),
    )
    .expect("write config");
    // The seed's DAG would produce a minute of users at start; only the test's records here.
    std::fs::create_dir_all(dir.path().join("dags")).expect("dags dir");
    std::fs::write(
        dir.path().join("dags/user_automation.toml"),
        "schedule = \"None\"\n[tasks.produce]\nkind = \"produce\"\ncount = 1\n",
    )
    .expect("write DAG");
    let config = cassflow::config::load(Some(&file)).expect("config loads");
    let stack = LocalStack::new(&config);

    let mut child = Command::new(common::cassflow_bin())
        .arg("--config")
        .arg(&file)
        .arg("up")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn cassflow up");
    let mut guard = KillOnDrop {
        up: Some(child.id()),
        data_dir: data_dir.clone(),
    };
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = Output {
        lines: rx,
        seen: Vec::new(),
    };
    out.wait_for(0, "saying up is ready", Duration::from_secs(600), |l| {
        l.contains("press Ctrl-C")
    });
    assert!(
        out.seen
            .iter()
            .any(|l| l.contains("starting the local stack for kafka and cassandra")),
        "up started the private stack: {:?}",
        out.seen
    );

    let before = common::users(20, "before");
    common::produce(&config, &topic, &before).await;
    wait_for_ids(&config, &keyspace, &before).await;

    let mut all = before;
    for server in [Server::Cassandra, Server::Kafka] {
        let name = server.display_name();
        let pid = common::server_pid(&stack, server).await;
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill -9");
        let died = format!("{name} (pid {pid}) died: killed by signal 9 (SIGKILL); last lines of");
        let from = out.seen.len();
        let at = out.wait_for(
            from,
            "saying the server died",
            Duration::from_secs(60),
            |l| l.starts_with(&died),
        );
        assert!(
            out.seen[at].contains(&stack.log_path(server).display().to_string()),
            "{}",
            out.seen[at]
        );
        // The tail of its log follows, indented.
        let next = out.wait_for(at + 1, "of its log", Duration::from_secs(10), |l| {
            l.starts_with("    ")
        });
        assert_eq!(next, at + 1, "{:?}", out.seen);
        out.wait_for(at, "saying it restarts", Duration::from_secs(30), |l| {
            l.starts_with(&format!("restarting {name} in "))
        });
        out.wait_for(at, "saying it restarted", Duration::from_secs(400), |l| {
            l.starts_with(&format!("{name} restarted: pid "))
        });
        let new_pid = common::server_pid(&stack, server).await;
        assert_ne!(new_pid, pid, "a new process");

        let after = common::users(20, server.id());
        common::produce(&config, &topic, &after).await;
        wait_for_ids(&config, &keyspace, &after).await;
        all.extend(after);
    }
    wait_for_ids(&config, &keyspace, &all).await;
    let metrics = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{web}/metrics"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    for server in ["cassandra", "kafka"] {
        for family in ["crashes", "restarts"] {
            let line = format!("cassflow_local_server_{family}_total{{server=\"{server}\"}} 1");
            assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
        }
    }

    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("signal");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    guard.up = None;
    out.drain();
    assert_eq!(status.code(), Some(0), "{:?}", out.seen);
    assert!(
        !out.seen.iter().any(|l| l.contains("did not come back")),
        "{:?}",
        out.seen
    );
    let status = stack.status().await;
    assert!(
        status.servers.iter().all(|s| s.pid.is_none()),
        "up stopped the servers it started: {status}"
    );
}
