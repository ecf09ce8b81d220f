//! The integration-test harness: a live Kafka and Cassandra from the local stack, started
//! once per test run (idempotently, under the stack's lock, so parallel test binaries share
//! one), and unique topic and keyspace names so tests run in parallel on it.
//!
//! `scripts/dev test` starts the stack before `cargo test` and stops it after; a plain
//! `cargo test` starts it here on first use and leaves it running for the next run.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod cluster;
pub mod load;

use cassflow::config::Config;
use cassflow::local::LocalStack;
use std::path::{Path, PathBuf};
use tokio::sync::OnceCell;

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The test stack's config file: `TEST_STACK_CONFIG` or `tests/stack.toml`.
pub fn stack_config_path() -> PathBuf {
    std::env::var_os("TEST_STACK_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tests/stack.toml"))
}

/// The test stack's configuration, with its data dir made absolute.
pub fn stack_config() -> Config {
    let path = stack_config_path();
    let mut config = match cassflow::config::load(Some(&path)) {
        Ok(c) => c,
        Err(e) => panic!("test stack config {}: {e}", path.display()),
    };
    if config.local.data_dir.is_relative() {
        config.local.data_dir = repo_root().join(&config.local.data_dir);
    }
    config
}

static STACK: OnceCell<Config> = OnceCell::const_new();

/// A running Kafka and Cassandra; the returned config points at them.
pub async fn stack() -> Config {
    STACK
        .get_or_init(|| async {
            let config = stack_config();
            let stack = LocalStack::new(&config);
            if let Err(e) = stack.start().await {
                panic!("the test stack did not start: {e}");
            }
            config
        })
        .await
        .clone()
}

/// A name no other test uses: `prefix_` plus 12 random hex digits (valid as a topic, a
/// keyspace and a table name).
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..12])
}

/// The built `cassflow` binary.
pub fn cassflow_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_cassflow"))
}

use cassflow::config::PipelineConfig;
use cassflow::record::{parse_timestamp, UserRecord};
use scylla::client::session::Session;
use std::collections::HashMap;
use std::time::Duration;

/// `n` distinct users, deterministic for `tag` apart from their random ids.
pub fn users(n: usize, tag: &str) -> Vec<UserRecord> {
    (0..n)
        .map(|i| UserRecord {
            id: uuid::Uuid::new_v4(),
            first_name: format!("First{i}"),
            last_name: format!("Last{tag}"),
            gender: if i % 2 == 0 { "female" } else { "male" }.into(),
            address: format!("{i} Main Street, Springfield, Oregon, United States"),
            post_code: format!("{:05}", i % 100_000),
            email: format!("first{i}.last@example.com"),
            username: format!("user{i}"),
            dob: parse_timestamp("1990-05-17T08:30:00.123Z").expect("ts")
                + chrono::Duration::days(i as i64 % 5000),
            registered_date: parse_timestamp("2015-01-02T03:04:05.678Z").expect("ts"),
            phone: format!("(555) 010-{:04}", i % 10_000),
            picture: format!(
                "https://randomuser.me/api/portraits/med/women/{}.jpg",
                i % 100
            ),
        })
        .collect()
}

/// A users pipeline on fresh names: its own topic, keyspace, table and group.
pub fn users_pipeline(tag: &str) -> PipelineConfig {
    let topic = unique(tag);
    PipelineConfig {
        name: topic.clone(),
        topic: topic.clone(),
        partitions: 6,
        keyspace: unique("ks"),
        table: "created_users".into(),
        group_id: Some(format!("{topic}-group")),
        ..PipelineConfig::default()
    }
}

/// Produces the records with cassflow's producer; panics unless every one is delivered.
pub async fn produce(config: &Config, topic: &str, records: &[UserRecord]) {
    cassflow::kafka::admin::ensure_topic(&config.kafka, topic, 6, 1)
        .await
        .expect("topic");
    let mut producer =
        cassflow::produce::producer::RecordProducer::new(&config.kafka, &config.producer, topic)
            .expect("producer");
    for r in records {
        producer.send(r).await.expect("queued");
    }
    let undelivered = producer.flush(Duration::from_secs(60)).await;
    let counts = producer.counts();
    assert_eq!(undelivered, 0, "all delivered");
    assert_eq!(counts.failed(), 0, "{:?}", counts.first_error());
    assert_eq!(counts.delivered(), records.len() as u64);
}

pub async fn session(config: &Config) -> Session {
    cassflow::cassandra::connect(&config.cassandra)
        .await
        .expect("connect to Cassandra")
}

/// Rows in `keyspace.table`, 0 if the table does not exist yet (or the count failed, which
/// it says on stderr).
///
/// Paged: Cassandra then counts page by page, each within its own read timeout, where one
/// unpaged count of a large table on a loaded cluster runs past the range read timeout.
pub async fn count_rows(session: &Session, keyspace: &str, table: &str) -> i64 {
    use futures::TryStreamExt;
    let mut count = scylla::statement::Statement::new(format!(
        "SELECT COUNT(*) FROM \"{keyspace}\".\"{table}\""
    ));
    // A read: sent on to another node when one hangs (cassandra.speculative_delay).
    count.set_is_idempotent(true);
    let counted = async {
        let pages = session.query_iter(count, &[]).await?;
        let rows: Vec<(i64,)> = pages.rows_stream::<(i64,)>()?.try_collect().await?;
        Ok::<_, Box<dyn std::error::Error>>(rows.last().map_or(0, |&(n,)| n))
    };
    match counted.await {
        Ok(n) => n,
        Err(e) => {
            let text = e.to_string();
            if !text.contains("unconfigured table") && !text.contains("does not exist") {
                eprintln!("counting {keyspace}.{table} failed: {text}");
            }
            0
        }
    }
}

/// Waits until the table holds `n` rows; returns the last count seen.
pub async fn wait_for_rows(
    session: &Session,
    keyspace: &str,
    table: &str,
    n: i64,
    timeout: Duration,
) -> i64 {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let count = count_rows(session, keyspace, table).await;
        if count >= n || tokio::time::Instant::now() >= deadline {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every `id` of a table whose partition key is `id`, read at the session's LOCAL_QUORUM in
/// token order, 1,000 at a time. A page that fails (a read timeout on a cluster still busy
/// after a fault) is read again, up to 20 times: one slow page costs a retry, not the scan.
pub async fn table_ids(
    session: &Session,
    keyspace: &str,
    table: &str,
) -> std::collections::HashSet<uuid::Uuid> {
    let mut page = scylla::statement::Statement::new(format!(
        "SELECT id, token(id) FROM \"{keyspace}\".\"{table}\" WHERE token(id) > ? LIMIT 1000"
    ));
    page.set_is_idempotent(true);
    let page = session.prepare(page).await.expect("prepare the id scan");
    let mut ids = std::collections::HashSet::new();
    let mut after = i64::MIN;
    loop {
        let mut tries = 0;
        let rows: Vec<(uuid::Uuid, i64)> = loop {
            let read = async {
                let result = session.execute_unpaged(&page, (after,)).await?;
                let rows = result.into_rows_result()?;
                let typed = rows.rows::<(uuid::Uuid, i64)>()?;
                Ok::<_, Box<dyn std::error::Error>>(typed.collect::<Result<Vec<_>, _>>()?)
            };
            match read.await {
                Ok(rows) => break rows,
                Err(e) if tries < 20 => {
                    tries += 1;
                    eprintln!("reading ids of {keyspace}.{table} after token {after}: {e}; again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => panic!("reading ids of {keyspace}.{table}: {e}"),
            }
        };
        let Some(&(_, last)) = rows.last() else {
            return ids;
        };
        ids.extend(rows.into_iter().map(|(id, _)| id));
        after = last;
    }
}

/// Every row of a typed users table, as records.
pub async fn read_users(
    session: &Session,
    keyspace: &str,
    table: &str,
) -> HashMap<uuid::Uuid, UserRecord> {
    use cassflow::cassandra::users_row::{record_from_row, UsersRow, COLUMNS};
    use futures::TryStreamExt;
    let cql = format!("SELECT {COLUMNS} FROM \"{keyspace}\".\"{table}\"");
    let mut out = HashMap::new();
    let mut rows = session
        .query_iter(cql, &[])
        .await
        .expect("select")
        .rows_stream::<UsersRow>()
        .expect("typed rows");
    while let Some(r) = rows.try_next().await.expect("row") {
        let record = record_from_row(r).expect("timestamps in range");
        assert!(out.insert(record.id, record).is_none(), "ids are unique");
    }
    out
}

/// Ports for the tests' private servers: below the kernel's ephemeral range (32768-60999 on
/// Linux, where every outgoing connection takes its local port) and apart from the shared test
/// stack's fixed ports (27000-29999, tests/stack.toml) and the bench stack's (31000-31999), so
/// no client connection and no other test can take a port between its pick and its use.
const PRIVATE_PORTS: std::ops::Range<u16> = 20000..27000;

/// Reservations this process holds: one locked file per port, released when the process
/// exits (the kernel drops the locks), so parallel test binaries never pick the same port.
static RESERVED: std::sync::Mutex<Vec<nix::fcntl::Flock<std::fs::File>>> =
    std::sync::Mutex::new(Vec::new());

/// `n` distinct loopback ports for private servers, each reserved for the rest of this test
/// process: none is used by another test, in this binary or another, and none was listening
/// when picked. See [`PRIVATE_PORTS`].
pub fn free_ports<const N: usize>() -> [u16; N] {
    use nix::fcntl::{Flock, FlockArg};
    let dir = std::env::temp_dir().join("cassflow-test-ports");
    std::fs::create_dir_all(&dir).expect("create the port reservation dir");
    let span = PRIVATE_PORTS.end - PRIVATE_PORTS.start;
    // Each process starts at its own place in the range, so most picks never contend.
    let start = (std::process::id() as u64 * 7919 % u64::from(span)) as u16;
    let mut reserved = RESERVED.lock().unwrap_or_else(|e| e.into_inner());
    let mut picked = Vec::with_capacity(N);
    for step in 0..span {
        if picked.len() == N {
            break;
        }
        let port = PRIVATE_PORTS.start + (start + step) % span;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{port}.lock")))
            .expect("open a port reservation file");
        let Ok(lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
            continue; // another test process holds it
        };
        // Free now (nothing left over from an earlier run listens on it)? Then it stays free:
        // the kernel never hands it out as an ephemeral port, and other tests see our lock.
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        reserved.push(lock);
        picked.push(port);
    }
    assert_eq!(
        picked.len(),
        N,
        "no {N} free ports left in {PRIVATE_PORTS:?}"
    );
    std::array::from_fn(|i| picked[i])
}

/// Messages in a topic: the sum of its partitions' high watermarks (exact for a topic that
/// only idempotent, non-transactional producers wrote to). Panics when Kafka does not say.
pub async fn topic_message_count(config: &Config, topic: &str) -> i64 {
    match try_topic_message_count(config, topic).await {
        Ok(count) => count,
        Err(e) => panic!("counting the messages of {topic}: {e}"),
    }
}

/// [`topic_message_count`], or why Kafka did not say (for a failure report, which must not
/// panic in its turn while a broker is down).
pub async fn try_topic_message_count(config: &Config, topic: &str) -> Result<i64, String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = cassflow::kafka::client_config(&config.kafka)
        .create()
        .map_err(|e| e.to_string())?;
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let timeout = Duration::from_secs(10);
        let metadata = consumer
            .fetch_metadata(Some(&topic), timeout)
            .map_err(|e| format!("metadata: {e}"))?;
        let partitions = metadata
            .topics()
            .first()
            .map_or(0, |t| t.partitions().len() as i32);
        let mut sum = 0;
        for p in 0..partitions {
            let (low, high) = consumer
                .fetch_watermarks(&topic, p, timeout)
                .map_err(|e| format!("watermarks of partition {p}: {e}"))?;
            sum += high - low;
        }
        Ok(sum)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Writes `config`, with `pipelines` as its pipelines, as `cassflow.toml` in `dir`, for
/// tests that run the binary (`cassflow --config <file> stream`).
pub fn write_config(dir: &Path, config: &Config, pipelines: &[PipelineConfig]) -> PathBuf {
    let mut config = config.clone();
    config.pipelines = pipelines.to_vec();
    let file = dir.join("cassflow.toml");
    let text = toml::to_string(&config).expect("a config serializes");
    std::fs::write(&file, text).expect("write config");
    file
}

/// `cassflow <args>` run in `dir` with `env` added (and no inherited `RUST_LOG`), to the end.
pub fn run_cassflow(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(cassflow_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .expect("run cassflow")
}

/// The one `error:` line a failed run printed on stderr.
pub fn error_line(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "exactly one error line: {stderr}");
    errors[0].to_string()
}

/// A child process (e.g. `cassflow stream`), stopped with SIGTERM and reaped when dropped,
/// even when an assertion fails.
pub struct StopOnDrop(pub std::process::Child);

impl Drop for StopOnDrop {
    /// SIGTERM, then up to a minute for a graceful stop; a process still running after that
    /// is killed and the test fails (a hang in shutdown is a defect, not a slow test).
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        if !matches!(self.0.try_wait(), Ok(None)) {
            return; // ended (or killed and reaped) already: its pid may be another's now
        }
        let _ = kill(Pid::from_raw(self.0.id() as i32), Signal::SIGTERM);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if !matches!(self.0.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        if !std::thread::panicking() {
            panic!("the process did not stop within 60 s of SIGTERM");
        }
    }
}

/// `cassflow --config <file> stream` run in `dir` with `env` added, stopped when the
/// returned guard is dropped. Its log goes to `dir/stream-<n>.log` (see [`logged_trouble`]).
pub fn cassflow_stream(dir: &Path, file: &Path, env: &[(&str, &str)]) -> StopOnDrop {
    static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log = std::fs::File::create(dir.join(format!("stream-{n}.log"))).expect("stream log");
    let child = std::process::Command::new(cassflow_bin())
        .arg("--config")
        .arg(file)
        .arg("stream")
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn cassflow stream");
    StopOnDrop(child)
}

/// The warnings, errors and partition assignments the `cassflow stream` processes of `dir`
/// logged (their last `most`), each prefixed with its log's name: what a failing test
/// prints to say why.
pub fn logged_trouble(dir: &Path, most: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return lines;
    };
    let mut logs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    for log in logs {
        let name = log.file_name().map(|n| n.to_string_lossy().into_owned());
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        lines.extend(
            text.lines()
                .filter(|l| {
                    l.contains(" WARN ")
                        || l.contains(" ERROR ")
                        || l.contains("partitions assigned")
                        || l.contains("partitions revoked")
                })
                .map(|l| format!("{}: {l}", name.as_deref().unwrap_or("?"))),
        );
    }
    let skip = lines.len().saturating_sub(most);
    lines.split_off(skip)
}

/// The first `n` messages of a topic, from its start. The topic may not exist yet (the
/// stream job creates its dead-letter topic): librdkafka finds it on a later metadata
/// refresh. Panics when two minutes pass without a message before all `n` arrived.
pub async fn read_topic(
    config: &Config,
    topic: &str,
    n: usize,
) -> Vec<rdkafka::message::OwnedMessage> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    let consumer: StreamConsumer = cassflow::kafka::client_config(&config.kafka)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let idle = Duration::from_secs(120);
    let mut deadline = tokio::time::Instant::now() + idle;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(m)) => {
                out.push(m.detach());
                deadline = tokio::time::Instant::now() + idle;
            }
            // Not created yet: a later metadata refresh finds it.
            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(_) => panic!("only {} of {n} messages arrived in {topic}", out.len()),
        }
    }
    out
}

/// The text of a message's header `name`, if it has one.
pub fn header_text(m: &impl rdkafka::message::Message, name: &str) -> Option<String> {
    use rdkafka::message::Headers;
    m.headers()
        .and_then(|h| h.iter().find(|h| h.key == name))
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// A Kafka of its own (fresh ports and data dir), for tests that stop or stall the broker.
/// The returned config points at it for Kafka and at the shared stack for Cassandra.
pub async fn private_kafka(shared: &Config, data_dir: &Path) -> (Config, LocalStack) {
    let mut config = shared.clone();
    let [kafka, controller] = free_ports();
    config.kafka.bootstrap = format!("127.0.0.1:{kafka}");
    config.local.kafka_controller_port = controller;
    config.local.data_dir = data_dir.to_path_buf();
    config.local.kafka_heap = "384m".into();
    let stack = LocalStack::new(&config);
    stack
        .start_only(&[cassflow::local::Server::Kafka])
        .await
        .expect("private Kafka starts");
    (config, stack)
}

/// A Cassandra of its own (fresh ports, data dir `data_dir`) with passwords and TLS on
/// (`local.cassandra_auth`, `local.cassandra_tls`): the stack creates the role `user` with
/// `password`, and the returned config logs in as it and trusts the stack's CA. Kafka stays
/// the shared stack's. Stopped when the returned guard is dropped.
pub async fn private_cassandra(
    shared: &Config,
    data_dir: &Path,
    user: &str,
    password: &str,
) -> (Config, StopServerOnDrop) {
    let mut config = shared.clone();
    let [cql, storage] = free_ports();
    config.cassandra.contact_points = format!("127.0.0.1:{cql}");
    config.cassandra.username = Some(user.into());
    config.cassandra.password = Some(password.into());
    let tls = data_dir.join("cassandra").join("tls");
    config.cassandra.tls = Some(cassflow::config::CassandraTls {
        ca: Some(tls.join("ca.pem")),
        cert: Some(tls.join("client.pem")),
        key: Some(tls.join("client-key.pem")),
        ..Default::default()
    });
    config.local.cassandra_storage_port = storage;
    config.local.data_dir = data_dir.to_path_buf();
    config.local.cassandra_heap = "512m".into();
    config.local.cassandra_auth = true;
    config.local.cassandra_tls = true;
    config.local.cassandra_client_auth = true;
    let stack = LocalStack::new(&config);
    let guard = StopServerOnDrop(stack.clone(), cassflow::local::Server::Cassandra);
    if let Err(e) = stack
        .start_only(&[cassflow::local::Server::Cassandra])
        .await
    {
        panic!("private Cassandra with auth and TLS did not start: {e}");
    }
    (config, guard)
}

/// One server of a private stack, stopped when dropped, even when an assertion fails.
pub struct StopServerOnDrop(pub LocalStack, pub cassflow::local::Server);

impl Drop for StopServerOnDrop {
    fn drop(&mut self) {
        let (stack, server) = (self.0.clone(), self.1);
        // Dropped inside a test's runtime: stop on a runtime of its own thread.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Runtime::new() {
                let _ = rt.block_on(stack.stop_only(&[server]));
            }
        })
        .join();
    }
}

/// The pid of a running server of `stack`.
pub async fn server_pid(stack: &LocalStack, server: cassflow::local::Server) -> u32 {
    stack
        .status()
        .await
        .servers
        .iter()
        .find(|s| s.server == server)
        .and_then(|s| s.pid)
        .expect("server is running")
}

/// Waits (up to five minutes) until the pipeline's table holds as many rows as `records`,
/// then asserts its ids are exactly theirs: nothing lost, nothing extra.
pub async fn assert_table_holds<'a>(
    session: &Session,
    pipeline: &PipelineConfig,
    records: impl IntoIterator<Item = &'a UserRecord>,
) {
    let want: std::collections::HashSet<uuid::Uuid> = records.into_iter().map(|r| r.id).collect();
    let count = wait_for_rows(
        session,
        &pipeline.keyspace,
        &pipeline.table,
        want.len() as i64,
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(
        count,
        want.len() as i64,
        "rows in {}.{}",
        pipeline.keyspace,
        pipeline.table
    );
    let got: std::collections::HashSet<uuid::Uuid> =
        read_users(session, &pipeline.keyspace, &pipeline.table)
            .await
            .into_keys()
            .collect();
    assert_eq!(got, want, "the table's ids are the produced ids");
}

/// Runs one pipeline of the stream job in the background until `shutdown` fires.
pub fn spawn_pipeline(
    config: &Config,
    pipeline: &PipelineConfig,
    shutdown: &tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<cassflow::stream::PipelineSummary> {
    let (config, pipeline, shutdown) = (config.clone(), pipeline.clone(), shutdown.clone());
    tokio::spawn(async move {
        cassflow::stream::run_pipeline(&config, &pipeline, None, shutdown)
            .await
            .expect("pipeline runs")
    })
}

/// Runs one pipeline until its table holds exactly `records` (see [`assert_table_holds`]),
/// then stops it and returns what it did.
pub async fn stream_until_table_holds(
    config: &Config,
    pipeline: &PipelineConfig,
    records: &[UserRecord],
) -> cassflow::stream::PipelineSummary {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let job = spawn_pipeline(config, pipeline, &shutdown);
    let session = session(config).await;
    assert_table_holds(&session, pipeline, records).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(120), job)
        .await
        .expect("the pipeline stops")
        .expect("job")
}

/// The one row `cql` selects, by column name.
pub async fn row_by_name(
    session: &scylla::client::session::Session,
    cql: &str,
) -> std::collections::HashMap<String, Option<scylla::value::CqlValue>> {
    let result = session
        .query_unpaged(cql, &[])
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows");
    let names: Vec<String> = result
        .column_specs()
        .iter()
        .map(|s| s.name().to_string())
        .collect();
    let row: scylla::value::Row = result.single_row().expect("one row");
    names.into_iter().zip(row.columns).collect()
}
