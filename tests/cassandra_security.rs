//! Cassandra with passwords and TLS: a private node (own ports and data dir) started by the
//! local stack with `local.cassandra_auth` and `local.cassandra_tls`, which makes its CA and
//! keystores with keytool and creates cassflow's role; Kafka is the shared test stack's.
//! One node serves every case in turn (a Cassandra start is the slow part):
//! - the right password, CA and client certificate (the node requires one): records
//!   arrive end to end;
//! - a wrong password: `cassflow stream` and `cassflow check rows` stop with one line naming
//!   `cassandra.username`/`cassandra.password` and the fix;
//! - an untrusted server certificate (another CA): one line naming `cassandra.tls.ca`;
//! - no client certificate: one line naming `cassandra.tls.cert`;
//! - a role without MODIFY on the table: the pipeline pauses and says why, dead-letters
//!   nothing, and after `GRANT MODIFY` resumes with every record written.

mod common;

use cassflow::config::Config;
use cassflow::stream::status::{PauseReason, State};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "cassflow";
const PASSWORD: &str = "cassflow-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_and_tls_on_a_private_node() {
    let shared = common::stack().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, _node) =
        common::private_cassandra(&shared, &dir.path().join("stack"), USER, PASSWORD).await;

    the_right_password_and_ca_write_end_to_end(&config).await;
    a_wrong_password_stops_with_the_keys_to_fix(&config, dir.path()).await;
    an_untrusted_certificate_names_the_ca_key(&config, dir.path()).await;
    no_client_certificate_names_the_cert_key(&config, dir.path()).await;
    a_role_without_modify_pauses_until_granted(&config).await;
}

async fn the_right_password_and_ca_write_end_to_end(config: &Config) {
    let pipeline = common::users_pipeline("secure");
    let records = common::users(300, "secure");
    common::produce(config, &pipeline.topic, &records).await;
    let summary = common::stream_until_table_holds(config, &pipeline, &records).await;
    println!("end to end over TLS as {USER}: {summary:?}");
}

async fn a_wrong_password_stops_with_the_keys_to_fix(config: &Config, dir: &Path) {
    let pipeline = common::users_pipeline("wrongpw");
    let file = common::write_config(dir, config, std::slice::from_ref(&pipeline));
    let env = [("CASSFLOW_CASSANDRA__PASSWORD", "not-the-password")];
    stream_and_check_stop_saying(
        "wrong password",
        dir,
        &file,
        &env,
        &[
            "rejected the login",
            "cassandra.username `cassflow`",
            "cassandra.password",
            "fix: ",
        ],
    );
}

/// `cassflow stream` and `cassflow check rows` each stop with one error line holding
/// every one of `parts`.
fn stream_and_check_stop_saying(
    case: &str,
    dir: &Path,
    file: &Path,
    env: &[(&str, &str)],
    parts: &[&str],
) {
    for args in [&["stream"][..], &["check", "rows", "--min", "1"]] {
        let said = run_until_exit(dir, file, args, env);
        let line = error_line(&said);
        println!("{case}, {args:?}: {line}");
        for part in parts {
            assert!(line.contains(part), "{args:?}: no {part:?} in: {said}");
        }
    }
}

async fn an_untrusted_certificate_names_the_ca_key(config: &Config, dir: &Path) {
    let other_ca = another_ca(dir);
    let pipeline = common::users_pipeline("untrusted");
    let file = common::write_config(dir, config, std::slice::from_ref(&pipeline));
    let ca = other_ca.display().to_string();
    let said = run_until_exit(
        dir,
        &file,
        &["stream"],
        &[("CASSFLOW_CASSANDRA__TLS__CA", ca.as_str())],
    );
    let line = error_line(&said);
    println!("untrusted certificate: {line}");
    for part in ["does not trust", "cassandra.tls.ca", "fix: "] {
        assert!(line.contains(part), "no {part:?} in: {said}");
    }
}

async fn no_client_certificate_names_the_cert_key(config: &Config, dir: &Path) {
    let mut without = config.clone();
    if let Some(tls) = without.cassandra.tls.as_mut() {
        (tls.cert, tls.key) = (None, None);
    }
    let pipeline = common::users_pipeline("nocert");
    let file = common::write_config(dir, &without, std::slice::from_ref(&pipeline));
    stream_and_check_stop_saying(
        "no client certificate",
        dir,
        &file,
        &[],
        &[
            "requires a client certificate",
            "cassandra.tls.cert",
            "fix: ",
        ],
    );
}

async fn a_role_without_modify_pauses_until_granted(config: &Config) {
    let mut admin = config.clone();
    admin.cassandra.username = Some("cassandra".into());
    admin.cassandra.password = Some("cassandra".into());
    let session = common::session(&admin).await;
    let pipeline = common::users_pipeline("readonly");
    cassflow::cassandra::schema::ensure_pipeline_table(&session, &admin.cassandra, &pipeline)
        .await
        .expect("the superuser creates the table");
    let table = format!("\"{}\".\"{}\"", pipeline.keyspace, pipeline.table);
    let role = common::unique("reader");
    for cql in [
        format!("CREATE ROLE {role} WITH PASSWORD = 'reader-secret' AND LOGIN = true"),
        format!("GRANT SELECT ON TABLE {table} TO {role}"),
    ] {
        session.query_unpaged(cql, &[]).await.expect("role setup");
    }
    let mut reader = config.clone();
    reader.cassandra.username = Some(role.clone());
    reader.cassandra.password = Some("reader-secret".into());
    reader.stream.retry_max_backoff = Duration::from_secs(1);

    let records = common::users(200, "readonly");
    common::produce(&reader, &pipeline.topic, &records).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let job = common::spawn_pipeline(&reader, &pipeline, &shutdown);

    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        let status = cassflow::stream::status::get(&pipeline.name);
        if let Some(s) = status.as_ref().filter(|s| s.state == State::Paused) {
            break s.clone();
        }
        assert!(
            !job.is_finished(),
            "the pipeline stopped instead of pausing"
        );
        assert!(Instant::now() < deadline, "never paused: {status:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let said = status.detail.clone().unwrap_or_default();
    println!("without MODIFY: {said}");
    assert_eq!(status.reason, Some(PauseReason::Unauthorized), "{said}");
    assert!(
        said.contains(&format!("{}.{}", pipeline.keyspace, pipeline.table)),
        "{said}"
    );
    assert!(said.contains("GRANT MODIFY"), "{said}");
    assert_eq!(
        common::count_rows(&session, &pipeline.keyspace, &pipeline.table).await,
        0
    );

    session
        .query_unpaged(format!("GRANT MODIFY ON TABLE {table} TO {role}"), &[])
        .await
        .expect("grant");
    common::assert_table_holds(&session, &pipeline, &records).await;
    shutdown.cancel();
    let summary = tokio::time::timeout(Duration::from_secs(120), job)
        .await
        .expect("the pipeline stops")
        .expect("job");
    println!("after GRANT MODIFY: {summary:?}");
    assert_eq!(
        common::topic_message_count(&reader, &pipeline.dead_letter_topic()).await,
        0,
        "nothing was dead-lettered"
    );
}

/// A CA file that cannot be read is named by its key before anything connects (no server
/// needed: the TLS context is built first).
#[test]
fn a_missing_ca_file_names_cassandra_tls_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cassflow.toml");
    std::fs::write(&file, "[cassandra]\ntls = { ca = \"no/such/ca.pem\" }\n").expect("write");
    let said = run_until_exit(dir.path(), &file, &["check", "rows", "--min", "1"], &[]);
    let line = error_line(&said);
    println!("missing CA file: {line}");
    for part in [
        "cassandra.tls.ca `no/such/ca.pem`",
        "cannot be read",
        "fix: ",
    ] {
        assert!(line.contains(part), "no {part:?} in: {said}");
    }
    assert_eq!(
        said.lines().filter(|l| l.starts_with("error: ")).count(),
        1,
        "{said}"
    );
}

/// Runs `cassflow --config <file> <args>` with `env` until it exits (at most two minutes),
/// and returns what it printed.
fn run_until_exit(dir: &Path, file: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = dir.join(format!("out-{}.txt", common::unique("run")));
    let sink = std::fs::File::create(&out).expect("output file");
    let mut child = Command::new(common::cassflow_bin())
        .arg("--config")
        .arg(file)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdout(sink.try_clone().expect("clone"))
        .stderr(sink)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn cassflow");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "cassflow {args:?} still runs after two minutes: {}",
                std::fs::read_to_string(&out).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let said = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(!status.success(), "cassflow {args:?} succeeded: {said}");
    said
}

/// The `error: ` line of a command's output.
fn error_line(said: &str) -> String {
    said.lines()
        .rev()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no `error: ` line in: {said}"))
        .to_string()
}

/// The PEM of a CA that signed nothing the node presents.
fn another_ca(dir: &Path) -> PathBuf {
    let store = dir.join("other-ca.p12").display().to_string();
    let pem = dir.join("other-ca.pem");
    for args in [
        vec![
            "-genkeypair",
            "-alias",
            "ca",
            "-keyalg",
            "RSA",
            "-keysize",
            "2048",
            "-validity",
            "2",
            "-dname",
            "CN=some other CA",
            "-ext",
            "bc:c",
            "-keypass",
            "test-only",
        ],
        vec![
            "-exportcert",
            "-rfc",
            "-alias",
            "ca",
            "-file",
            &pem.to_string_lossy(),
        ],
    ] {
        let out = Command::new("keytool")
            .args(&args)
            .args(["-storetype", "PKCS12", "-keystore", &store])
            .args(["-storepass", "test-only"])
            .output()
            .expect("run keytool (the JDK of the local stack)");
        assert!(out.status.success(), "keytool {args:?}: {out:?}");
    }
    pem
}
