//! Producing users to Kafka: the idempotent [`producer`] and (with the sources of issue 4)
//! the `cassflow produce` command's loop.

pub mod producer;
