//! How an error is shown to a user: one line, its chain of causes joined by `: `, each
//! distinct part once. Most of cassflow's errors already write their cause into their own
//! message (`cannot connect to Cassandra at ...: <cause> (fix: ...)`) and also return it as
//! their `source()`; printing every source after it would repeat the cause once per level.
//! This module owns only the rendering; what each error says is its own.

use std::error::Error;

/// `err` and its causes on one line, leaving out a cause whose text the line already holds.
pub fn render(err: &(dyn Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("pool is broken: connection refused")]
    struct Root;

    #[derive(Debug, thiserror::Error)]
    #[error("metadata fetch failed: {0}")]
    struct Middle(#[source] Root);

    #[derive(Debug, thiserror::Error)]
    #[error("cannot connect to Cassandra at h:1: {0} (fix: start it)")]
    struct Top(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("cannot count rows")]
    struct Bare(#[source] Root);

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let line = render(&Top(Middle(Root)));
        assert_eq!(
            line,
            "cannot connect to Cassandra at h:1: metadata fetch failed: pool is broken: connection refused (fix: start it)"
        );
        assert_eq!(line.matches("connection refused").count(), 1, "{line}");
    }

    #[test]
    fn a_cause_not_in_the_message_is_appended() {
        assert_eq!(
            render(&Bare(Root)),
            "cannot count rows: pool is broken: connection refused"
        );
    }

    #[test]
    fn anyhow_context_keeps_its_cause() {
        let err = anyhow::Error::new(Top(Middle(Root))).context("check rows");
        let line = render(err.as_ref());
        assert!(line.starts_with("check rows: cannot connect"), "{line}");
        assert_eq!(line.matches("connection refused").count(), 1, "{line}");
    }
}
