//! Several pipelines on one topic: each reads the whole topic into its own table, because
//! each has its own consumer group by default (`cassflow-<name>`).

mod common;

use cassflow::stream;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pipelines_on_one_topic_each_get_every_record() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let mut first = common::users_pipeline("onetopic");
    first.group_id = None;
    let second = cassflow::config::PipelineConfig {
        name: common::unique("second"),
        keyspace: common::unique("ks"),
        ..first.clone()
    };
    assert_ne!(
        first.group_id(),
        second.group_id(),
        "one group each by default"
    );
    let records = common::users(300, "onetopic");
    common::produce(&config, &first.topic, &records).await;

    let mut both = config.clone();
    both.pipelines = vec![first.clone(), second.clone()];
    both.validate()
        .expect("two pipelines on one topic, default groups, are valid");
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let job = tokio::spawn(async move { stream::run(&both, None, token).await });

    for p in [&first, &second] {
        common::assert_table_holds(&session, p, &records).await;
    }
    shutdown.cancel();
    let summaries = tokio::time::timeout(Duration::from_secs(60), job)
        .await
        .expect("stops")
        .expect("joins")
        .expect("runs");
    for s in summaries {
        assert_eq!(
            s.written,
            records.len() as u64,
            "{}: every record",
            s.pipeline
        );
    }
}
