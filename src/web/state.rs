//! What every handler can reach: the configuration, authentication, the Kafka and
//! Cassandra browsers and the metric samples. Cheap to clone (all shared). Creating it
//! contacts no server, so the UI starts (and reports) while Kafka or Cassandra is down.
//!
//! Other components add themselves as an `Option<Arc<...>>` field plus a `with_...`
//! builder (the scheduler: `scheduler`).

use super::auth::Auth;
use super::cassandra::CassandraBrowser;
use super::kafka::KafkaBrowser;
use super::sampler::Samples;
use super::WebError;
use crate::config::Config;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub auth: Arc<Auth>,
    pub kafka: Arc<KafkaBrowser>,
    pub cassandra: Arc<CassandraBrowser>,
    pub samples: Arc<Samples>,
    /// The scheduler behind the DAG pages and `/api/v1/dags` (None: not run by this process).
    pub scheduler: Option<crate::scheduler::Scheduler>,
}

impl AppState {
    pub fn new(config: &Config) -> Result<Self, WebError> {
        Ok(AppState {
            config: Arc::new(config.clone()),
            auth: Arc::new(Auth::new(&config.web)?),
            kafka: Arc::new(KafkaBrowser::new(&config.kafka)?),
            cassandra: Arc::new(CassandraBrowser::new(&config.cassandra)),
            samples: Arc::new(Samples::default()),
            scheduler: None,
        })
    }

    /// Serves the DAG pages and API from this scheduler.
    pub fn with_scheduler(mut self, scheduler: crate::scheduler::Scheduler) -> Self {
        self.scheduler = Some(scheduler);
        self
    }

    /// Replaces the login limiter (tests use a small one).
    pub fn with_login_limiter(mut self, limiter: super::auth::LoginLimiter) -> Self {
        if let Some(auth) = Arc::get_mut(&mut self.auth) {
            auth.limiter = limiter;
        }
        self
    }

    /// The pipeline named `name`.
    pub fn pipeline(&self, name: &str) -> Result<&crate::config::PipelineConfig, WebError> {
        self.config
            .pipelines
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| WebError::NotFound(format!("pipeline `{name}`")))
    }
}

/// Drops expired sessions every minute until `cancel`.
pub async fn expire_sessions(state: AppState, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => { state.auth.sessions.prune(); }
        }
    }
}
