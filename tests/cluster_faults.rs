//! Faults under load on a replicated cluster: three Cassandra nodes (RF 3, writes at
//! LOCAL_QUORUM) and three brokers (RF 3, `min.insync.replicas` 2). In each test a steady
//! load flows through the stream while a node is killed, restarted, paused or its broker
//! lost, and at the end every id of at least 100k records is in the table, none is
//! dead-lettered, and the job still runs.
//!
//! The tests take the binary's one shared cluster in turn (`common::cluster::shared`), each
//! on its own topic and keyspace; it is healed before each test and stopped at exit.

mod common;

use cassflow::config::{Config, PipelineConfig, WriteConsistency};
use cassflow::local::Server;
use common::load::Load;
use scylla::client::session::Session;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Records per second the load sends; every test sends at least [`RECORDS`] in all.
const RATE: usize = 1_000;
const RECORDS: usize = 100_000;

/// The longest a step that should take seconds may take on a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(300);

/// How a test sees the stream's progress.
#[derive(Clone, Copy, PartialEq)]
enum Progress {
    /// The in-process job's own count of acknowledged writes (each at LOCAL_QUORUM, its
    /// `cassflow_records_written_total`): no read from a cluster a fault may slow down.
    Written,
    /// The group's committed offsets, for jobs that run as processes: a record's offset is
    /// committed only once its row is written. Read from Kafka, not from the cluster a
    /// fault slows down (counting a growing table on a busy cluster times out).
    Committed,
}

/// One fault test's load, table and the stream writing it.
struct Flow {
    config: Config,
    pipeline: PipelineConfig,
    session: Session,
    load: Load,
    progress: Progress,
    /// The highest committed total seen ([`Progress::Committed`]).
    committed: AtomicU64,
    started: std::time::Instant,
    /// Where the `cassflow stream` processes of the test log, if it runs any.
    logs: Option<std::path::PathBuf>,
}

impl Flow {
    /// A fresh pipeline on the cluster, with the load flowing into its topic.
    async fn start(cluster: &common::cluster::Cluster, tag: &str, progress: Progress) -> Flow {
        let mut config = cluster.config.clone();
        config.stream.retry_max_backoff = Duration::from_secs(1);
        let pipeline = common::users_pipeline(tag);
        assert_eq!(pipeline.consistency, WriteConsistency::LocalQuorum);
        assert_eq!(
            config.cassandra.replication_factor, None,
            "the cluster's RF 3"
        );
        assert_eq!(pipeline.topic_replication, None, "the cluster's RF 3");
        let load = Load::start(&config, &pipeline.topic, RATE).await;
        let session = common::session(&config).await;
        Flow {
            config,
            pipeline,
            session,
            load,
            progress,
            committed: AtomicU64::new(0),
            started: std::time::Instant::now(),
            logs: None,
        }
    }

    /// Records written so far, as [`Progress`] says.
    async fn written(&self) -> u64 {
        match self.progress {
            Progress::Written => cassflow::stream::metrics::stream_metrics()
                .pipeline(&self.pipeline.name)
                .written
                .get(),
            Progress::Committed => {
                // A broker being restarted may fail one read: then the last total stands.
                let committed = match cassflow::checks::consumer_lag(
                    &self.config.kafka,
                    &self.pipeline,
                )
                .await
                {
                    Ok(lag) => lag.partitions.iter().filter_map(|p| p.committed).sum(),
                    Err(_) => 0,
                };
                self.committed
                    .fetch_max(committed.max(0) as u64, Ordering::Relaxed)
                    .max(committed.max(0) as u64)
            }
        }
    }

    /// Waits until `n` more records than now are written, within `within`; returns how
    /// many were.
    async fn wait_for_more(&self, n: u64, within: Duration) -> u64 {
        let from = self.written().await;
        self.wait_until_written(from + n, within).await - from
    }

    /// Waits until `total` records are written in all, within `within`; returns how many
    /// were.
    async fn wait_until_written(&self, total: u64, within: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let written = self.written().await;
            if written >= total || tokio::time::Instant::now() >= deadline {
                return written;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until `n` more records than now are written, and fails naming `when` if they
    /// never come.
    async fn rows_grow_by(&self, n: u64, when: &str) {
        let more = self.wait_for_more(n, PATIENCE).await;
        if more < n {
            self.print_logged_trouble();
        }
        assert!(more >= n, "{when}: {more} records written, not {n}");
        self.say(&format!("{when}: {n} more written"));
    }

    /// Stops the load once it sent [`RECORDS`], waits until the stream wrote as many, and
    /// checks every id the load sent is in the table, no more and no less; returns what it
    /// sent.
    async fn finish(mut self) -> Vec<cassflow::record::UserRecord> {
        let records = self.load.finish(RECORDS).await;
        let all = records.len() as u64;
        let written = self.wait_until_written(all, PATIENCE).await;
        assert!(written >= all, "{written} of {all} records written");
        // The written count includes records written again (at least once: after a broker
        // or instance fault the stream re-reads from its last commit), so it can reach the
        // total while the last records are still being written: wait for the ids.
        let (ks, table) = (&self.pipeline.keyspace, &self.pipeline.table);
        let want: HashSet<uuid::Uuid> = records.iter().map(|r| r.id).collect();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let (lost, extra) = loop {
            let got = common::table_ids(&self.session, ks, table).await;
            let lost = want.difference(&got).count();
            let extra = got.difference(&want).count();
            if (lost == 0 && extra == 0) || tokio::time::Instant::now() >= deadline {
                break (lost, extra);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        if lost > 0 || extra > 0 {
            // Where they were lost: never on the topic (the producer), dead-lettered, or
            // not streamed; and what the processes logged.
            let on_topic = message_count(&self.config, &self.pipeline.topic).await;
            let dead = self.pipeline.dead_letter_topic();
            let dead_letters = message_count(&self.config, &dead).await;
            self.print_logged_trouble();
            panic!(
                "{ks}.{table}: {lost} of the {all} ids sent missing, {extra} ids not sent ({on_topic} messages on the topic, {dead_letters} on {dead})"
            );
        }
        self.say(&format!("all {all} ids are in the table"));
        records
    }

    /// What the test's `cassflow stream` processes logged as warnings and errors, on stderr.
    fn print_logged_trouble(&self) {
        if let Some(dir) = &self.logs {
            for line in common::logged_trouble(dir, 80) {
                eprintln!("{line}");
            }
        }
    }

    /// A progress line on stderr, with the seconds since the flow started.
    fn say(&self, what: &str) {
        eprintln!(
            "[{} {:>5.1}s] {what}",
            self.pipeline.name,
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// The in-process stream job of one flow.
struct Job {
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<cassflow::stream::PipelineSummary>,
}

impl Job {
    fn spawn(flow: &Flow) -> Job {
        let shutdown = CancellationToken::new();
        let handle = common::spawn_pipeline(&flow.config, &flow.pipeline, &shutdown);
        Job { shutdown, handle }
    }

    fn assert_running(&self, when: &str) {
        assert!(!self.handle.is_finished(), "the job ended {when}");
    }

    /// Stops the job; it ran to the end with nothing dead-lettered and no failure.
    async fn stop(self) {
        self.assert_running("before the end");
        self.shutdown.cancel();
        let summary = tokio::time::timeout(Duration::from_secs(120), self.handle)
            .await
            .expect("the pipeline stops")
            .expect("job");
        assert_eq!(summary.dead_lettered, 0, "{summary:?}");
        assert_eq!(summary.failed, None, "{summary:?}");
    }
}

/// The shared cluster, a flow on it, and its in-process job, once that wrote 10,000
/// records (the stream is under load before any fault).
async fn in_process(tag: &str) -> (common::cluster::SharedCluster, Flow, Job) {
    let cluster = common::cluster::shared().await;
    let flow = Flow::start(&cluster, tag, Progress::Written).await;
    let job = Job::spawn(&flow);
    flow.rows_grow_by(10_000, "before the fault").await;
    (cluster, flow, job)
}

/// kill -9 one node; the stream writes 10,000 more records while it is down and its job
/// keeps running; the node starts again and 5,000 more are written.
async fn kill_9_and_restart(
    cluster: &common::cluster::Cluster,
    flow: &Flow,
    job: &Job,
    server: Server,
    index: u8,
) {
    let node = cluster.node(server, index).name();
    cluster.kill(server, index).await;
    flow.rows_grow_by(10_000, &format!("while {node} is down"))
        .await;
    job.assert_running(&format!("when {node} was lost"));
    cluster.restart(server, index).await;
    flow.rows_grow_by(5_000, &format!("after {node} returned"))
        .await;
}

/// kill -9 one Cassandra node mid-load: the stream keeps writing to the two others without
/// waiting for it (quorum is 2 of 3), the node restarts and rejoins, the job is still
/// running, and every id is in the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_cassandra_node_mid_load_loses_nothing() {
    let (cluster, flow, job) = in_process("kill_node").await;

    kill_9_and_restart(&cluster, &flow, &job, Server::Cassandra, 3).await;
    flow.finish().await;
    job.stop().await;
}

/// A rolling restart mid-load: each Cassandra node in turn is stopped as an operator stops
/// it (SIGTERM, which drains it), stays down while the stream writes on, and is started
/// again before the next one goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_of_every_cassandra_node_mid_load_loses_nothing() {
    let (cluster, flow, job) = in_process("rolling").await;

    for i in 1..=3 {
        cluster.stop(Server::Cassandra, i).await;
        flow.rows_grow_by(5_000, &format!("while cassandra-{i} is down"))
            .await;
        cluster.restart(Server::Cassandra, i).await;
        flow.rows_grow_by(5_000, &format!("after cassandra-{i} returned"))
            .await;
        job.assert_running(&format!("in the restart of cassandra-{i}"));
    }
    flow.finish().await;
    job.stop().await;
}

/// SIGSTOP one Cassandra node for 20 s mid-load: a grey failure, where the node keeps its
/// connections open and answers nothing. Writes move on to the other two while it is
/// stopped instead of waiting for it, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_of_one_cassandra_node_for_20_s_moves_writes_on() {
    let (cluster, flow, job) = in_process("grey").await;

    // Node 1 holds the driver's first connections (it is the first contact point).
    let pause = Duration::from_secs(20);
    let paused_at = tokio::time::Instant::now();
    cluster.pause(Server::Cassandra, 1);
    // Writes held by the stopped node until they time out (the driver's 30 s) would write
    // nothing in these 20 s; moved on to the other replicas, a few seconds of the load land.
    let from = flow.written().await;
    let during = flow.wait_for_more(5_000, pause).await;
    tokio::time::sleep_until(paused_at + pause).await;
    let in_pause = flow.written().await - from;
    cluster.resume(Server::Cassandra, 1);
    flow.say(&format!(
        "{in_pause} writes acknowledged in the 20 s cassandra-1 was stopped"
    ));
    assert!(
        during >= 5_000,
        "in the 20 s cassandra-1 answered nothing, only {during} writes were acknowledged"
    );
    job.assert_running("while cassandra-1 was stopped");
    flow.rows_grow_by(5_000, "after cassandra-1 resumed").await;
    flow.finish().await;
    job.stop().await;
}

/// The broker that leads most of `topic`'s partitions.
async fn busiest_leader(config: &Config, topic: &str) -> u8 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = cassflow::kafka::client_config(&config.kafka)
        .create()
        .expect("consumer");
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .expect("metadata");
        let mut led = std::collections::BTreeMap::<i32, usize>::new();
        for p in metadata.topics()[0].partitions() {
            *led.entry(p.leader()).or_default() += 1;
        }
        let (leader, _) = led
            .into_iter()
            .max_by_key(|&(_, n)| n)
            .expect("the topic has partitions");
        u8::try_from(leader).expect("a broker id of the local cluster")
    })
    .await
    .expect("metadata task")
}

/// kill -9 the broker that leads most partitions while the load is being produced and
/// streamed: the idempotent producer neither loses nor duplicates a record (the topic holds
/// exactly the records sent), and the stream loses none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_leading_broker_mid_load_loses_and_duplicates_nothing() {
    let (cluster, flow, job) = in_process("kill_leader").await;

    let leader = busiest_leader(&flow.config, &flow.pipeline.topic).await;
    kill_9_and_restart(&cluster, &flow, &job, Server::Kafka, leader).await;

    let (config, topic) = (flow.config.clone(), flow.pipeline.topic.clone());
    let sent = flow.finish().await;
    assert_eq!(
        common::topic_message_count(&config, &topic).await,
        sent.len() as i64,
        "messages on the topic: exactly the records sent"
    );
    job.stop().await;
}

/// Two `cassflow stream` processes share the pipeline's group; while a broker restarts,
/// one is killed with SIGKILL. The other takes over its partitions and, at the end, every
/// id is in the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_instances_killed_while_a_broker_restarts_loses_nothing() {
    let cluster = common::cluster::shared().await;
    let mut flow = Flow::start(&cluster, "pair_kill", Progress::Committed).await;
    let dir = tempfile::tempdir().expect("tempdir");
    flow.logs = Some(dir.path().to_path_buf());
    let file = common::write_config(
        dir.path(),
        &flow.config,
        std::slice::from_ref(&flow.pipeline),
    );
    let mut doomed = common::cassflow_stream(dir.path(), &file, &[]);
    let mut survivor = common::cassflow_stream(dir.path(), &file, &[]);
    flow.rows_grow_by(10_000, "before the faults").await;

    cluster.stop(Server::Kafka, 2).await;
    doomed.0.kill().expect("kill -9 one instance");
    let _ = doomed.0.wait();
    flow.rows_grow_by(5_000, "with kafka-2 down and one instance killed")
        .await;
    cluster.restart(Server::Kafka, 2).await;
    flow.rows_grow_by(5_000, "after kafka-2 returned").await;

    flow.finish().await;
    assert!(
        matches!(survivor.0.try_wait(), Ok(None)),
        "the surviving instance still runs"
    );
    drop(survivor); // SIGTERM: it stops gracefully within a minute, or the test fails
}

/// Instances of one pipeline started together each create its keyspace and table. Before
/// Cassandra 5.1 (cluster metadata), two coordinators that create one table at the same
/// moment give it two ids, and the rows written under the id that loses vanish when the
/// schemas merge. Three sessions (three instances) create the same tables at once, round
/// after round, each writes its rows as soon as its create returns, and every row must be
/// there and every node must know the table by one id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_started_together_create_one_table_and_lose_no_row() {
    const INSTANCES: usize = 3;
    const ROUNDS: usize = 6;
    const ROWS: usize = 100;
    // A DDL statement sent to another node than the schema coordinator says so (a warning):
    // shown with the failure, it tells a second table id from another cause of a loss.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_max_level(tracing::Level::WARN)
        .try_init();
    let cluster = common::cluster::shared().await;
    let config = cluster.config.clone();
    let sessions =
        futures::future::join_all((0..INSTANCES).map(|_| common::session(&config))).await;
    for round in 0..ROUNDS {
        let pipeline = common::users_pipeline(&format!("together_{round}"));
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(INSTANCES));
        let written = futures::future::join_all(sessions.iter().map(|session| {
            let (start, config, pipeline) = (start.clone(), &config, &pipeline);
            async move {
                start.wait().await;
                cassflow::cassandra::schema::ensure_pipeline_table(
                    session,
                    &config.cassandra,
                    pipeline,
                )
                .await
                .expect("create the keyspace and table");
                write_ids(session, &pipeline.keyspace, &pipeline.table, ROWS).await
            }
        }))
        .await;
        let written: Vec<(uuid::Uuid, Vec<String>)> = written.into_iter().flatten().collect();
        let want: HashSet<uuid::Uuid> = written.iter().map(|(id, _)| *id).collect();
        let (ks, table) = (&pipeline.keyspace, &pipeline.table);
        let ids = table_ids_by_node(&sessions[0], ks, table).await;
        assert_eq!(
            ids.iter().collect::<HashSet<_>>().len(),
            1,
            "round {round}: the nodes know {ks}.{table} by ids {ids:?}"
        );
        let got = common::table_ids(&sessions[0], ks, table).await;
        let lost: Vec<&(uuid::Uuid, Vec<String>)> =
            written.iter().filter(|(id, _)| !got.contains(id)).collect();
        if !lost.is_empty() {
            let retried = written.iter().filter(|(_, e)| !e.is_empty()).count();
            eprintln!(
                "round {round}: {retried} of {} writes needed more than one try",
                written.len()
            );
            for (id, errors) in &lost {
                let holding = nodes_holding(&sessions[0], ks, table, *id).await;
                eprintln!("lost {id}: failed tries before success: {errors:?}; read at ONE per node: {holding}");
            }
            let again = common::table_ids(&sessions[0], ks, table).await;
            let still = lost.iter().filter(|(id, _)| !again.contains(id)).count();
            eprintln!(
                "round {round}: scanned again, {still} of the {} still missing",
                lost.len()
            );
        }
        assert_eq!(
            lost.len(),
            0,
            "round {round}: {} of {} rows lost",
            lost.len(),
            want.len()
        );
    }
}

/// Messages on `topic`, or why Kafka did not say (a failure report must not panic).
async fn message_count(config: &Config, topic: &str) -> String {
    match common::try_topic_message_count(config, topic).await {
        Ok(n) => n.to_string(),
        Err(e) => format!("? ({e})"),
    }
}

/// Writes `n` rows of new ids, each retried while the table is not yet known everywhere;
/// returns the ids.
async fn write_ids(
    session: &Session,
    keyspace: &str,
    table: &str,
    n: usize,
) -> Vec<(uuid::Uuid, Vec<String>)> {
    let cql = format!("INSERT INTO \"{keyspace}\".\"{table}\" (id) VALUES (?)");
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let id = uuid::Uuid::new_v4();
        // The errors of the tries before the one that succeeded, for a loss's report.
        let mut errors = Vec::new();
        while let Err(e) = session.query_unpaged(cql.as_str(), (id,)).await {
            errors.push(e.to_string());
            assert!(errors.len() < 50, "writing to {keyspace}.{table}: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ids.push((id, errors));
    }
    ids
}

/// Which nodes answer a read of row `id` as coordinator at consistency ONE (each reads its
/// own replica, normally): where a lost row still is, if anywhere.
async fn nodes_holding(session: &Session, keyspace: &str, table: &str, id: uuid::Uuid) -> String {
    let mut said = Vec::new();
    for node in session.get_cluster_state().get_nodes_info() {
        let mut select = on_node(
            node,
            format!("SELECT id FROM \"{keyspace}\".\"{table}\" WHERE id = ?"),
        );
        select.set_consistency(scylla::statement::Consistency::One);
        let answer = match session.query_unpaged(select, (id,)).await {
            Ok(result) => match result.into_rows_result() {
                Ok(rows) if rows.rows_num() > 0 => "has it".to_string(),
                Ok(_) => "lacks it".to_string(),
                Err(e) => format!("{e}"),
            },
            Err(e) => format!("{e}"),
        };
        said.push(format!("{}: {answer}", node.address));
    }
    // The same row asked by key at the session's consistency (as the scan read it) and at
    // ALL: tells a row on too few replicas from a scan that missed it.
    for consistency in [None, Some(scylla::statement::Consistency::All)] {
        let mut select = scylla::statement::Statement::new(format!(
            "SELECT id FROM \"{keyspace}\".\"{table}\" WHERE id = ?"
        ));
        if let Some(consistency) = consistency {
            select.set_consistency(consistency);
        }
        let answer = match session.query_unpaged(select, (id,)).await {
            Ok(result) => match result.into_rows_result() {
                Ok(rows) => format!("{} row(s)", rows.rows_num()),
                Err(e) => format!("{e}"),
            },
            Err(e) => format!("{e}"),
        };
        said.push(format!("by key at {consistency:?}: {answer}"));
    }
    said.join(", ")
}

/// The id each node's own `system_schema` gives the table.
async fn table_ids_by_node(session: &Session, keyspace: &str, table: &str) -> Vec<uuid::Uuid> {
    let nodes = session.get_cluster_state().get_nodes_info().to_vec();
    let mut ids = Vec::new();
    for node in &nodes {
        let select = on_node(
            node,
            "SELECT id FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
        );
        let rows = session
            .query_unpaged(select, (keyspace, table))
            .await
            .expect("read the table's id")
            .into_rows_result()
            .expect("rows");
        let (id,): (uuid::Uuid,) = rows.single_row().expect("one row per node");
        ids.push(id);
    }
    ids
}

/// A statement served by `node` alone (not routed elsewhere, not retried on another node).
fn on_node(
    node: &std::sync::Arc<scylla::cluster::Node>,
    cql: impl Into<String>,
) -> scylla::statement::Statement {
    use scylla::policies::load_balancing::{NodeIdentifier, SingleTargetLoadBalancingPolicy};
    let mut statement = scylla::statement::Statement::new(cql);
    statement.set_load_balancing_policy(Some(SingleTargetLoadBalancingPolicy::new(
        NodeIdentifier::Node(node.clone()),
        None,
    )));
    statement
}
