//! JSON lines from standard input (or any reader): one record per line, validated with the
//! same decoder the stream job uses. Invalid lines are reported with their line number and
//! not sent; `--raw` mode passes lines through untouched, for testing dead-letter handling
//! and for parity with Kafka's console producer.

use crate::record::{DecodeError, UserRecord};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One line of input, read and judged.
#[derive(Debug)]
pub enum Line {
    /// A valid record.
    Record(UserRecord),
    /// A line that is not a record; `number` counts from 1.
    Invalid { number: u64, error: DecodeError },
    /// The line's bytes as they are (raw mode).
    Raw(Vec<u8>),
}

/// Reads lines from a reader. Blank lines are skipped, as Kafka's console producer does.
pub struct LineReader<R> {
    reader: R,
    raw: bool,
    number: u64,
    buf: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(reader: R, raw: bool) -> Self {
        LineReader {
            reader,
            raw,
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
            if self.raw {
                return Ok(Some(Line::Raw(line.to_vec())));
            }
            return Ok(Some(match UserRecord::decode(line) {
                Ok((record, _)) => Line::Record(record),
                Err(error) => Line::Invalid {
                    number: self.number,
                    error,
                },
            }));
        }
    }
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
                Line::Raw(_) => unreachable!("not raw mode"),
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
}
