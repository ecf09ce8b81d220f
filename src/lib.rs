//! cassflow streams records from Kafka into Cassandra: a randomuser-compatible source and
//! producer, a stream job with at-least-once delivery, a scheduler, a web UI, and a local
//! stack of real Apache Kafka and Apache Cassandra for development and tests.
//!
//! The binary (`src/main.rs`) is a thin shell over these modules; everything it does can be
//! driven from tests through this library.

pub mod bench;
pub mod cassandra;
pub mod checks;
pub mod config;
pub mod error_line;
pub mod import_connector;
pub mod json;
pub mod kafka;
pub mod local;
pub mod produce;
pub mod record;
pub mod registry;
pub mod scheduler;
pub mod source;
pub mod stream;
pub mod telemetry;
pub mod up;
pub mod web;
