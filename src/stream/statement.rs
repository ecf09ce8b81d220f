//! Which statement a pipeline writes with, and the order of its bound values: the upsert
//! (`INSERT ... USING [TTL ? AND] TIMESTAMP ?`), a counter table's
//! `UPDATE ... SET c = c + ? WHERE ...` (no write time: Cassandra refuses one for
//! counters), a custom `query` with named bind markers, and a tombstone's
//! `DELETE ... USING TIMESTAMP ? WHERE <key>`. Identifiers are quoted, never spliced raw.
//!
//! It owns the CQL text and the plan of what fills each marker; which record value fills a
//! plan entry is [`super::mapping`]'s, and executing and classifying writes is
//! [`super::sink`]'s.

use super::convert::{Cell, ColumnPlan};
use super::mapping::{self, Extras, Row};
use crate::cassandra::cql_type::UdtCatalog;
use crate::cassandra::schema::quote;
use crate::config::PipelineConfig;
use scylla::frame::response::result::{CollectionType, ColumnType as DriverType, NativeType};

/// The role of a column in its table, as `system_schema.columns.kind` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    PartitionKey,
    Clustering,
    Static,
    Regular,
}

impl ColumnKind {
    pub fn from_schema(kind: &str) -> ColumnKind {
        match kind {
            "partition_key" => ColumnKind::PartitionKey,
            "clustering" => ColumnKind::Clustering,
            "static" => ColumnKind::Static,
            _ => ColumnKind::Regular,
        }
    }

    pub fn is_key(self) -> bool {
        matches!(self, ColumnKind::PartitionKey | ColumnKind::Clustering)
    }
}

/// One column of the table as `system_schema.columns` has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableColumn {
    pub name: String,
    pub kind: ColumnKind,
    /// The type as CQL spells it (`text`, `list<text>`, `counter`).
    pub cql_type: String,
    /// Order within the partition key or the clustering columns.
    pub position: i32,
}

impl TableColumn {
    pub fn is_counter(&self) -> bool {
        self.cql_type == "counter"
    }
}

/// The shape of a pipeline's write statement: what is bound after the plan's cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `INSERT ... USING [TTL ? AND] TIMESTAMP ?`: the cells, [the TTL], the write time.
    Upsert { ttl: bool },
    /// `UPDATE ... SET c = c + ? ... WHERE k = ? ...`: counters, then the key.
    Counter,
    /// The pipeline's own `query`: its markers in order, with the record's write time and
    /// TTL at the places of its `USING TIMESTAMP` and `USING TTL` markers.
    Custom {
        write_time_at: Option<usize>,
        ttl_at: Option<usize>,
    },
}

impl Shape {
    /// Whether running it twice leaves the same row (so a retry after a timeout is safe).
    pub fn idempotent(self, cql: &str) -> bool {
        match self {
            Shape::Upsert { .. } => true,
            Shape::Counter => false,
            // An UPDATE may append to a list or add to a counter.
            Shape::Custom { .. } => cql.trim_start().to_ascii_lowercase().starts_with("insert"),
        }
    }

    /// Whether its writes carry the record's write time, so a tombstone's delete must
    /// carry it too (a delete at another clock than the writes could be ignored, or hide a
    /// later write). Counters and a custom query without `USING TIMESTAMP` write at the
    /// server's clock.
    pub fn timed(self) -> bool {
        match self {
            Shape::Upsert { .. } => true,
            Shape::Counter => false,
            Shape::Custom { write_time_at, .. } => write_time_at.is_some(),
        }
    }

    /// The statement's values: the row's cells and what this shape binds with them.
    pub fn binds<'a>(self, row: Row<'a>, write_time_micros: i64) -> Vec<Cell<'a>> {
        let Row { mut cells, extras } = row;
        match self {
            Shape::Upsert { ttl } => {
                if ttl {
                    cells.push(ttl_cell(&extras));
                }
                cells.push(Cell::BigInt(write_time_micros));
            }
            Shape::Counter => {}
            Shape::Custom {
                write_time_at,
                ttl_at,
            } => {
                let mut fill = [
                    write_time_at.map(|at| (at, Cell::BigInt(write_time_micros))),
                    ttl_at.map(|at| (at, ttl_cell(&extras))),
                ];
                // In the order of their places, so each lands where its marker is.
                fill.sort_by_key(|f| f.as_ref().map(|(at, _)| *at));
                for (at, cell) in fill.into_iter().flatten() {
                    cells.insert(at.min(cells.len()), cell);
                }
            }
        }
        cells
    }
}

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

fn ttl_cell(extras: &Extras) -> Cell<'static> {
    // Unset: the table's default TTL (an explicit 0 would remove it).
    extras.ttl_seconds.map_or(Cell::Unset, Cell::Int)
}

/// `ks.table`, quoted.
fn table(pipeline: &PipelineConfig) -> String {
    format!("{}.{}", quote(&pipeline.keyspace), quote(&pipeline.table))
}

/// The table's primary key columns in key order: partition key, then clustering.
pub fn key_columns(columns: &[TableColumn]) -> Vec<&TableColumn> {
    let mut keys: Vec<&TableColumn> = columns.iter().filter(|c| c.kind.is_key()).collect();
    keys.sort_by_key(|c| (c.kind != ColumnKind::PartitionKey, c.position));
    keys
}

/// The upsert of every column, sorted by name (a stable statement across restarts).
pub fn upsert(pipeline: &PipelineConfig, plan: &[ColumnPlan], ttl: bool) -> (String, Shape) {
    let columns: Vec<String> = plan.iter().map(|c| quote(&c.column)).collect();
    let marks = vec!["?"; plan.len()].join(", ");
    let using = if ttl {
        "USING TTL ? AND TIMESTAMP ?"
    } else {
        "USING TIMESTAMP ?"
    };
    let cql = format!(
        "INSERT INTO {} ({}) VALUES ({marks}) {using}",
        table(pipeline),
        columns.join(", ")
    );
    (cql, Shape::Upsert { ttl })
}

/// A counter table's increment: `plan` holds the counters first, then the key columns.
pub fn counter_update(pipeline: &PipelineConfig, plan: &[ColumnPlan]) -> (String, Shape) {
    let set: Vec<String> = plan
        .iter()
        .filter(|c| !c.key)
        .map(|c| format!("{0} = {0} + ?", quote(&c.column)))
        .collect();
    let cql = format!(
        "UPDATE {} SET {} WHERE {}",
        table(pipeline),
        set.join(", "),
        where_key(plan.iter().filter(|c| c.key))
    );
    (cql, Shape::Counter)
}

/// A tombstone's delete of the row `keys` name, at the record's write time when the
/// pipeline's writes carry one ([`Shape::timed`]), else at the server's clock.
pub fn delete(pipeline: &PipelineConfig, keys: &[ColumnPlan], timed: bool) -> String {
    let using = if timed { " USING TIMESTAMP ?" } else { "" };
    format!(
        "DELETE FROM {}{using} WHERE {}",
        table(pipeline),
        where_key(keys.iter())
    )
}

/// The values of a delete.
pub fn delete_binds(key: Vec<Cell<'_>>, timed: bool, write_time_micros: i64) -> Vec<Cell<'_>> {
    let mut binds = Vec::with_capacity(key.len() + 1);
    if timed {
        binds.push(Cell::BigInt(write_time_micros));
    }
    binds.extend(key);
    binds
}

fn where_key<'a>(keys: impl Iterator<Item = &'a ColumnPlan>) -> String {
    keys.map(|c| format!("{} = ?", quote(&c.column)))
        .collect::<Vec<_>>()
        .join(" AND ")
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
    use crate::stream::mapping::Source;

    fn pipeline() -> PipelineConfig {
        PipelineConfig {
            keyspace: "shop".into(),
            table: "orders".into(),
            ..PipelineConfig::default()
        }
    }

    fn col(name: &str, key: bool) -> ColumnPlan {
        let mut c = ColumnPlan::new(
            name,
            Source::same_named(name),
            "int".parse().expect("a type"),
        );
        c.key = key;
        c
    }

    #[test]
    fn statements_quote_their_identifiers() {
        let p = pipeline();
        let plan = [col("a", true), col("b", false)];
        assert_eq!(
            upsert(&p, &plan, false).0,
            r#"INSERT INTO "shop"."orders" ("a", "b") VALUES (?, ?) USING TIMESTAMP ?"#
        );
        assert_eq!(
            upsert(&p, &plan, true).0,
            r#"INSERT INTO "shop"."orders" ("a", "b") VALUES (?, ?) USING TTL ? AND TIMESTAMP ?"#
        );
        let counters = [
            col("n", false),
            col("m", false),
            col("k1", true),
            col("k2", true),
        ];
        assert_eq!(
            counter_update(&p, &counters).0,
            r#"UPDATE "shop"."orders" SET "n" = "n" + ?, "m" = "m" + ? WHERE "k1" = ? AND "k2" = ?"#
        );
        let keys = [col("k1", true), col("k2", true)];
        assert_eq!(
            delete(&p, &keys, true),
            r#"DELETE FROM "shop"."orders" USING TIMESTAMP ? WHERE "k1" = ? AND "k2" = ?"#
        );
        assert_eq!(
            delete(&p, &keys, false),
            r#"DELETE FROM "shop"."orders" WHERE "k1" = ? AND "k2" = ?"#
        );
    }

    #[test]
    fn binds_follow_the_shape() {
        let row = || Row {
            cells: vec![Cell::Int(1)],
            extras: Extras {
                ttl_seconds: Some(60),
                write_time_micros: None,
            },
        };
        assert_eq!(
            Shape::Upsert { ttl: true }.binds(row(), 7),
            [Cell::Int(1), Cell::Int(60), Cell::BigInt(7)]
        );
        assert_eq!(
            Shape::Upsert { ttl: false }.binds(row(), 7),
            [Cell::Int(1), Cell::BigInt(7)]
        );
        assert_eq!(Shape::Counter.binds(row(), 7), [Cell::Int(1)]);
        let custom = |write_time_at, ttl_at| Shape::Custom {
            write_time_at,
            ttl_at,
        };
        assert_eq!(custom(None, None).binds(row(), 7), [Cell::Int(1)]);
        // `INSERT ... VALUES (:a) USING TTL :t AND TIMESTAMP :ts`: a, t, ts.
        assert_eq!(
            custom(Some(2), Some(1)).binds(row(), 7),
            [Cell::Int(1), Cell::Int(60), Cell::BigInt(7)]
        );
        // `UPDATE ... USING TIMESTAMP :ts SET ... WHERE id = :id`: ts, id.
        assert_eq!(
            custom(Some(0), None).binds(row(), 7),
            [Cell::BigInt(7), Cell::Int(1)]
        );
        assert!(custom(Some(0), None).timed() && !custom(None, Some(0)).timed());
        assert!(Shape::Upsert { ttl: false }.timed() && !Shape::Counter.timed());
        let no_ttl = Row {
            extras: Extras {
                ttl_seconds: None,
                write_time_micros: None,
            },
            ..row()
        };
        assert_eq!(
            Shape::Upsert { ttl: true }.binds(no_ttl, 7)[1],
            Cell::Unset,
            "no TTL keeps the table's default"
        );
        assert_eq!(
            delete_binds(vec![Cell::Int(1)], true, 7),
            [Cell::BigInt(7), Cell::Int(1)]
        );
        assert_eq!(delete_binds(vec![Cell::Int(1)], false, 7), [Cell::Int(1)]);
        assert!(!Shape::Counter.idempotent(""));
        assert!(!custom(None, None).idempotent("UPDATE t SET l = l + :l WHERE id = :id"));
        assert!(custom(None, None).idempotent(" insert into t (a) values (:a)"));
    }

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
        let mut p = pipeline();
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
    fn key_order_is_partition_then_clustering() {
        let c = |name: &str, kind, position| TableColumn {
            name: name.into(),
            kind,
            cql_type: "int".into(),
            position,
        };
        let columns = [
            c("v", ColumnKind::Regular, -1),
            c("c2", ColumnKind::Clustering, 1),
            c("p2", ColumnKind::PartitionKey, 1),
            c("c1", ColumnKind::Clustering, 0),
            c("p1", ColumnKind::PartitionKey, 0),
            c("s", ColumnKind::Static, -1),
        ];
        let names: Vec<&str> = key_columns(&columns)
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["p1", "p2", "c1", "c2"]);
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
