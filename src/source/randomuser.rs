//! The randomuser API client: `GET <url>?results=N[&seed=S&page=P][&nat=..]`, with a
//! per-request timeout and retries (exponential backoff with jitter) on timeouts, connection
//! failures, truncated bodies, 429 (honouring `Retry-After`) and 5xx. After the last retry it
//! gives one error that says what happened. Results that cannot be flattened are reported
//! and skipped, never a crash.

use super::format::{format_user, FormatError};
use super::{Batch, SkippedUser, SourceError};
use crate::config::SourceConfig;
use rand::Rng;
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

/// The most users the API returns for one request.
pub const MAX_RESULTS: u32 = 5000;

/// A client for one API base URL.
#[derive(Debug, Clone)]
pub struct RandomUserClient {
    http: reqwest::Client,
    url: String,
    seed: Option<String>,
    nat: Option<String>,
    retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    /// Next page to ask for when a seed is set (a seed with a page is repeatable).
    page: u64,
}

/// One failed attempt, and whether trying again may help.
#[derive(Debug)]
struct Attempt {
    retryable: bool,
    retry_after: Option<Duration>,
    what: String,
}

impl RandomUserClient {
    pub fn new(config: &SourceConfig) -> Result<Self, SourceError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("cassflow/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SourceError::Client(e.to_string()))?;
        Ok(RandomUserClient {
            http,
            url: config.url.clone(),
            seed: config.seed.clone(),
            nat: config.nat.clone(),
            retries: config.retries,
            initial_backoff: config.retry_initial_backoff,
            max_backoff: config.retry_max_backoff,
            page: 1,
        })
    }

    /// The same client with no retries (for `auto`'s quick probe).
    pub fn without_retries(mut self) -> Self {
        self.retries = 0;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Fetches up to `count` users (capped at [`MAX_RESULTS`]) in one request, retrying as
    /// configured.
    pub async fn fetch(&mut self, count: u32) -> Result<Batch, SourceError> {
        let count = count.clamp(1, MAX_RESULTS);
        let mut backoff = self.initial_backoff;
        let mut attempt = 0;
        loop {
            match self.try_fetch(count).await {
                Ok(results) => {
                    self.page += 1;
                    return Ok(flatten(&results));
                }
                Err(failure) if failure.retryable && attempt < self.retries => {
                    attempt += 1;
                    let delay = failure
                        .retry_after
                        .unwrap_or_else(|| jitter(backoff))
                        .min(self.max_backoff.max(Duration::from_millis(1)));
                    // `attempt` is the one that failed, of all the tries (retries + 1), as the
                    // final `failed after N attempts` counts them.
                    tracing::warn!(
                        url = %self.url, attempt, of = self.retries + 1, problem = %failure.what,
                        retry_in_ms = delay.as_millis() as u64, "randomuser request failed, retrying"
                    );
                    tokio::time::sleep(delay).await;
                    backoff = (backoff * 2).min(self.max_backoff);
                }
                Err(failure) => {
                    return Err(SourceError::Api {
                        url: self.url.clone(),
                        attempts: attempt + 1,
                        problem: failure.what,
                    })
                }
            }
        }
    }

    async fn try_fetch(&self, count: u32) -> Result<Vec<Value>, Attempt> {
        let mut query: Vec<(&str, String)> = vec![("results", count.to_string())];
        if let Some(seed) = &self.seed {
            query.push(("seed", seed.clone()));
            query.push(("page", self.page.to_string()));
        }
        if let Some(nat) = &self.nat {
            query.push(("nat", nat.clone()));
        }
        let response = self
            .http
            .get(&self.url)
            .query(&query)
            .send()
            .await
            .map_err(|e| Attempt {
                retryable: e.is_timeout() || e.is_connect() || e.is_request(),
                retry_after: None,
                what: describe(&e),
            })?;
        let status = response.status();
        let retry_after = retry_after(&response);
        let body = response.bytes().await.map_err(|e| Attempt {
            retryable: true,
            retry_after: None,
            what: format!("the response body broke off: {}", describe(&e)),
        })?;
        if !status.is_success() {
            let retryable = status.as_u16() == 429 || status.is_server_error();
            return Err(Attempt {
                retryable,
                retry_after: if retryable { retry_after } else { None },
                what: format!("HTTP {status}{}", api_error(&body)),
            });
        }
        parse_results(&body)
    }
}

/// The `results` array of a successful response.
fn parse_results(body: &[u8]) -> Result<Vec<Value>, Attempt> {
    let value: Value = crate::json::from_slice(body).map_err(|e| Attempt {
        // A body that ends early is a broken transfer; garbage is a broken server.
        retryable: e.is_eof(),
        retry_after: None,
        what: if e.is_eof() {
            format!("the response body is truncated ({} bytes): {e}", body.len())
        } else {
            format!("the response is not JSON: {e}")
        },
    })?;
    if let Some(msg) = value.get("error").and_then(Value::as_str) {
        return Err(Attempt {
            retryable: true,
            retry_after: None,
            what: format!("the API answered with an error: {msg}"),
        });
    }
    match value.get("results") {
        Some(Value::Array(results)) => Ok(results.clone()),
        _ => Err(Attempt {
            retryable: false,
            retry_after: None,
            what: "the response has no `results` array".into(),
        }),
    }
}

/// Formats every result, keeping the ones that fail as skipped with their reason.
fn flatten(results: &[Value]) -> Batch {
    let mut batch = Batch::default();
    for (index, result) in results.iter().enumerate() {
        match format_user(result, Uuid::new_v4()) {
            Ok(record) => batch.records.push(record),
            Err(error) => {
                let error: FormatError = error;
                tracing::warn!(index, %error, "skipping a randomuser result");
                batch.skipped.push(SkippedUser { index, error });
            }
        }
    }
    batch
}

/// ±25% around `d`, so many clients do not retry in step.
fn jitter(d: Duration) -> Duration {
    let factor = rand::rng().random_range(0.75..1.25);
    d.mul_f64(factor)
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    let secs: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

/// The API's own `{"error": "..."}` text, if the body has one.
fn api_error(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        // reqwest's Display omits the cause; the cause says what really happened.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }
}
