//! Real Cassandra: the users table of docs/record.md is created in a fresh keyspace, and a row
//! written to it is read back with the same values.

mod common;

use cassflow::cassandra::{self, schema};
use scylla::value::CqlTimestamp;
use uuid::Uuid;

#[tokio::test]
async fn written_row_is_read_back() {
    let config = common::stack().await;
    let keyspace = common::unique("ks");
    let session = cassandra::connect(&config.cassandra)
        .await
        .expect("connect");
    let version = cassandra::release_version(&session).await.expect("version");
    assert!(
        version.starts_with('5') || version.starts_with('4'),
        "{version}"
    );

    schema::ensure_keyspace(&session, &config.cassandra, &keyspace)
        .await
        .expect("keyspace");
    schema::ensure_users_table(&session, &keyspace, "created_users")
        .await
        .expect("table");
    // Idempotent: a second call leaves the table as it is.
    schema::ensure_users_table(&session, &keyspace, "created_users")
        .await
        .expect("table again");

    let id = Uuid::new_v4();
    let dob = CqlTimestamp(631_152_000_000); // 1990-01-01T00:00:00Z
    session
        .query_unpaged(
            format!(
                "INSERT INTO {}.created_users (id, first_name, last_name, dob) VALUES (?, ?, ?, ?)",
                schema::quote(&keyspace)
            ),
            (id, "Ada", "Lovelace", dob),
        )
        .await
        .expect("insert");
    let rows = session
        .query_unpaged(
            format!(
                "SELECT first_name, last_name, dob FROM {}.created_users WHERE id = ?",
                schema::quote(&keyspace)
            ),
            (id,),
        )
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows");
    let (first, last, read_dob): (String, String, CqlTimestamp) =
        rows.single_row().expect("one row");
    assert_eq!((first.as_str(), last.as_str()), ("Ada", "Lovelace"));
    assert_eq!(read_dob.0, dob.0);

    session
        .query_unpaged(format!("DROP KEYSPACE {}", schema::quote(&keyspace)), &[])
        .await
        .expect("drop keyspace");
}
