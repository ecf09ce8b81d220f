//! The values cassflow hands to librdkafka and to the CQL driver, checked against what those
//! clients accept, so that a bad value fails `cassflow config` naming our key and the allowed
//! range instead of failing every later command with the client's own message (e.g.
//! librdkafka's "value 500 is outside allowed range 1000..2147483647" for
//! `kafka.request_timeout = "500ms"`).
//!
//! Ranges are librdkafka's (CONFIGURATION.md of the vendored 2.x): `kafka.request_timeout`
//! becomes `socket.connection.setup.timeout.ms` (1000..=2147483647 ms), `producer.linger`
//! `linger.ms` (0..=900000), `producer.batch_bytes` `batch.size` (1..=2147483647) and
//! `producer.delivery_timeout` `message.timeout.ms` (must exceed `linger.ms`). Extra
//! `kafka.properties` are given to librdkafka one by one, which checks name and value
//! without contacting a broker.

use super::{Config, ConfigError};
use std::time::Duration;

const INT_MAX_MS: u128 = i32::MAX as u128;

fn invalid(key: &str, problem: String, fix: String) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        origin: "the configuration".into(),
        problem,
        fix,
    }
}

/// `d` within `min..=max` milliseconds, else an error naming `key` and the range.
fn ms_in(key: &str, d: Duration, min: u128, max: u128, example: &str) -> Result<(), ConfigError> {
    let ms = d.as_millis();
    if (min..=max).contains(&ms) {
        return Ok(());
    }
    Err(invalid(
        key,
        format!(
            "{} is outside what the client accepts ({} to {})",
            humantime::format_duration(d),
            humantime::format_duration(Duration::from_millis(min as u64)),
            humantime::format_duration(Duration::from_millis(max as u64)),
        ),
        format!("use a duration in that range, e.g. `{example}`"),
    ))
}

/// A duration that must not be zero (a zero timeout fails every request at once).
fn positive(key: &str, d: Duration, example: &str) -> Result<(), ConfigError> {
    if d.is_zero() {
        return Err(invalid(
            key,
            "0s would fail every request at once".into(),
            format!("use a positive duration, e.g. `{example}`"),
        ));
    }
    Ok(())
}

impl Config {
    /// Every value passed to librdkafka or the CQL driver is one they accept.
    pub(super) fn check_client_limits(&self) -> Result<(), ConfigError> {
        ms_in(
            "kafka.request_timeout",
            self.kafka.request_timeout,
            1000,
            INT_MAX_MS,
            "10s",
        )?;
        ms_in("producer.linger", self.producer.linger, 0, 900_000, "5ms")?;
        ms_in(
            "producer.delivery_timeout",
            self.producer.delivery_timeout,
            1,
            INT_MAX_MS,
            "30s",
        )?;
        if self.producer.delivery_timeout.as_millis() <= self.producer.linger.as_millis() {
            return Err(invalid(
                "producer.delivery_timeout",
                format!(
                    "{} is not longer than producer.linger ({}), which librdkafka refuses",
                    humantime::format_duration(self.producer.delivery_timeout),
                    humantime::format_duration(self.producer.linger)
                ),
                "make it longer than producer.linger, e.g. `30s`".into(),
            ));
        }
        if !(1..=i32::MAX as u32).contains(&self.producer.batch_bytes) {
            return Err(invalid(
                "producer.batch_bytes",
                format!(
                    "{} is outside what librdkafka accepts (1 to {})",
                    self.producer.batch_bytes,
                    i32::MAX
                ),
                "use e.g. 1000000".into(),
            ));
        }
        positive(
            "cassandra.request_timeout",
            self.cassandra.request_timeout,
            "12s",
        )?;
        positive("source.timeout", self.source.timeout, "10s")?;
        for (name, value) in &self.kafka.properties {
            let mut one = rdkafka::ClientConfig::new();
            one.set(name, value);
            if let Err(e) = one.create_native_config() {
                let shown = if super::secrets::is_secret_name(name) {
                    super::secrets::REDACTED
                } else {
                    value.as_str()
                };
                return Err(invalid(
                    &format!("kafka.properties.\"{name}\""),
                    format!("librdkafka refuses `{name}` = `{shown}`: {e}"),
                    "see librdkafka's CONFIGURATION.md for the property's name and range, e.g. `security.protocol = \"sasl_plaintext\"`".into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(c: &Config) -> Option<String> {
        c.check_client_limits()
            .err()
            .and_then(|e| e.key().map(str::to_owned))
    }

    #[test]
    fn defaults_pass() {
        assert_eq!(key_of(&Config::default()), None);
    }

    #[test]
    fn values_librdkafka_refuses_are_named() {
        let mut c = Config::default();
        c.kafka.request_timeout = Duration::from_millis(500);
        assert_eq!(key_of(&c).as_deref(), Some("kafka.request_timeout"));
        let text = c
            .check_client_limits()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.contains("500ms") && text.contains("1s"), "{text}");

        let mut c = Config::default();
        c.producer.linger = Duration::from_secs(901);
        assert_eq!(key_of(&c).as_deref(), Some("producer.linger"));

        let mut c = Config::default();
        c.producer.delivery_timeout = Duration::from_millis(5);
        assert_eq!(key_of(&c).as_deref(), Some("producer.delivery_timeout"));

        let mut c = Config::default();
        c.producer.batch_bytes = 0;
        assert_eq!(key_of(&c).as_deref(), Some("producer.batch_bytes"));

        let mut c = Config::default();
        c.cassandra.request_timeout = Duration::ZERO;
        assert_eq!(key_of(&c).as_deref(), Some("cassandra.request_timeout"));
    }

    #[test]
    fn kafka_properties_are_checked_by_librdkafka() {
        let mut c = Config::default();
        c.kafka
            .properties
            .insert("security.protocol".into(), "sasl_plaintext".into());
        assert_eq!(key_of(&c), None);
        c.kafka
            .properties
            .insert("socket.timeout.ms".into(), "5".into());
        assert_eq!(
            key_of(&c).as_deref(),
            Some("kafka.properties.\"socket.timeout.ms\"")
        );
        let mut c = Config::default();
        c.kafka
            .properties
            .insert("no.such.thing".into(), "1".into());
        assert_eq!(
            key_of(&c).as_deref(),
            Some("kafka.properties.\"no.such.thing\"")
        );
    }
}
