//! The other engines cassflow is measured against, and their installation: Spark
//! Structured Streaming ([`spark`]), Kafka Connect with Apache Camel's CQL sink
//! ([`connect`]), and the on-demand install of their jars and the bench venv into the
//! bench cache ([`install`]).

pub mod connect;
pub mod install;
pub mod spark;
