//! The scheduler on the real test stack: DAGs whose `shell`, `produce`, `wait_lag` and
//! `cql_check` tasks talk to real Kafka and Cassandra, run to success, and checks that must
//! fail do fail (with the reason in the try's log).

mod common;

use cassflow::config::{Config, SchedulerConfig, SourceKind};
use cassflow::scheduler::clock::SystemClock;
use cassflow::scheduler::live::LiveEnv;
use cassflow::scheduler::{RunState, Scheduler, TaskState};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::sync::Arc;
use std::time::Duration;

/// A scheduler over `files` (name, toml) with the live task environment.
fn scheduler(config: &Config, files: &[(&str, String)]) -> (Scheduler, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let dags = dir.path().join("dags");
    std::fs::create_dir_all(&dags).expect("dags dir");
    for (name, text) in files {
        std::fs::write(dags.join(name), text).expect("dag file");
    }
    let sched_config = SchedulerConfig {
        dags_dir: dags,
        ..SchedulerConfig::default()
    };
    let env = Arc::new(LiveEnv::new(config.clone()));
    let s = Scheduler::open(
        &sched_config,
        dir.path().join("db.sqlite"),
        Arc::new(SystemClock),
        env,
    )
    .expect("open scheduler");
    // Only the DAGs of the test: the built-in one would produce to users_created.
    s.set_paused("user_automation", true).expect("pause");
    (s, dir)
}

/// Triggers a DAG, runs the scheduler until nothing runs, and returns the run's state and
/// its task states.
async fn run_once(
    s: &Scheduler,
    dag_id: &str,
) -> (String, RunState, Vec<(String, Option<TaskState>)>) {
    let run = s.trigger(dag_id, None).expect("trigger");
    tokio::time::timeout(Duration::from_secs(180), s.settle())
        .await
        .expect("the run finishes within 3 minutes")
        .expect("scheduler passes");
    let state = s.run_info(dag_id, &run.run_id).expect("run").state;
    let tasks = s
        .task_instances(dag_id, &run.run_id)
        .expect("task instances")
        .into_iter()
        .map(|t| (t.task_id, t.state))
        .collect();
    (run.run_id, state, tasks)
}

#[tokio::test]
async fn shell_and_cql_check_pass_and_a_failing_check_fails() {
    let config = common::stack().await;
    let keyspace = common::unique("sched");
    let session = common::session(&config).await;
    session
        .query_unpaged(
            format!("CREATE KEYSPACE \"{keyspace}\" WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"),
            &[],
        )
        .await
        .expect("keyspace");
    session
        .query_unpaged(
            format!("CREATE TABLE \"{keyspace}\".t (id int PRIMARY KEY)"),
            &[],
        )
        .await
        .expect("table");
    for id in 0..3 {
        session
            .query_unpaged(
                format!("INSERT INTO \"{keyspace}\".t (id) VALUES ({id})"),
                &[],
            )
            .await
            .expect("insert");
    }
    let dag = |min: u64| {
        format!(
            "[tasks.hello]\nkind = \"shell\"\ncommand = \"echo hello from $CASSFLOW_DAG_ID\"\n\
             [tasks.rows]\nkind = \"cql_check\"\nupstream = [\"hello\"]\nkeyspace = \"{keyspace}\"\n\
             table = \"t\"\nmin_rows = {min}\n"
        )
    };
    let (s, _dir) = scheduler(
        &config,
        &[("enough.toml", dag(3)), ("too_many.toml", dag(4))],
    );

    let (run_id, state, tasks) = run_once(&s, "enough").await;
    assert_eq!(state, RunState::Success, "{tasks:?}");
    let hello = s
        .task_log("enough", &run_id, "hello", 1)
        .expect("log")
        .content;
    assert!(hello.contains("hello from enough"), "{hello}");
    let rows = s
        .task_log("enough", &run_id, "rows", 1)
        .expect("log")
        .content;
    assert!(rows.contains(&format!("{keyspace}.t has 3 rows")), "{rows}");

    let (run_id, state, tasks) = run_once(&s, "too_many").await;
    assert_eq!(state, RunState::Failed);
    assert!(
        tasks.contains(&("rows".to_string(), Some(TaskState::Failed))),
        "{tasks:?}"
    );
    let rows = s
        .task_log("too_many", &run_id, "rows", 1)
        .expect("log")
        .content;
    assert!(
        rows.contains("has 3 rows, fewer than the 4 required"),
        "{rows}"
    );
}

#[tokio::test]
async fn produce_then_wait_for_the_group_to_catch_up() {
    let mut config = common::stack().await;
    let pipeline = common::users_pipeline("schedlag");
    config.pipelines = vec![pipeline.clone()];
    config.source.kind = SourceKind::Generator;
    let produce = "[tasks.users]\nkind = \"produce\"\ncount = 25\n\
                   [tasks.caught_up]\nkind = \"wait_lag\"\nupstream = [\"users\"]\n\
                   timeout = \"3s\"\npoll_interval = \"500ms\"\n";
    let (s, _dir) = scheduler(&config, &[("load.toml", produce.to_string())]);

    // Nobody consumes the topic: the lag stays at 25 and wait_lag times out.
    let (run_id, state, tasks) = run_once(&s, "load").await;
    assert_eq!(state, RunState::Failed, "{tasks:?}");
    assert!(
        tasks.contains(&("users".to_string(), Some(TaskState::Success))),
        "{tasks:?}"
    );
    let log = s
        .task_log("load", &run_id, "caught_up", 1)
        .expect("log")
        .content;
    assert!(log.contains("25 message(s)"), "{log}");
    let report = cassflow::checks::consumer_lag(&config.kafka, &pipeline)
        .await
        .expect("lag");
    assert_eq!(report.total(), 25);

    // The group commits the end of every partition (as the stream job would after writing).
    let (c, g, t) = (config.clone(), pipeline.group_id(), pipeline.topic.clone());
    tokio::task::spawn_blocking(move || commit_to_end(&c, &g, &t))
        .await
        .expect("commit");
    // A second run produces 25 more: commit those too while wait_lag polls.
    let commit_config = config.clone();
    let (group, topic) = (pipeline.group_id(), pipeline.topic.clone());
    let committer = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let (c, g, t) = (commit_config.clone(), group.clone(), topic.clone());
            let _ = tokio::task::spawn_blocking(move || commit_to_end(&c, &g, &t)).await;
        }
    });
    let (_, state, tasks) = run_once(&s, "load").await;
    committer.abort();
    assert_eq!(state, RunState::Success, "{tasks:?}");
    let report = cassflow::checks::consumer_lag(&config.kafka, &pipeline)
        .await
        .expect("lag");
    assert_eq!(report.total(), 0);
    assert_eq!(
        report
            .partitions
            .iter()
            .map(|p| p.high_watermark)
            .sum::<i64>(),
        50,
        "two runs of 25 users each"
    );
}

/// Commits the group's offsets at the high watermark of every partition.
fn commit_to_end(config: &Config, group: &str, topic: &str) {
    let mut cfg = cassflow::kafka::client_config(&config.kafka);
    cfg.set("group.id", group)
        .set("enable.auto.commit", "false");
    let consumer: BaseConsumer = cfg.create().expect("consumer");
    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            let (_, high) = consumer
                .fetch_watermarks(topic, p.id(), timeout)
                .expect("watermarks");
            tpl.add_partition_offset(topic, p.id(), Offset::Offset(high))
                .expect("offset");
        }
    }
    consumer.commit(&tpl, CommitMode::Sync).expect("commit");
}
