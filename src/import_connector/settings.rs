//! Reading a Kafka Connect connector configuration into a flat map of settings: a Java
//! `.properties` file (`key=value`, `key: value`, `#`/`!` comments, `\` line continuations
//! and escapes), Connect's REST JSON (`{"name": ..., "config": {...}}`), or a flat JSON
//! object of settings. Values that JSON gives as numbers or booleans become their text.

use super::ImportError;
use std::collections::BTreeMap;

/// The settings, by name (a later duplicate wins, as `java.util.Properties` does).
pub type Settings = BTreeMap<String, String>;

/// Parses either format: JSON when the text starts with `{`, else properties.
pub fn parse(text: &str) -> Result<Settings, ImportError> {
    if text.trim_start().starts_with('{') {
        parse_json(text)
    } else {
        Ok(parse_properties(text))
    }
}

fn parse_json(text: &str) -> Result<Settings, ImportError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ImportError::Format {
        problem: format!("not valid JSON: {e}"),
    })?;
    let object = value.as_object().ok_or_else(|| ImportError::Format {
        problem: "the JSON is not an object".into(),
    })?;
    // Connect's REST body nests the settings under "config"; `PUT .../config` takes them flat.
    let (config, name) = match object.get("config") {
        Some(serde_json::Value::Object(config)) => (config, object.get("name")),
        Some(_) => {
            return Err(ImportError::Format {
                problem: "`config` is not an object of settings".into(),
            })
        }
        None => (object, None),
    };
    let mut out = Settings::new();
    if let Some(serde_json::Value::String(name)) = name {
        out.insert("name".into(), name.clone());
    }
    for (key, value) in config {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            serde_json::Value::Bool(_) | serde_json::Value::Number(_) => value.to_string(),
            _ => {
                return Err(ImportError::Unsupported {
                    setting: key.clone(),
                    why: "its value is a JSON array or object; Connect settings are text".into(),
                })
            }
        };
        out.insert(key.clone(), text);
    }
    Ok(out)
}

fn parse_properties(text: &str) -> Settings {
    let mut out = Settings::new();
    let mut logical = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if logical.is_empty() && (trimmed.is_empty() || trimmed.starts_with(['#', '!'])) {
            continue;
        }
        // An odd number of trailing backslashes continues the line.
        let trailing = trimmed.len() - trimmed.trim_end_matches('\\').len();
        if trailing % 2 == 1 {
            logical.push_str(&trimmed[..trimmed.len() - 1]);
            if lines.clone().next().is_some() {
                continue;
            }
        } else {
            logical.push_str(trimmed);
        }
        let (key, value) = split_entry(&logical);
        out.insert(key, value);
        logical.clear();
    }
    out
}

/// Splits at the first unescaped `=`, `:` or whitespace, and unescapes both sides.
fn split_entry(line: &str) -> (String, String) {
    let mut escaped = false;
    let mut split = None;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' | ' ' | '\t' => {
                split = Some(i);
                break;
            }
            _ => {}
        }
    }
    let Some(at) = split else {
        return (unescape(line), String::new());
    };
    let key = &line[..at];
    let mut rest = line[at..].trim_start_matches([' ', '\t']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t']);
    }
    (unescape(key), unescape(rest.trim_end()))
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_with_comments_continuations_and_escapes() {
        let text = "# comment\n! also\nname=cassandra-sink\n  topics = a,b\n\
                    topic.a.ks.t.mapping=c1=value.f1, \\\n    c2=key\nport: 9042\nx\\=y=1\nempty\n";
        let s = parse(text).unwrap();
        assert_eq!(s["name"], "cassandra-sink");
        assert_eq!(s["topics"], "a,b");
        assert_eq!(s["topic.a.ks.t.mapping"], "c1=value.f1, c2=key");
        assert_eq!(s["port"], "9042");
        assert_eq!(s["x=y"], "1");
        assert_eq!(s["empty"], "");
    }

    #[test]
    fn connect_json_nested_or_flat() {
        let nested =
            parse(r#"{"name": "sink", "config": {"topics": "a", "port": 9042, "jmx": true}}"#)
                .unwrap();
        assert_eq!(nested["name"], "sink");
        assert_eq!(nested["port"], "9042");
        assert_eq!(nested["jmx"], "true");
        let flat = parse(r#"{"topics": "a"}"#).unwrap();
        assert_eq!(flat["topics"], "a");
        assert!(parse("{\"config\": 1}").is_err());
        assert!(parse("{nope").is_err());
    }
}
