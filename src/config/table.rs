//! A pipeline's declared table (`[pipelines.create_table]`): its columns with CQL types, its
//! primary key, its user-defined types and options, validated at load and rendered into the
//! CQL that creates them. Every identifier is quoted and every type is parsed into a
//! [`CqlType`] and rendered again from it (the grammar Cassandra's own type text is read
//! with), so nothing from the config reaches CQL unchecked. Executing the DDL belongs to
//! [`crate::cassandra::schema`].

use super::validate::check_cql_identifier;
use crate::cassandra::cql_type::{CqlType, TypeError, UdtCatalog};
use crate::cassandra::schema::quote;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The table a pipeline writes to, declared so cassflow can create it when it is missing
/// (with its keyspace, using `cassandra.replication_factor` or `cassandra.datacenters`). A
/// table that exists is left as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TableDeclaration {
    /// Column name -> CQL type, e.g. `items = "list<text>"`, `customer = "frozen<address>"`,
    /// `region = "text static"` (a static column).
    pub columns: BTreeMap<String, String>,
    /// The partition key's columns, in order (at least one).
    pub partition_key: Vec<String>,
    /// Clustering columns, in order; each may end with ` DESC` (or ` ASC`, the default).
    pub clustering_key: Vec<String>,
    /// User-defined types, created before the table: type name -> {field -> CQL type}.
    pub types: BTreeMap<String, BTreeMap<String, String>>,
    /// Table options written after `WITH`, e.g. `default_time_to_live = 86400 AND comment = 'orders'`
    /// (no `;`).
    pub options: Option<String>,
}

/// What is wrong with a declaration: the key under `create_table`, the problem, the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclarationError {
    pub key: String,
    pub problem: String,
    pub fix: String,
}

const TYPE_FIX: &str = "use a CQL type such as `text`, `decimal`, `list<text>`, \
     `map<text, int>`, `frozen<address>` (a type under create_table.types) or `vector<float, 3>`";

impl TableDeclaration {
    /// Checks names, types and keys; the first problem found is returned.
    pub fn validate(&self) -> Result<(), DeclarationError> {
        let err = |key: String, problem: String, fix: &str| DeclarationError {
            key,
            problem,
            fix: fix.into(),
        };
        let ident_fix =
            "use 1 to 48 lower-case letters, digits or underscores, starting with a letter";
        if self.columns.is_empty() {
            return Err(err(
                "columns".into(),
                "declares no column".into(),
                "list the columns with their CQL types, e.g. `[pipelines.create_table.columns]` `order_id = \"uuid\"`",
            ));
        }
        for (name, fields) in &self.types {
            check_cql_identifier(name).map_err(|p| err(format!("types.{name}"), p, ident_fix))?;
            if fields.is_empty() {
                return Err(err(
                    format!("types.{name}"),
                    "has no field".into(),
                    "give the type at least one field, e.g. `address = { street = \"text\" }`",
                ));
            }
            for (field, ty) in fields {
                let key = format!("types.{name}.{field}");
                check_cql_identifier(field).map_err(|p| err(key.clone(), p, ident_fix))?;
                self.render_type(ty).map_err(|p| err(key, p, TYPE_FIX))?;
            }
        }
        self.types_in_creation_order().map_err(|p| {
            err(
                "types".into(),
                p,
                "remove the cycle: a type cannot contain itself",
            )
        })?;
        for (column, ty) in &self.columns {
            let key = format!("columns.{column}");
            check_cql_identifier(column).map_err(|p| err(key.clone(), p, ident_fix))?;
            self.render_column_type(ty)
                .map_err(|p| err(key, p, TYPE_FIX))?;
        }
        if self.partition_key.is_empty() {
            return Err(err(
                "partition_key".into(),
                "is empty: a table needs a partition key".into(),
                "name at least one declared column, e.g. `partition_key = [\"order_id\"]`",
            ));
        }
        let mut seen = Vec::new();
        for (i, column) in self.partition_key.iter().enumerate() {
            self.check_key_column(&format!("partition_key[{i}]"), column, &mut seen)?;
        }
        for (i, entry) in self.clustering_key.iter().enumerate() {
            let key = format!("clustering_key[{i}]");
            let (column, _) = split_order(entry).map_err(|p| {
                err(
                    key.clone(),
                    p,
                    "write a declared column, optionally followed by ` ASC` or ` DESC`, e.g. `\"placed_at DESC\"`",
                )
            })?;
            self.check_key_column(&key, column, &mut seen)?;
        }
        if let Some(options) = &self.options {
            if options.contains(';') {
                return Err(err(
                    "options".into(),
                    "contains `;`: only table options may follow WITH".into(),
                    "write options joined by AND, e.g. `default_time_to_live = 86400 AND comment = 'orders'`",
                ));
            }
        }
        Ok(())
    }

    fn check_key_column<'a>(
        &self,
        key: &str,
        column: &'a str,
        seen: &mut Vec<&'a str>,
    ) -> Result<(), DeclarationError> {
        let err = |problem: String, fix: String| DeclarationError {
            key: key.into(),
            problem,
            fix,
        };
        let Some(ty) = self.columns.get(column) else {
            return Err(err(
                format!("`{column}` is not a declared column"),
                format!("declare it under create_table.columns, e.g. `{column} = \"uuid\"`"),
            ));
        };
        if split_static(ty).1 {
            return Err(err(
                format!("`{column}` is static, so it cannot be part of the primary key"),
                "remove ` static` from its type, or use another column in the key".into(),
            ));
        }
        if seen.contains(&column) {
            return Err(err(
                format!("`{column}` is named twice in the primary key"),
                "name every key column once".into(),
            ));
        }
        seen.push(column);
        Ok(())
    }

    /// The user-defined types in an order where each comes after those it uses.
    pub fn types_in_creation_order(&self) -> Result<Vec<&str>, String> {
        let mut ordered: Vec<&str> = Vec::new();
        while ordered.len() < self.types.len() {
            let before = ordered.len();
            for (name, fields) in &self.types {
                if ordered.contains(&name.as_str()) {
                    continue;
                }
                let ready = fields.values().all(|ty| {
                    self.type_names(ty)
                        .iter()
                        .all(|n| ordered.contains(&n.as_str()))
                });
                if ready {
                    ordered.push(name);
                }
            }
            if ordered.len() == before {
                let stuck: Vec<&str> = self
                    .types
                    .keys()
                    .map(String::as_str)
                    .filter(|n| !ordered.contains(n))
                    .collect();
                return Err(format!(
                    "types {} refer to each other in a cycle",
                    stuck.join(", ")
                ));
            }
        }
        Ok(ordered)
    }

    /// `CREATE TYPE IF NOT EXISTS` statements, in creation order.
    pub fn create_types_cql(&self, keyspace: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for name in self.types_in_creation_order()? {
            let fields = &self.types[name];
            let mut parts = Vec::new();
            for (field, ty) in fields {
                parts.push(format!("{} {}", quote(field), self.render_type(ty)?));
            }
            out.push(format!(
                "CREATE TYPE IF NOT EXISTS {}.{} ({})",
                quote(keyspace),
                quote(name),
                parts.join(", ")
            ));
        }
        Ok(out)
    }

    /// The `CREATE TABLE IF NOT EXISTS` statement.
    pub fn create_table_cql(&self, keyspace: &str, table: &str) -> Result<String, String> {
        let mut parts = Vec::new();
        for (column, ty) in &self.columns {
            parts.push(format!(
                "{} {}",
                quote(column),
                self.render_column_type(ty)?
            ));
        }
        let partition: Vec<String> = self.partition_key.iter().map(|c| quote(c)).collect();
        let mut key = format!("({})", partition.join(", "));
        let mut order = Vec::new();
        for entry in &self.clustering_key {
            let (column, descending) = split_order(entry)?;
            key.push_str(", ");
            key.push_str(&quote(column));
            if descending {
                order.push(format!("{} DESC", quote(column)));
            }
        }
        parts.push(format!("PRIMARY KEY ({key})"));
        let mut with = Vec::new();
        if !order.is_empty() {
            // Every clustering column is listed once one is DESC (CQL wants them in order).
            let all: Vec<String> = self
                .clustering_key
                .iter()
                .filter_map(|e| split_order(e).ok())
                .map(|(c, desc)| format!("{} {}", quote(c), if desc { "DESC" } else { "ASC" }))
                .collect();
            with.push(format!("CLUSTERING ORDER BY ({})", all.join(", ")));
        }
        if let Some(options) = self.options.as_deref().map(str::trim) {
            if options.contains(';') {
                return Err("options contain `;`".into());
            }
            if !options.is_empty() {
                with.push(options.to_string());
            }
        }
        let mut cql = format!(
            "CREATE TABLE IF NOT EXISTS {}.{} ({})",
            quote(keyspace),
            quote(table),
            parts.join(", ")
        );
        if !with.is_empty() {
            cql.push_str(" WITH ");
            cql.push_str(&with.join(" AND "));
        }
        Ok(cql)
    }

    /// A column's type as CQL, with ` STATIC` when declared `... static`.
    pub fn render_column_type(&self, text: &str) -> Result<String, String> {
        let (ty, is_static) = split_static(text);
        let rendered = self.render_type(ty)?;
        Ok(if is_static {
            format!("{rendered} STATIC")
        } else {
            rendered
        })
    }

    /// A type as CQL: built-in names in lower case, user-defined types by their name;
    /// anything outside the grammar, or naming a type not declared, is refused.
    pub fn render_type(&self, text: &str) -> Result<String, String> {
        Ok(self.parse_type(text)?.to_string())
    }

    /// The type's tree, its user-defined types known by name only (their fields are
    /// declared separately, and may form a cycle that validation reports).
    fn parse_type(&self, text: &str) -> Result<CqlType, String> {
        let names = UdtCatalog::new(
            "",
            self.types
                .keys()
                .map(|name| (name.clone(), Vec::new(), Vec::new())),
        );
        names.parse(text).map_err(|e| match e {
            TypeError::UnknownUdt { name, .. } => format!(
                "`{name}` is neither a CQL type nor a type declared under create_table.types"
            ),
            other => other.to_string(),
        })
    }

    /// The user-defined types a type's text names (empty for a type that does not parse).
    fn type_names(&self, text: &str) -> Vec<String> {
        fn walk(t: &CqlType, out: &mut Vec<String>) {
            match t {
                CqlType::Native(_) => {}
                CqlType::List(t) | CqlType::Set(t) | CqlType::Frozen(t) | CqlType::Vector(t, _) => {
                    walk(t, out)
                }
                CqlType::Map(k, v) => {
                    walk(k, out);
                    walk(v, out);
                }
                CqlType::Tuple(ts) => ts.iter().for_each(|t| walk(t, out)),
                CqlType::Udt(u) => out.push(u.name.clone()),
            }
        }
        let mut out = Vec::new();
        if let Ok(t) = self.parse_type(text) {
            walk(&t, &mut out);
        }
        out
    }

    /// A column's type as `system_schema.columns.type` spells it (for comparing with an
    /// existing table): no quotes, no spaces, `varchar` as `text`, no `static`.
    pub fn schema_spelling(&self, text: &str) -> Option<String> {
        let rendered = self.render_type(split_static(text).0).ok()?;
        Some(normalize_schema_type(&rendered))
    }
}

/// `system_schema`'s spelling of a type, and ours, made comparable.
pub fn normalize_schema_type(text: &str) -> String {
    let squeezed: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '"')
        .collect::<String>()
        .to_ascii_lowercase();
    // `varchar` is an alias Cassandra stores as `text`.
    let mut out = String::new();
    let mut word = String::new();
    for c in squeezed.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        out.push_str(if word == "varchar" { "text" } else { &word });
        word.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

/// `"text static"` -> (`text`, true).
fn split_static(text: &str) -> (&str, bool) {
    let trimmed = text.trim();
    match trimmed.rsplit_once(char::is_whitespace) {
        Some((ty, last)) if last.eq_ignore_ascii_case("static") => (ty.trim_end(), true),
        _ => (trimmed, false),
    }
}

/// `"placed_at DESC"` -> (`placed_at`, true).
fn split_order(entry: &str) -> Result<(&str, bool), String> {
    let mut words = entry.split_whitespace();
    let column = words.next().ok_or_else(|| "is empty".to_string())?;
    let descending = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("asc") => false,
        Some(w) if w.eq_ignore_ascii_case("desc") => true,
        Some(w) => return Err(format!("`{w}` is not ASC or DESC")),
    };
    if words.next().is_some() {
        return Err(format!("`{entry}` has more than a column and an order"));
    }
    Ok((column, descending))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders() -> TableDeclaration {
        let mut t = TableDeclaration::default();
        for (c, ty) in [
            ("shop_id", "int"),
            ("order_id", "uuid"),
            ("placed_at", "timestamp"),
            ("items", "list<text>"),
            ("ship_to", "frozen<address>"),
            ("region", "text static"),
            ("embedding", "vector<float, 3>"),
        ] {
            t.columns.insert(c.into(), ty.into());
        }
        t.partition_key = vec!["shop_id".into()];
        t.clustering_key = vec!["placed_at DESC".into(), "order_id".into()];
        t.types.insert(
            "address".into(),
            [
                ("street".to_string(), "text".to_string()),
                ("geo".into(), "frozen<point>".into()),
            ]
            .into(),
        );
        t.types.insert(
            "point".into(),
            [("lat".to_string(), "double".to_string())].into(),
        );
        t.options = Some("default_time_to_live = 86400".into());
        t
    }

    #[test]
    fn renders_types_tables_and_keys() {
        let t = orders();
        t.validate().unwrap();
        assert_eq!(
            t.create_types_cql("shop").unwrap(),
            vec![
                "CREATE TYPE IF NOT EXISTS \"shop\".\"point\" (\"lat\" double)",
                "CREATE TYPE IF NOT EXISTS \"shop\".\"address\" (\"geo\" frozen<point>, \"street\" text)",
            ]
        );
        assert_eq!(
            t.create_table_cql("shop", "orders").unwrap(),
            "CREATE TABLE IF NOT EXISTS \"shop\".\"orders\" (\"embedding\" vector<float, 3>, \
             \"items\" list<text>, \"order_id\" uuid, \"placed_at\" timestamp, \"region\" text STATIC, \
             \"ship_to\" frozen<address>, \"shop_id\" int, \
             PRIMARY KEY ((\"shop_id\"), \"placed_at\", \"order_id\")) \
             WITH CLUSTERING ORDER BY (\"placed_at\" DESC, \"order_id\" ASC) AND default_time_to_live = 86400"
        );
    }

    #[test]
    fn refuses_injection_and_bad_types() {
        let t = orders();
        for bad in [
            "text); DROP TABLE x; --",
            "list<text",
            "map<text>",
            "vector<float>",
            "frozen<nope>",
            "text\"",
            "",
            "list<text> extra",
            "frozen<\"address\"\"); DROP TABLE x; --\">",
            "'org.apache.cassandra.db.marshal.UTF8Type'",
            "vector<float, 0>",
        ] {
            assert!(t.render_type(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            t.render_type("MAP<TEXT,  frozen<tuple<int, text>>>")
                .unwrap(),
            "map<text, frozen<tuple<int, text>>>"
        );
        assert_eq!(
            t.render_type("frozen<\"address\">").unwrap(),
            "frozen<address>",
            "a quoted name is read as CQL reads it"
        );
    }

    #[test]
    fn validation_names_the_key() {
        let mut t = orders();
        t.partition_key = vec!["nope".into()];
        assert_eq!(t.validate().unwrap_err().key, "partition_key[0]");
        let mut t = orders();
        t.clustering_key = vec!["placed_at SIDEWAYS".into()];
        assert_eq!(t.validate().unwrap_err().key, "clustering_key[0]");
        let mut t = orders();
        t.partition_key = vec!["region".into()];
        assert!(t.validate().unwrap_err().problem.contains("static"));
        let mut t = orders();
        t.options = Some("comment = 'x'; DROP TABLE y".into());
        assert_eq!(t.validate().unwrap_err().key, "options");
        let mut t = orders();
        t.columns.insert("Bad".into(), "text".into());
        assert_eq!(t.validate().unwrap_err().key, "columns.Bad");
        let mut t = orders();
        t.types.insert(
            "point".into(),
            [("a".to_string(), "frozen<address>".to_string())].into(),
        );
        assert_eq!(t.validate().unwrap_err().key, "types");
        let mut t = orders();
        t.partition_key.clear();
        assert_eq!(t.validate().unwrap_err().key, "partition_key");
    }

    #[test]
    fn schema_spelling_matches_system_schema() {
        let t = orders();
        assert_eq!(
            t.schema_spelling("frozen<address>").unwrap(),
            normalize_schema_type("frozen<address>")
        );
        assert_eq!(
            t.schema_spelling("map<varchar, int>").unwrap(),
            normalize_schema_type("map<text, int>")
        );
        assert_eq!(t.schema_spelling("text static").unwrap(), "text");
    }
}
