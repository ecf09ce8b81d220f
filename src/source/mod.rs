//! Sources of users: the randomuser API, the built-in generator, JSON lines on stdin, and
//! `auto` (the API when it answers, else the generator, with a warning). The API and the
//! generator yield [`UserRecord`]s in batches ([`Source`]); stdin is line by line
//! ([`stdin::LineReader`]). Producing them to Kafka is `crate::produce`'s job.

pub mod format;
pub mod generator;
pub mod randomuser;
pub mod stdin;

use crate::config::{SourceConfig, SourceKind};
use crate::record::UserRecord;
use format::FormatError;
use generator::Generator;
use randomuser::RandomUserClient;
use std::time::Duration;

/// Users from one fetch, and the API results that could not be used.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: Vec<UserRecord>,
    pub skipped: Vec<SkippedUser>,
}

/// An API result that was reported and skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedUser {
    /// Its index in the response's `results`.
    pub index: usize,
    pub error: FormatError,
}

/// Why a source gave no users.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error(
        "randomuser API at {url} failed after {attempts} {tries}: {problem} (fix: set source.kind = \"generator\" or pass --source generator to work offline)",
        tries = if *.attempts == 1 { "attempt" } else { "attempts" }
    )]
    Api {
        url: String,
        attempts: u32,
        problem: String,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error(
        "the source gave no usable user in {fetches} fetches in a row (see the warnings above)"
    )]
    NoUsers { fetches: u32 },
    #[error("source `stdin` reads lines, not batches: use stdin::LineReader")]
    NotBatched,
}

/// A batched source of users, chosen by `source.kind`.
#[derive(Debug)]
pub enum Source {
    RandomUser(RandomUserClient),
    Generator(Generator),
}

/// How long `auto` waits for the API before falling back to the generator.
const AUTO_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

impl Source {
    /// Opens the configured source. `auto` asks the API for one user (no retries, at most
    /// five seconds) and falls back to the generator with a warning when it does not answer.
    pub async fn open(config: &SourceConfig, kind: SourceKind) -> Result<Source, SourceError> {
        match kind {
            SourceKind::Randomuser => Ok(Source::RandomUser(RandomUserClient::new(config)?)),
            SourceKind::Generator => Ok(Source::Generator(Generator::new(config.seed.as_deref()))),
            SourceKind::Stdin => Err(SourceError::NotBatched),
            SourceKind::Auto => {
                let probe_config = SourceConfig {
                    timeout: config.timeout.min(AUTO_PROBE_TIMEOUT),
                    ..config.clone()
                };
                let mut probe = RandomUserClient::new(&probe_config)?.without_retries();
                match probe.fetch(1).await {
                    Ok(_) => {
                        tracing::info!(url = %config.url, "source auto: the randomuser API answers, using it");
                        Ok(Source::RandomUser(RandomUserClient::new(config)?))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "source auto: the randomuser API does not answer, using the built-in generator");
                        Ok(Source::Generator(Generator::new(config.seed.as_deref())))
                    }
                }
            }
        }
    }

    /// `randomuser` or `generator`: what is shown as the active source.
    pub fn name(&self) -> &'static str {
        match self {
            Source::RandomUser(_) => "randomuser",
            Source::Generator(_) => "generator",
        }
    }

    /// Up to `max` users.
    pub async fn next_batch(&mut self, max: u32) -> Result<Batch, SourceError> {
        match self {
            Source::RandomUser(client) => client.fetch(max).await,
            Source::Generator(generator) => Ok(Batch {
                records: generator.batch(max as usize),
                skipped: Vec::new(),
            }),
        }
    }
}
