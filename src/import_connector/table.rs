//! One `topic.<topic>.<keyspace>.<table>` mapping of the connector as a `[[pipelines]]`
//! entry: its mapping as `columns`, its table settings (TTL and units, deletes, nulls,
//! consistency, query) and its topic's `codec.*` settings as cassflow keys.

use super::{is_blank, unsupported, ImportError, Table};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A TOML string literal.
pub(super) fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn boolean(setting: &str, value: &str) -> Result<bool, ImportError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(unsupported(
            setting,
            format!("`{value}` is not true or false"),
        )),
    }
}

/// One `[[pipelines]]` entry.
pub(super) fn pipeline(
    out: &mut String,
    name: &str,
    table: &Table,
    codec: Option<&BTreeMap<String, String>>,
    dead_letter_topic: Option<&str>,
    connector_group: Option<&str>,
) -> Result<(), ImportError> {
    let prefix = format!("topic.{}.{}.{}.", table.topic, table.keyspace, table.table);
    let setting = |s: &str| format!("{prefix}{s}");
    for ident in [&table.keyspace, &table.table] {
        if crate::config::check_cql_identifier(ident).is_err() {
            return Err(unsupported(
                &setting("mapping"),
                format!("`{ident}` is not a lower-case CQL name, which cassflow requires for keyspaces and tables"),
            ));
        }
    }
    let Some(mapping) = table.settings.get("mapping") else {
        return Err(ImportError::Missing {
            setting: setting("mapping"),
            why: "every table needs a mapping, e.g. `col1=value.f1, col2=key`".into(),
        });
    };
    let columns = parse_mapping(&setting("mapping"), mapping)?;
    let query = table.settings.get("query").filter(|q| !is_blank(q));
    let mut lines: Vec<String> = Vec::new();
    let mut line = |k: &str, v: String| lines.push(format!("{k} = {v}"));
    line("name", quoted(name));
    line("topic", quoted(&table.topic));
    line("keyspace", quoted(&table.keyspace));
    line("table", quoted(&table.table));
    line("format", quoted("json"));
    if let Some(dlq) = dead_letter_topic {
        line("dead_letter_topic", quoted(dlq));
    }
    for (key, value) in &table.settings {
        let name = setting(key);
        match key.as_str() {
            "mapping" => {}
            "query" => {
                if let Some(q) = query {
                    line("query", quoted(q.trim()));
                }
            }
            "consistencyLevel" => {}
            "ttl" => {
                let ttl: i64 = value
                    .trim()
                    .parse()
                    .map_err(|_| unsupported(&name, format!("`{value}` is not a number")))?;
                if ttl > 0 && query.is_none() {
                    let unit = table
                        .settings
                        .get("ttlTimeUnit")
                        .map(String::as_str)
                        .unwrap_or("SECONDS");
                    let seconds = time_unit_seconds(&setting("ttlTimeUnit"), unit)?;
                    line("ttl", quoted(&format!("{}s", seconds(ttl))));
                }
            }
            "ttlTimeUnit" => {
                let unit = time_unit(
                    &name,
                    value,
                    &[
                        "SECONDS",
                        "MILLISECONDS",
                        "MICROSECONDS",
                        "NANOSECONDS",
                        "MINUTES",
                        "HOURS",
                        "DAYS",
                    ],
                )?;
                if unit != "seconds" && query.is_none() && columns.contains_key("__ttl") {
                    line("ttl_unit", quoted(&unit));
                }
            }
            "timestampTimeUnit" => {
                let unit = time_unit(
                    &name,
                    value,
                    &["MICROSECONDS", "MILLISECONDS", "SECONDS", "NANOSECONDS"],
                )?;
                if unit != "microseconds" && query.is_none() && columns.contains_key("__timestamp")
                {
                    line("timestamp_unit", quoted(&unit));
                }
            }
            "deletesEnabled" => {
                let deletes = boolean(&name, value)?;
                if !deletes {
                    line("deletes", "false".into());
                } else if query.is_some() {
                    return Err(unsupported(
                        &name,
                        "the connector refuses deletes with a custom query; set it to false",
                    ));
                }
            }
            "nullToUnset" => {
                if !boolean(&name, value)? {
                    line("nulls", quoted("null"));
                }
            }
            _ => {
                return Err(unsupported(
                    &name,
                    "the DataStax connector table setting is unknown to this importer",
                ))
            }
        }
    }
    if query.is_some() && !table.settings.contains_key("deletesEnabled") {
        // The connector's default (true) is refused with a query; cassflow says so too.
        line("deletes", "false".into());
    }
    let consistency = table
        .settings
        .get("consistencyLevel")
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "LOCAL_ONE".into());
    const LEVELS: &[&str] = &[
        "ANY",
        "ONE",
        "TWO",
        "THREE",
        "QUORUM",
        "ALL",
        "LOCAL_QUORUM",
        "EACH_QUORUM",
        "LOCAL_ONE",
    ];
    if !LEVELS.contains(&consistency.as_str()) {
        return Err(unsupported(
            &setting("consistencyLevel"),
            format!(
                "`{consistency}` is not a write consistency cassflow takes ({})",
                LEVELS.join(", ")
            ),
        ));
    }
    // The connector's default is LOCAL_ONE, cassflow's LOCAL_QUORUM: always said.
    line("consistency", quoted(&consistency));
    if let Some(codec) = codec {
        codec_settings(&table.topic, codec, &mut line)?;
    }
    let _ = writeln!(out, "\n[[pipelines]]");
    if let Some(group) = connector_group {
        let _ = writeln!(
            out,
            "# The connector read this topic in consumer group {group}: to resume from its\n\
             # committed offsets, stop the connector and uncomment:\n\
             # group_id = {}",
            quoted(group)
        );
    }
    for l in &lines {
        let _ = writeln!(out, "{l}");
    }
    let _ = writeln!(out, "\n[pipelines.columns]");
    for (column, expr) in &columns {
        let _ = writeln!(out, "{column} = {}", quoted(expr));
    }
    Ok(())
}

/// `col=expr, col2=expr2` into column -> cassflow expression.
fn parse_mapping(setting: &str, mapping: &str) -> Result<BTreeMap<String, String>, ImportError> {
    let mut out = BTreeMap::new();
    for entry in mapping.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((column, expr)) = entry.split_once('=') else {
            return Err(unsupported(
                setting,
                format!("`{entry}` is not `column=field`"),
            ));
        };
        let (column, expr) = (column.trim(), expr.trim());
        let column = column.trim_matches('"');
        if !matches!(column, "__ttl" | "__timestamp")
            && crate::config::check_cql_identifier(column).is_err()
        {
            return Err(unsupported(
                setting,
                format!("column `{column}` is not a lower-case CQL name, which cassflow requires"),
            ));
        }
        let translated = match expr {
            "now()" | "key" => expr.to_string(),
            "value" => {
                return Err(unsupported(
                    setting,
                    format!("`{column}=value` maps the whole value; cassflow maps fields of a JSON object value (`value.<field>`)"),
                ))
            }
            e if e.starts_with("value.") || e.starts_with("key.") || e.starts_with("header.") => {
                e.to_string()
            }
            e => {
                return Err(unsupported(
                    setting,
                    format!("`{column}={e}`: a mapping reads value.<field>, key, key.<field>, header.<name> or now()"),
                ))
            }
        };
        if out.insert(column.to_string(), translated).is_some() {
            return Err(unsupported(
                setting,
                format!("column `{column}` is mapped twice"),
            ));
        }
    }
    if out.is_empty() {
        return Err(unsupported(setting, "the mapping maps no column"));
    }
    Ok(out)
}

/// A Java `TimeUnit` name in lower case, if it is one of `allowed`.
fn time_unit(setting: &str, value: &str, allowed: &[&str]) -> Result<String, ImportError> {
    let v = value.trim().to_ascii_uppercase();
    if allowed.contains(&v.as_str()) {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(unsupported(
            setting,
            format!(
                "`{value}` is not a unit cassflow takes here ({})",
                allowed.join(", ")
            ),
        ))
    }
}

/// A function converting an amount of `unit` into whole seconds (rounded down, as the
/// connector's conversion does).
fn time_unit_seconds(setting: &str, unit: &str) -> Result<impl Fn(i64) -> i64, ImportError> {
    let per: (i64, i64) = match unit.trim().to_ascii_uppercase().as_str() {
        "NANOSECONDS" => (1, 1_000_000_000),
        "MICROSECONDS" => (1, 1_000_000),
        "MILLISECONDS" => (1, 1000),
        "SECONDS" => (1, 1),
        "MINUTES" => (60, 1),
        "HOURS" => (3600, 1),
        "DAYS" => (86_400, 1),
        other => {
            return Err(unsupported(
                setting,
                format!("`{other}` is not a time unit"),
            ))
        }
    };
    // Up: a TTL of part of a second is still a TTL (cassflow refuses `0s`, which would
    // mean "never expires").
    Ok(move |n: i64| {
        let scaled = n.saturating_mul(per.0);
        scaled / per.1 + i64::from(scaled % per.1 > 0)
    })
}

/// The per-topic `codec.*` settings: those equal to cassflow's behaviour are accepted,
/// `codec.unit` becomes `epoch_unit`, anything else is refused.
fn codec_settings(
    topic: &str,
    codec: &BTreeMap<String, String>,
    line: &mut impl FnMut(&str, String),
) -> Result<(), ImportError> {
    for (key, value) in codec {
        let name = format!("topic.{topic}.codec.{key}");
        let v = value.trim();
        let ok = match key.as_str() {
            "locale" => matches!(v, "en_US" | "en-US" | "en" | ""),
            "timeZone" => matches!(v, "UTC" | "Z" | "GMT" | "Etc/UTC" | ""),
            "timestamp" => matches!(
                v,
                "CQL_TIMESTAMP"
                    | "ISO_INSTANT"
                    | "ISO_OFFSET_DATE_TIME"
                    | "ISO_DATE_TIME"
                    | "ISO_ZONED_DATE_TIME"
                    | ""
            ),
            "date" => matches!(v, "ISO_LOCAL_DATE" | "ISO_DATE" | ""),
            "time" => matches!(v, "ISO_LOCAL_TIME" | "ISO_TIME" | ""),
            "unit" => {
                let unit = time_unit(
                    &name,
                    v,
                    &["MILLISECONDS", "SECONDS", "MICROSECONDS", "NANOSECONDS"],
                )?;
                if unit != "milliseconds" {
                    line("epoch_unit", quoted(&unit));
                }
                true
            }
            _ => {
                return Err(unsupported(
                    &name,
                    "the codec setting is unknown to this importer",
                ))
            }
        };
        if !ok {
            return Err(unsupported(
                &name,
                format!("`{v}`: cassflow reads ISO-8601 text (UTC when no zone is given) and numbers in the C locale only"),
            ));
        }
    }
    Ok(())
}
