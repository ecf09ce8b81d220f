//! Service endpoints: `/health` (public: are Kafka and Cassandra reachable), `/metrics`
//! (every cassflow metric in the Prometheus text format, behind API auth), the OpenAPI
//! document, and `/api/v1/pipelines` (each pipeline's configuration and live status).

use super::{openapi, AppState, Routes, WebError};
use axum::extract::State;
use axum::http::{header, Method, StatusCode};
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

/// 200 when both answer, 503 otherwise; the body says which and why.
async fn health(State(state): State<AppState>) -> Response {
    let (kafka, cassandra) = tokio::join!(
        state.kafka.reachable(HEALTH_TIMEOUT),
        state.cassandra.reachable(HEALTH_TIMEOUT)
    );
    let ok = kafka.is_ok() && cassandra.is_ok();
    let body = json!({
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
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
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
        "/health": { "get": { "tags": ["service"], "summary": "Kafka and Cassandra reachability (no auth)",
            "security": [],
            "responses": { "200": { "description": "Both reachable" },
                "503": { "description": "At least one unreachable" } } } },
    })
}
