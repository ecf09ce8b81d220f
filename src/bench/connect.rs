//! Kafka Connect: the bench would run Kafka's own connect-runtime (standalone mode, the same
//! Kafka version as the broker, from Maven Central) with a Cassandra sink connector. No
//! Cassandra sink connector is published on Maven Central, so the peer is reported as
//! skipped, with exactly what was looked for (`docs/benchmarks.md` repeats it).

/// The coordinates tried with `mvn dependency:get` against Maven Central, none found.
pub const TRIED: &[&str] = &[
    "com.datastax.oss:kafka-connect-cassandra-sink:1.4.0 (DataStax; distributed as a tarball outside Maven Central)",
    "com.datastax.oss:kafka-connect-cassandra-sink:1.5.0",
    "org.apache.camel.kafkaconnector:camel-cassandra-sink-kafka-connector:4.11.0 (Apache Camel)",
    "org.apache.camel.kafkaconnector:camel-cassandra-sink-kafka-connector:3.20.6",
    "org.apache.camel.kafkaconnector:camel-cql-kafka-connector:0.11.5",
    "com.datamountaineer:kafka-connect-cassandra:1.2.3 (Lenses stream-reactor; released on GitHub)",
    "solutions.a2.cassandra:a2-cassandra-kafka-connect:1.1.0",
];

/// Why the Kafka Connect peer has no figures.
pub fn unavailable_reason() -> String {
    format!(
        "no Cassandra sink connector for Kafka Connect is on Maven Central (connect-runtime 3.9.1 is; tried: {})",
        TRIED.join("; ")
    )
}
