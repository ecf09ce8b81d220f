//! docs/configuration.md is generated from the configuration types themselves: the serde
//! structs of `src/config/` (parsed with `syn`: field names, serde renames, types and `///`
//! docs) and `Config::default()` (serialized, for the defaults). These tests fail when the
//! file is stale, when a key has no doc comment, or when the parsed keys and the serialized
//! defaults disagree. Regenerate with:
//!
//!     CASSFLOW_UPDATE_DOCS=1 cargo test --test config_reference

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const REGENERATE: &str = "CASSFLOW_UPDATE_DOCS=1 cargo test --test config_reference";
const DOC_PATH: &str = "docs/configuration.md";

/// A struct or enum that derives `Deserialize`, with its docs.
enum Item {
    Struct { doc: String, fields: Vec<Field> },
    Enum { variants: Vec<(String, String)> },
}

struct Field {
    key: String,
    ty: syn::Type,
    doc: String,
    humantime: bool,
}

/// One row of the reference.
struct Row {
    key: String,
    ty: String,
    default: String,
    env: Option<String>,
    doc: String,
}

/// A `[section]` (or `[[list]]`) and its rows.
struct Section {
    heading: String,
    doc: String,
    rows: Vec<Row>,
}

#[test]
fn configuration_md_is_current() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let generated = render(&sections());
    let path = root.join(DOC_PATH);
    if std::env::var_os("CASSFLOW_UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(path.parent().expect("docs dir")).expect("create docs/");
        std::fs::write(&path, &generated).expect("write docs/configuration.md");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != generated {
        let first_difference = current
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "length differs".to_string(),
                |i| format!("line {}", i + 1),
            );
        panic!(
            "{DOC_PATH} is stale (first difference: {first_difference}); regenerate it with:\n\n    {REGENERATE}\n"
        );
    }
}

#[test]
fn every_key_has_a_doc_comment() {
    let missing: Vec<String> = sections()
        .iter()
        .flat_map(|s| s.rows.iter())
        .filter(|r| r.doc.trim().is_empty())
        .map(|r| r.key.clone())
        .collect();
    assert!(
        missing.is_empty(),
        "config keys without a `///` doc comment in src/config: {missing:?}"
    );
}

#[test]
fn parsed_keys_equal_the_serialized_defaults() {
    // sections() itself compares the keys of every struct with those of its serialized
    // default and panics on a difference; this test makes that check visible by name.
    let keys: usize = sections().iter().map(|s| s.rows.len()).sum();
    assert!(
        keys > 30,
        "only {keys} keys found: is the parser looking at src/config?"
    );
}

fn sections() -> Vec<Section> {
    let items = parse_items(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src"));
    let defaults = serde_json::to_value(cassflow::config::Config::default()).expect("serialize");
    let mut out = Vec::new();
    let Some(Item::Struct { doc, .. }) = items.get("Config") else {
        panic!("no `struct Config` found under src/config")
    };
    let mut top = Section {
        heading: "Top level".into(),
        doc: doc.clone(),
        rows: Vec::new(),
    };
    walk(&items, "Config", &[], &defaults, &mut top, &mut out);
    if !top.rows.is_empty() {
        out.insert(0, top);
    }
    out
}

/// Adds the rows of struct `name` (at `path`, with serialized `value`) to `section`, and a
/// new section to `out` for each nested struct or list of structs.
fn walk(
    items: &HashMap<String, Item>,
    name: &str,
    path: &[String],
    value: &Value,
    section: &mut Section,
    out: &mut Vec<Section>,
) {
    let Some(Item::Struct { fields, .. }) = items.get(name) else {
        panic!("config type `{name}` is not a struct found under src/")
    };
    // An optional section (`Option<Struct>`) unset by default has no default keys to
    // compare: its rows show "unset".
    let empty = serde_json::Map::new();
    let object = match value {
        Value::Null => &empty,
        other => other
            .as_object()
            .unwrap_or_else(|| panic!("default of `{name}` does not serialize to a table")),
    };
    let parsed: BTreeSet<&str> = fields.iter().map(|f| f.key.as_str()).collect();
    let serialized: BTreeSet<&str> = object.keys().map(String::as_str).collect();
    if !value.is_null() {
        assert_eq!(
            parsed, serialized,
            "keys parsed from `struct {name}` differ from its serialized default"
        );
    }
    let mut nested = Vec::new();
    // Keys inside a list entry, or inside a section of one, have no environment variable.
    let heading_path = section.heading.trim_matches(['[', ']']);
    let list_entry = section.heading.starts_with("[[");
    let in_list = list_entry || heading_path.contains("[]");
    let dotted_key = |key_path: &[String], key: &str| {
        if list_entry {
            format!("{}[].{key}", path.join("."))
        } else if in_list {
            format!("{heading_path}.{key}")
        } else {
            key_path.join(".")
        }
    };
    for field in fields {
        let mut key_path = path.to_vec();
        key_path.push(field.key.clone());
        let dotted = dotted_key(&key_path, &field.key);
        let default = object.get(&field.key).unwrap_or(&Value::Null);
        match describe(items, &field.ty, field.humantime) {
            Kind::Section(inner) => nested.push((field, key_path, inner, false, default)),
            Kind::List(inner) => nested.push((field, key_path, inner, true, default)),
            Kind::Value(ty) => section.rows.push(Row {
                key: dotted,
                ty,
                default: show(default),
                env: (!in_list)
                    .then(|| format!("CASSFLOW_{}", key_path.join("__").to_ascii_uppercase())),
                doc: field.doc.clone(),
            }),
        }
    }
    for (field, key_path, inner, list, default) in nested {
        let dotted = dotted_key(&key_path, &field.key);
        let struct_doc = match items.get(&inner) {
            Some(Item::Struct { doc, .. }) => doc.clone(),
            _ => String::new(),
        };
        // The field's doc says what the section is for here; the type's doc is the fallback.
        let doc = if field.doc.is_empty() {
            struct_doc
        } else {
            field.doc.clone()
        };
        let mut sub = Section {
            heading: if list {
                format!("[[{dotted}]]")
            } else {
                format!("[{dotted}]")
            },
            doc,
            rows: Vec::new(),
        };
        let value = if list {
            // Keys of a list entry are documented from the first default entry, or the
            // type's own default when the list is empty by default.
            default.get(0).cloned().unwrap_or(Value::Null)
        } else {
            default.clone()
        };
        let mut later = Vec::new();
        walk(items, &inner, &key_path, &value, &mut sub, &mut later);
        out.push(sub);
        out.extend(later);
    }
}

enum Kind {
    Value(String),
    Section(String),
    List(String),
}

fn last_segment(ty: &syn::Type) -> Option<&syn::PathSegment> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last(),
        _ => None,
    }
}

fn type_args(seg: &syn::PathSegment) -> Vec<&syn::Type> {
    match &seg.arguments {
        syn::PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|arg| match arg {
                syn::GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// What a user writes for a field of this Rust type.
fn describe(items: &HashMap<String, Item>, ty: &syn::Type, humantime: bool) -> Kind {
    let seg = last_segment(ty).unwrap_or_else(|| panic!("unsupported config field type"));
    let ident = seg.ident.to_string();
    let args = type_args(seg);
    let scalar = |kind: Kind| match kind {
        Kind::Value(v) => v,
        _ => panic!("`{ident}` of a table is not supported by the reference generator"),
    };
    let text = match ident.as_str() {
        "Option" => match describe(items, args[0], humantime) {
            // An optional section: documented as a section, unset by default.
            Kind::Section(inner) => return Kind::Section(inner),
            other => format!("{} (optional)", scalar(other)),
        },
        "Vec" => match describe(items, args[0], humantime) {
            Kind::Section(inner) => return Kind::List(inner),
            other => format!("array of {}", scalar(other)),
        },
        "BTreeMap" | "HashMap" => format!(
            "table of {}",
            scalar(describe(items, args[1], humantime))
        ),
        "String" => "string".into(),
        "bool" => "boolean".into(),
        "PathBuf" => "path".into(),
        "SocketAddr" => "address (`ip:port`)".into(),
        "Duration" if humantime => "duration (`500ms`, `10s`, `5m`)".into(),
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" => {
            "integer".into()
        }
        "f32" | "f64" => "number".into(),
        other => match items.get(other) {
            Some(Item::Struct { .. }) => return Kind::Section(other.into()),
            Some(Item::Enum { variants }) => {
                let names: Vec<String> = variants.iter().map(|(n, _)| format!("`{n}`")).collect();
                let docs: Vec<String> = variants
                    .iter()
                    .filter(|(_, d)| !d.is_empty())
                    .map(|(n, d)| format!("`{n}`: {d}"))
                    .collect();
                let mut text = format!("one of {}", names.join(", "));
                if !docs.is_empty() {
                    write!(text, "<br>{}", docs.join("<br>")).expect("write to String");
                }
                text
            }
            None => panic!(
                "config field type `{other}` is unknown to the reference generator (tests/config_reference.rs: describe)"
            ),
        },
    };
    Kind::Value(text)
}

fn show(value: &Value) -> String {
    match value {
        Value::Null => "unset".into(),
        Value::Object(m) if m.is_empty() => "`{}`".into(),
        Value::Array(a) if a.is_empty() => "`[]`".into(),
        other => format!("`{other}`"),
    }
}

/// Every `#[derive(Deserialize)]` struct and enum under `dir`, by name; a name defined twice
/// is taken from src/config/.
fn parse_items(dir: &Path) -> HashMap<String, Item> {
    let mut files = Vec::new();
    collect_rs(dir, &mut files);
    files.sort_by_key(|p| !p.to_string_lossy().contains("/src/config/"));
    let mut items = HashMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source");
        let ast = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{}: cannot parse: {e}", file.display()));
        for item in ast.items {
            let (name, parsed) = match item {
                syn::Item::Struct(s) if derives_deserialize(&s.attrs) => {
                    let rename_all = serde_attr(&s.attrs).rename_all;
                    let fields = s
                        .fields
                        .iter()
                        .filter_map(|f| field(f, rename_all.as_deref()))
                        .collect();
                    let doc = doc(&s.attrs);
                    (s.ident.to_string(), Item::Struct { doc, fields })
                }
                syn::Item::Enum(e) if derives_deserialize(&e.attrs) => {
                    let rename_all = serde_attr(&e.attrs).rename_all;
                    let variants = e
                        .variants
                        .iter()
                        .map(|v| {
                            let serde = serde_attr(&v.attrs);
                            let name = serde.rename.unwrap_or_else(|| {
                                rename(&v.ident.to_string(), rename_all.as_deref())
                            });
                            (name, doc(&v.attrs))
                        })
                        .collect();
                    (e.ident.to_string(), Item::Enum { variants })
                }
                _ => continue,
            };
            items.entry(name).or_insert(parsed);
        }
    }
    items
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn field(f: &syn::Field, rename_all: Option<&str>) -> Option<Field> {
    let serde = serde_attr(&f.attrs);
    if serde.skip {
        return None;
    }
    let ident = f.ident.as_ref()?.to_string();
    Some(Field {
        key: serde.rename.unwrap_or_else(|| rename(&ident, rename_all)),
        ty: f.ty.clone(),
        doc: doc(&f.attrs),
        humantime: serde.with.as_deref() == Some("humantime_serde"),
    })
}

#[derive(Default)]
struct SerdeAttr {
    rename: Option<String>,
    rename_all: Option<String>,
    with: Option<String>,
    skip: bool,
}

fn serde_attr(attrs: &[syn::Attribute]) -> SerdeAttr {
    let mut out = SerdeAttr::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            let name = meta
                .path
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default();
            let value = if meta.input.peek(syn::Token![=]) {
                Some(meta.value()?.parse::<syn::LitStr>()?.value())
            } else {
                None
            };
            match name.as_str() {
                "rename" => out.rename = value,
                "rename_all" => out.rename_all = value,
                "with" => out.with = value,
                "skip" | "skip_deserializing" => out.skip = true,
                "flatten" => {
                    panic!("#[serde(flatten)] is not supported by the reference generator")
                }
                _ => {}
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("cannot read a #[serde] attribute: {e}"));
    }
    out
}

fn rename(name: &str, rule: Option<&str>) -> String {
    let snake = || {
        let mut s = String::new();
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                s.push('_');
            }
            s.push(c.to_ascii_lowercase());
        }
        s
    };
    match rule {
        None => name.to_string(),
        Some("lowercase") => name.to_ascii_lowercase(),
        Some("snake_case") => snake(),
        Some("SCREAMING_SNAKE_CASE") => snake().to_ascii_uppercase(),
        Some("kebab-case") => snake().replace('_', "-"),
        Some(other) => panic!("rename_all = {other:?} is not supported by the reference generator"),
    }
}

fn derives_deserialize(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .any(|a| {
            let mut found = false;
            let _ = a.parse_nested_meta(|meta| {
                found |= meta
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "Deserialize");
                Ok(())
            });
            found
        })
}

/// The `///` comment as one paragraph of text.
fn doc(attrs: &[syn::Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    lines
        .iter()
        .filter(|l| !l.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn render(sections: &[Section]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Configuration reference\n\n\
         <!-- Generated from the types in src/config by tests/config_reference.rs; do not edit.\n     \
         Regenerate: {REGENERATE} -->\n\n\
         cassflow reads one TOML file: `cassflow.toml` in the working directory, or the file given\n\
         by `--config PATH` (or `CASSFLOW_CONFIG`). Every key has a default, so an empty file (or\n\
         none) is valid, and unknown keys are rejected by name. Environment variables override the\n\
         file: `CASSFLOW_` plus the key's path in upper case with `__` between levels, e.g.\n\
         `CASSFLOW_KAFKA__BOOTSTRAP=broker:9092`; a table as an inline table, e.g.\n\
         `CASSFLOW_KAFKA__PROPERTIES='{{\"security.protocol\"=\"SASL_SSL\"}}'`. Entries of\n\
         `[[pipelines]]` are set in the file.\n\
         `cassflow config` prints the effective configuration.\n"
    );
    for s in sections {
        let _ = writeln!(md, "## `{}`\n", s.heading);
        if !s.doc.is_empty() {
            let _ = writeln!(md, "{}\n", s.doc);
        }
        if s.rows.is_empty() {
            continue;
        }
        let _ = writeln!(md, "| key | type | default | meaning |");
        let _ = writeln!(md, "| --- | --- | --- | --- |");
        for r in &s.rows {
            let env = r
                .env
                .as_ref()
                .map(|e| format!("<br>env: `{e}`"))
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {}{} |",
                r.key,
                cell(&r.ty),
                cell(&r.default),
                cell(&r.doc),
                env
            );
        }
        md.push('\n');
    }
    md
}
