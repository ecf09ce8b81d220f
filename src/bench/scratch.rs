//! What one bench run makes on the servers and removes again: its topics and tables, all
//! named from one prefix `bench_<run id>`. Topics are `bench_<run id>` (the pre-filled
//! one), `bench_<run id>_<purpose>` and the stream job's dead-letter topics named from
//! those (`bench_<run id>.dlq`); tables are `bench_<run id>_<n>.created_users`,
//! one per measured run, each dropped when the next is made and the last when the bench
//! ends. A run of a million rows leaves ~150 MB in Cassandra; kept, every bench would add
//! gigabytes, and the compactions of a finished run's table would run, and be counted,
//! during the next run.

use super::measure::landing::Target;
use super::{say, BenchError};
use crate::cassandra::schema;
use crate::config::{CassandraConfig, Config};
use scylla::client::session::Session;
use std::sync::atomic::{AtomicUsize, Ordering};
use uuid::Uuid;

/// The topics and tables of one bench run.
#[derive(Debug)]
pub struct Scratch {
    run_id: String,
    prefix: String,
    tables_made: AtomicUsize,
}

impl Scratch {
    /// A new run's prefix, `bench_` and 12 hex digits.
    pub fn for_new_run() -> Scratch {
        let mut run_id = Uuid::new_v4().simple().to_string();
        run_id.truncate(12);
        Scratch {
            prefix: format!("bench_{run_id}"),
            run_id,
            tables_made: AtomicUsize::new(0),
        }
    }

    /// The run's id: 12 hex digits.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The run's pre-filled topic.
    pub fn topic(&self) -> String {
        self.prefix.clone()
    }

    /// Another topic of the run, for `purpose` (e.g. `avro`).
    pub fn topic_for(&self, purpose: &str) -> String {
        format!("{}_{purpose}", self.prefix)
    }

    /// Drops the run's earlier tables (runs are one after the other, so those are done
    /// with; one that cannot be dropped is said and left to [`Scratch::remove`]), then
    /// makes a new keyspace `bench_<run id>_<n>` with the users table of docs/record.md in
    /// it.
    pub async fn fresh_table(
        &self,
        session: &Session,
        cfg: &CassandraConfig,
    ) -> Result<Target, BenchError> {
        if let Err(e) = self.drop_tables(session).await {
            say!("    cannot drop the run's earlier tables: {e}");
        }
        let n = self.tables_made.fetch_add(1, Ordering::Relaxed) + 1;
        let target = Target {
            keyspace: format!("{}_{n}", self.prefix),
            table: "created_users".into(),
        };
        schema::ensure_keyspace(session, cfg, &target.keyspace).await?;
        schema::ensure_users_table(session, &target.keyspace, &target.table).await?;
        Ok(target)
    }

    async fn drop_tables(&self, session: &Session) -> Result<(), BenchError> {
        let keyspaces = schema::keyspaces_starting_with(session, &self.keyspace_prefix()).await?;
        for keyspace in &keyspaces {
            schema::drop_keyspace(session, keyspace).await?;
        }
        Ok(())
    }

    fn keyspace_prefix(&self) -> String {
        format!("{}_", self.prefix)
    }

    /// Drops every table and deletes every topic of the run, whatever its outcome. A
    /// failure is said, not raised: the figures stand without the clean-up.
    pub async fn remove(&self, config: &Config) {
        let tables = match crate::cassandra::connect(&config.cassandra).await {
            Ok(session) => self.drop_tables(&session).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = tables {
            say!(
                "    cannot drop the run's tables ({}*): {e}",
                self.keyspace_prefix()
            );
        }
        let topics = self.delete_topics(config).await;
        if let Err(e) = topics {
            say!("    cannot delete the run's topics ({}*): {e}", self.prefix);
        }
    }

    async fn delete_topics(&self, config: &Config) -> Result<(), BenchError> {
        let cluster =
            crate::kafka::admin::probe(&config.kafka, config.kafka.request_timeout).await?;
        let topics: Vec<String> = cluster
            .topics
            .into_iter()
            .filter(|t| t.starts_with(&self.prefix))
            .collect();
        crate::kafka::admin::delete_topics(&config.kafka, &topics).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_of_a_run_starts_with_its_prefix() {
        let scratch = Scratch::for_new_run();
        let id = scratch.run_id().to_string();
        assert_eq!(id.len(), 12);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        assert_eq!(scratch.topic(), format!("bench_{id}"));
        assert_eq!(scratch.topic_for("avro"), format!("bench_{id}_avro"));
        assert_eq!(scratch.keyspace_prefix(), format!("bench_{id}_"));
        assert_ne!(
            Scratch::for_new_run().run_id(),
            id,
            "each run its own prefix"
        );
    }
}
