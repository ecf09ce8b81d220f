//! Checks on values that parse but cannot work: identifiers that would be unsafe in CQL,
//! topic names Kafka rejects, the default password on a public bind, and the like.

use super::{Config, ConfigError, RecordFormat, DEFAULT_PASSWORD};
use crate::stream::mapping::{TIMESTAMP, TTL};

impl Config {
    /// Rejects values that parse but cannot work, naming the key and the fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, problem: String, fix: &str| ConfigError::Invalid {
            key,
            origin: "the configuration".into(),
            problem,
            fix: fix.into(),
        };
        check_host_list("kafka.bootstrap", &self.kafka.bootstrap)?;
        check_host_list("cassandra.contact_points", &self.cassandra.contact_points)?;
        if let Some(tls) = &self.cassandra.tls {
            tls.validate()?;
        }
        if self.pipelines.is_empty() {
            return Err(invalid(
                "pipelines".into(),
                "no pipeline is configured".into(),
                "remove the empty `pipelines` list to get the default users pipeline, or add a [[pipelines]] entry",
            ));
        }
        for (i, p) in self.pipelines.iter().enumerate() {
            let key = |field: &str| format!("pipelines[{i}].{field}");
            if let Err(problem) = check_cql_identifier(&p.keyspace) {
                return Err(invalid(key("keyspace"), problem, IDENT_FIX));
            }
            if let Err(problem) = check_cql_identifier(&p.table) {
                return Err(invalid(key("table"), problem, IDENT_FIX));
            }
            if let Err(problem) = check_topic(&p.topic) {
                return Err(invalid(key("topic"), problem, TOPIC_FIX));
            }
            if let Err(problem) = check_topic(&p.dead_letter_topic()) {
                return Err(invalid(key("dead_letter_topic"), problem, TOPIC_FIX));
            }
            if p.dead_letter_topic() == p.topic {
                return Err(invalid(
                    key("dead_letter_topic"),
                    "is the same as the source topic".into(),
                    "pick another topic, e.g. `<topic>.dlq`",
                ));
            }
            if p.partitions < 1 {
                return Err(invalid(
                    key("partitions"),
                    format!("{} is not a partition count", p.partitions),
                    "use a whole number of at least 1",
                ));
            }
            if let Some(rf) = p.topic_replication.filter(|&rf| rf < 1) {
                return Err(invalid(
                    key("topic_replication"),
                    format!("{rf} is not a replication factor"),
                    "use a whole number of at least 1, e.g. `topic_replication = 3`, or remove the key for the brokers' default",
                ));
            }
            if p.group_id.as_ref().is_some_and(|g| g.trim().is_empty()) {
                return Err(invalid(
                    key("group_id"),
                    "is empty".into(),
                    "name a consumer group, e.g. `cassflow-users`, or remove the key for `cassflow-<name>`",
                ));
            }
            let registry = p.format.uses_registry() || p.key_format.registry_format().is_some();
            if registry && reqwest::Url::parse(&self.schema_registry.url).is_err() {
                return Err(invalid(
                    "schema_registry.url".into(),
                    format!("`{}` is not a URL, and pipeline `{}` reads records in the registry's wire format", self.schema_registry.url, p.name),
                    "give the base URL of a Confluent-compatible API, e.g. `url = \"http://127.0.0.1:8081\"` (Apicurio: `http://host:8080/apis/ccompat/v7`)",
                ));
            }
            if let Some(q) = self.pipelines[..i]
                .iter()
                .find(|q| q.topic == p.topic && q.group_id() == p.group_id())
            {
                return Err(invalid(
                    key("group_id"),
                    format!(
                        "pipelines `{}` and `{}` both read topic `{}` in consumer group `{}`, so Kafka would split the topic's partitions between them and each table would get only part of it",
                        q.name,
                        p.name,
                        p.topic,
                        p.group_id()
                    ),
                    &format!(
                        "give each pipeline its own group, e.g. `group_id = \"cassflow-{}\"`, or remove `group_id` from both (the default is `cassflow-<name>`)",
                        p.name
                    ),
                ));
            }
            if let Some(table) = &p.create_table {
                if let Err(e) = table.validate() {
                    return Err(invalid(
                        key(&format!("create_table.{}", e.key)),
                        e.problem,
                        &e.fix,
                    ));
                }
                // A custom query's markers need not be columns; the upsert's must be.
                let undeclared = p.columns.keys().find(|c| {
                    p.query.is_none()
                        && !matches!(c.as_str(), TTL | TIMESTAMP)
                        && !table.columns.contains_key(*c)
                });
                if let Some(column) = undeclared {
                    let declared: Vec<&str> = table.columns.keys().map(String::as_str).collect();
                    return Err(invalid(
                        key(&format!("columns.{column}")),
                        format!("names `{column}`, which is not a column of create_table.columns"),
                        &format!(
                            "correct the name (declared: {}), or declare the column, e.g. `{column} = \"text\"` under [pipelines.create_table.columns]",
                            declared.join(", ")
                        ),
                    ));
                }
            }
            if let Some(expr) = &p.key {
                let parsed = crate::produce::key::KeyPath::parse(expr);
                let users_id = matches!(expr.trim(), "id" | "value.id");
                if p.format == RecordFormat::Users && !users_id {
                    return Err(invalid(
                        key("key"),
                        format!("`{expr}`: a users pipeline keys its messages by `id`"),
                        "remove `key`, or write `key = \"value.id\"`",
                    ));
                }
                if let Err(problem) = parsed {
                    return Err(invalid(
                        key("key"),
                        problem,
                        &format!("use {}", crate::produce::key::KEY_FORMS),
                    ));
                }
            }
            p.check_mapping(i)?;
            if self.pipelines[..i].iter().any(|q| q.name == p.name) {
                return Err(invalid(
                    key("name"),
                    format!("`{}` is used by an earlier pipeline", p.name),
                    "give every pipeline its own name",
                ));
            }
        }
        if self.cassandra.replication_factor == Some(0) && self.cassandra.datacenters.is_empty() {
            return Err(invalid(
                "cassandra.replication_factor".into(),
                "0 replicas cannot hold data".into(),
                "use at least 1, e.g. `replication_factor = 3`, or remove the key for the server's default",
            ));
        }
        if self.scheduler.parallelism == 0 {
            return Err(invalid(
                "scheduler.parallelism".into(),
                "0 tasks at once would never run a task".into(),
                "use at least 1 (default 16)",
            ));
        }
        if self.scheduler.poll_interval.is_zero() {
            return Err(invalid(
                "scheduler.poll_interval".into(),
                "0s would spin".into(),
                "use e.g. `1s`",
            ));
        }
        if self.stream.max_in_flight_bytes == 0 {
            return Err(invalid(
                "stream.max_in_flight_bytes".into(),
                "0 bytes would hold no message".into(),
                "use e.g. 67108864 (64 MiB, the default)",
            ));
        }
        if self.stream.max_in_flight == 0 {
            return Err(invalid(
                "stream.max_in_flight".into(),
                "0 writes in flight would never write".into(),
                "use at least 1 (default 256)",
            ));
        }
        if !(1..=1000).contains(&self.stream.batch_max_rows) {
            return Err(invalid(
                "stream.batch_max_rows".into(),
                format!("{} rows is outside 1 to 1000", self.stream.batch_max_rows),
                "use 1 to write every row on its own, or e.g. 8 (the default)",
            ));
        }
        if self.stream.batch_linger > std::time::Duration::from_secs(1) {
            return Err(invalid(
                "stream.batch_linger".into(),
                format!(
                    "{} would hold every row that long before its write (and its offset's commit)",
                    humantime::format_duration(self.stream.batch_linger)
                ),
                "use at most 1s, e.g. `1ms` (the default)",
            ));
        }
        if self.stream.batch_max_bytes > 50 << 10 {
            return Err(invalid(
                "stream.batch_max_bytes".into(),
                format!(
                    "{} bytes is above Cassandra's default batch_size_fail_threshold (50 KiB), which refuses such batches",
                    self.stream.batch_max_bytes
                ),
                "use at most 51200, e.g. 4096 (the default)",
            ));
        }
        if self.stream.max_record_retries == 0 {
            return Err(invalid(
                "stream.max_record_retries".into(),
                "0 would dead-letter a record on its first failed write".into(),
                "use at least 1, e.g. `max_record_retries = 20`",
            ));
        }
        if !matches!(
            self.producer.compression.as_str(),
            "none" | "gzip" | "snappy" | "lz4"
        ) {
            return Err(invalid(
                "producer.compression".into(),
                format!(
                    "`{}` is not a Kafka compression codec",
                    self.producer.compression
                ),
                "use one of none, gzip, snappy, lz4 (zstd is not built into this binary)",
            ));
        }
        if !(1..=5000).contains(&self.source.batch_size) {
            return Err(invalid(
                "source.batch_size".into(),
                format!(
                    "{} is outside what the randomuser API allows",
                    self.source.batch_size
                ),
                "use 1 to 5000",
            ));
        }
        if !(self.source.url.starts_with("http://") || self.source.url.starts_with("https://")) {
            return Err(invalid(
                "source.url".into(),
                format!("`{}` is not an http(s) URL", self.source.url),
                "use e.g. https://randomuser.me/api/",
            ));
        }
        self.check_client_limits()?;
        self.check_local_cluster()?;
        self.check_registry_ports()?;
        if self.local.cassandra_auth
            && (self.cassandra.username.is_none() || self.cassandra.password.is_none())
        {
            let key = match self.cassandra.username {
                None => "cassandra.username",
                Some(_) => "cassandra.password",
            };
            return Err(invalid(
                key.into(),
                "is unset, but local.cassandra_auth is on and the local stack creates that role".into(),
                "set both, e.g. `[cassandra] username = \"cassflow\"` and `password = \"...\"` (or CASSFLOW_CASSANDRA__PASSWORD), or turn local.cassandra_auth off",
            ));
        }
        self.check_registry_security()?;
        if self.local.cassandra_client_auth && !self.local.cassandra_tls {
            return Err(invalid(
                "local.cassandra_client_auth".into(),
                "is on, but local.cassandra_tls is off (client certificates are part of TLS)"
                    .into(),
                "set `cassandra_tls = true` too, or turn local.cassandra_client_auth off",
            ));
        }
        for (name, heap) in [
            ("local.kafka_heap", &self.local.kafka_heap),
            ("local.cassandra_heap", &self.local.cassandra_heap),
            ("local.registry_heap", &self.local.registry_heap),
        ] {
            if !is_jvm_size(heap) {
                return Err(invalid(
                    name.into(),
                    format!("`{heap}` is not a JVM memory size"),
                    "use a number with a unit, e.g. `512m` or `1g`",
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// The rules of a web UI that is served: a password to log in with, the default one
    /// only on loopback, a token long enough, bare host names. Only the commands that serve
    /// the UI (`cassflow up`) and the configuration check (`cassflow config`) apply them: a
    /// command that serves nothing (`dags list`) must not fail on them.
    pub fn validate_web(&self) -> Result<(), ConfigError> {
        self.web_rules().map_err(super::load::one_line)
    }

    fn web_rules(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, problem: String, fix: &str| ConfigError::Invalid {
            key,
            origin: "the configuration".into(),
            problem,
            fix: fix.into(),
        };
        if self.web.password.is_empty() {
            return Err(invalid(
                "web.password".into(),
                "is empty, so anyone could log in".into(),
                "set web.password (or CASSFLOW_WEB__PASSWORD) to a secret, e.g. `openssl rand -hex 16`",
            ));
        }
        for host in &self.web.allowed_hosts {
            if host.is_empty() || host.contains(['/', ' ', '@']) {
                return Err(invalid(
                    "web.allowed_hosts".into(),
                    format!("`{host}` is not a host name"),
                    "list bare host names, e.g. `allowed_hosts = [\"cassflow.example.com\"]`",
                ));
            }
        }
        if !self.web.bind.ip().is_loopback() && self.web.password == DEFAULT_PASSWORD {
            return Err(invalid(
                "web.password".into(),
                format!(
                    "the default password is allowed only on loopback, but web.bind is {}",
                    self.web.bind
                ),
                "set web.password (or CASSFLOW_WEB__PASSWORD) to a strong secret, or bind to 127.0.0.1",
            ));
        }
        if self
            .web
            .api_token
            .as_ref()
            .is_some_and(|t| t.trim().len() < 16)
        {
            return Err(invalid(
                "web.api_token".into(),
                "a token shorter than 16 characters is easy to guess".into(),
                "use a long random string, e.g. `openssl rand -hex 32`",
            ));
        }
        Ok(())
    }
}

impl Config {
    /// `local.cassandra_nodes` and `local.kafka_brokers`: node counts the local stack can
    /// run, and a `kafka.bootstrap` that names every broker (broker `i` listens on its
    /// `i`th entry).
    fn check_local_cluster(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, problem: String, fix: String| ConfigError::Invalid {
            key: key.into(),
            origin: "the configuration".into(),
            problem,
            fix,
        };
        let local = &self.local;
        for (key, value, max) in [
            (
                "local.cassandra_nodes",
                local.cassandra_nodes,
                MAX_CASSANDRA_NODES,
            ),
            (
                "local.kafka_brokers",
                local.kafka_brokers,
                MAX_KAFKA_BROKERS,
            ),
        ] {
            if !(1..=max).contains(&value) {
                return Err(invalid(
                    key,
                    format!("{value} is not a node count the local stack runs (1 to {max})"),
                    format!(
                        "use 1 to {max}, e.g. `{} = 3`",
                        key.trim_start_matches("local.")
                    ),
                ));
            }
        }
        let brokers = usize::from(local.kafka_brokers);
        let listed = self.kafka.bootstrap.split(',').count();
        if brokers > 1 && listed != brokers {
            return Err(invalid(
                "kafka.bootstrap",
                format!(
                    "lists {listed} brokers, but local.kafka_brokers = {brokers} runs one per entry"
                ),
                format!(
                    "list one host:port per broker, e.g. `bootstrap = \"{}\"`",
                    (0..brokers)
                        .map(|i| format!("127.0.0.1:{}", 9092 + 100 * i))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            ));
        }
        if let Some(port) = local.cassandra_jmx_port {
            let last = u32::from(port) + u32::from(local.cassandra_nodes) - 1;
            if port == 0 || last > u32::from(u16::MAX) {
                return Err(invalid(
                    "local.cassandra_jmx_port",
                    format!("{port} leaves no port for every node"),
                    "use a port with one free port after it per further node, e.g. `cassandra_jmx_port = 7199`".into(),
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// `local.registry_tls` and `local.registry_auth`: only with `local.registry`; auth needs
    /// `[schema_registry]`'s account (a plain user name: it becomes a properties key), and
    /// a client of the local registry over TLS needs `https` and the stack's CA.
    fn check_registry_security(&self) -> Result<(), ConfigError> {
        let (local, registry) = (&self.local, &self.schema_registry);
        let invalid = |key: &str, problem: String, fix: String| ConfigError::Invalid {
            key: key.into(),
            origin: "the configuration".into(),
            problem,
            fix,
        };
        for (key, on) in [
            ("local.registry_tls", local.registry_tls),
            ("local.registry_auth", local.registry_auth),
        ] {
            if on && !local.registry {
                return Err(invalid(
                    key,
                    "is on, but local.registry is off (it secures the local registry)".into(),
                    format!("set `registry = true` too, or turn {key} off"),
                ));
            }
        }
        if local.registry_auth {
            let account = "set both, e.g. `[schema_registry] username = \"cassflow\"` and `password = \"...\"` (or CASSFLOW_SCHEMA_REGISTRY__PASSWORD), or turn local.registry_auth off";
            let made =
                "but local.registry_auth is on and the local registry's account is made from it";
            match (&registry.username, &registry.password) {
                (None, _) => {
                    return Err(invalid(
                        "schema_registry.username",
                        format!("is unset, {made}"),
                        account.into(),
                    ))
                }
                (_, None) => {
                    return Err(invalid(
                        "schema_registry.password",
                        format!("is unset, {made}"),
                        account.into(),
                    ))
                }
                (Some(user), Some(_)) if !is_plain_name(user) => {
                    return Err(invalid(
                        "schema_registry.username",
                        format!("`{user}` has characters other than letters, digits, `.`, `_` and `-`, {made}"),
                        "use a name of letters, digits, `.`, `_` and `-`, e.g. `cassflow`".into(),
                    ))
                }
                _ => {}
            }
        }
        let local_url = format!("://127.0.0.1:{}/", local.registry_port);
        if local.registry_tls && registry.url.contains(&local_url) {
            if registry.url.starts_with("http://") {
                return Err(invalid(
                    "schema_registry.url",
                    format!("`{}` is plain HTTP, but local.registry_tls makes the local registry serve HTTPS only", registry.url),
                    format!("use `{}`", registry.url.replacen("http://", "https://", 1)),
                ));
            }
            if registry.ca.is_none() {
                return Err(invalid(
                    "schema_registry.ca",
                    "is unset, but local.registry_tls makes the local registry serve a certificate of the stack's own CA".into(),
                    format!(
                        "set `ca = \"{}\"`",
                        local.data_dir.join("cassandra/tls/ca.pem").display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// With `local.registry` on: its two ports are ports, differ from each other and from
    /// every other port the local stack (or the web UI) takes, so no start fails on them.
    fn check_registry_ports(&self) -> Result<(), ConfigError> {
        let local = &self.local;
        if !local.registry {
            return Ok(());
        }
        let mut taken: Vec<(u16, String)> = Vec::new();
        for (i, entry) in self.kafka.bootstrap.split(',').enumerate() {
            if let Some((_, port)) = super::split_host_port(entry.trim()) {
                taken.push((port, format!("kafka.bootstrap entry {}", i + 1)));
            }
        }
        let controllers = if local.kafka_brokers >= 3 { 3 } else { 1 };
        for i in 0..controllers {
            if let Some(port) = local.kafka_controller_port.checked_add(i) {
                taken.push((port, "local.kafka_controller_port".into()));
            }
        }
        if let Some((_, port)) = super::first_host_port(&self.cassandra.contact_points) {
            taken.push((port, "cassandra.contact_points".into()));
        }
        taken.push((
            local.cassandra_storage_port,
            "local.cassandra_storage_port".into(),
        ));
        if let Some(first) = local.cassandra_jmx_port {
            for i in 0..u16::from(local.cassandra_nodes) {
                if let Some(port) = first.checked_add(i) {
                    taken.push((port, "local.cassandra_jmx_port".into()));
                }
            }
        }
        taken.push((self.web.bind.port(), "web.bind".into()));
        let ours = [
            ("local.registry_port", local.registry_port),
            (
                "local.registry_management_port",
                local.registry_management_port,
            ),
        ];
        for (key, port) in ours {
            let invalid = |problem: String| ConfigError::Invalid {
                key: key.into(),
                origin: "the configuration".into(),
                problem,
                fix: format!(
                    "pick a free port of its own, e.g. `{} = {}`",
                    key.trim_start_matches("local."),
                    if key == "local.registry_port" {
                        8081
                    } else {
                        9001
                    }
                ),
            };
            if port == 0 {
                return Err(invalid("0 is not a port the registry can listen on".into()));
            }
            if let Some((_, other)) = taken.iter().find(|(p, _)| *p == port) {
                return Err(invalid(format!("{port} is also the port of {other}")));
            }
            taken.push((port, key.into()));
        }
        Ok(())
    }
}

/// A name made of letters, digits, `.`, `_` and `-` (a key of a properties file as it is).
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The most Cassandra nodes the local stack runs: one per loopback address 127.0.0.1-3.
pub const MAX_CASSANDRA_NODES: u8 = 3;
/// The most Kafka brokers the local stack runs.
pub const MAX_KAFKA_BROKERS: u8 = 5;

impl super::PipelineConfig {
    /// `columns`, `ttl` and `query` of the `i`th pipeline: expressions that parse, columns
    /// that are identifiers, a TTL Cassandra accepts, a query cassflow can fill.
    fn check_mapping(&self, i: usize) -> Result<(), ConfigError> {
        use crate::stream::mapping::{Source, MAX_TTL_SECONDS};
        let invalid = |field: &str, problem: String, fix: &str| ConfigError::Invalid {
            key: format!("pipelines[{i}].{field}"),
            origin: "the configuration".into(),
            problem,
            fix: fix.into(),
        };
        for (column, expression) in &self.columns {
            let key = format!("columns.{column}");
            if column != TTL && column != TIMESTAMP {
                if let Err(problem) = check_cql_identifier(column) {
                    return Err(invalid(&key, problem, IDENT_FIX));
                }
            }
            if let Err(e) = Source::parse(expression) {
                return Err(invalid(
                    &key,
                    e.to_string(),
                    "use one of the valid forms, e.g. `value.customer.name`, `key` or `header.trace_id`",
                ));
            }
        }
        if let Some(ttl) = self.ttl {
            // Cassandra's TTL is whole seconds, and `TTL 0` means "never expires".
            if ttl.as_secs() == 0
                || ttl.subsec_nanos() != 0
                || ttl.as_secs() > MAX_TTL_SECONDS as u64
            {
                return Err(invalid(
                    "ttl",
                    format!(
                        "{} is not a TTL Cassandra takes (whole seconds, 1 second to 20 years)",
                        humantime::format_duration(ttl)
                    ),
                    "use e.g. `ttl = \"7d\"`, or remove the key for no TTL",
                ));
            }
        }
        if let Some(query) = &self.query {
            const QUERY_FIX: &str = "write an INSERT or UPDATE with named markers, e.g. `UPDATE shop.orders SET items = items + :items WHERE id = :id`";
            let verb = query.trim_start().to_ascii_lowercase();
            if !(verb.starts_with("insert") || verb.starts_with("update")) {
                return Err(invalid(
                    "query",
                    "is neither an INSERT nor an UPDATE".into(),
                    QUERY_FIX,
                ));
            }
            if query.contains('?') {
                return Err(invalid(
                    "query",
                    "has a positional `?` marker, which no mapping can fill".into(),
                    QUERY_FIX,
                ));
            }
            let using = crate::stream::custom_query::using_markers(query);
            if let Err(e) = crate::stream::custom_query::check_using(self, &using) {
                return Err(invalid(&e.key, e.problem, &e.fix));
            }
        }
        Ok(())
    }
}

const IDENT_FIX: &str =
    "use 1 to 48 letters, digits or underscores, starting with a letter (e.g. `spark_streams`)";
const TOPIC_FIX: &str = "use 1 to 249 letters, digits, `.`, `_` or `-` (e.g. `users_created`)";

/// A CQL identifier cassflow accepts unquoted-safe: `[A-Za-z][A-Za-z0-9_]{0,47}`, lower case.
/// Cassandra folds unquoted names to lower case; we require lower case so that names in
/// config, in `system_schema` and in CQL are the same string.
pub fn check_cql_identifier(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("is empty".into()),
        Some(c) if !c.is_ascii_lowercase() => {
            return Err(format!("`{name}` must start with a lower-case letter"))
        }
        _ => {}
    }
    if name.len() > 48 {
        return Err(format!("`{name}` is longer than 48 characters"));
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(format!("`{name}` contains `{bad}`"));
    }
    Ok(())
}

/// Kafka's own rule for topic names.
pub fn check_topic(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > 249 {
        return Err(format!("`{name}` is longer than 249 characters"));
    }
    if name == "." || name == ".." {
        return Err(format!("`{name}` is not allowed by Kafka"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!("`{name}` contains `{bad}`"));
    }
    Ok(())
}

fn check_host_list(key: &str, list: &str) -> Result<(), ConfigError> {
    let bad = |problem: String| ConfigError::Invalid {
        key: key.into(),
        origin: "the configuration".into(),
        problem,
        fix: "use comma-separated host:port pairs, e.g. `localhost:9092`".into(),
    };
    if list.trim().is_empty() {
        return Err(bad("is empty".into()));
    }
    for entry in list.split(',').map(str::trim) {
        if super::split_host_port(entry).is_none() {
            return Err(bad(format!("`{entry}` is not host:port")));
        }
    }
    Ok(())
}

fn is_jvm_size(s: &str) -> bool {
    let digits = s.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G']);
    digits.len() + 1 >= s.len() && !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(check_cql_identifier("spark_streams").is_ok());
        assert!(check_cql_identifier("t1").is_ok());
        assert!(check_cql_identifier("").is_err());
        assert!(check_cql_identifier("1abc").is_err());
        assert!(check_cql_identifier("Users").is_err());
        assert!(check_cql_identifier("users; DROP TABLE x").is_err());
        assert!(check_cql_identifier("a\"b").is_err());
        assert!(check_cql_identifier(&"a".repeat(49)).is_err());
    }

    #[test]
    fn topics() {
        assert!(check_topic("users_created").is_ok());
        assert!(check_topic("users_created.dlq").is_ok());
        assert!(check_topic("..").is_err());
        assert!(check_topic("a b").is_err());
        assert!(check_topic(&"a".repeat(250)).is_err());
    }

    #[test]
    fn jvm_sizes() {
        assert!(is_jvm_size("512m"));
        assert!(is_jvm_size("1g"));
        assert!(is_jvm_size("1024"));
        assert!(!is_jvm_size("1gb"));
        assert!(!is_jvm_size("m"));
        assert!(!is_jvm_size("-1g"));
    }
}
