//! The CQL type of a column as a tree: parsed from the text Cassandra 5.0 writes into
//! `system_schema.columns.type` (`int`, `list<text>`, `map<int, frozen<address>>`,
//! `vector<float, 3>`, `"MyType"`), with user-defined types resolved to their fields from
//! `system_schema.types` (or from a table declared in config), and displayed again as CQL
//! spells it (the name a user sees in every conversion error, and the text of every type
//! cassflow creates). It owns the type model only: converting a value into a type is the
//! stream's `convert`, reading a table's columns its `plan`.

use scylla::client::session::Session;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// A type without parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Native {
    Ascii,
    /// `text`, also spelled `varchar`.
    Text,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Varint,
    Float,
    Double,
    Decimal,
    Boolean,
    Uuid,
    TimeUuid,
    Timestamp,
    Date,
    Time,
    Duration,
    Inet,
    Blob,
    Counter,
}

impl Native {
    pub const ALL: [Native; 20] = [
        Native::Ascii,
        Native::Text,
        Native::TinyInt,
        Native::SmallInt,
        Native::Int,
        Native::BigInt,
        Native::Varint,
        Native::Float,
        Native::Double,
        Native::Decimal,
        Native::Boolean,
        Native::Uuid,
        Native::TimeUuid,
        Native::Timestamp,
        Native::Date,
        Native::Time,
        Native::Duration,
        Native::Inet,
        Native::Blob,
        Native::Counter,
    ];

    /// The name as CQL spells it.
    pub fn name(self) -> &'static str {
        match self {
            Native::Ascii => "ascii",
            Native::Text => "text",
            Native::TinyInt => "tinyint",
            Native::SmallInt => "smallint",
            Native::Int => "int",
            Native::BigInt => "bigint",
            Native::Varint => "varint",
            Native::Float => "float",
            Native::Double => "double",
            Native::Decimal => "decimal",
            Native::Boolean => "boolean",
            Native::Uuid => "uuid",
            Native::TimeUuid => "timeuuid",
            Native::Timestamp => "timestamp",
            Native::Date => "date",
            Native::Time => "time",
            Native::Duration => "duration",
            Native::Inet => "inet",
            Native::Blob => "blob",
            Native::Counter => "counter",
        }
    }

    fn from_name(name: &str) -> Option<Native> {
        if name == "varchar" {
            return Some(Native::Text);
        }
        Native::ALL.into_iter().find(|n| n.name() == name)
    }
}

/// A column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CqlType {
    Native(Native),
    List(Box<CqlType>),
    Set(Box<CqlType>),
    Map(Box<CqlType>, Box<CqlType>),
    Tuple(Vec<CqlType>),
    Udt(Arc<Udt>),
    Frozen(Box<CqlType>),
    /// `vector<element, dimensions>` (Cassandra 5.0).
    Vector(Box<CqlType>, u16),
}

/// A user-defined type with its fields in their declared order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Udt {
    pub keyspace: String,
    /// The name as stored (case preserved, unquoted).
    pub name: String,
    pub fields: Vec<(String, CqlType)>,
}

impl CqlType {
    /// The type inside `frozen<...>` (frozen only changes how Cassandra stores it).
    pub fn unfrozen(&self) -> &CqlType {
        match self {
            CqlType::Frozen(inner) => inner.unfrozen(),
            other => other,
        }
    }

    /// Whether a value of this type may contain numbers whose JSON text matters (a decimal
    /// or varint anywhere inside), so the message's numbers must be read exactly.
    pub fn needs_exact_numbers(&self) -> bool {
        match self {
            CqlType::Native(n) => matches!(n, Native::Decimal | Native::Varint),
            CqlType::List(t) | CqlType::Set(t) | CqlType::Frozen(t) | CqlType::Vector(t, _) => {
                t.needs_exact_numbers()
            }
            CqlType::Map(k, v) => k.needs_exact_numbers() || v.needs_exact_numbers(),
            CqlType::Tuple(ts) => ts.iter().any(CqlType::needs_exact_numbers),
            CqlType::Udt(u) => u.fields.iter().any(|(_, t)| t.needs_exact_numbers()),
        }
    }
}

impl fmt::Display for CqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CqlType::Native(n) => f.write_str(n.name()),
            CqlType::List(t) => write!(f, "list<{t}>"),
            CqlType::Set(t) => write!(f, "set<{t}>"),
            CqlType::Map(k, v) => write!(f, "map<{k}, {v}>"),
            CqlType::Tuple(ts) => {
                f.write_str("tuple<")?;
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_str(">")
            }
            CqlType::Udt(u) => write_identifier(f, &u.name),
            CqlType::Frozen(t) => write!(f, "frozen<{t}>"),
            CqlType::Vector(t, n) => write!(f, "vector<{t}, {n}>"),
        }
    }
}

/// A name as CQL spells it: bare when it is lowercase letters, digits and `_` starting
/// with a letter (and not a type's own name), else in double quotes with `"` doubled.
fn write_identifier(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    let bare = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && Native::from_name(name).is_none()
        && !KEYWORDS.contains(&name);
    if bare {
        f.write_str(name)
    } else {
        write!(f, "\"{}\"", name.replace('"', "\"\""))
    }
}

/// Names the parser reads as a type constructor, never as a user-defined type.
const KEYWORDS: [&str; 6] = ["list", "set", "map", "tuple", "frozen", "vector"];

/// Why a type's text cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TypeError {
    #[error("cannot read type `{text}`: {detail}")]
    Syntax { text: String, detail: String },
    #[error(
        "type `{text}` uses user-defined type `{name}`, which keyspace `{keyspace}` does not have"
    )]
    UnknownUdt {
        text: String,
        name: String,
        keyspace: String,
    },
    #[error("type `{text}` is not supported by cassflow ({detail})")]
    Unsupported { text: String, detail: String },
}

/// The user-defined types of one keyspace as `system_schema.types` lists them
/// (`field_types` still as text), resolved when a column's type names them.
#[derive(Debug, Clone, Default)]
pub struct UdtCatalog {
    keyspace: String,
    types: HashMap<String, (Vec<String>, Vec<String>)>,
}

/// How deep user-defined types may nest inside each other (Cassandra forbids cycles; this
/// only keeps a corrupt catalog from recursing without end).
const MAX_DEPTH: usize = 32;

impl UdtCatalog {
    /// A catalog of `keyspace` with the given types: name -> (field names, field types).
    pub fn new(
        keyspace: impl Into<String>,
        types: impl IntoIterator<Item = (String, Vec<String>, Vec<String>)>,
    ) -> Self {
        UdtCatalog {
            keyspace: keyspace.into(),
            types: types
                .into_iter()
                .map(|(name, names, kinds)| (name, (names, kinds)))
                .collect(),
        }
    }

    /// Reads the keyspace's user-defined types (one query).
    pub async fn load(session: &Session, keyspace: &str) -> Result<Self, String> {
        let rows = session
            .query_unpaged(
                "SELECT type_name, field_names, field_types FROM system_schema.types \
                 WHERE keyspace_name = ?",
                (keyspace,),
            )
            .await
            .map_err(|e| e.to_string())?
            .into_rows_result()
            .map_err(|e| e.to_string())?;
        let mut types = Vec::new();
        for row in rows
            .rows::<(String, Option<Vec<String>>, Option<Vec<String>>)>()
            .map_err(|e| e.to_string())?
        {
            let (name, names, kinds) = row.map_err(|e| e.to_string())?;
            types.push((name, names.unwrap_or_default(), kinds.unwrap_or_default()));
        }
        Ok(UdtCatalog::new(keyspace, types))
    }

    /// Parses a type as `system_schema.columns.type` spells it, resolving the
    /// user-defined types it names.
    pub fn parse(&self, text: &str) -> Result<CqlType, TypeError> {
        self.parse_at(text, 0)
    }

    fn parse_at(&self, text: &str, depth: usize) -> Result<CqlType, TypeError> {
        let mut parser = Parser {
            text,
            at: 0,
            catalog: self,
            depth,
        };
        let t = parser.parse_type()?;
        parser.skip_space();
        if parser.at != text.len() {
            return Err(parser.syntax("unexpected text after the type"));
        }
        Ok(t)
    }

    fn resolve(&self, text: &str, name: &str, depth: usize) -> Result<CqlType, TypeError> {
        let Some((names, kinds)) = self.types.get(name) else {
            return Err(TypeError::UnknownUdt {
                text: text.to_string(),
                name: name.to_string(),
                keyspace: self.keyspace.clone(),
            });
        };
        if depth >= MAX_DEPTH {
            return Err(TypeError::Unsupported {
                text: text.to_string(),
                detail: format!("user-defined types nest deeper than {MAX_DEPTH}"),
            });
        }
        if names.len() != kinds.len() {
            return Err(TypeError::Syntax {
                text: text.to_string(),
                detail: format!("type `{name}` lists a different number of field names and types"),
            });
        }
        let mut fields = Vec::with_capacity(names.len());
        for (field, kind) in names.iter().zip(kinds) {
            fields.push((field.clone(), self.parse_at(kind, depth + 1)?));
        }
        Ok(CqlType::Udt(Arc::new(Udt {
            keyspace: self.keyspace.clone(),
            name: name.to_string(),
            fields,
        })))
    }
}

/// Parses a type that names no user-defined type (`"map<int, text>".parse()`).
impl std::str::FromStr for CqlType {
    type Err = TypeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        UdtCatalog::default().parse(text)
    }
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
    catalog: &'a UdtCatalog,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn syntax(&self, detail: &str) -> TypeError {
        TypeError::Syntax {
            text: self.text.to_string(),
            detail: format!("{detail} at byte {}", self.at),
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        if self.rest().starts_with(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), TypeError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.syntax(&format!("expected `{c}`")))
        }
    }

    /// A bare word (lowercased, as CQL reads it) or a quoted name (as written); true when
    /// it was quoted.
    fn identifier(&mut self) -> Result<(String, bool), TypeError> {
        self.skip_space();
        let rest = self.rest();
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut name = String::new();
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if quoted[i + 1..].starts_with('"') {
                        name.push('"');
                        chars.next();
                    } else {
                        self.at += 1 + i + 1;
                        return Ok((name, true));
                    }
                } else {
                    name.push(c);
                }
            }
            return Err(self.syntax("unterminated quoted name"));
        }
        if rest.starts_with('\'') {
            return Err(TypeError::Unsupported {
                text: self.text.to_string(),
                detail: "a custom type class".into(),
            });
        }
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(self.syntax("expected a type"));
        }
        self.at += len;
        Ok((rest[..len].to_ascii_lowercase(), false))
    }

    fn parse_type(&mut self) -> Result<CqlType, TypeError> {
        let (word, quoted) = self.identifier()?;
        if quoted {
            return self.catalog.resolve(self.text, &word, self.depth);
        }
        if let Some(native) = Native::from_name(&word) {
            return Ok(CqlType::Native(native));
        }
        let one = |p: &mut Self| -> Result<CqlType, TypeError> {
            p.expect('<')?;
            let t = p.parse_type()?;
            p.expect('>')?;
            Ok(t)
        };
        Ok(match word.as_str() {
            "list" => CqlType::List(Box::new(one(self)?)),
            "set" => CqlType::Set(Box::new(one(self)?)),
            "frozen" => CqlType::Frozen(Box::new(one(self)?)),
            "map" => {
                self.expect('<')?;
                let k = self.parse_type()?;
                self.expect(',')?;
                let v = self.parse_type()?;
                self.expect('>')?;
                CqlType::Map(Box::new(k), Box::new(v))
            }
            "tuple" => {
                self.expect('<')?;
                let mut ts = vec![self.parse_type()?];
                while self.eat(',') {
                    ts.push(self.parse_type()?);
                }
                self.expect('>')?;
                CqlType::Tuple(ts)
            }
            "vector" => {
                self.expect('<')?;
                let t = self.parse_type()?;
                self.expect(',')?;
                self.skip_space();
                let (n, _) = self.identifier()?;
                let n: u16 = n
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| self.syntax("expected a vector's dimension (1 to 65535)"))?;
                self.expect('>')?;
                CqlType::Vector(Box::new(t), n)
            }
            _ => self.catalog.resolve(self.text, &word, self.depth)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn catalog() -> UdtCatalog {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        UdtCatalog::new(
            "ks",
            [
                (
                    "address".to_string(),
                    s(&["street", "zip"]),
                    s(&["text", "int"]),
                ),
                (
                    "MyType".to_string(),
                    s(&["home", "tags", "Odd \"name\""]),
                    s(&["frozen<address>", "set<text>", "tuple<int, date>"]),
                ),
                ("loop".to_string(), s(&["me"]), s(&["frozen<loop>"])),
            ],
        )
    }

    #[test]
    fn parses_what_cassandra_writes() {
        let c = catalog();
        for (text, shown) in [
            ("int", "int"),
            ("varchar", "text"),
            ("list<text>", "list<text>"),
            (
                "map<int, frozen<list<double>>>",
                "map<int, frozen<list<double>>>",
            ),
            ("MAP< int ,text >", "map<int, text>"),
            ("tuple<int, text, uuid>", "tuple<int, text, uuid>"),
            ("vector<float, 3>", "vector<float, 3>"),
            ("frozen<address>", "frozen<address>"),
            ("\"MyType\"", "\"MyType\""),
            ("list<frozen<\"MyType\">>", "list<frozen<\"MyType\">>"),
        ] {
            let t = c.parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(t.to_string(), shown, "{text}");
        }
        let CqlType::Udt(u) = c.parse("\"MyType\"").expect("parses") else {
            panic!("not a udt")
        };
        assert_eq!(u.keyspace, "ks");
        let names: Vec<&str> = u.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["home", "tags", "Odd \"name\""]);
        assert_eq!(u.fields[0].1.to_string(), "frozen<address>");
        assert!(matches!(u.fields[0].1.unfrozen(), CqlType::Udt(a) if a.fields.len() == 2));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let c = catalog();
        for text in [
            "",
            "list<",
            "list<int",
            "map<int>",
            "vector<float, 0>",
            "vector<float, x>",
            "int int",
            "\"open",
        ] {
            assert!(
                matches!(c.parse(text), Err(TypeError::Syntax { .. })),
                "{text}"
            );
        }
        let err = c.parse("frozen<nope>").unwrap_err();
        assert!(err.to_string().contains("`nope`"), "{err}");
        assert!(matches!(
            c.parse("'org.apache.cassandra.db.marshal.DynamicCompositeType'"),
            Err(TypeError::Unsupported { .. })
        ));
        assert!(matches!(
            c.parse("frozen<loop>"),
            Err(TypeError::Unsupported { .. })
        ));
    }

    #[test]
    fn decimal_anywhere_needs_exact_numbers() {
        let c = catalog();
        assert!(c.parse("decimal").unwrap().needs_exact_numbers());
        assert!(c
            .parse("map<text, frozen<tuple<int, varint>>>")
            .unwrap()
            .needs_exact_numbers());
        assert!(!c.parse("\"MyType\"").unwrap().needs_exact_numbers());
        assert!(!c.parse("list<double>").unwrap().needs_exact_numbers());
    }

    fn any_type() -> impl Strategy<Value = CqlType> {
        let c = catalog();
        let udts = vec![
            c.parse("address").expect("address"),
            c.parse("\"MyType\"").expect("MyType"),
        ];
        let leaf = prop_oneof![
            proptest::sample::select(Native::ALL.to_vec()).prop_map(CqlType::Native),
            proptest::sample::select(udts),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|t| CqlType::List(Box::new(t))),
                inner.clone().prop_map(|t| CqlType::Set(Box::new(t))),
                inner.clone().prop_map(|t| CqlType::Frozen(Box::new(t))),
                (inner.clone(), inner.clone())
                    .prop_map(|(k, v)| CqlType::Map(Box::new(k), Box::new(v))),
                proptest::collection::vec(inner.clone(), 1..4).prop_map(CqlType::Tuple),
                (inner, 1u16..=u16::MAX).prop_map(|(t, n)| CqlType::Vector(Box::new(t), n)),
            ]
        })
    }

    proptest! {
        #[test]
        fn display_parses_back_to_the_same_type(t in any_type()) {
            let shown = t.to_string();
            prop_assert_eq!(catalog().parse(&shown), Ok(t), "{}", shown);
        }

        #[test]
        fn parse_never_panics(text in "[a-z<>, \"0-9]{0,40}") {
            let _ = catalog().parse(&text);
        }
    }
}
