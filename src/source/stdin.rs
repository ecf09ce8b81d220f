//! JSON lines from standard input (or any reader): one record per line, validated with the
//! same decoder the stream job uses. Invalid lines are reported with their line number and
//! not sent; `--raw` mode passes lines through untouched, for testing dead-letter handling
//! and for parity with Kafka's console producer. A `json` pipeline's lines (`produce
//! --pipeline`) must each be a JSON object and are keyed by the pipeline's `key` path.

use crate::produce::key::KeyPath;
use crate::record::{DecodeError, UserRecord};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One line of input, read and judged.
#[derive(Debug)]
pub enum Line {
    /// A valid users record.
    Record(UserRecord),
    /// A JSON object for a `json` pipeline: the line as it is, and its key (if one is set).
    Keyed {
        key: Option<Vec<u8>>,
        value: Vec<u8>,
    },
    /// A line that is not a record; `number` counts from 1.
    Invalid { number: u64, error: LineError },
    /// The line's bytes as they are (raw mode).
    Raw(Vec<u8>),
}

/// Why a line was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// Not a users record.
    #[error(transparent)]
    Record(#[from] DecodeError),
    /// Not a JSON object.
    #[error("{detail}")]
    Json {
        reason: &'static str,
        detail: String,
    },
    /// The pipeline's key path has no value in the line.
    #[error("{0}")]
    Key(String),
}

impl LineError {
    /// A short machine-readable reason (`invalid_json`, `missing_field`, `missing_key`, ...).
    pub fn reason(&self) -> &'static str {
        match self {
            LineError::Record(e) => e.reason(),
            LineError::Json { reason, .. } => reason,
            LineError::Key(_) => "missing_key",
        }
    }
}

/// How lines are judged.
#[derive(Debug, Clone)]
pub enum LineMode {
    /// The users record, keyed by id.
    Users,
    /// Any JSON object, keyed by the path (no key when `None`).
    Json(Option<KeyPath>),
    /// Untouched, no key.
    Raw,
}

/// Reads lines from a reader. Blank lines are skipped, as Kafka's console producer does.
pub struct LineReader<R> {
    reader: R,
    mode: LineMode,
    number: u64,
    buf: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Users records, or raw lines.
    pub fn new(reader: R, raw: bool) -> Self {
        Self::with_mode(reader, if raw { LineMode::Raw } else { LineMode::Users })
    }

    pub fn with_mode(reader: R, mode: LineMode) -> Self {
        LineReader {
            reader,
            mode,
            number: 0,
            buf: Vec::with_capacity(1024),
        }
    }

    /// The next line, or `None` at the end of input.
    pub async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            self.buf.clear();
            if self.reader.read_until(b'\n', &mut self.buf).await? == 0 {
                return Ok(None);
            }
            self.number += 1;
            let mut line: &[u8] = &self.buf;
            while let [rest @ .., b'\n' | b'\r'] = line {
                line = rest;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let judged = match &self.mode {
                LineMode::Raw => return Ok(Some(Line::Raw(line.to_vec()))),
                LineMode::Users => UserRecord::decode(line)
                    .map(|(record, _)| Line::Record(record))
                    .map_err(LineError::from),
                LineMode::Json(key) => json_line(line, key.as_ref()),
            };
            return Ok(Some(judged.unwrap_or_else(|error| Line::Invalid {
                number: self.number,
                error,
            })));
        }
    }
}

/// A `json` pipeline's line: a JSON object, keyed by `key`.
fn json_line(line: &[u8], key: Option<&KeyPath>) -> Result<Line, LineError> {
    let value: serde_json::Value = crate::json::from_slice(line).map_err(|e| LineError::Json {
        reason: "invalid_json",
        detail: format!("not JSON: {e}"),
    })?;
    if !value.is_object() {
        return Err(LineError::Json {
            reason: "not_an_object",
            detail: "not a JSON object (a json pipeline takes one object per line)".into(),
        });
    }
    let key = match key {
        Some(path) => Some(path.key_of(&value).map_err(LineError::Key)?),
        None => None,
    };
    Ok(Line::Keyed {
        key,
        value: line.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::generator::Generator;

    #[tokio::test]
    async fn reports_bad_lines_by_number_and_keeps_good_ones() {
        let good = Generator::new(Some("stdin")).batch(2);
        let input = format!(
            "{}\n\nnot json\r\n{}\n{{\"id\":\"x\"}}\n\u{0}",
            good[0].to_json(),
            good[1].to_json()
        );
        let mut reader = LineReader::new(input.as_bytes(), false);
        let mut seen = Vec::new();
        while let Some(line) = reader.next_line().await.unwrap() {
            seen.push(match line {
                Line::Record(r) => format!("ok {}", r.id),
                Line::Invalid { number, error } => format!("{number} {}", error.reason()),
                Line::Raw(_) | Line::Keyed { .. } => unreachable!("users mode"),
            });
        }
        assert_eq!(
            seen,
            vec![
                format!("ok {}", good[0].id),
                "3 invalid_json".to_string(),
                format!("ok {}", good[1].id),
                "5 bad_uuid".to_string(),
                "6 invalid_json".to_string(),
            ]
        );
    }

    #[tokio::test]
    async fn raw_mode_passes_lines_through() {
        let mut reader = LineReader::new(&b"a b\r\n\n{\"x\":1}"[..], true);
        let mut seen = Vec::new();
        while let Some(Line::Raw(bytes)) = reader.next_line().await.unwrap() {
            seen.push(String::from_utf8(bytes).unwrap());
        }
        assert_eq!(seen, vec!["a b", "{\"x\":1}"]);
    }

    #[tokio::test]
    async fn json_mode_keys_objects_and_reports_the_rest_by_number() {
        let key = KeyPath::parse("value.order_id").unwrap();
        let input = "{\"order_id\": \"o-1\", \"total\": 12.5}\n[1]\n{\"total\": 1}\nnope\n{\"order_id\": 7}\n";
        let mut reader = LineReader::with_mode(input.as_bytes(), LineMode::Json(Some(key)));
        let mut seen = Vec::new();
        while let Some(line) = reader.next_line().await.unwrap() {
            seen.push(match line {
                Line::Keyed { key, value } => format!(
                    "{} {}",
                    String::from_utf8(key.unwrap()).unwrap(),
                    String::from_utf8(value).unwrap()
                ),
                Line::Invalid { number, error } => format!("{number} {}", error.reason()),
                other => unreachable!("{other:?}"),
            });
        }
        assert_eq!(
            seen,
            vec![
                "o-1 {\"order_id\": \"o-1\", \"total\": 12.5}",
                "2 not_an_object",
                "3 missing_key",
                "4 invalid_json",
                "7 {\"order_id\": 7}",
            ]
        );
    }
}
