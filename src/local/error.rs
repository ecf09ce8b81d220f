//! What can go wrong running the local stack; each message names the server or node, the
//! key or log to look at, and the fix.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    #[error("{tool} not found (fix: {install}, or set {key} to its path)")]
    ToolMissing {
        tool: String,
        key: String,
        install: String,
    },
    #[error("{java} is Java {found}, but {server} needs Java {needs} or newer (fix: set {key} to the java of a JDK {needs} or newer, e.g. /usr/lib/jvm/temurin-25-jdk-amd64/bin/java)")]
    JavaTooOld {
        java: String,
        found: String,
        needs: u32,
        server: String,
        key: String,
    },
    #[error("could not resolve {server} {version} from Maven Central: {hint} (log: {log})")]
    Resolve {
        server: String,
        version: String,
        log: PathBuf,
        hint: String,
    },
    #[error("port {port} for {what} is already in use by another process (fix: stop that process, or set {key} to a free port)")]
    PortTaken {
        what: String,
        port: u16,
        key: String,
    },
    #[error("{server} exited during start{detail} (log: {log})")]
    Exited {
        server: String,
        detail: String,
        log: PathBuf,
    },
    #[error("{server} did not answer within {timeout:?} (fix: read the log, or raise local.start_timeout) (log: {log})")]
    StartTimeout {
        server: String,
        timeout: Duration,
        log: PathBuf,
    },
    #[error("{server} failed to prepare: {detail} (log: {log})")]
    Prepare {
        server: String,
        detail: String,
        log: PathBuf,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} must be a loopback host:port to run locally, but is `{value}` (fix: point it at 127.0.0.1 or localhost, or run your own server)")]
    NotLocal { what: String, value: String },
}

impl LocalError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        LocalError::Io {
            context: context.into(),
            source,
        }
    }
}
