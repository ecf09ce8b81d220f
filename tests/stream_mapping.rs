//! Mapping on the real stack: expressions fill columns from the value's nested fields, the
//! key, headers and the record's metadata; compound keys and static columns; TTL and write
//! time from the pipeline and from records; tombstones delete rows (or are dead-lettered);
//! JSON nulls unset or null; counter tables; a custom query; two topics into one table.
//! Each test has its own topics and keyspace. Records carry explicit Kafka timestamps, so
//! the order in which concurrent writes land does not matter.

mod common;

use cassflow::config::{
    BatchGrouping, Config, Nulls, PipelineConfig, RecordFormat, TimestampUnit, TtlUnit,
};
use cassflow::stream::{self, dead_letter::header};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use scylla::client::session::Session;
use scylla::deserialize::row::DeserializeRow;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One message to produce.
#[derive(Default, Clone)]
struct Msg {
    key: Option<String>,
    /// None: a tombstone.
    value: Option<String>,
    headers: Vec<(&'static str, &'static str)>,
    timestamp_ms: Option<i64>,
}

fn msg(key: Option<&str>, value: serde_json::Value, timestamp_ms: i64) -> Msg {
    Msg {
        key: key.map(str::to_string),
        value: Some(value.to_string()),
        timestamp_ms: Some(timestamp_ms),
        ..Msg::default()
    }
}

fn tombstone(key: Option<&str>, timestamp_ms: i64) -> Msg {
    Msg {
        key: key.map(str::to_string),
        timestamp_ms: Some(timestamp_ms),
        ..Msg::default()
    }
}

/// Produces the messages in order to partition 0 of `topic` (created with one partition).
async fn produce(config: &Config, topic: &str, messages: &[Msg]) {
    cassflow::kafka::admin::ensure_topic(&config.kafka, topic, 1, 1)
        .await
        .expect("topic");
    let producer: FutureProducer = cassflow::kafka::client_config(&config.kafka)
        .create()
        .expect("producer");
    for m in messages {
        let mut record: FutureRecord<'_, str, str> = FutureRecord::to(topic).partition(0);
        if let Some(k) = &m.key {
            record = record.key(k.as_str());
        }
        if let Some(v) = &m.value {
            record = record.payload(v.as_str());
        }
        if let Some(t) = m.timestamp_ms {
            record = record.timestamp(t);
        }
        if !m.headers.is_empty() {
            let mut headers = OwnedHeaders::new();
            for (k, v) in &m.headers {
                headers = headers.insert(Header {
                    key: k,
                    value: Some(*v),
                });
            }
            record = record.headers(headers);
        }
        producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)
            .expect("produced");
    }
}

/// A JSON pipeline on fresh names into `keyspace.table`.
fn json_pipeline(tag: &str, keyspace: &str, table: &str) -> PipelineConfig {
    let topic = common::unique(tag);
    PipelineConfig {
        name: topic.clone(),
        topic: topic.clone(),
        partitions: 1,
        keyspace: keyspace.into(),
        table: table.into(),
        group_id: Some(format!("{topic}-group")),
        format: RecordFormat::Json,
        ..PipelineConfig::default()
    }
}

fn columns(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(c, e)| (c.to_string(), e.to_string()))
        .collect()
}

/// A fresh keyspace with the tables of `ddl` (`{ks}` stands for the keyspace).
async fn keyspace(config: &Config, session: &Session, ddl: &[&str]) -> String {
    let ks = common::unique("ks");
    cassflow::cassandra::schema::ensure_keyspace(session, &config.cassandra, &ks)
        .await
        .expect("keyspace");
    for statement in ddl {
        session
            .query_unpaged(statement.replace("{ks}", &ks), &[])
            .await
            .expect("create table");
    }
    ks
}

/// Every row `cql` selects.
async fn select<R>(session: &Session, cql: &str) -> Vec<R>
where
    R: for<'f, 'm> DeserializeRow<'f, 'm>,
{
    session
        .query_unpaged(cql, &[])
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows")
        .rows::<R>()
        .expect("typed rows")
        .collect::<Result<_, _>>()
        .expect("decoded rows")
}

/// Runs `pipelines` (one stream job) until `done` holds (panics after two minutes), then
/// stops it and returns the summaries.
async fn run_until<F, Fut>(
    config: &Config,
    pipelines: &[PipelineConfig],
    mut done: F,
) -> Vec<stream::PipelineSummary>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut config = config.clone();
    config.pipelines = pipelines.to_vec();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let job = tokio::spawn(async move { stream::run(&config, None, token).await });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream did not get there in two minutes"
        );
        assert!(!job.is_finished(), "the stream job stopped");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(120), job)
        .await
        .expect("the job stops")
        .expect("job")
        .expect("the pipelines ran")
}

/// The reason and error headers of the first `n` dead letters of `pipeline`.
async fn dead_letters(
    config: &Config,
    pipeline: &PipelineConfig,
    n: usize,
) -> Vec<(String, String)> {
    let get = |m: &rdkafka::message::OwnedMessage, name: &str| {
        m.headers()
            .and_then(|h| h.iter().find(|h| h.key == name))
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    common::read_topic(config, &pipeline.dead_letter_topic(), n)
        .await
        .iter()
        .map(|m| (get(m, header::REASON), get(m, header::ERROR)))
        .collect()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expressions_fill_columns_from_nested_values_key_headers_and_metadata() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let ks = keyspace(
        &config,
        &session,
        &["CREATE TABLE {ks}.events (id text PRIMARY KEY, customer text, sku text, whole_key text, \
           n int, trace text, topic text, part int, off bigint, at timestamp, at_ms bigint, \
           made timeuuid, typo text)"],
    )
    .await;
    let pipeline = PipelineConfig {
        columns: columns(&[
            ("id", "key.id"),
            ("customer", "customer.name"),
            ("sku", "value.items[1].sku"),
            ("whole_key", "key"),
            ("n", "value.\"odd.name\""),
            ("trace", "header.trace-id"),
            ("topic", "kafka.topic"),
            ("part", "kafka.partition"),
            ("off", "kafka.offset"),
            ("at", "kafka.timestamp"),
            ("at_ms", "kafka.timestamp"),
            ("made", "now()"),
            ("typo", "value.custmer"),
        ]),
        ..json_pipeline("expr", &ks, "events")
    };
    let t = now_ms() - 60_000;
    let value = serde_json::json!({
        "customer": {"name": "Ada"},
        "items": [{"sku": "a-1"}, {"sku": "b-2"}],
        "odd.name": 7,
    });
    let key = r#"{"id":"order-1"}"#;
    let mut first = msg(Some(key), value.clone(), t);
    first.headers = vec![("trace-id", "old"), ("trace-id", "t-42")];
    let second = msg(Some(r#"{"id":"order-2"}"#), value, t + 1);
    produce(&config, &pipeline.topic, &[first, second]).await;

    let cql = format!("SELECT COUNT(*) FROM {ks}.events");
    let summaries = run_until(&config, std::slice::from_ref(&pipeline), || async {
        select::<(i64,)>(&session, &cql).await[0].0 == 2
    })
    .await;
    assert_eq!(summaries[0].written, 2);
    type Row = (
        String,
        String,
        String,
        String,
        i32,
        Option<String>,
        String,
        i32,
        i64,
        scylla::value::CqlTimestamp,
        i64,
        scylla::value::CqlTimeuuid,
        Option<String>,
    );
    let rows: Vec<Row> = select(
        &session,
        &format!(
            "SELECT id, customer, sku, whole_key, n, trace, topic, part, off, at, at_ms, made, typo \
             FROM {ks}.events WHERE id = 'order-1'"
        ),
    )
    .await;
    let r = &rows[0];
    assert_eq!(
        (r.0.as_str(), r.1.as_str(), r.2.as_str(), r.3.as_str(), r.4),
        ("order-1", "Ada", "b-2", key, 7)
    );
    assert_eq!(r.5.as_deref(), Some("t-42"), "the last header of the name");
    assert_eq!((r.6.as_str(), r.7, r.8), (pipeline.topic.as_str(), 0, 0));
    assert_eq!((r.9 .0, r.10), (t, t));
    assert_eq!(uuid::Uuid::from(r.11).get_version_num(), 1);
    assert_eq!(r.12, None, "a mapped field the value lacks is left unset");
    assert_eq!(
        cassflow::stream::metrics::stream_metrics()
            .field_absent(&pipeline.name, "typo")
            .get(),
        2,
        "and counted, so a typo is visible"
    );
    let others: Vec<(i64, Option<String>)> = select(
        &session,
        &format!("SELECT off, trace FROM {ks}.events WHERE id = 'order-2'"),
    )
    .await;
    assert_eq!(others, [(1, None)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compound_keys_and_static_columns_and_a_missing_key_part_is_dead_lettered() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let ks = keyspace(
        &config,
        &session,
        &["CREATE TABLE {ks}.readings (sensor text, day text, at int, seq int, site text static, \
           v int, PRIMARY KEY ((sensor, day), at, seq))"],
    )
    .await;
    let pipeline = PipelineConfig {
        columns: columns(&[("sensor", "key"), ("v", "reading.value")]),
        ..json_pipeline("compound", &ks, "readings")
    };
    let t = now_ms() - 60_000;
    let row = |at: i32, seq: i32, site: &str, v: i32| serde_json::json!({"day": "2026-12-01", "at": at, "seq": seq, "site": site, "reading": {"value": v}});
    produce(
        &config,
        &pipeline.topic,
        &[
            msg(Some("s1"), row(1, 0, "old site", 10), t),
            msg(Some("s1"), row(1, 1, "new site", 11), t + 1),
            msg(Some("s1"), row(2, 0, "new site", 12), t + 2),
            msg(Some("s2"), row(1, 0, "other", 20), t + 3),
            // No clustering column `seq`.
            msg(
                Some("s1"),
                serde_json::json!({"day": "2026-12-01", "at": 3, "reading": {"value": 1}}),
                t + 4,
            ),
            // No key: no partition key column `sensor`.
            msg(None, row(4, 0, "x", 1), t + 5),
        ],
    )
    .await;
    let cql = format!("SELECT COUNT(*) FROM {ks}.readings");
    let summaries = run_until(&config, std::slice::from_ref(&pipeline), || async {
        select::<(i64,)>(&session, &cql).await[0].0 == 4
    })
    .await;
    let letters = dead_letters(&config, &pipeline, 2).await;
    assert!(summaries[0].written >= 4, "{:?}", summaries[0]);
    let mut reasons: Vec<&str> = letters.iter().map(|(r, _)| r.as_str()).collect();
    reasons.sort();
    assert_eq!(reasons, ["missing_key", "missing_key"]);
    assert!(
        letters
            .iter()
            .any(|(_, e)| e.contains("`seq`") && e.contains("value.seq")),
        "{letters:?}"
    );
    assert!(
        letters
            .iter()
            .any(|(_, e)| e.contains("`sensor`") && e.contains("`key`")),
        "{letters:?}"
    );
    let rows: Vec<(String, String, i32, i32, String, i32)> = select(
        &session,
        &format!(
            "SELECT sensor, day, at, seq, site, v FROM {ks}.readings \
             WHERE sensor = 's1' AND day = '2026-12-01'"
        ),
    )
    .await;
    let s = |x: &str| x.to_string();
    assert_eq!(
        rows,
        [
            (s("s1"), s("2026-12-01"), 1, 0, s("new site"), 10),
            (s("s1"), s("2026-12-01"), 1, 1, s("new site"), 11),
            (s("s1"), s("2026-12-01"), 2, 0, s("new site"), 12),
        ],
        "the static column holds the partition's latest value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_and_write_time_from_the_pipeline_and_from_records() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let ks = keyspace(
        &config,
        &session,
        &["CREATE TABLE {ks}.t (id text PRIMARY KEY, v text)"],
    )
    .await;
    let pipeline = PipelineConfig {
        ttl: Some(Duration::from_secs(3600)),
        ttl_unit: TtlUnit::Minutes,
        timestamp_unit: TimestampUnit::Milliseconds,
        columns: columns(&[("__ttl", "value.keep_minutes"), ("__timestamp", "value.at")]),
        ..json_pipeline("ttl", &ks, "t")
    };
    let t = now_ms() - 60_000;
    let at = t - 86_400_000;
    let year_2100_ms: i64 = 4_102_444_800_000;
    produce(
        &config,
        &pipeline.topic,
        &[
            msg(None, serde_json::json!({"id": "default", "v": "x"}), t),
            msg(
                None,
                serde_json::json!({"id": "own", "v": "x", "keep_minutes": 10}),
                t,
            ),
            msg(
                None,
                serde_json::json!({"id": "dated", "v": "x", "at": at}),
                t,
            ),
            msg(
                None,
                serde_json::json!({"id": "future", "v": "x", "at": year_2100_ms}),
                t,
            ),
        ],
    )
    .await;
    let cql = format!("SELECT COUNT(*) FROM {ks}.t");
    run_until(&config, std::slice::from_ref(&pipeline), || async {
        select::<(i64,)>(&session, &cql).await[0].0 == 3
    })
    .await;
    let rows: Vec<(String, Option<i32>, i64)> = select(
        &session,
        &format!("SELECT id, TTL(v), WRITETIME(v) FROM {ks}.t"),
    )
    .await;
    let get = |id: &str| {
        rows.iter()
            .find(|r| r.0 == id)
            .unwrap_or_else(|| panic!("row {id}: {rows:?}"))
    };
    let default_ttl = get("default").1.expect("a TTL");
    assert!((3000..=3600).contains(&default_ttl), "{default_ttl}");
    let own_ttl = get("own").1.expect("a TTL");
    assert!((500..=600).contains(&own_ttl), "{own_ttl}");
    assert_eq!(get("default").2, t * 1000, "the Kafka timestamp by default");
    assert_eq!(get("dated").2, at * 1000, "the record's own write time");
    let letters = dead_letters(&config, &pipeline, 1).await;
    assert_eq!(letters[0].0, "timestamp_in_future");
    assert!(
        letters[0].1.contains("columns.__timestamp"),
        "{}",
        letters[0].1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstones_delete_rows_or_are_dead_lettered_and_nulls_unset_or_null() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let ks = keyspace(
        &config,
        &session,
        &[
            "CREATE TABLE {ks}.deleting (id text PRIMARY KEY, v text, w text)",
            "CREATE TABLE {ks}.keeping (id text PRIMARY KEY, v text, w text)",
        ],
    )
    .await;
    // One topic into two tables: deletes and nulls differ.
    let deleting = PipelineConfig {
        columns: columns(&[("id", "key")]),
        nulls: Nulls::Null,
        ..json_pipeline("tomb", &ks, "deleting")
    };
    let keeping = PipelineConfig {
        name: common::unique("keeping"),
        group_id: Some(common::unique("keeping-group")),
        dead_letter_topic: Some(common::unique("keeping-dlq")),
        table: "keeping".into(),
        deletes: false,
        nulls: Nulls::Unset,
        ..deleting.clone()
    };
    let t = now_ms() - 60_000;
    produce(
        &config,
        &deleting.topic,
        &[
            msg(Some("a"), serde_json::json!({"v": "x", "w": "y"}), t),
            msg(Some("b"), serde_json::json!({"v": "x", "w": "y"}), t),
            msg(Some("b"), serde_json::json!({"v": null}), t + 1000),
            tombstone(Some("a"), t + 2000),
            tombstone(None, t + 2000),
            msg(Some("z"), serde_json::json!({"v": "marker"}), t + 3000),
        ],
    )
    .await;
    let rows = |table: &'static str| {
        let cql = format!("SELECT id, v, w FROM {ks}.{table}");
        let session = &session;
        async move {
            let mut rows: Vec<(String, Option<String>, Option<String>)> =
                select(session, &cql).await;
            rows.sort();
            rows
        }
    };
    let summaries = run_until(&config, &[deleting.clone(), keeping.clone()], || async {
        let ids = |rows: Vec<(String, Option<String>, Option<String>)>| {
            rows.into_iter().map(|r| r.0).collect::<Vec<_>>()
        };
        ids(rows("deleting").await) == ["b", "z"] && ids(rows("keeping").await) == ["a", "b", "z"]
    })
    .await;
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        rows("deleting").await,
        [("b".into(), None, s("y")), ("z".into(), s("marker"), None)],
        "`nulls = \"null\"` wrote null; the tombstone deleted `a`"
    );
    assert_eq!(
        rows("keeping").await[..2],
        [("a".into(), s("x"), s("y")), ("b".into(), s("x"), s("y"))],
        "`nulls = \"unset\"` left `v`; `deletes = false` kept `a`"
    );
    let letters = dead_letters(&config, &deleting, 1).await;
    assert_eq!(letters[0].0, "missing_key", "a tombstone without a key");
    assert!(letters[0].1.contains("`id`"), "{}", letters[0].1);
    let mut letters = dead_letters(&config, &keeping, 2).await;
    letters.sort();
    assert_eq!(
        letters.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
        ["tombstone", "tombstone"]
    );
    assert!(letters[0].1.contains("deletes = true"), "{}", letters[0].1);
    assert_eq!(summaries.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_tombstone_deletes_when_the_id_comes_from_the_key() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let pipeline = PipelineConfig {
        partitions: 1,
        columns: columns(&[("id", "key")]),
        ..common::users_pipeline("userstomb")
    };
    let users = common::users(2, "userstomb");
    common::produce(&config, &pipeline.topic, &users).await;
    // After the users, by Kafka timestamp and offset.
    produce(
        &config,
        &pipeline.topic,
        &[tombstone(Some(&users[0].id.to_string()), now_ms() + 1000)],
    )
    .await;
    let summaries = run_until(&config, std::slice::from_ref(&pipeline), || async {
        let metrics = cassflow::stream::metrics::stream_metrics().pipeline(&pipeline.name);
        if metrics.written.get() < 3 {
            return false;
        }
        let rows = common::read_users(&session, &pipeline.keyspace, &pipeline.table).await;
        rows.len() == 1 && rows.contains_key(&users[1].id)
    })
    .await;
    assert_eq!((summaries[0].written, summaries[0].dead_lettered), (3, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_table_is_incremented() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let ks = keyspace(
        &config,
        &session,
        &[
            "CREATE TABLE {ks}.hits (page text, day text, views counter, clicks counter, \
           PRIMARY KEY (page, day))",
        ],
    )
    .await;
    let pipeline = PipelineConfig {
        columns: columns(&[("views", "value.n")]),
        ..json_pipeline("counter", &ks, "hits")
    };
    let t = now_ms() - 60_000;
    let hit = |n: i64, clicks: Option<i64>| {
        let mut v = serde_json::json!({"page": "/", "day": "mon", "n": n});
        if let Some(c) = clicks {
            v["clicks"] = c.into();
        }
        v
    };
    produce(
        &config,
        &pipeline.topic,
        &[
            msg(None, hit(2, None), t),
            msg(None, hit(3, Some(1)), t),
            msg(None, hit(5, None), t),
        ],
    )
    .await;
    let cql = format!("SELECT views, clicks FROM {ks}.hits WHERE page = '/' AND day = 'mon'");
    run_until(&config, std::slice::from_ref(&pipeline), || async {
        use scylla::value::Counter;
        select::<(Option<Counter>, Option<Counter>)>(&session, &cql).await
            == [(Some(Counter(10)), Some(Counter(1)))]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_query_is_filled_by_its_markers_and_a_bad_one_is_refused_naming_the_key() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let ks = keyspace(
        &config,
        &session,
        &["CREATE TABLE {ks}.q (id text PRIMARY KEY, n int, note text)"],
    )
    .await;
    let pipeline = PipelineConfig {
        query: Some(format!("UPDATE {ks}.q SET n = :n WHERE id = :id")),
        columns: columns(&[("n", "value.count"), ("id", "key")]),
        ..json_pipeline("query", &ks, "q")
    };
    let t = now_ms() - 60_000;
    produce(
        &config,
        &pipeline.topic,
        &[
            msg(
                Some("a"),
                serde_json::json!({"count": 4, "note": "not written"}),
                t,
            ),
            msg(Some("b"), serde_json::json!({"count": 5}), t),
        ],
    )
    .await;
    let cql = format!("SELECT id, n, note FROM {ks}.q");
    run_until(&config, std::slice::from_ref(&pipeline), || async {
        select::<(String, i32, Option<String>)>(&session, &cql)
            .await
            .len()
            == 2
    })
    .await;
    let mut rows: Vec<(String, i32, Option<String>)> = select(&session, &cql).await;
    rows.sort();
    assert_eq!(rows, [("a".into(), 4, None), ("b".into(), 5, None)]);

    let mut bad = config.clone();
    bad.pipelines = vec![PipelineConfig {
        query: Some(format!("UPDATE {ks}.q SET nope = :n WHERE id = :id")),
        ..json_pipeline("badquery", &ks, "q")
    }];
    let err = stream::run(&bad, None, CancellationToken::new())
        .await
        .expect_err("refused at start")
        .to_string();
    assert!(err.contains("pipelines[0].query"), "{err}");
    assert!(err.contains("nope"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_list_append_takes_the_records_write_time_and_ttl_and_deletes_keep_its_clock() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let ks = keyspace(
        &config,
        &session,
        &[
            "CREATE TABLE {ks}.timed (cart_id text PRIMARY KEY, items list<text>, note text)",
            "CREATE TABLE {ks}.untimed (cart_id text PRIMARY KEY, items list<text>, note text)",
        ],
    )
    .await;
    let append = |table: &str, using: &str| {
        format!(
            "UPDATE {ks}.{table} {using} SET items = items + :added, note = :note \
             WHERE cart_id = :cart_id"
        )
    };
    let mapped = columns(&[("added", "value.items"), ("cart_id", "key")]);
    // Written at each record's Kafka timestamp, with the pipeline's TTL.
    let timed = PipelineConfig {
        query: Some(append("timed", "USING TTL :ttl AND TIMESTAMP :ts")),
        ttl: Some(Duration::from_secs(3600)),
        columns: mapped.clone(),
        ..json_pipeline("timedq", &ks, "timed")
    };
    // Written at the server's clock: so are its deletes.
    let untimed = PipelineConfig {
        query: Some(append("untimed", "")),
        columns: mapped,
        ..json_pipeline("untimedq", &ks, "untimed")
    };
    let t = now_ms() - 60_000;
    let cart = |id: &str, item: &str, note: &str, at: i64| {
        msg(
            Some(id),
            serde_json::json!({"items": [item], "note": note}),
            at,
        )
    };
    let carts = [
        cart("a", "x", "first", t),
        cart("a", "y", "second", t + 1000),
        cart("b", "z", "gone", t),
    ];
    produce(&config, &timed.topic, &carts).await;
    produce(&config, &timed.topic, &[tombstone(Some("b"), t + 2000)]).await;
    produce(&config, &untimed.topic, &carts).await;
    type Cart = (String, Option<Vec<String>>, Option<String>);
    let rows = |table: &'static str| {
        let cql = format!("SELECT cart_id, items, note FROM {ks}.{table}");
        let session = &session;
        async move {
            let mut rows: Vec<Cart> = select(session, &cql).await;
            for row in &mut rows {
                // Records of one partition are written concurrently: compare as sets.
                if let Some(items) = &mut row.1 {
                    items.sort();
                }
            }
            rows.sort();
            rows
        }
    };
    let items = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let a_has_both = |rows: &[Cart]| rows.iter().any(|r| r.0 == "a" && r.1 == items(&["x", "y"]));
    run_until(&config, &[timed.clone(), untimed.clone()], || async {
        let timed = rows("timed").await;
        let untimed = rows("untimed").await;
        a_has_both(&timed) && timed.len() == 1 && a_has_both(&untimed) && untimed.len() == 2
    })
    .await;
    let (write_time, ttl): (Option<i64>, Option<i32>) = select(
        &session,
        &format!("SELECT WRITETIME(note), TTL(note) FROM {ks}.timed WHERE cart_id = 'a'"),
    )
    .await[0];
    assert_eq!(
        rows("timed").await[0].2.as_deref(),
        Some("second"),
        "the later record wins, whatever order the writes ran in"
    );
    assert_eq!(
        write_time,
        Some((t + 1000) * 1000),
        "the record's Kafka timestamp"
    );
    assert!(ttl.is_some_and(|s| s > 0 && s <= 3600), "{ttl:?}");

    // A tombstone read later deletes at the server's clock, after the append it follows
    // (at its Kafka timestamp, a minute before the append, the delete would be ignored).
    produce(&config, &untimed.topic, &[tombstone(Some("b"), t + 2000)]).await;
    run_until(&config, std::slice::from_ref(&untimed), || async {
        rows("untimed").await.len() == 1
    })
    .await;
    assert!(a_has_both(&rows("untimed").await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_topics_stream_into_one_table() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let ks = keyspace(
        &config,
        &session,
        &["CREATE TABLE {ks}.all_events (id text PRIMARY KEY, source text)"],
    )
    .await;
    let a = PipelineConfig {
        columns: columns(&[("source", "kafka.topic")]),
        ..json_pipeline("topica", &ks, "all_events")
    };
    let b = PipelineConfig {
        columns: columns(&[("source", "kafka.topic")]),
        ..json_pipeline("topicb", &ks, "all_events")
    };
    let t = now_ms() - 60_000;
    produce(
        &config,
        &a.topic,
        &[msg(None, serde_json::json!({"id": "1"}), t)],
    )
    .await;
    produce(
        &config,
        &b.topic,
        &[msg(None, serde_json::json!({"id": "2"}), t)],
    )
    .await;
    let cql = format!("SELECT id, source FROM {ks}.all_events");
    run_until(&config, &[a.clone(), b.clone()], || async {
        select::<(String, String)>(&session, &cql).await.len() == 2
    })
    .await;
    let mut rows: Vec<(String, String)> = select(&session, &cql).await;
    rows.sort();
    assert_eq!(
        rows,
        [("1".into(), a.topic.clone()), ("2".into(), b.topic.clone())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipelines_consistency_level_is_the_one_its_writes_use() {
    let mut config = common::stack().await;
    // The record keeps waiting for Cassandra; it is abandoned (not committed) at shutdown.
    config.stream.shutdown_timeout = Duration::from_secs(1);
    let session = common::session(&config).await;
    let ks = keyspace(
        &config,
        &session,
        &["CREATE TABLE {ks}.c (id text PRIMARY KEY)"],
    )
    .await;
    // One node cannot answer for two replicas: every write is unavailable, none is lost.
    let pipeline = PipelineConfig {
        consistency: cassflow::config::WriteConsistency::Two,
        ..json_pipeline("consistency", &ks, "c")
    };
    let t = now_ms() - 60_000;
    produce(
        &config,
        &pipeline.topic,
        &[msg(None, serde_json::json!({"id": "1"}), t)],
    )
    .await;
    let summaries = run_until(&config, std::slice::from_ref(&pipeline), || async {
        cassflow::stream::metrics::last_error(&pipeline.name)
            .is_some_and(|e| e.message.contains("TWO") || e.message.contains("Two"))
    })
    .await;
    assert_eq!((summaries[0].written, summaries[0].abandoned), (0, 1));
    assert_eq!(common::count_rows(&session, &ks, "c").await, 0);
}

/// The stack's config with batches of 8 rows grouped by `grouping`, and a linger long
/// enough that rows read together share batches, however the test machine runs.
async fn batching(grouping: BatchGrouping) -> Config {
    let mut config = common::stack().await;
    config.stream.batch_grouping = grouping;
    config.stream.batch_max_rows = 8;
    config.stream.batch_linger = Duration::from_millis(50);
    config
}

/// Grouped writes (`stream.batch_grouping = "replica_set"`, the default): rows go out in
/// UNLOGGED batches; a batch Cassandra refuses because of one row (an empty partition key)
/// is written again row by row, so the others land and only that row is dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_refused_inside_a_batch_costs_only_itself() {
    let config = batching(BatchGrouping::ReplicaSet).await;
    let session = common::session(&config).await;
    let ks = keyspace(
        &config,
        &session,
        &["CREATE TABLE {ks}.items (id text PRIMARY KEY, n int)"],
    )
    .await;
    let pipeline = json_pipeline("batched", &ks, "items");
    let t = now_ms() - 60_000;
    let refused = |i: usize| i % 20 == 7;
    let messages: Vec<Msg> = (0..60)
        .map(|i| {
            let id = match refused(i) {
                true => String::new(),
                false => format!("item-{i}"),
            };
            msg(None, serde_json::json!({"id": id, "n": i}), t + i as i64)
        })
        .collect();
    produce(&config, &pipeline.topic, &messages).await;
    let cql = format!("SELECT COUNT(*) FROM {ks}.items");
    run_until(&config, std::slice::from_ref(&pipeline), || async {
        select::<(i64,)>(&session, &cql).await[0].0 == 57
    })
    .await;
    let letters = dead_letters(&config, &pipeline, 3).await;
    for (reason, error) in &letters {
        assert_eq!(reason, "rejected_by_cassandra", "{letters:?}");
        assert!(error.to_lowercase().contains("empty"), "{letters:?}");
    }
    let metrics = stream::metrics::stream_metrics().pipeline(&pipeline.name);
    assert!(metrics.batches.get() > 0, "rows went out in batches");
    // The refused rows were in batches of several rows (each such batch is refused whole),
    // and those batches' rows were written again one by one.
    assert!(
        metrics.batch_rows_rewritten.get() > 3,
        "{} rows of refused batches written again",
        metrics.batch_rows_rewritten.get()
    );
    let ns: Vec<(i32,)> = select(&session, &format!("SELECT n FROM {ks}.items")).await;
    let mut ns: Vec<usize> = ns.into_iter().map(|(n,)| n as usize).collect();
    ns.sort_unstable();
    let want: Vec<usize> = (0..60).filter(|i| !refused(*i)).collect();
    assert_eq!(ns, want, "every row but the refused ones, each once");
}

/// `batch_grouping = "partition"`: rows go out in batches (of one partition each, which
/// this test cannot see from outside), and within a batch the write time still decides:
/// of two versions of a row, the later one stays, whatever their order in the topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_of_a_partition_share_batches_and_the_latest_version_wins() {
    let config = batching(BatchGrouping::Partition).await;
    let session = common::session(&config).await;
    let ks = keyspace(
        &config,
        &session,
        &["CREATE TABLE {ks}.cells (k text, c int, v int, PRIMARY KEY (k, c))"],
    )
    .await;
    let pipeline = json_pipeline("by-partition", &ks, "cells");
    let t = now_ms() - 60_000;
    // Four partitions of ten rows, each row twice: v = 1 first, then v = 2 a millisecond
    // later; the second versions come first in the topic, so the topic order is not the
    // write-time order.
    let mut messages = Vec::new();
    for (version, stamp) in [(2, t + 1), (1, t)] {
        for k in 0..4 {
            for c in 0..10 {
                let value = serde_json::json!({"k": format!("p{k}"), "c": c, "v": version});
                messages.push(msg(None, value, stamp));
            }
        }
    }
    produce(&config, &pipeline.topic, &messages).await;
    let summaries = run_until(&config, std::slice::from_ref(&pipeline), || async {
        stream::metrics::stream_metrics()
            .pipeline(&pipeline.name)
            .written
            .get()
            >= 80
    })
    .await;
    assert_eq!(summaries[0].dead_lettered, 0, "{:?}", summaries[0]);
    let metrics = stream::metrics::stream_metrics().pipeline(&pipeline.name);
    assert!(
        metrics.batches.get() > 0,
        "rows of a partition share batches"
    );
    let rows: Vec<(String, i32, i32)> =
        select(&session, &format!("SELECT k, c, v FROM {ks}.cells")).await;
    assert_eq!(rows.len(), 40);
    assert!(
        rows.iter().all(|(_, _, v)| *v == 2),
        "the later version of every row stays: {rows:?}"
    );
}
