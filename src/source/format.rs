//! Flattening one randomuser API result into a [`UserRecord`], exactly as the seed's
//! `format_data` does: address joined as `"<number> <street>, <city>, <state>, <country>"`,
//! `post_code` as text even when the API sends a number, `picture` = the medium picture URL,
//! `id` a new UUID. A result that lacks a field or has the wrong type is a precise error
//! naming the JSON path, never a panic.

use crate::record::{parse_timestamp, UserRecord};
use serde_json::Value;
use uuid::Uuid;

/// Why an API result cannot become a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    #[error("the result is not a JSON object")]
    NotAnObject,
    #[error("`{path}` is missing")]
    Missing { path: &'static str },
    #[error("`{path}` must be {expected}")]
    WrongType {
        path: &'static str,
        expected: &'static str,
    },
    #[error("`{path}` is not an ISO-8601 timestamp: {value:?}")]
    BadTimestamp { path: &'static str, value: String },
}

/// Flattens one element of the API's `results` array. `id` is the new record's id (the
/// seed draws a fresh UUID per user; the caller decides how).
pub fn format_user(result: &Value, id: Uuid) -> Result<UserRecord, FormatError> {
    if !result.is_object() {
        return Err(FormatError::NotAnObject);
    }
    let location = |leaf: &'static str| lookup(result, leaf);
    let address = format!(
        "{} {}, {}, {}, {}",
        scalar_text(
            location("location.street.number")?,
            "location.street.number"
        )?,
        text(location("location.street.name")?, "location.street.name")?,
        text(location("location.city")?, "location.city")?,
        text(location("location.state")?, "location.state")?,
        text(location("location.country")?, "location.country")?,
    );
    Ok(UserRecord {
        id,
        first_name: text(lookup(result, "name.first")?, "name.first")?.to_string(),
        last_name: text(lookup(result, "name.last")?, "name.last")?.to_string(),
        gender: text(lookup(result, "gender")?, "gender")?.to_string(),
        address,
        post_code: scalar_text(lookup(result, "location.postcode")?, "location.postcode")?,
        email: text(lookup(result, "email")?, "email")?.to_string(),
        username: text(lookup(result, "login.username")?, "login.username")?.to_string(),
        dob: timestamp(result, "dob.date")?,
        registered_date: timestamp(result, "registered.date")?,
        phone: text(lookup(result, "phone")?, "phone")?.to_string(),
        picture: text(lookup(result, "picture.medium")?, "picture.medium")?.to_string(),
    })
}

/// The value at a dotted path; null counts as missing.
fn lookup<'a>(root: &'a Value, path: &'static str) -> Result<&'a Value, FormatError> {
    let mut at = root;
    for part in path.split('.') {
        at = match at.get(part) {
            Some(Value::Null) | None => return Err(FormatError::Missing { path }),
            Some(v) => v,
        };
    }
    Ok(at)
}

fn text<'a>(value: &'a Value, path: &'static str) -> Result<&'a str, FormatError> {
    value.as_str().ok_or(FormatError::WrongType {
        path,
        expected: "a string",
    })
}

/// A string, or a number kept as its text (the API's post codes and street numbers).
fn scalar_text(value: &Value, path: &'static str) -> Result<String, FormatError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(FormatError::WrongType {
            path,
            expected: "a string or a number",
        }),
    }
}

fn timestamp(
    root: &Value,
    path: &'static str,
) -> Result<chrono::DateTime<chrono::Utc>, FormatError> {
    let s = text(lookup(root, path)?, path)?;
    parse_timestamp(s).ok_or_else(|| FormatError::BadTimestamp {
        path,
        value: s.chars().take(64).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "gender": "female",
            "name": {"title": "Miss", "first": "Jennie", "last": "Nichols"},
            "location": {
                "street": {"number": 8929, "name": "Valwood Pkwy"},
                "city": "Billings", "state": "Michigan", "country": "United States",
                "postcode": 63104,
                "coordinates": {"latitude": "-69.8246", "longitude": "134.8719"},
                "timezone": {"offset": "+9:30", "description": "Adelaide, Darwin"}
            },
            "email": "jennie.nichols@example.com",
            "login": {"uuid": "7a0eed16-9430-4d68-901f-c0d4c1c3bf00", "username": "yellowpeacock117"},
            "dob": {"date": "1992-03-08T15:13:16.688Z", "age": 30},
            "registered": {"date": "2007-07-09T05:51:59.390Z", "age": 14},
            "phone": "(272) 790-0888",
            "cell": "(489) 330-2385",
            "picture": {
                "large": "https://randomuser.me/api/portraits/women/75.jpg",
                "medium": "https://randomuser.me/api/portraits/med/women/75.jpg",
                "thumbnail": "https://randomuser.me/api/portraits/thumb/women/75.jpg"
            },
            "nat": "US"
        })
    }

    #[test]
    fn flattens_like_the_seed() {
        let id = Uuid::new_v4();
        let r = format_user(&sample(), id).unwrap();
        assert_eq!(r.id, id);
        assert_eq!(r.first_name, "Jennie");
        assert_eq!(r.last_name, "Nichols");
        assert_eq!(r.gender, "female");
        assert_eq!(
            r.address,
            "8929 Valwood Pkwy, Billings, Michigan, United States"
        );
        assert_eq!(r.post_code, "63104");
        assert_eq!(r.email, "jennie.nichols@example.com");
        assert_eq!(r.username, "yellowpeacock117");
        assert_eq!(
            crate::record::format_timestamp(&r.dob),
            "1992-03-08T15:13:16.688Z"
        );
        assert_eq!(
            crate::record::format_timestamp(&r.registered_date),
            "2007-07-09T05:51:59.390Z"
        );
        assert_eq!(r.phone, "(272) 790-0888");
        assert_eq!(
            r.picture,
            "https://randomuser.me/api/portraits/med/women/75.jpg"
        );
    }

    #[test]
    fn string_post_codes_stay_as_they_are() {
        let mut v = sample();
        v["location"]["postcode"] = json!("EC1A 1BB");
        assert_eq!(format_user(&v, Uuid::nil()).unwrap().post_code, "EC1A 1BB");
    }

    #[test]
    fn errors_name_the_path() {
        let mut v = sample();
        v["login"].as_object_mut().unwrap().remove("username");
        assert_eq!(
            format_user(&v, Uuid::nil()),
            Err(FormatError::Missing {
                path: "login.username"
            })
        );
        let mut v = sample();
        v["name"]["first"] = json!(7);
        assert_eq!(
            format_user(&v, Uuid::nil()).unwrap_err().to_string(),
            "`name.first` must be a string"
        );
        let mut v = sample();
        v["dob"]["date"] = json!("yesterday");
        assert!(matches!(
            format_user(&v, Uuid::nil()),
            Err(FormatError::BadTimestamp {
                path: "dob.date",
                ..
            })
        ));
        assert_eq!(
            format_user(&json!([1]), Uuid::nil()),
            Err(FormatError::NotAnObject)
        );
    }

    /// Every leaf the record needs, as a dotted path.
    const NEEDED: [&str; 14] = [
        "gender",
        "name.first",
        "name.last",
        "location.street.number",
        "location.street.name",
        "location.city",
        "location.state",
        "location.country",
        "location.postcode",
        "email",
        "login.username",
        "dob.date",
        "registered.date",
        "phone",
    ];

    fn set(root: &mut Value, path: &str, value: Value) {
        let mut at = root;
        let parts: Vec<&str> = path.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            at = &mut at[*part];
        }
        at[parts[parts.len() - 1]] = value;
    }

    fn any_json() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
            Just(json!({})),
            Just(json!([])),
        ]
    }

    proptest! {
        /// Any API-shaped input gives a valid record or a precise error, never a panic; a
        /// record always survives the trip through the message encoding.
        #[test]
        fn any_api_shaped_input_formats_or_names_the_problem(
            field in 0..NEEDED.len(),
            replacement in any_json(),
        ) {
            let mut v = sample();
            set(&mut v, NEEDED[field], replacement);
            match format_user(&v, Uuid::new_v4()) {
                Ok(record) => {
                    let (back, _) = UserRecord::decode(record.to_json().as_bytes()).unwrap();
                    prop_assert_eq!(back, record);
                }
                Err(e) => {
                    let msg = e.to_string();
                    prop_assert!(msg.contains(NEEDED[field]), "{} does not name {}", msg, NEEDED[field]);
                }
            }
        }
    }
}
