//! The stream job in-process on the real stack: everything arrives once with identical
//! values; bad messages go to the dead-letter topic with their reason while good ones are
//! written; other tables (JSON mapping, the seed's all-text table) work; two instances in
//! one group share the work and lose nothing when one stops.

mod common;

use cassflow::config::{Config, PipelineConfig, RecordFormat};
use cassflow::stream::{self, dead_letter::header};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_records_arrive_once_with_identical_values() {
    let config = common::stack().await;
    let pipeline = common::users_pipeline("e2e");
    let records = common::users(100_000, "e2e");
    common::produce(&config, &pipeline.topic, &records).await;

    let shutdown = CancellationToken::new();
    let job = common::spawn_pipeline(&config, &pipeline, &shutdown);
    let session = common::session(&config).await;
    let count = common::wait_for_rows(
        &session,
        &pipeline.keyspace,
        &pipeline.table,
        100_000,
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(count, 100_000);
    let rows = common::read_users(&session, &pipeline.keyspace, &pipeline.table).await;
    assert_eq!(rows.len(), records.len());
    for r in &records {
        assert_eq!(
            rows.get(&r.id),
            Some(r),
            "row for {} equals the record",
            r.id
        );
    }
    shutdown.cancel();
    let summary = job.await.expect("job");
    assert_eq!(summary.written, 100_000);
    assert_eq!(summary.dead_lettered, 0);
    assert_eq!(summary.abandoned, 0);
}

/// Reads every message of a topic (until `n` arrived) with its `cassflow.reason` header.
async fn read_dead_letters(
    config: &Config,
    topic: &str,
    n: usize,
) -> Vec<(Option<Vec<u8>>, String, String)> {
    common::read_topic(config, topic, n)
        .await
        .iter()
        .map(|m| {
            let get = |name| common::header_text(m, name).unwrap_or_default();
            (
                m.payload().map(<[u8]>::to_vec),
                get(header::REASON),
                get(header::SOURCE_OFFSET),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_are_dead_lettered_with_their_reason() {
    let config = common::stack().await;
    let pipeline = common::users_pipeline("bad");
    cassflow::kafka::admin::ensure_topic(&config.kafka, &pipeline.topic, 2, 1)
        .await
        .expect("topic");
    let good = common::users(3, "bad");
    let mut extra_field = good[1].to_json_map();
    extra_field.insert("nat".into(), "US".into());
    let mut numeric_post_code = good[2].to_json_map();
    numeric_post_code.insert("post_code".into(), serde_json::json!(63104));
    let mut missing = good[0].to_json_map();
    missing.remove("email");
    let mut wrong_type = good[0].to_json_map();
    wrong_type.insert("first_name".into(), serde_json::json!({"x": 1}));
    let mut bad_uuid = good[0].to_json_map();
    bad_uuid.insert("id".into(), "1234".into());
    let near_limit = vec![b'x'; 1_000_000];

    // (value, key, expected reason or None for a good record)
    let messages: Vec<(Vec<u8>, Option<&str>, Option<&str>)> = vec![
        (good[0].to_json().into_bytes(), Some("k"), None),
        (
            serde_json::Value::Object(extra_field)
                .to_string()
                .into_bytes(),
            Some("k"),
            None,
        ),
        // A console-producer message: no key.
        (
            serde_json::Value::Object(numeric_post_code)
                .to_string()
                .into_bytes(),
            None,
            None,
        ),
        (b"{not json".to_vec(), Some("k"), Some("invalid_json")),
        (
            vec![b'"', 0xc3, 0x28, b'"'],
            Some("k"),
            Some("invalid_utf8"),
        ),
        (
            serde_json::Value::Object(missing).to_string().into_bytes(),
            Some("k"),
            Some("missing_field"),
        ),
        (
            serde_json::Value::Object(wrong_type)
                .to_string()
                .into_bytes(),
            Some("k"),
            Some("wrong_type"),
        ),
        (
            serde_json::Value::Object(bad_uuid).to_string().into_bytes(),
            Some("k"),
            Some("bad_uuid"),
        ),
        (Vec::new(), None, Some("empty_value")),
        (near_limit, Some("big"), Some("invalid_json")),
    ];
    let producer: FutureProducer = cassflow::kafka::client_config(&config.kafka)
        .set("message.max.bytes", "1048576")
        .create()
        .expect("producer");
    for (value, key, _) in &messages {
        let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(&pipeline.topic)
            .payload(value.as_slice())
            .partition(0);
        if let Some(k) = key {
            record = record.key(*k);
        }
        producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)
            .expect("produced");
    }

    let shutdown = CancellationToken::new();
    let job = common::spawn_pipeline(&config, &pipeline, &shutdown);
    let session = common::session(&config).await;
    let count = common::wait_for_rows(
        &session,
        &pipeline.keyspace,
        &pipeline.table,
        3,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(count, 3, "the three good records are written");
    let rows = common::read_users(&session, &pipeline.keyspace, &pipeline.table).await;
    assert_eq!(
        rows.get(&good[2].id).map(|r| r.post_code.as_str()),
        Some("63104")
    );

    let expected: Vec<&str> = messages.iter().filter_map(|(_, _, r)| *r).collect();
    let letters = read_dead_letters(&config, &pipeline.dead_letter_topic(), expected.len()).await;
    let mut got: Vec<(String, String)> = letters
        .iter()
        .map(|(_, r, o)| (o.clone(), r.clone()))
        .collect();
    got.sort_by_key(|(o, _)| o.parse::<i64>().unwrap_or(-1));
    let want: Vec<(String, String)> = messages
        .iter()
        .enumerate()
        .filter_map(|(offset, (_, _, r))| r.map(|r| (offset.to_string(), r.to_string())))
        .collect();
    assert_eq!(
        got, want,
        "each bad message is dead-lettered with its reason and offset"
    );
    let big = letters
        .iter()
        .find(|(_, _, o)| o == "9")
        .expect("near-limit letter");
    assert_eq!(
        big.0.as_ref().map(Vec::len),
        Some(1_000_000),
        "value kept untouched"
    );

    assert!(!job.is_finished(), "the job is still running");
    shutdown.cancel();
    let summary = job.await.expect("job");
    assert_eq!(
        (summary.written, summary.dead_lettered),
        (3, expected.len() as u64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_mapping_and_the_seeds_all_text_table() {
    let config = common::stack().await;
    let session = common::session(&config).await;

    // A second mapping: any JSON object into another table, one column renamed.
    let events = PipelineConfig {
        name: common::unique("events"),
        topic: common::unique("events"),
        partitions: 2,
        keyspace: common::unique("ks"),
        table: "events".into(),
        group_id: Some(common::unique("events-group")),
        format: RecordFormat::Json,
        columns: BTreeMap::from([("kind".to_string(), "type".to_string())]),
        ..PipelineConfig::default()
    };
    // The seed's table: every column text.
    let mut seed = common::users_pipeline("seedtext");
    seed.table = "created_users".into();
    for (ks, ddl) in [
        (&events.keyspace, "CREATE TABLE {ks}.events (id uuid PRIMARY KEY, kind text, amount int, at timestamp, session timeuuid)"),
        (&seed.keyspace, "CREATE TABLE {ks}.created_users (id text PRIMARY KEY, first_name text, last_name text, gender text, address text, post_code text, email text, username text, dob text, registered_date text, phone text, picture text)"),
    ] {
        cassflow::cassandra::schema::ensure_keyspace(&session, &config.cassandra, ks).await.expect("keyspace");
        session.query_unpaged(ddl.replace("{ks}", ks), &[]).await.expect("create table");
    }
    let id = uuid::Uuid::new_v4();
    let session_id = "f81d4fae-7dec-11d0-a765-00a0c91e6bf6";
    let event = serde_json::json!({"id": id.to_string(), "type": "click", "amount": 5, "at": "2026-11-24T10:00:00Z", "session": session_id, "ignored": true});
    let producer: FutureProducer = cassflow::kafka::client_config(&config.kafka)
        .create()
        .expect("producer");
    cassflow::kafka::admin::ensure_topic(&config.kafka, &events.topic, 2, 1)
        .await
        .expect("topic");
    producer
        .send(
            FutureRecord::<str, str>::to(&events.topic).payload(&event.to_string()),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("produced");
    let users = common::users(5, "seedtext");
    common::produce(&config, &seed.topic, &users).await;

    let mut both = config.clone();
    both.pipelines = vec![events.clone(), seed.clone()];
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let job = tokio::spawn(async move { stream::run(&both, None, token).await.expect("runs") });

    assert_eq!(
        common::wait_for_rows(
            &session,
            &events.keyspace,
            "events",
            1,
            Duration::from_secs(120)
        )
        .await,
        1
    );
    assert_eq!(
        common::wait_for_rows(
            &session,
            &seed.keyspace,
            "created_users",
            5,
            Duration::from_secs(120)
        )
        .await,
        5
    );
    let (kind, amount, at, session_col): (
        String,
        i32,
        scylla::value::CqlTimestamp,
        scylla::value::CqlTimeuuid,
    ) = session
        .query_unpaged(
            format!(
                "SELECT kind, amount, at, session FROM {}.events WHERE id = ?",
                events.keyspace
            ),
            (id,),
        )
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows")
        .single_row()
        .expect("row");
    assert_eq!(
        (kind.as_str(), amount, at.0),
        ("click", 5, 1_795_514_400_000)
    );
    assert_eq!(
        uuid::Uuid::from(session_col).to_string(),
        session_id,
        "a timeuuid column takes a version-1 UUID"
    );
    let (dob,): (String,) = session
        .query_unpaged(
            format!(
                "SELECT dob FROM {}.created_users WHERE id = ?",
                seed.keyspace
            ),
            (users[0].id.to_string(),),
        )
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows")
        .single_row()
        .expect("row");
    assert_eq!(
        dob, "1990-05-17T08:30:00.123Z",
        "timestamps become ISO text in a text column"
    );
    shutdown.cancel();
    let summaries = job.await.expect("job");
    assert_eq!(summaries.len(), 2);
}

/// A number beyond a `float` column (JSON `1e39`) or a `double` column (text `"1e400"`)
/// would be written as infinity, and an object keyed by serde_json's private raw-value token
/// would be read as the JSON its string holds (a smuggled row, a smuggled field): each is
/// dead-lettered instead, and the good record between them is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_numbers_and_smuggled_json_are_dead_lettered_not_written() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let pipeline = PipelineConfig {
        name: common::unique("floats"),
        topic: common::unique("floats"),
        partitions: 1,
        keyspace: common::unique("ks"),
        table: "measures".into(),
        group_id: Some(common::unique("floats-group")),
        format: RecordFormat::Json,
        ..PipelineConfig::default()
    };
    cassflow::cassandra::schema::ensure_keyspace(&session, &config.cassandra, &pipeline.keyspace)
        .await
        .expect("keyspace");
    session
        .query_unpaged(
            format!(
                "CREATE TABLE {}.measures (id uuid PRIMARY KEY, ratio float, total double)",
                pipeline.keyspace
            ),
            &[],
        )
        .await
        .expect("create table");
    cassflow::kafka::admin::ensure_topic(&config.kafka, &pipeline.topic, 1, 1)
        .await
        .expect("topic");
    let ids: [uuid::Uuid; 5] = std::array::from_fn(|_| uuid::Uuid::new_v4());
    let token = "$serde_json::private::RawValue";
    let values = [
        format!(r#"{{"id":"{}","ratio":1e39}}"#, ids[0]),
        format!(r#"{{"id":"{}","ratio":1.5,"total":2.5}}"#, ids[1]),
        format!(r#"{{"id":"{}","total":"1e400"}}"#, ids[2]),
        format!(r#"{{"{token}":"{{\"id\":\"{}\",\"ratio\":2.5}}"}}"#, ids[3]),
        format!(r#"{{"id":"{}","ratio":{{"{token}":"3.5"}}}}"#, ids[4]),
    ];
    let producer: FutureProducer = cassflow::kafka::client_config(&config.kafka)
        .create()
        .expect("producer");
    for value in &values {
        producer
            .send(
                FutureRecord::<str, str>::to(&pipeline.topic).payload(value),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produced");
    }

    let shutdown = CancellationToken::new();
    let job = common::spawn_pipeline(&config, &pipeline, &shutdown);
    assert_eq!(
        common::wait_for_rows(
            &session,
            &pipeline.keyspace,
            "measures",
            1,
            Duration::from_secs(120)
        )
        .await,
        1
    );
    let letters = read_dead_letters(&config, &pipeline.dead_letter_topic(), 4).await;
    let mut got: Vec<(String, String)> = letters
        .iter()
        .map(|(_, reason, offset)| (offset.clone(), reason.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("0".to_string(), "incompatible_value".to_string()),
            ("2".to_string(), "incompatible_value".to_string()),
            ("3".to_string(), "missing_key".to_string()),
            ("4".to_string(), "incompatible_value".to_string())
        ]
    );
    shutdown.cancel();
    let summary = job.await.expect("job");
    assert_eq!((summary.written, summary.dead_lettered), (1, 4));
    let rows: Vec<(uuid::Uuid, Option<f32>, Option<f64>)> = session
        .query_unpaged(
            format!(
                "SELECT id, ratio, total FROM {}.measures",
                pipeline.keyspace
            ),
            &[],
        )
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows")
        .rows()
        .expect("typed rows")
        .collect::<Result<_, _>>()
        .expect("decoded rows");
    assert_eq!(
        rows,
        [(ids[1], Some(1.5), Some(2.5))],
        "only the finite record is written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_a_group_and_lose_nothing_when_one_stops() {
    let config = common::stack().await;
    let pipeline = common::users_pipeline("pair");
    let records = common::users(40_000, "pair");
    common::produce(&config, &pipeline.topic, &records).await;
    let session = common::session(&config).await;

    let stop_a = CancellationToken::new();
    let stop_b = CancellationToken::new();
    let a = common::spawn_pipeline(&config, &pipeline, &stop_a);
    let b = common::spawn_pipeline(&config, &pipeline, &stop_b);
    // Stop A once part of the load is written; B takes over A's partitions.
    let partial = common::wait_for_rows(
        &session,
        &pipeline.keyspace,
        &pipeline.table,
        5_000,
        Duration::from_secs(120),
    )
    .await;
    assert!(partial >= 5_000);
    stop_a.cancel();
    let summary_a = a.await.expect("instance A");
    common::assert_table_holds(&session, &pipeline, &records).await;
    stop_b.cancel();
    let summary_b = b.await.expect("instance B");
    assert!(summary_b.written > 0, "B wrote: {summary_b:?}");
    assert!(
        summary_a.written + summary_b.written >= 40_000,
        "{summary_a:?} {summary_b:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_beginning_reads_everything_again() {
    let config = common::stack().await;
    let pipeline = common::users_pipeline("replay");
    let records = common::users(2_000, "replay");
    common::produce(&config, &pipeline.topic, &records).await;
    let session = common::session(&config).await;

    let first = CancellationToken::new();
    let job = common::spawn_pipeline(&config, &pipeline, &first);
    let count = common::wait_for_rows(
        &session,
        &pipeline.keyspace,
        &pipeline.table,
        2_000,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(count, 2_000);
    first.cancel();
    job.await.expect("first run");

    // Empty the table: only a replay can bring the rows back, the group's offsets are at the end.
    session
        .query_unpaged(
            format!("TRUNCATE {}.{}", pipeline.keyspace, pipeline.table),
            &[],
        )
        .await
        .expect("truncate");
    assert_eq!(
        common::count_rows(&session, &pipeline.keyspace, &pipeline.table).await,
        0
    );

    let second = CancellationToken::new();
    let job = {
        let (config, pipeline, token) = (config.clone(), pipeline.clone(), second.clone());
        tokio::spawn(async move {
            stream::run_pipeline(
                &config,
                &pipeline,
                Some(stream::consumer::Replay::Beginning),
                token,
            )
            .await
            .expect("replay run")
        })
    };
    let count = common::wait_for_rows(
        &session,
        &pipeline.keyspace,
        &pipeline.table,
        2_000,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(
        count, 2_000,
        "replay from the beginning writes every record again"
    );
    second.cancel();
    let summary = job.await.expect("replay");
    assert_eq!(summary.consumed, 2_000);
}
