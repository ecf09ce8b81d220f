//! Which configuration values are secrets, in one place: `cassflow config` hides them
//! unless `--show-secrets` ([`Config::redacted`]), and the scheduler's shell tasks do not
//! inherit the environment variables that carry them ([`is_secret_env`]).
//!
//! A secret is `web.password`, `web.api_token`, `cassandra.password`, and every Kafka
//! client property (and local broker property) whose name says it holds one: it contains
//! `password`, `secret`, `token`, `jaas` (a JAAS line embeds a password) or is a private
//! key given inline (`ssl.key.pem`).

use super::{Config, ENV_PREFIX};

/// What a hidden value is replaced with.
pub const REDACTED: &str = "<redacted: pass --show-secrets to see it>";

/// True when a property or key name (any case, `.` or `_` separated) names a secret.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('_', ".");
    ["password", "secret", "token", "jaas", "ssl.key.pem"]
        .iter()
        .any(|word| name.contains(word))
}

/// True for a `CASSFLOW_*` environment variable that sets a secret config value
/// (`CASSFLOW_WEB__PASSWORD`, `CASSFLOW_KAFKA__PROPERTIES__SASL.PASSWORD`, ...).
pub fn is_secret_env(var: &str) -> bool {
    var.get(..ENV_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
        && is_secret_name(&var[ENV_PREFIX.len()..])
}

impl Config {
    /// A copy with every secret replaced by [`REDACTED`] (unset optional ones stay unset).
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        let hide = |v: &mut String| {
            if !v.is_empty() {
                *v = REDACTED.into();
            }
        };
        hide(&mut c.web.password);
        if let Some(t) = c.web.api_token.as_mut() {
            hide(t);
        }
        if let Some(p) = c.cassandra.password.as_mut() {
            hide(p);
        }
        for map in [&mut c.kafka.properties, &mut c.local.kafka_properties] {
            for (k, v) in map.iter_mut() {
                if is_secret_name(k) {
                    hide(v);
                }
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for name in [
            "sasl.password",
            "ssl.key.password",
            "ssl.keystore.password",
            "sasl.oauthbearer.client.secret",
            "sasl.jaas.config",
            "ssl.key.pem",
            "WEB__PASSWORD",
            "web__api_token",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["security.protocol", "ssl.key.location", "sasl.username"] {
            assert!(!is_secret_name(name), "{name}");
        }
        assert!(is_secret_env("CASSFLOW_WEB__PASSWORD"));
        assert!(is_secret_env("CASSFLOW_KAFKA__PROPERTIES__SASL.PASSWORD"));
        assert!(!is_secret_env("CASSFLOW_KAFKA__BOOTSTRAP"));
        assert!(!is_secret_env("PASSWORD"));
    }

    #[test]
    fn redacted_hides_every_secret_and_nothing_else() {
        let mut c = Config::default();
        c.web.password = "pw-1".into();
        c.web.api_token = Some("tok-2".into());
        c.cassandra.password = Some("pw-3".into());
        c.kafka
            .properties
            .insert("sasl.password".into(), "pw-4".into());
        c.kafka
            .properties
            .insert("sasl.username".into(), "bob".into());
        c.local.kafka_properties.insert(
            "listener.name.sasl.plain.sasl.jaas.config".into(),
            "pw-5".into(),
        );
        let text = toml::to_string(&c.redacted()).unwrap_or_default();
        for secret in ["pw-1", "tok-2", "pw-3", "pw-4", "pw-5"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("bob"), "{text}");
        assert_eq!(c.redacted().kafka.bootstrap, c.kafka.bootstrap);
    }
}
