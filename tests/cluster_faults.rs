//! Faults under load on a three-node Cassandra cluster (RF 3, writes at LOCAL_QUORUM), with
//! a private broker: every id is in the table at the end. Uses the cluster harness of
//! `common::cluster`; one cluster at a time (each holds several GB), always stopped.

mod common;

use cassflow::config::WriteConsistency;
use cassflow::local::Server;
use std::time::Duration;

/// kill -9 one Cassandra node while 100k records stream in: the stream keeps writing to the
/// two others without waiting for it (quorum is 2 of 3), the node restarts and rejoins,
/// the job is still running, and every id is in the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_cassandra_node_mid_load_loses_nothing() {
    let shared = common::stack_config();
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = common::cluster::private_cluster(&shared, dir.path(), 3, 1).await;
    let mut config = cluster.config.clone();
    config.stream.retry_max_backoff = Duration::from_secs(1);

    let pipeline = common::users_pipeline("kill_node");
    assert_eq!(pipeline.consistency, WriteConsistency::LocalQuorum);
    assert_eq!(
        config.cassandra.replication_factor, None,
        "the cluster's RF 3"
    );
    let records = common::users(100_000, "kill-node");
    common::produce(&config, &pipeline.topic, &records).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let job = common::spawn_pipeline(&config, &pipeline, &shutdown);
    let session = common::session(&config).await;
    let (ks, table) = (&pipeline.keyspace, &pipeline.table);
    let before = common::wait_for_rows(&session, ks, table, 10_000, Duration::from_secs(300)).await;
    assert!(before >= 10_000, "writing before the kill: {before} rows");

    cluster.kill(Server::Cassandra, 3).await;
    let at_kill = common::count_rows(&session, ks, table).await;
    // While the node is down, 10,000 more rows arrive: the stream does not wait for it.
    let want = (at_kill + 10_000).min(records.len() as i64);
    let during = common::wait_for_rows(&session, ks, table, want, Duration::from_secs(300)).await;
    assert!(
        during >= want,
        "rows while a node is down: {during}, at the kill {at_kill}"
    );
    assert!(!job.is_finished(), "the job survives the node's loss");

    cluster.restart(Server::Cassandra, 3).await;
    common::assert_table_holds(&session, &pipeline, &records).await;
    assert!(
        !job.is_finished(),
        "the job is still running after the node's return"
    );
    shutdown.cancel();
    let summary = tokio::time::timeout(Duration::from_secs(120), job)
        .await
        .expect("the pipeline stops")
        .expect("job");
    assert_eq!(summary.dead_lettered, 0, "{summary:?}");
    assert_eq!(summary.failed, None, "{summary:?}");
}
