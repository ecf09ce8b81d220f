//! Reading a users table back: the typed row of docs/record.md's columns (in the record's field
//! order) and its conversion to a [`UserRecord`]. For callers that read rows to compare them
//! with records (the bench's verifier, the tests); the stream job writes through its own
//! per-column conversion (`stream::convert`).

use crate::record::UserRecord;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

/// The columns, in the order of [`UsersRow`], for a `SELECT`.
pub const COLUMNS: &str = "id, first_name, last_name, gender, address, post_code, email, \
                           username, dob, registered_date, phone, picture";

/// One row of a typed users table, as the driver deserializes it.
pub type UsersRow = (
    Uuid,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    CqlTimestamp,
    CqlTimestamp,
    String,
    String,
);

/// The record a row holds; `None` if a timestamp is outside chrono's range.
pub fn record_from_row(r: UsersRow) -> Option<UserRecord> {
    Some(UserRecord {
        id: r.0,
        first_name: r.1,
        last_name: r.2,
        gender: r.3,
        address: r.4,
        post_code: r.5,
        email: r.6,
        username: r.7,
        dob: chrono::DateTime::from_timestamp_millis(r.8 .0)?,
        registered_date: chrono::DateTime::from_timestamp_millis(r.9 .0)?,
        phone: r.10,
        picture: r.11,
    })
}
