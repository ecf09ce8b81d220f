//! Records in the Confluent wire format, read through a Confluent-compatible Schema
//! Registry: [`Registry`] fetches a schema by id once (concurrent records of one new id
//! wait for the one request) and keeps its compiled [`Decoder`]; [`wire`] owns the framing,
//! [`avro`] the Avro encoding and [`protobuf`] Protobuf's. Owns the registry's REST API (`GET /schemas/ids/{id}`,
//! `POST /subjects/{subject}/versions`) and what its failures mean: a registry that does
//! not answer is an outage to wait out ([`RegistryError::is_outage`]), an unknown id or a
//! schema that cannot be compiled is the record's fault.

pub mod avro;
pub mod protobuf;
pub mod users;
pub mod wire;

use crate::config::{RecordFormat, SchemaRegistryConfig};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// How long an id the registry said it does not know is taken as unknown without asking
/// again: a flood of records with a bogus id costs one request per id and window, not one
/// each. The price: should a registry deny an id only for a moment (a replica that has not
/// caught up yet), every record of that id read within the window is dead-lettered, not
/// only those read in that moment.
pub const UNKNOWN_ID_RETRY: Duration = Duration::from_secs(5);

/// Why the registry could not give a schema, or a record cannot be read with it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error("the schema registry at {url} does not answer: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("the schema registry at {url} answered {status}: {detail}")]
    Failing {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("the schema registry at {url} refused cassflow ({status}): {detail} (fix: set schema_registry.username and schema_registry.password to an account that may read schemas)")]
    Refused {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("the schema registry has no schema with id {id}")]
    UnknownId { id: u32 },
    #[error("schema {id} of the registry is {found}, but the pipeline reads {expected}")]
    WrongKind {
        id: u32,
        found: String,
        expected: &'static str,
    },
    #[error("schema {id} of the registry cannot be used: {detail}")]
    Unusable { id: u32, detail: String },
    #[error("schema_registry.ca `{path}`: {detail} (fix: point it at the PEM file of the CA that signed the registry's certificate)")]
    Ca { path: String, detail: String },
    #[error("schema_registry.url `{url}`: {detail} (fix: give the base URL of a Confluent-compatible API, e.g. `http://127.0.0.1:8081` or Apicurio's `http://127.0.0.1:8080/apis/ccompat/v7`)")]
    Url { url: String, detail: String },
}

impl RegistryError {
    /// Whether it concerns the registry rather than the record: the registry is down,
    /// slow or failing, refuses cassflow's login, or is not a registry at all (a wrong
    /// URL). Records wait (the pipeline pauses) instead of being dead-lettered.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            RegistryError::Unreachable { .. }
                | RegistryError::Failing { .. }
                | RegistryError::Refused { .. }
                | RegistryError::Url { .. }
        )
    }
}

/// What reads the payloads of one schema.
#[derive(Debug)]
pub enum Decoder {
    Avro(avro::Plan),
    Protobuf(protobuf::Schema),
    /// JSON Schema: the payload is JSON (the producer validated it against the schema).
    Json,
}

impl Decoder {
    /// The record's value of a payload (after the wire header) as a JSON tree.
    pub fn read(&self, payload: &[u8], exact_numbers: bool) -> Result<Value, String> {
        match self {
            Decoder::Avro(plan) => plan.read(payload).map_err(|e| e.to_string()),
            Decoder::Protobuf(schema) => {
                let (indexes, message) =
                    wire::message_indexes(payload).map_err(|e| e.to_string())?;
                let descriptor = schema.message(&indexes).map_err(|e| e.to_string())?;
                protobuf::read(&descriptor, message).map_err(|e| e.to_string())
            }
            Decoder::Json => {
                crate::stream::convert::parse_json(payload, exact_numbers).map_err(|e| {
                    if std::str::from_utf8(payload).is_err() {
                        "the payload is not UTF-8 JSON".to_string()
                    } else {
                        format!("the payload is not JSON: {e}")
                    }
                })
            }
        }
    }
}

/// A double as JSON; NaN and the infinities, which JSON cannot hold, as their text.
fn json_float(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number)
}

/// Bytes as the base64 text a `blob` column reads.
fn base64_text(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The registry's answer to `GET /schemas/ids/{id}` and `GET /subjects/../versions/..`.
#[derive(Debug, Deserialize)]
struct SchemaAnswer {
    schema: String,
    /// `AVRO` when absent, as Confluent's registry says.
    #[serde(default, rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
}

/// A schema another one uses by name.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: i64,
}

/// How deep references may chain (a cycle would otherwise never end).
const MAX_REFERENCE_DEPTH: usize = 16;

/// A Confluent-compatible registry and the decoders of the schemas read from it so far.
pub struct Registry {
    http: reqwest::Client,
    base: String,
    auth: Option<(String, String)>,
    decoders: Mutex<HashMap<u32, Arc<OnceCell<Arc<Decoder>>>>>,
    /// Ids the registry answered "not found" for, and when ([`UNKNOWN_ID_RETRY`]).
    unknown: Mutex<HashMap<u32, Instant>>,
}

impl Registry {
    /// A client for `cfg` (nothing is requested yet).
    pub fn new(cfg: &SchemaRegistryConfig) -> Result<Registry, RegistryError> {
        let base = cfg.url.trim_end_matches('/').to_string();
        if reqwest::Url::parse(&base).is_err() {
            return Err(RegistryError::Url {
                url: cfg.url.clone(),
                detail: "is not a URL".into(),
            });
        }
        let mut http = reqwest::Client::builder()
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.request_timeout);
        if let Some(ca) = &cfg.ca {
            let failed = |detail: String| RegistryError::Ca {
                path: ca.display().to_string(),
                detail,
            };
            let pem = std::fs::read(ca).map_err(|e| failed(format!("cannot be read: {e}")))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| failed(format!("is not a PEM certificate file: {e}")))?;
            if certs.is_empty() {
                return Err(failed("holds no PEM certificate".into()));
            }
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http.build().map_err(|e| RegistryError::Url {
            url: cfg.url.clone(),
            detail: e.to_string(),
        })?;
        let auth = match (&cfg.username, &cfg.password) {
            (Some(user), Some(password)) => Some((user.clone(), password.clone())),
            _ => None,
        };
        Ok(Registry {
            http,
            base,
            auth,
            decoders: Mutex::new(HashMap::new()),
            unknown: Mutex::new(HashMap::new()),
        })
    }

    /// The decoder of schema `id`, which must be of `format`: fetched and compiled on first
    /// use, then shared. A failed fetch is not kept (the next record asks again), but an id
    /// the registry does not know is not asked for again within [`UNKNOWN_ID_RETRY`].
    pub async fn decoder(
        &self,
        id: u32,
        format: RecordFormat,
    ) -> Result<Arc<Decoder>, RegistryError> {
        let cell = {
            let mut decoders = self.decoders.lock().unwrap_or_else(|e| e.into_inner());
            decoders.entry(id).or_default().clone()
        };
        if let Some(decoder) = cell.get() {
            return Ok(decoder.clone());
        }
        // Boxed: the fetch's future is kilobytes, and it would otherwise be part of every
        // record's task, which asks here for every record.
        let decoder = Box::pin(cell.get_or_try_init(|| async {
            // Within the window an unknown id is not asked for, by a record that waited
            // for the fetch that found it unknown or by a later one.
            if self.recently_unknown(id) {
                return Err(RegistryError::UnknownId { id });
            }
            let answer = self.get(&format!("/schemas/ids/{id}"), Some(id)).await;
            if let Err(RegistryError::UnknownId { .. }) = answer {
                let mut unknown = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
                unknown.retain(|_, since| since.elapsed() < UNKNOWN_ID_RETRY);
                unknown.insert(id, Instant::now());
            }
            self.compile(id, answer?, format).await.map(Arc::new)
        }))
        .await;
        match decoder {
            Ok(decoder) => Ok(decoder.clone()),
            Err(e) => {
                // Not kept: ids of garbage would otherwise fill the map for good.
                let mut decoders = self.decoders.lock().unwrap_or_else(|e| e.into_inner());
                if decoders.get(&id).is_some_and(|c| !c.initialized()) {
                    decoders.remove(&id);
                }
                Err(e)
            }
        }
    }

    /// Whether the registry said within [`UNKNOWN_ID_RETRY`] that it does not know `id`.
    fn recently_unknown(&self, id: u32) -> bool {
        let unknown = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
        unknown
            .get(&id)
            .is_some_and(|since| since.elapsed() < UNKNOWN_ID_RETRY)
    }

    async fn compile(
        &self,
        id: u32,
        answer: SchemaAnswer,
        format: RecordFormat,
    ) -> Result<Decoder, RegistryError> {
        let kind = answer.schema_type.as_deref().unwrap_or("AVRO").to_string();
        let wrong = |expected: &'static str| RegistryError::WrongKind {
            id,
            found: kind.clone(),
            expected,
        };
        match format {
            RecordFormat::Avro if kind == "AVRO" => {
                let references = self.referenced(id, &answer.references, 0).await?;
                let texts: Vec<String> = references.into_iter().map(|(_, text)| text).collect();
                let plan = avro::Plan::parse(&answer.schema, &texts).map_err(|e| {
                    RegistryError::Unusable {
                        id,
                        detail: e.to_string(),
                    }
                })?;
                Ok(Decoder::Avro(plan))
            }
            RecordFormat::Protobuf if kind == "PROTOBUF" => {
                let references = self.referenced(id, &answer.references, 0).await?;
                let schema = protobuf::Schema::parse(&answer.schema, &references).map_err(|e| {
                    RegistryError::Unusable {
                        id,
                        detail: e.to_string(),
                    }
                })?;
                Ok(Decoder::Protobuf(schema))
            }
            RecordFormat::Protobuf => Err(wrong("PROTOBUF")),
            RecordFormat::Avro => Err(wrong("AVRO")),
            RecordFormat::JsonSchema if kind == "JSON" => Ok(Decoder::Json),
            RecordFormat::JsonSchema => Err(wrong("JSON")),
            RecordFormat::Users | RecordFormat::Json => Err(RegistryError::Unusable {
                id,
                detail: "the pipeline's format does not use the registry".into(),
            }),
        }
    }

    /// The schemas `references` name, and those they name, dependencies first: each as its
    /// name (a Protobuf import path, an Avro type name) and its text.
    async fn referenced(
        &self,
        id: u32,
        references: &[Reference],
        depth: usize,
    ) -> Result<Vec<(String, String)>, RegistryError> {
        let mut out = Vec::new();
        for reference in references {
            if depth >= MAX_REFERENCE_DEPTH {
                return Err(RegistryError::Unusable {
                    id,
                    detail: format!("its references chain deeper than {MAX_REFERENCE_DEPTH}"),
                });
            }
            let path = format!(
                "/subjects/{}/versions/{}",
                urlencode(&reference.subject),
                reference.version
            );
            let answer = self.get(&path, None).await?;
            let nested = Box::pin(self.referenced(id, &answer.references, depth + 1)).await?;
            out.extend(nested);
            out.push((reference.name.clone(), answer.schema));
        }
        Ok(out)
    }

    /// Registers `schema` (`AVRO`, `PROTOBUF` or `JSON`) under `subject` and returns its id
    /// (the same id again when it is registered already).
    pub async fn register(
        &self,
        subject: &str,
        schema_type: &str,
        schema: &str,
    ) -> Result<u32, RegistryError> {
        #[derive(Deserialize)]
        struct Registered {
            id: u32,
        }
        let url = format!("{}/subjects/{}/versions", self.base, urlencode(subject));
        let body = serde_json::json!({"schema": schema, "schemaType": schema_type});
        let request = self
            .with_auth(self.http.post(&url))
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .body(body.to_string());
        let text = self.send(request, &url, None).await?;
        serde_json::from_str::<Registered>(&text)
            .map(|r| r.id)
            .map_err(|e| self.strange(&url, &e.to_string()))
    }

    async fn get(&self, path: &str, id: Option<u32>) -> Result<SchemaAnswer, RegistryError> {
        let url = format!("{}{path}", self.base);
        let request = self.with_auth(self.http.get(&url)).header(
            "Accept",
            "application/vnd.schemaregistry.v1+json, application/json",
        );
        let text = self.send(request, &url, id).await?;
        serde_json::from_str(&text).map_err(|e| self.strange(&url, &e.to_string()))
    }

    fn with_auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    /// Sends `request` and returns the answer's body; the API's 404 for schema `id` is
    /// [`RegistryError::UnknownId`], any other 404 a wrong URL.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
        id: Option<u32>,
    ) -> Result<String, RegistryError> {
        let response = request
            .send()
            .await
            .map_err(|e| RegistryError::Unreachable {
                url: self.base.clone(),
                detail: crate::error_line::render(&e),
            })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| RegistryError::Unreachable {
                url: self.base.clone(),
                detail: crate::error_line::render(&e),
            })?;
        if status.is_success() {
            return Ok(text);
        }
        let detail: String = format!("{url}: {}", text.trim())
            .chars()
            .take(300)
            .collect();
        Err(match (status.as_u16(), id) {
            // The API's own "schema not found" (40403), not a 404 of a wrong base URL.
            (404, Some(id)) if error_code(&text) == Some(40403) => RegistryError::UnknownId { id },
            (404, _) => RegistryError::Url {
                url: self.base.clone(),
                detail: format!("{detail} (404: is the base URL the API's? Apicurio's ends in /apis/ccompat/v7)"),
            },
            (401 | 403, _) => RegistryError::Refused {
                url: self.base.clone(),
                status: status.as_u16(),
                detail,
            },
            (code, _) => RegistryError::Failing {
                url: self.base.clone(),
                status: code,
                detail,
            },
        })
    }

    /// An answer that is not what the API promises: the URL is likely not the API's base.
    fn strange(&self, url: &str, detail: &str) -> RegistryError {
        RegistryError::Url {
            url: self.base.clone(),
            detail: format!("{url} answered something other than the registry API: {detail}"),
        }
    }
}

/// The `error_code` of a Confluent API error body (`{"error_code": 40403, "message": ..}`).
fn error_code(body: &str) -> Option<i64> {
    serde_json::from_str::<Value>(body)
        .ok()?
        .get("error_code")?
        .as_i64()
}

/// `subject` as one path segment.
fn urlencode(subject: &str) -> String {
    let mut out = String::with_capacity(subject.len());
    for b in subject.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_apis_own_not_found_is_an_unknown_id() {
        assert_eq!(
            error_code(r#"{"message":"Schema 999 not found.","error_code":40403}"#),
            Some(40403)
        );
        assert_eq!(error_code("<html>Not Found</html>"), None);
        assert_eq!(
            error_code(r#"{"status":404,"title":"RESTEASY003210"}"#),
            None
        );
    }

    #[test]
    fn subjects_are_one_path_segment() {
        assert_eq!(urlencode("users_created-value"), "users_created-value");
        assert_eq!(urlencode("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn a_bad_url_names_its_key() {
        let cfg = SchemaRegistryConfig {
            url: "not a url".into(),
            ..SchemaRegistryConfig::default()
        };
        let e = Registry::new(&cfg).err().expect("bad url");
        assert!(
            e.to_string().starts_with("schema_registry.url `not a url`"),
            "{e}"
        );
    }

    /// A registry on loopback that answers every request with the API's "not found" and
    /// counts the requests (a unit test of the client's caching, not of a registry).
    fn not_found_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::{AtomicUsize, Ordering};
        // Port 0: the kernel picks a free one, and the listener holds it for the test.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    let mut line = String::new();
                    while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
                        if line == "\r\n" {
                            seen.fetch_add(1, Ordering::SeqCst);
                            let body = r#"{"error_code":40403,"message":"Schema not found"}"#;
                            let answer = format!(
                                "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if reader.get_mut().write_all(answer.as_bytes()).is_err() {
                                break;
                            }
                        }
                        line.clear();
                    }
                });
            }
        });
        (url, count)
    }

    #[tokio::test]
    async fn an_unknown_id_is_asked_for_once_per_window() {
        use std::sync::atomic::Ordering;
        let (url, requests) = not_found_server();
        let registry = Registry::new(&SchemaRegistryConfig {
            url,
            ..SchemaRegistryConfig::default()
        })
        .expect("client");
        for _ in 0..50 {
            let e = registry
                .decoder(4242, RecordFormat::Avro)
                .await
                .expect_err("unknown");
            assert!(matches!(e, RegistryError::UnknownId { id: 4242 }), "{e}");
        }
        assert_eq!(requests.load(Ordering::SeqCst), 1);
        // Another id is asked for on its own.
        let e = registry.decoder(7, RecordFormat::Avro).await.err();
        assert!(matches!(e, Some(RegistryError::UnknownId { id: 7 })));
        assert_eq!(requests.load(Ordering::SeqCst), 2);
        // Records of a new bogus id arriving at once wait for one request.
        let concurrent =
            futures::future::join_all((0..20).map(|_| registry.decoder(99, RecordFormat::Avro)))
                .await;
        assert!(concurrent.iter().all(|d| d.is_err()));
        assert_eq!(requests.load(Ordering::SeqCst), 3);
        assert!(
            registry.decoders.lock().expect("not poisoned").is_empty(),
            "failed fetches leave no entry"
        );
        // Once the window has passed, the id is asked for again.
        registry
            .unknown
            .lock()
            .expect("not poisoned")
            .insert(4242, Instant::now() - UNKNOWN_ID_RETRY);
        assert!(registry.decoder(4242, RecordFormat::Avro).await.is_err());
        assert_eq!(requests.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn outages_wait_and_record_faults_do_not() {
        let down = RegistryError::Unreachable {
            url: "u".into(),
            detail: "refused".into(),
        };
        assert!(down.is_outage());
        assert!(!RegistryError::UnknownId { id: 7 }.is_outage());
        let refused = RegistryError::Refused {
            url: "u".into(),
            status: 401,
            detail: String::new(),
        };
        assert!(refused.is_outage());
        let not_a_registry = RegistryError::Url {
            url: "u".into(),
            detail: "answered HTML".into(),
        };
        assert!(not_a_registry.is_outage());
    }
}
