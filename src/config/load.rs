//! Loading the configuration: `cassflow.toml` (or `--config PATH`), then `CASSFLOW_*`
//! environment variables on top (`CASSFLOW_KAFKA__BOOTSTRAP=host:9092` sets `kafka.bootstrap`).
//! Every failure names the key, where its value came from, and what to do.

use super::Config;
use figment::error::Kind;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use std::path::{Path, PathBuf};

/// Environment variables with this prefix override config keys; `__` separates levels.
pub const ENV_PREFIX: &str = "CASSFLOW_";

/// Environment variables with the prefix that are not config keys (read by the CLI itself).
const NON_CONFIG_ENV: &[&str] = &["config", "log"];

/// The file read when `--config` is not given, if it exists in the working directory.
pub const DEFAULT_FILE: &str = "cassflow.toml";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("config file {path} does not exist (fix: pass an existing file to --config, or omit --config to use the defaults)")]
    MissingFile { path: PathBuf },
    /// A key that is not part of the configuration.
    #[error(
        "unknown config key `{key}` in {origin} (fix: remove it; valid keys here: {expected})"
    )]
    UnknownKey {
        key: String,
        origin: String,
        expected: String,
    },
    /// A key whose value cannot be used.
    #[error("invalid config key `{key}` in {origin}: {problem} (fix: {fix})")]
    Invalid {
        key: String,
        origin: String,
        problem: String,
        fix: String,
    },
    /// A file that is not TOML: where, and what the parser expected there.
    #[error("{origin} is not valid TOML: {problem} (fix: correct the syntax there; docs/configuration.md shows every key with an example)")]
    Syntax { origin: String, problem: String },
}

impl ConfigError {
    /// The dotted name of the offending key, if the error is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::MissingFile { .. } | ConfigError::Syntax { .. } => None,
            ConfigError::UnknownKey { key, .. } | ConfigError::Invalid { key, .. } => Some(key),
        }
    }
}

/// Loads the configuration from `path` (or `./cassflow.toml` when present) and the
/// `CASSFLOW_*` environment, then validates it.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    match path {
        Some(p) if !p.exists() => {
            return Err(ConfigError::MissingFile {
                path: p.to_path_buf(),
            })
        }
        Some(p) => figment = figment.merge(Toml::file_exact(p)),
        None if Path::new(DEFAULT_FILE).exists() => {
            figment = figment.merge(Toml::file_exact(DEFAULT_FILE))
        }
        None => {}
    }
    with_env_and_validated(figment)
}

/// Loads the configuration from TOML text instead of a file, with the `CASSFLOW_*`
/// environment on top, exactly as [`load`] does (for the fuzz target of the loader).
#[doc(hidden)]
pub fn load_str(text: &str) -> Result<Config, ConfigError> {
    with_env_and_validated(
        Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)),
    )
}

fn with_env_and_validated(figment: Figment) -> Result<Config, ConfigError> {
    refuse_values_figment_cannot_read()?;
    let figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__").ignore(NON_CONFIG_ENV));
    let config: Config = figment.extract().map_err(from_figment)?;
    config.validate().map_err(one_line)?;
    Ok(config)
}

/// figment 0.10 indexes a quoted value's text by characters where it means bytes: a
/// backslash escape after a non-ASCII character (`CASSFLOW_WEB__PASSWORD='"pässwörd\\n"'`)
/// makes it panic, or silently read a different value (here `pässw` and a newline). Found by fuzzing (fuzz/fuzz_targets/config_load.rs); such a value is
/// refused here, naming the variable, before figment reads it.
fn refuse_values_figment_cannot_read() -> Result<(), ConfigError> {
    for (name, value) in std::env::vars_os() {
        let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
            continue;
        };
        let Some(key) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if NON_CONFIG_ENV.iter().any(|k| key.eq_ignore_ascii_case(k)) {
            continue;
        }
        if figment_would_panic(value) {
            return Err(ConfigError::Invalid {
                key: key.to_ascii_lowercase().replace("__", "."),
                origin: format!("environment variable {name}"),
                problem: "a quoted value with a backslash escape after a non-ASCII character \
                          cannot be read"
                    .into(),
                fix: "leave the value unquoted, or write the non-ASCII characters as \\u escapes \
                      (e.g. \"p\\u00e4ss\\n\")"
                    .into(),
            });
        }
    }
    Ok(())
}

/// Whether a backslash comes after a non-ASCII character in a value with a quote: where
/// figment's string unescaping would cut the text off a character boundary.
fn figment_would_panic(value: &str) -> bool {
    value.contains('"')
        && value
            .char_indices()
            .enumerate()
            .any(|(chars, (bytes, c))| c == '\\' && chars != bytes)
}

/// A user's message is one line: line breaks and other control characters that came from
/// a value (a string with a newline) or from a parser's report are shown escaped.
pub(super) fn one_line(err: ConfigError) -> ConfigError {
    let clean = |s: String| -> String {
        if !s.chars().any(char::is_control) {
            return s;
        }
        s.chars()
            .map(|c| match c {
                c if c.is_control() => c.escape_default().to_string(),
                c => c.to_string(),
            })
            .collect()
    };
    match err {
        ConfigError::MissingFile { path } => ConfigError::MissingFile { path },
        ConfigError::Syntax { origin, problem } => ConfigError::Syntax {
            origin: clean(origin),
            problem: clean(problem),
        },
        ConfigError::UnknownKey {
            key,
            origin,
            expected,
        } => ConfigError::UnknownKey {
            key: clean(key),
            origin: clean(origin),
            expected: clean(expected),
        },
        ConfigError::Invalid {
            key,
            origin,
            problem,
            fix,
        } => ConfigError::Invalid {
            key: clean(key),
            origin: clean(origin),
            problem: clean(problem),
            fix: clean(fix),
        },
    }
}

/// A TOML parser's report (`TOML parse error at line 2, column 5`, a source excerpt with a
/// caret, then what was expected) as one line: the position and the expectation.
fn parser_report(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| {
            let gutter = l
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start();
            !l.is_empty() && !gutter.starts_with('|')
        })
        .collect::<Vec<_>>()
        .join(": ")
}

fn from_figment(err: figment::Error) -> ConfigError {
    one_line(from_figment_raw(err))
}

fn from_figment_raw(err: figment::Error) -> ConfigError {
    let origin = match &err.metadata {
        Some(meta) if meta.source.is_none() && meta.name.contains(ENV_PREFIX) => {
            // Environment values have no source file; name the variable itself.
            format!(
                "environment variable {ENV_PREFIX}{}",
                err.path.join("__").to_ascii_uppercase()
            )
        }
        Some(meta) => match &meta.source {
            Some(source) => source.to_string(),
            None => meta.name.to_string(),
        },
        None => "the configuration".to_string(),
    };
    let mut key = key_path(&err.path);
    match &err.kind {
        Kind::UnknownField(field, expected) => {
            // figment's path sometimes ends with the field already.
            if err.path.last() != Some(field) {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(field);
            }
            ConfigError::UnknownKey {
                key,
                origin,
                expected: expected.join(", "),
            }
        }
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            let (what, example) = expected_words(expected);
            ConfigError::Invalid {
                key,
                origin,
                problem: format!("found {actual}, expected {what}"),
                fix: format!("give it {what}, e.g. {example}"),
            }
        }
        Kind::UnknownVariant(actual, expected) => ConfigError::Invalid {
            key,
            origin,
            problem: format!("`{actual}` is not one of {}", expected.join(", ")),
            fix: format!(
                "use one of {}, e.g. `\"{}\"`",
                expected.join(", "),
                expected.first().copied().unwrap_or_default()
            ),
        },
        // A value figment cannot place under a key is the file's syntax (TOML reports it
        // with a position), not a key's.
        Kind::Message(text) if key.is_empty() => ConfigError::Syntax {
            origin,
            problem: parser_report(text),
        },
        Kind::Message(text) if text.contains("socket address") => ConfigError::Invalid {
            key,
            origin,
            problem:
                "is not an IP address and port (a host name such as `localhost` is not accepted)"
                    .into(),
            fix: "give an IP:port, e.g. `127.0.0.1:8080` or `0.0.0.0:8080`".into(),
        },
        other => ConfigError::Invalid {
            key,
            origin,
            problem: parser_report(&other.to_string()),
            fix: "see docs/configuration.md for the key's type and default".into(),
        },
    }
}

/// figment's path (`["pipelines", "0", "topic"]`) written as the validation writes keys:
/// `pipelines[0].topic`.
fn key_path(path: &[String]) -> String {
    let mut key = String::new();
    for part in path {
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) && !key.is_empty() {
            key.push_str(&format!("[{part}]"));
        } else {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(part);
        }
    }
    key
}

/// What serde calls the expected type (`usize`, `a duration`), in words a user knows, with
/// an example value.
fn expected_words(expected: &str) -> (String, &'static str) {
    let words = |w: &str| w.to_string();
    match expected.trim() {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => (words("a whole number"), "256"),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => (words("a whole number"), "6"),
        "f32" | "f64" => (words("a number"), "0.5"),
        "a boolean" => (words("true or false"), "true"),
        "a duration" => (words("a duration"), "\"30s\", \"5m\" or \"1h30m\""),
        "a string" => (words("text"), "\"users_created\""),
        "a sequence" => (words("a list"), "[\"a\", \"b\"]"),
        "a map" => (words("a table of keys"), "{ key = \"value\" }"),
        "socket address" | "a socket address" => (words("an IP:port"), "\"127.0.0.1:8080\""),
        other => (other.to_string(), "the example in docs/configuration.md"),
    }
}
