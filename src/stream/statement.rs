//! Which statement a pipeline writes with, and the order of its bound values: the upsert
//! (`INSERT ... USING [TTL ? AND] TIMESTAMP ?`), a counter table's
//! `UPDATE ... SET c = c + ? WHERE ...` (no write time: Cassandra refuses one for
//! counters), the shape of a custom `query` (its markers are [`super::custom_query`]'s), and
//! a tombstone's `DELETE [USING TIMESTAMP ?] WHERE <key>`. Identifiers are quoted, never
//! spliced raw.
//!
//! It owns the CQL text and the order of the bound values; which record value fills a plan
//! entry is [`super::mapping`]'s, and executing and classifying writes is [`super::sink`]'s.

use super::convert::{Cell, ColumnPlan};
use super::mapping::{Extras, Row};
use crate::cassandra::cql_type::CqlType;
use crate::cassandra::schema::quote;
use crate::config::PipelineConfig;

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
    /// Whether running it twice leaves the same row (so a retry after a timeout, or the
    /// driver's speculative second try, is safe). Never when it writes a counter, or a
    /// non-frozen list: Cassandra keys each list element by a time UUID made when the write
    /// runs, so a list written twice holds its elements twice, even at one write time.
    pub fn idempotent(self, cql: &str, plan: &[ColumnPlan]) -> bool {
        let writes_a_list = plan.iter().any(|c| matches!(c.kind, CqlType::List(_)));
        !writes_a_list
            && match self {
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
        assert!(!Shape::Counter.idempotent("", &[]));
        let update = "UPDATE t SET l = l + :l WHERE id = :id";
        assert!(!custom(None, None).idempotent(update, &[]));
        assert!(custom(None, None).idempotent(" insert into t (a) values (:a)", &[]));
    }

    #[test]
    fn a_write_of_a_non_frozen_list_is_not_idempotent() {
        let text = CqlType::Native(crate::cassandra::cql_type::Native::Text);
        let column = |kind| ColumnPlan::new("c", Source::Topic, kind);
        let list = column(CqlType::List(Box::new(text.clone())));
        let frozen = column(CqlType::Frozen(Box::new(CqlType::List(Box::new(
            text.clone(),
        )))));
        let set = column(CqlType::Set(Box::new(text)));
        let upsert = Shape::Upsert { ttl: false };
        assert!(!upsert.idempotent("", std::slice::from_ref(&list)));
        assert!(upsert.idempotent("", &[frozen, set.clone()]));
        let custom = Shape::Custom {
            write_time_at: None,
            ttl_at: None,
        };
        assert!(!custom.idempotent("INSERT INTO t (c) VALUES (?)", &[set, list]));
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
}
