//! Declared tables (`[pipelines.create_table]`) on the real stack: a table with a list, a
//! user-defined type (nested in another), a static column, a compound partition key and a
//! descending clustering column is created with its keyspace and types, and left as it is
//! when it exists; `cassflow stream` creates a declared table and writes JSON records into it.

mod common;

use cassflow::cassandra::schema::{self, TableReady};
use cassflow::config::{Config, PipelineConfig, RecordFormat, TableDeclaration};
use rdkafka::producer::{FutureProducer, FutureRecord};
use scylla::client::session::Session;
use std::collections::BTreeMap;
use std::time::Duration;

fn declaration(
    columns: &[(&str, &str)],
    partition: &[&str],
    clustering: &[&str],
) -> TableDeclaration {
    TableDeclaration {
        columns: columns
            .iter()
            .map(|(c, t)| (c.to_string(), t.to_string()))
            .collect(),
        partition_key: partition.iter().map(|c| c.to_string()).collect(),
        clustering_key: clustering.iter().map(|c| c.to_string()).collect(),
        ..TableDeclaration::default()
    }
}

/// (name, kind, position, clustering order, type) of every column, by name.
async fn columns(
    session: &Session,
    keyspace: &str,
    table: &str,
) -> Vec<(String, String, i32, String, String)> {
    let mut rows: Vec<(String, String, i32, String, String)> = session
        .query_unpaged(
            "SELECT column_name, kind, position, clustering_order, type FROM system_schema.columns \
             WHERE keyspace_name = ? AND table_name = ?",
            (keyspace, table),
        )
        .await
        .expect("select columns")
        .into_rows_result()
        .expect("rows")
        .rows::<(String, String, i32, String, String)>()
        .expect("typed")
        .map(|r| r.expect("row"))
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_table_with_a_list_a_udt_and_a_compound_key_is_created_and_then_left_alone() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let mut declared = declaration(
        &[
            ("shop_id", "int"),
            ("day", "text"),
            ("placed_at", "timestamp"),
            ("order_id", "uuid"),
            ("items", "list<text>"),
            ("ship_to", "frozen<address>"),
            ("region", "text static"),
            ("total", "double"),
        ],
        &["shop_id", "day"],
        &["placed_at DESC", "order_id"],
    );
    declared.types.insert(
        "address".into(),
        BTreeMap::from([
            ("street".to_string(), "text".to_string()),
            ("geo".to_string(), "frozen<point>".to_string()),
        ]),
    );
    declared.types.insert(
        "point".into(),
        BTreeMap::from([
            ("lat".to_string(), "double".to_string()),
            ("lon".to_string(), "double".to_string()),
        ]),
    );
    declared.options =
        Some("default_time_to_live = 86400 AND comment = 'declared by cassflow'".into());
    let pipeline = PipelineConfig {
        name: common::unique("declared"),
        topic: common::unique("declared"),
        keyspace: common::unique("ks"),
        table: "orders".into(),
        format: RecordFormat::Json,
        create_table: Some(declared),
        ..PipelineConfig::default()
    };
    let mut with_it = config.clone();
    with_it.pipelines = vec![pipeline.clone()];
    with_it.validate().expect("the declaration is valid");

    let ready = schema::ensure_pipeline_table(&session, &config.cassandra, &pipeline)
        .await
        .expect("created");
    assert_eq!(ready, TableReady::Created);
    let ks = pipeline.keyspace.as_str();
    let got = columns(&session, ks, "orders").await;
    let want = [
        ("day", "partition_key", 1, "none", "text"),
        ("items", "regular", -1, "none", "list<text>"),
        ("order_id", "clustering", 1, "asc", "uuid"),
        ("placed_at", "clustering", 0, "desc", "timestamp"),
        ("region", "static", -1, "none", "text"),
        ("ship_to", "regular", -1, "none", "frozen<address>"),
        ("shop_id", "partition_key", 0, "none", "int"),
        ("total", "regular", -1, "none", "double"),
    ]
    .map(|(c, k, p, o, t)| {
        (
            c.to_string(),
            k.to_string(),
            p,
            o.to_string(),
            t.to_string(),
        )
    });
    assert_eq!(got, want.to_vec());

    let (ttl, comment): (i32, String) = session
        .query_unpaged(
            "SELECT default_time_to_live, comment FROM system_schema.tables \
             WHERE keyspace_name = ? AND table_name = ?",
            (ks, "orders"),
        )
        .await
        .expect("select table")
        .into_rows_result()
        .expect("rows")
        .single_row()
        .expect("one table");
    assert_eq!((ttl, comment.as_str()), (86400, "declared by cassflow"));
    let (fields, types): (Vec<String>, Vec<String>) = session
        .query_unpaged(
            "SELECT field_names, field_types FROM system_schema.types \
             WHERE keyspace_name = ? AND type_name = ?",
            (ks, "address"),
        )
        .await
        .expect("select type")
        .into_rows_result()
        .expect("rows")
        .single_row()
        .expect("the type");
    assert_eq!(fields, ["geo", "street"]);
    assert_eq!(types, ["frozen<point>", "text"]);

    // A row with the list and the nested UDT goes in as declared.
    session
        .query_unpaged(
            format!(
                "INSERT INTO \"{ks}\".orders (shop_id, day, placed_at, order_id, items, ship_to, region) \
                 VALUES (1, '2026-12-01', '2026-12-01T10:00:00Z', uuid(), ['a', 'b'], \
                 {{street: 'Main', geo: {{lat: 1.5, lon: 2.5}}}}, 'north')"
            ),
            &[],
        )
        .await
        .expect("the declared shape takes a row");

    // Existing: left as it is, even when it differs from the declaration.
    session
        .query_unpaged(format!("ALTER TABLE \"{ks}\".orders ADD added text"), &[])
        .await
        .expect("alter");
    let mut changed = pipeline.clone();
    if let Some(t) = changed.create_table.as_mut() {
        t.columns.insert("other".into(), "int".into());
    }
    let again = schema::ensure_pipeline_table(&session, &config.cassandra, &changed)
        .await
        .expect("existing table accepted");
    assert_eq!(again, TableReady::Existed);
    let after = columns(&session, ks, "orders").await;
    assert!(after.iter().any(|c| c.0 == "added"), "{after:?}");
    assert!(
        !after.iter().any(|c| c.0 == "other"),
        "not altered: {after:?}"
    );
    assert_eq!(common::count_rows(&session, ks, "orders").await, 1);
}

/// Produces JSON objects to `topic`; panics unless every one is delivered.
async fn produce_json(config: &Config, topic: &str, values: &[serde_json::Value]) {
    cassflow::kafka::admin::ensure_topic(&config.kafka, topic, 2, 1)
        .await
        .expect("topic");
    let producer: FutureProducer = cassflow::kafka::client_config(&config.kafka)
        .create()
        .expect("producer");
    for v in values {
        producer
            .send(
                FutureRecord::<str, str>::to(topic).payload(&v.to_string()),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produced");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cassflow_stream_creates_a_declared_table_and_writes_json_records_into_it() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let (name, topic, keyspace) = (
        common::unique("shop"),
        common::unique("orders"),
        common::unique("ks"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cassflow.toml");
    std::fs::write(
        &file,
        format!(
            "[kafka]\nbootstrap = \"{}\"\n[cassandra]\ncontact_points = \"{}\"\n\
             [[pipelines]]\nname = \"{name}\"\ntopic = \"{topic}\"\nkeyspace = \"{keyspace}\"\n\
             table = \"orders\"\nformat = \"json\"\npartitions = 2\n\
             [pipelines.create_table]\npartition_key = [\"shop_id\", \"day\"]\n\
             clustering_key = [\"placed_at DESC\", \"order_id\"]\n\
             options = \"comment = 'orders'\"\n\
             [pipelines.create_table.columns]\nshop_id = \"int\"\nday = \"text\"\n\
             placed_at = \"timestamp\"\norder_id = \"uuid\"\ntotal = \"double\"\nnote = \"text\"\n",
            config.kafka.bootstrap, config.cassandra.contact_points,
        ),
    )
    .expect("write config");
    let ids: Vec<uuid::Uuid> = (0..20).map(|_| uuid::Uuid::new_v4()).collect();
    let values: Vec<serde_json::Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            serde_json::json!({
                "shop_id": i % 2, "day": "2026-12-01", "order_id": id.to_string(),
                "placed_at": format!("2026-12-01T10:{i:02}:00Z"), "total": i as f64 + 0.5,
                "note": format!("order {i}"), "ignored": true
            })
        })
        .collect();
    produce_json(&config, &topic, &values).await;

    let mut stream = tokio::process::Command::new(common::cassflow_bin())
        .arg("--config")
        .arg(&file)
        .args(["--log-level", "warn", "stream"])
        .env_remove("RUST_LOG")
        .current_dir(dir.path())
        .kill_on_drop(true)
        .spawn()
        .expect("cassflow stream starts");
    let rows =
        common::wait_for_rows(&session, &keyspace, "orders", 20, Duration::from_secs(180)).await;
    if let Some(pid) = stream.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let status = tokio::time::timeout(Duration::from_secs(120), stream.wait())
        .await
        .expect("stops on SIGTERM")
        .expect("waits");
    assert_eq!(rows, 20, "every record is a row");
    assert!(status.success(), "{status}");

    // The newest order of shop 1 comes first: placed_at is DESC.
    let (order_id, total, note): (uuid::Uuid, f64, String) = session
        .query_unpaged(
            format!(
                "SELECT order_id, total, note FROM \"{keyspace}\".orders \
                 WHERE shop_id = 1 AND day = '2026-12-01' LIMIT 1"
            ),
            &[],
        )
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows")
        .first_row()
        .expect("a row");
    assert_eq!(
        (order_id, total, note.as_str()),
        (ids[19], 19.5, "order 19")
    );
}

/// `cassflow up`'s preparation creates what each pipeline's format calls for: the declared
/// table of a json pipeline that has one, nothing for a json pipeline without one (it used
/// to get a users table, which its records do not fit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_prepares_declared_tables_and_no_users_table_for_a_json_pipeline() {
    let config = common::stack().await;
    let session = common::session(&config).await;
    let json_pipeline = |tag: &str| PipelineConfig {
        name: common::unique(tag),
        topic: common::unique(tag),
        partitions: 1,
        keyspace: common::unique("ks"),
        table: "orders".into(),
        format: RecordFormat::Json,
        ..PipelineConfig::default()
    };
    let undeclared = json_pipeline("undeclared");
    let declared = PipelineConfig {
        create_table: Some(declaration(
            &[("order_id", "uuid"), ("total", "decimal")],
            &["order_id"],
            &[],
        )),
        ..json_pipeline("declared")
    };
    let mut up = config.clone();
    up.pipelines = vec![undeclared.clone(), declared.clone()];
    up.validate().expect("valid");
    cassflow::up::prepare(&up).await.expect("prepared");

    assert!(
        columns(&session, &undeclared.keyspace, "orders")
            .await
            .is_empty(),
        "no table for a json pipeline without create_table"
    );
    let got: Vec<(String, String)> = columns(&session, &declared.keyspace, "orders")
        .await
        .into_iter()
        .map(|(c, k, ..)| (c, k))
        .collect();
    assert_eq!(
        got,
        [
            ("order_id".to_string(), "partition_key".to_string()),
            ("total".to_string(), "regular".to_string())
        ]
    );
}
