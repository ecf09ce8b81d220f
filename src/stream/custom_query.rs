//! A pipeline's own `query`: the bind markers its prepared statement lists (their CQL types
//! read from the driver), the markers of its `USING` clause that cassflow fills with the
//! record's write time and TTL, the checks that every `columns` entry has a marker to fill
//! (at load and at start), and the plan of what fills the others. The statement shapes and
//! the CQL cassflow writes itself are [`super::statement`]'s.

use super::convert::ColumnPlan;
use super::mapping;
use super::statement::{Shape, TableColumn};
use crate::cassandra::cql_type::UdtCatalog;
use crate::config::PipelineConfig;
use scylla::frame::response::result::{CollectionType, ColumnType as DriverType, NativeType};

/// The bind markers of a custom query's `USING` clause, as the prepared statement names
/// them: `:ts` is `ts`, `:"Ts"` is `Ts`, `?` is `[timestamp]` or `[ttl]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsingMarkers {
    pub timestamp: Option<String>,
    pub ttl: Option<String>,
}

/// Finds `USING TTL <marker>` and `USING TIMESTAMP <marker>` (in either order, joined by
/// AND) in a query, outside string literals and quoted names. A literal (`USING TTL 60`)
/// is no marker.
pub fn using_markers(cql: &str) -> UsingMarkers {
    let words = cql_words(cql);
    let mut found = UsingMarkers::default();
    let Some(start) = words.iter().position(|w| w.eq_ignore_ascii_case("using")) else {
        return found;
    };
    let mut rest = &words[start + 1..];
    while let [option, marker, tail @ ..] = rest {
        let slot = if option.eq_ignore_ascii_case("ttl") {
            &mut found.ttl
        } else if option.eq_ignore_ascii_case("timestamp") {
            &mut found.timestamp
        } else {
            break;
        };
        *slot = marker_name(marker, &option.to_ascii_lowercase());
        match tail {
            [and, more @ ..] if and.eq_ignore_ascii_case("and") => rest = more,
            _ => break,
        }
    }
    found
}

/// The name the prepared statement gives a marker word (`:ts`, `:"Ts"`, `?`).
fn marker_name(word: &str, option: &str) -> Option<String> {
    if word == "?" {
        return Some(format!("[{option}]"));
    }
    let name = word.strip_prefix(':')?;
    match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(quoted) => Some(quoted.replace("\"\"", "\"")),
        None => Some(name.to_ascii_lowercase()),
    }
}

/// A query's words: names, `:markers` (quoted ones whole), `?`, and each other symbol on
/// its own; string literals are dropped.
fn cql_words(cql: &str) -> Vec<&str> {
    let bytes = cql.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    // Past the closing `quote` of a literal or name opened before `from` (doubled quotes
    // stay inside it).
    let close = |from: usize, quote: u8| {
        let mut j = from;
        while j < bytes.len() {
            if bytes[j] == quote {
                if bytes.get(j + 1) == Some(&quote) {
                    j += 2;
                    continue;
                }
                return j + 1;
            }
            j += 1;
        }
        bytes.len()
    };
    let word_end = |from: usize| {
        let mut j = from;
        while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
            j += 1;
        }
        j
    };
    while i < bytes.len() {
        let c = bytes[i];
        let end = match c {
            b'\'' => {
                i = close(i + 1, b'\'');
                continue;
            }
            b'"' => close(i + 1, b'"'),
            b':' if bytes.get(i + 1) == Some(&b'"') => close(i + 2, b'"'),
            b':' => word_end(i + 1),
            c if c.is_ascii_alphanumeric() || c == b'_' => word_end(i),
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            _ => i + 1,
        };
        // Every boundary is at an ASCII byte, so the slice is on character boundaries.
        if let Some(word) = cql.get(i..end.max(i + 1)) {
            words.push(word);
        }
        i = end.max(i + 1);
    }
    words
}

/// What a custom query's `USING` clause leaves wrong in its pipeline: the key (under the
/// pipeline), the problem, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsingError {
    pub key: String,
    pub problem: String,
    pub fix: String,
}

/// A record TTL or write time needs the `USING` marker that takes it, and a `USING` marker
/// is cassflow's to fill, never a `columns` entry. Checked at load and again at start.
pub fn check_using(pipeline: &PipelineConfig, using: &UsingMarkers) -> Result<(), UsingError> {
    let no_place = |key: &str, clause: &str| {
        UsingError {
        key: key.to_string(),
        problem: format!("has no place in the query: it has no `{clause}`"),
        fix: format!(
            "add `{clause}` to the query (cassflow fills it with the record's value), or remove `{key}`"
        ),
    }
    };
    if pipeline.ttl.is_some() && using.ttl.is_none() {
        return Err(no_place("ttl", "USING TTL :ttl"));
    }
    if pipeline.columns.contains_key(mapping::TTL) && using.ttl.is_none() {
        return Err(no_place("columns.__ttl", "USING TTL :ttl"));
    }
    if pipeline.columns.contains_key(mapping::TIMESTAMP) && using.timestamp.is_none() {
        return Err(no_place("columns.__timestamp", "USING TIMESTAMP :ts"));
    }
    let taken = [
        (&using.timestamp, "USING TIMESTAMP", "the record's write time in microseconds", "to take the write time from the record, map `columns.__timestamp` and set `timestamp_unit`"),
        (&using.ttl, "USING TTL", "the record's TTL", "map `columns.__ttl` and set `ttl_unit`, or set `ttl`"),
    ];
    for (marker, clause, what, instead) in taken {
        if let Some(m) = marker
            .as_deref()
            .filter(|m| pipeline.columns.contains_key(*m))
        {
            return Err(UsingError {
                key: format!("columns.{m}"),
                problem: format!(
                    "maps the query's `{clause} :{m}`, which cassflow fills with {what}"
                ),
                fix: format!("remove `columns.{m}`; {instead}"),
            });
        }
    }
    Ok(())
}

/// A custom query's bind marker as its prepared statement lists it: the name, the CQL type,
/// and whether it fills part of the partition key.
pub type Marker = (String, String, bool);

/// Takes the markers of the query's `USING` clause out of `markers` (cassflow fills them
/// with the record's write time and TTL), leaving the mapping's, and the shape that puts
/// them back in their places.
pub fn split_using(
    mut markers: Vec<Marker>,
    using: &UsingMarkers,
) -> Result<(Vec<Marker>, Shape), String> {
    let place = |name: &Option<String>, clause: &str| match name {
        None => Ok(None),
        Some(name) => match markers.iter().position(|(m, _, _)| m == name) {
            Some(at) => Ok(Some(at)),
            None => Err(format!(
                "its `{clause}` names marker `{name}`, which the prepared statement does not list"
            )),
        },
    };
    let write_time_at = place(&using.timestamp, "USING TIMESTAMP")?;
    let ttl_at = place(&using.ttl, "USING TTL")?;
    let mut places: Vec<usize> = write_time_at.into_iter().chain(ttl_at).collect();
    places.sort_unstable();
    for at in places.into_iter().rev() {
        markers.remove(at);
    }
    let shape = Shape::Custom {
        write_time_at,
        ttl_at,
    };
    Ok((markers, shape))
}

/// Why a custom query cannot be planned: a `columns` entry with no marker to fill, or what
/// [`check_using`] refuses. `markers` are the query's others.
pub fn check_query_markers(
    markers: &[Marker],
    using: &UsingMarkers,
    pipeline: &PipelineConfig,
    table_keys: &[&TableColumn],
) -> Result<(), String> {
    if markers.is_empty() {
        return Err("it has no bind markers, so no record value would reach it".into());
    }
    check_using(pipeline, using)
        .map_err(|e| format!("`{}` {} (fix: {})", e.key, e.problem, e.fix))?;
    for column in pipeline.columns.keys() {
        let column = column.as_str();
        if column == mapping::TTL || column == mapping::TIMESTAMP {
            continue;
        }
        let known = markers.iter().any(|(m, _, _)| m == column)
            || table_keys.iter().any(|k| k.name == column);
        if !known {
            return Err(format!(
                "`columns.{column}` names no bind marker of the query (markers: {})",
                markers
                    .iter()
                    .map(|(m, _, _)| format!(":{m}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

/// The plan of a custom query's markers (`name`, CQL type, whether it is part of the
/// partition key): each filled by `columns.<name>` or the value field of its name.
pub fn query_plan(
    pipeline: &PipelineConfig,
    markers: &[Marker],
    udts: &UdtCatalog,
) -> Result<Vec<ColumnPlan>, String> {
    markers
        .iter()
        .map(|(name, cql_type, key)| {
            let kind = udts
                .parse(cql_type)
                .map_err(|e| format!("bind marker `:{name}` has type {cql_type}: {e}"))?;
            let source = mapping::source_of(pipeline, name).map_err(|e| e.to_string())?;
            let mut plan = ColumnPlan::new(name, source, kind);
            plan.key = *key;
            plan.epoch_unit = pipeline.epoch_unit;
            Ok(plan)
        })
        .collect()
}

/// A driver type as CQL spells it (`int`, `list<text>`, `frozen<address>`), to be parsed
/// like a `system_schema` type.
pub fn cql_type_text(t: &DriverType<'_>) -> String {
    let frozen = |frozen: bool, inner: String| match frozen {
        true => format!("frozen<{inner}>"),
        false => inner,
    };
    match t {
        DriverType::Native(n) => match n {
            NativeType::Ascii => "ascii",
            NativeType::Boolean => "boolean",
            NativeType::Blob => "blob",
            NativeType::Counter => "counter",
            NativeType::Date => "date",
            NativeType::Decimal => "decimal",
            NativeType::Double => "double",
            NativeType::Duration => "duration",
            NativeType::Float => "float",
            NativeType::Int => "int",
            NativeType::BigInt => "bigint",
            NativeType::Text => "text",
            NativeType::Timestamp => "timestamp",
            NativeType::Inet => "inet",
            NativeType::SmallInt => "smallint",
            NativeType::TinyInt => "tinyint",
            NativeType::Time => "time",
            NativeType::Timeuuid => "timeuuid",
            NativeType::Uuid => "uuid",
            NativeType::Varint => "varint",
            _ => "unknown",
        }
        .to_string(),
        DriverType::Collection { frozen: f, typ } => frozen(
            *f,
            match typ {
                CollectionType::List(e) => format!("list<{}>", cql_type_text(e)),
                CollectionType::Set(e) => format!("set<{}>", cql_type_text(e)),
                CollectionType::Map(k, v) => {
                    format!("map<{}, {}>", cql_type_text(k), cql_type_text(v))
                }
                _ => "unknown".into(),
            },
        ),
        DriverType::Vector { typ, dimensions } => {
            format!("vector<{}, {dimensions}>", cql_type_text(typ))
        }
        DriverType::UserDefinedType {
            frozen: f,
            definition,
        } => frozen(*f, definition.name.to_string()),
        DriverType::Tuple(items) => format!(
            "tuple<{}>",
            items
                .iter()
                .map(cql_type_text)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn using_markers_are_found_outside_literals_and_names() {
        let found = |cql| using_markers(cql);
        let both = |ts: &str, ttl: &str| UsingMarkers {
            timestamp: Some(ts.into()),
            ttl: Some(ttl.into()),
        };
        assert_eq!(
            found("INSERT INTO t (a) VALUES (:a) USING TTL :t AND TIMESTAMP :ts"),
            both("ts", "t")
        );
        assert_eq!(
            found("update t using timestamp :TS and ttl ? set l = l + :l where id = :id"),
            both("ts", "[ttl]"),
            "unquoted names are lower-cased, `?` is named as Cassandra names it"
        );
        assert_eq!(
            found(r#"INSERT INTO t (a) VALUES (:a) USING TIMESTAMP :"Ts""""#),
            UsingMarkers {
                timestamp: Some("Ts\"".into()),
                ttl: None
            }
        );
        assert_eq!(
            found("INSERT INTO t (a) VALUES (:a) USING TTL 60"),
            UsingMarkers::default(),
            "a literal is no marker"
        );
        assert_eq!(
            found("INSERT INTO t (a, b) VALUES (:a, 'using timestamp :x')"),
            UsingMarkers::default()
        );
        assert_eq!(
            found(r#"INSERT INTO t ("using", b) VALUES (:a, :b)"#),
            UsingMarkers::default()
        );
        assert_eq!(
            found("INSERT INTO t (a) VALUES ('unterminated"),
            UsingMarkers::default()
        );
    }

    #[test]
    fn using_markers_are_split_from_the_mappings() {
        let m = |name: &str, ty: &str| (name.to_string(), ty.to_string(), false);
        // UPDATE t USING TTL :t AND TIMESTAMP :ts SET n = :n WHERE id = :id
        let markers = vec![
            m("t", "int"),
            m("ts", "bigint"),
            m("n", "int"),
            m("id", "text"),
        ];
        let using =
            using_markers("UPDATE t USING TTL :t AND TIMESTAMP :ts SET n = :n WHERE id = :id");
        let (rest, shape) = split_using(markers.clone(), &using).expect("split");
        assert_eq!(rest, [m("n", "int"), m("id", "text")]);
        assert_eq!(
            shape,
            Shape::Custom {
                write_time_at: Some(1),
                ttl_at: Some(0)
            }
        );
        let wrong = UsingMarkers {
            timestamp: Some("when".into()),
            ttl: None,
        };
        assert!(split_using(markers, &wrong)
            .expect_err("no such marker")
            .contains("`when`"));
    }

    #[test]
    fn a_custom_query_takes_ttl_and_write_time_only_at_its_using_markers() {
        let mut p = PipelineConfig::default();
        let markers = [("a".to_string(), "int".to_string(), false)];
        let none = UsingMarkers::default();
        let ts = UsingMarkers {
            timestamp: Some("ts".into()),
            ttl: None,
        };
        assert_eq!(check_query_markers(&markers, &none, &p, &[]), Ok(()));
        p.ttl = Some(std::time::Duration::from_secs(60));
        let err = check_query_markers(&markers, &ts, &p, &[]).expect_err("no TTL marker");
        assert!(
            err.contains("`ttl` has no place") && err.contains("USING TTL :ttl"),
            "{err}"
        );
        assert_eq!(check_using(&p, &ts).expect_err("no TTL marker").key, "ttl");
        p.ttl = None;
        p.columns.insert("__timestamp".into(), "value.at".into());
        let err = check_query_markers(&markers, &none, &p, &[]).expect_err("no TIMESTAMP marker");
        assert!(err.contains("USING TIMESTAMP :ts"), "{err}");
        assert_eq!(check_query_markers(&markers, &ts, &p, &[]), Ok(()));
        p.columns.insert("ts".into(), "kafka.timestamp".into());
        let err =
            check_query_markers(&markers, &ts, &p, &[]).expect_err("the marker is cassflow's");
        assert!(err.contains("columns.__timestamp"), "{err}");
    }

    #[test]
    fn driver_types_read_as_cql() {
        let list = DriverType::Collection {
            frozen: false,
            typ: CollectionType::List(Box::new(DriverType::Native(NativeType::Text))),
        };
        assert_eq!(cql_type_text(&list), "list<text>");
        let map = DriverType::Collection {
            frozen: true,
            typ: CollectionType::Map(
                Box::new(DriverType::Native(NativeType::Text)),
                Box::new(DriverType::Native(NativeType::Int)),
            ),
        };
        assert_eq!(cql_type_text(&map), "frozen<map<text, int>>");
        assert_eq!(
            cql_type_text(&DriverType::Native(NativeType::Counter)),
            "counter"
        );
    }
}
