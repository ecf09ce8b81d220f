//! The integration-test harness: a live Kafka and Cassandra from the local stack, started
//! once per test run (idempotently, under the stack's lock, so parallel test binaries share
//! one), and unique topic and keyspace names so tests run in parallel on it.
//!
//! `scripts/dev test` starts the stack before `cargo test` and stops it after; a plain
//! `cargo test` starts it here on first use and leaves it running for the next run.

#![allow(dead_code)] // each test binary uses a different part of the harness

use cassflow::config::Config;
use cassflow::local::LocalStack;
use std::path::{Path, PathBuf};
use tokio::sync::OnceCell;

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The test stack's config file: `CASSFLOW_TEST_CONFIG` or `tests/stack.toml`.
pub fn stack_config_path() -> PathBuf {
    std::env::var_os("CASSFLOW_TEST_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tests/stack.toml"))
}

/// The test stack's configuration, with its data dir made absolute.
pub fn stack_config() -> Config {
    let path = stack_config_path();
    let mut config = match cassflow::config::load(Some(&path)) {
        Ok(c) => c,
        Err(e) => panic!("test stack config {}: {e}", path.display()),
    };
    if config.local.data_dir.is_relative() {
        config.local.data_dir = repo_root().join(&config.local.data_dir);
    }
    config
}

static STACK: OnceCell<Config> = OnceCell::const_new();

/// A running Kafka and Cassandra; the returned config points at them.
pub async fn stack() -> Config {
    STACK
        .get_or_init(|| async {
            let config = stack_config();
            let stack = LocalStack::new(&config);
            if let Err(e) = stack.start().await {
                panic!("the test stack did not start: {e}");
            }
            config
        })
        .await
        .clone()
}

/// A name no other test uses: `prefix_` plus 12 random hex digits (valid as a topic, a
/// keyspace and a table name).
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..12])
}

/// The built `cassflow` binary.
pub fn cassflow_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_cassflow"))
}
