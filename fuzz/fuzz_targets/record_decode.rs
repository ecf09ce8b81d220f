//! The record decoder (`UserView::decode`) on arbitrary message values. Properties: it never
//! panics; it accepts or rejects JSON exactly as a parse into a `serde_json::Value` tree does
//! (the scanner claims so); an accepted record is valid (a UUID id, timestamps) and the
//! producer's encoding of it decodes to the same record (the producer and the stream job
//! cannot disagree).
#![no_main]

use cassflow::record::{DecodeError, UserRecord, UserView};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let decoded = UserView::decode(data);
    // The oracle is cassflow's plain JSON reader: serde_json's own `Value` reads an object
    // keyed by its raw-value token as the JSON its string holds (see `cassflow::json`).
    if std::str::from_utf8(data).is_ok() && !data.iter().all(u8::is_ascii_whitespace) {
        let tree = cassflow::json::from_slice(data);
        match (&decoded, &tree) {
            (Err(DecodeError::InvalidJson { .. }), Ok(_)) => {
                panic!("scanner rejects JSON that serde_json accepts: {decoded:?}")
            }
            (Err(DecodeError::InvalidJson { .. }), Err(_)) | (_, Ok(_)) => {}
            (_, Err(e)) => {
                panic!("scanner accepts JSON that serde_json rejects ({e}): {decoded:?}")
            }
        }
        if matches!(decoded, Err(DecodeError::NotAnObject)) {
            assert!(!matches!(tree, Ok(serde_json::Value::Object(_))));
        }
    }
    let Ok((view, _notes)) = decoded else {
        return;
    };
    let record = view.into_owned();
    let json = record.to_json();
    let (again, _) = match UserRecord::decode(json.as_bytes()) {
        Ok(r) => r,
        Err(e) => panic!("encoding of an accepted record does not decode ({e}): {json}"),
    };
    let millis = |t: chrono::DateTime<chrono::Utc>| t.timestamp_millis();
    assert_eq!(again.id, record.id);
    assert_eq!(millis(again.dob), millis(record.dob), "{json}");
    assert_eq!(
        millis(again.registered_date),
        millis(record.registered_date),
        "{json}"
    );
    let texts = |r: &UserRecord| {
        [
            r.first_name.clone(),
            r.last_name.clone(),
            r.gender.clone(),
            r.address.clone(),
            r.post_code.clone(),
            r.email.clone(),
            r.username.clone(),
            r.phone.clone(),
            r.picture.clone(),
        ]
    };
    assert_eq!(texts(&again), texts(&record));
});
