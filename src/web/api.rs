//! Service endpoints: `/health` (public: are Kafka and Cassandra reachable, is every
//! pipeline of this process running; details only for a session or the API token), `/metrics`
//! (every cassflow metric in the Prometheus text format, behind API auth), the OpenAPI
//! document, and `/api/v1/pipelines` (each pipeline's configuration and live status).

use super::{openapi, AppState, Routes, WebError};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::time::Duration;

const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

pub fn register(routes: Routes) -> Routes {
    routes
        .public(Method::GET, "/health", health)
        .api(Method::GET, "/metrics", metrics)
        .api(Method::GET, "/api/v1/openapi.json", openapi_json)
        .api(Method::GET, "/api/v1/pipelines", pipelines)
}

/// 200 when both answer and no pipeline of this process failed or is paused for a reason
/// that needs a person; 503 otherwise. Anyone sees the status words; the details (brokers,
/// version, error text, which may name hosts and users) only a logged-in user or a caller
/// with the API token.
async fn health(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (kafka, cassandra) = tokio::join!(
        state.kafka.reachable(HEALTH_TIMEOUT),
        state.cassandra.reachable(HEALTH_TIMEOUT)
    );
    // Pipelines this process runs: state and reason only (no error text for anonymous
    // callers; the Stream page and the pipelines API show it to signed-in users).
    let mut attention = false;
    let pipelines: serde_json::Map<String, Value> = state
        .config
        .pipelines
        .iter()
        .filter_map(|p| {
            let status = crate::stream::status::get(&p.name)?;
            attention |= status.needs_attention();
            Some((
                p.name.clone(),
                json!({ "state": status.state, "reason": status.reason }),
            ))
        })
        .collect();
    let ok = kafka.is_ok() && cassandra.is_ok() && !attention;
    let mut body = json!({
        "pipelines": pipelines,
        "status": if ok { "ok" } else { "degraded" },
        "kafka": match &kafka {
            Ok(brokers) => json!({ "reachable": true, "brokers": brokers }),
            Err(e) => json!({ "reachable": false, "error": e.to_string() }),
        },
        "cassandra": match &cassandra {
            Ok(version) => json!({ "reachable": true, "version": version }),
            Err(e) => json!({ "reachable": false, "error": e.to_string() }),
        },
    });
    if !may_see_details(&state, &headers) {
        redact_health(&mut body);
    }
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// A session cookie or the API bearer token (no basic auth: /health must stay cheap).
fn may_see_details(state: &AppState, headers: &HeaderMap) -> bool {
    if state.auth.sessions.from_headers(headers).is_some() {
        return true;
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer") && state.auth.check_token(token.trim())
        })
}

/// Keeps only the status words of the health document, for anonymous callers: at any
/// depth, booleans, objects and arrays stay, and of text and numbers only `status`, `state`,
/// `reason` (a pipeline's pause reason, one word) and `name`; error text, versions and broker lists go.
pub fn redact_health(body: &mut Value) {
    match body {
        Value::Object(fields) => {
            fields.retain(|k, v| match v {
                Value::String(_) | Value::Number(_) => {
                    matches!(k.as_str(), "status" | "state" | "reason" | "name")
                }
                _ => true,
            });
            fields.values_mut().for_each(redact_health);
        }
        Value::Array(items) => items.iter_mut().for_each(redact_health),
        _ => {}
    }
}

async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::stream::metrics::encode(),
    )
        .into_response()
}

async fn openapi_json() -> Json<Value> {
    Json(openapi::document())
}

async fn pipelines(State(state): State<AppState>) -> Result<Json<Value>, WebError> {
    let latest = state.samples.latest();
    let pipelines: Vec<Value> = state
        .config
        .pipelines
        .iter()
        .map(|p| {
            let status = latest.as_ref().and_then(|s| s.pipelines.get(&p.name));
            json!({
                "name": p.name,
                "topic": p.topic,
                "dead_letter_topic": p.dead_letter_topic(),
                "keyspace": p.keyspace,
                "table": p.table,
                "group_id": p.group_id(),
                "format": p.format,
                // Null until the stream job in this process has reported on the pipeline.
                "status": status,
            })
        })
        .collect();
    Ok(Json(json!({
        "sampled_at": latest.map(|s| s.at),
        "pipelines": pipelines,
    })))
}

pub fn openapi_paths() -> Value {
    let get = |summary| openapi::get_op("service", summary, vec![]);
    json!({
        "/metrics": { "get": get("Every cassflow metric, Prometheus text format") },
        "/api/v1/openapi.json": { "get": get("This document") },
        "/api/v1/pipelines": { "get": openapi::get_op("pipelines",
            "Each pipeline's topics, table and group, with rows/s, lag, latency, dead letters and last error",
            vec![]) },
        "/health": { "get": { "tags": ["service"], "summary": "Kafka and Cassandra reachability and each pipeline's state (no auth: status words; details with a session or the API token)",
            "security": [],
            "responses": { "200": { "description": "Both reachable" },
                "503": { "description": "At least one unreachable, or a pipeline failed or paused" } } } },
    })
}
