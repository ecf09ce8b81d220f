//! The Stream page: per pipeline, live charts of rows/s, consumer lag, write latency
//! p50/p99 and dead letters, with the totals and the last error, drawn by chart.js from
//! the samples of [`super::sampler`] (polled as JSON once a second), and each pipeline's
//! state: running, paused and why, or failed at start and why.

use super::{layout, AppState, Routes, Session, WebError};
use crate::stream::status::{PauseReason, PipelineStatus, State as PipelineState};
use axum::extract::{Query, State};
use axum::http::Method;
use axum::Json;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn register(routes: Routes) -> Routes {
    routes.page(Method::GET, "/stream", stream_page).api(
        Method::GET,
        "/api/v1/stream/samples",
        samples_api,
    )
}

#[derive(Debug, Deserialize)]
pub struct SinceQuery {
    since: Option<u64>,
}

/// (series keys, title) of each chart.
const CHARTS: &[(&str, &str)] = &[
    ("rows_per_sec", "Rows written per second"),
    ("lag", "Consumer lag (messages)"),
    (
        "latency_p50_ms,latency_p99_ms",
        "Write latency p50 / p99 (ms)",
    ),
    ("dead_letters_per_sec", "Dead letters per second"),
];

async fn stream_page(State(state): State<AppState>, session: Session) -> Result<Markup, WebError> {
    let latest = state.samples.latest();
    let content = html! {
        p class="muted" {
            "Sampled every second from this process's metrics (the same numbers as "
            code { "/metrics" } "); rates and latencies over the last 5 s. "
            "Charts stay empty until the stream job in this process reports on a pipeline."
        }
        div id="stream" data-samples-url="/api/v1/stream/samples" {
            @for p in &state.config.pipelines {
                @let s = latest.as_ref().and_then(|l| l.pipelines.get(&p.name));
                section class="pipeline" data-pipeline=(p.name) {
                    h2 { (p.name) span class="muted" { " " (p.topic) " → " (p.keyspace) "." (p.table) } }
                    dl class="totals" {
                        dt { "Written" } dd data-field="written" { (s.map_or(0, |s| s.written)) }
                        dt { "Consumed" } dd data-field="consumed" { (s.map_or(0, |s| s.consumed)) }
                        dt { "Lag" } dd data-field="lag" { (s.map_or(0, |s| s.lag)) }
                        dt { "Dead letters" } dd data-field="dead_letters" { (s.map_or(0, |s| s.dead_letters)) }
                        dt { "In flight" } dd data-field="in_flight" { (s.map_or(0, |s| s.in_flight)) }
                        dt { "Paused" } dd data-field="paused" { (if s.is_some_and(|s| s.paused) { "yes" } else { "no" }) }
                    }
                    @let status = crate::stream::status::get(&p.name);
                    p class=(if status.as_ref().is_some_and(|st| st.needs_attention()) { "pipeline-state attention" } else { "pipeline-state" }) {
                        "State: "
                        span data-field="status" { (describe(status.as_ref())) }
                    }
                    div class="charts" {
                        @for (series, title) in CHARTS {
                            figure {
                                figcaption { (title) }
                                canvas class="chart" width="480" height="160" data-series=(series) {}
                            }
                        }
                    }
                    p class="last-error" {
                        "Last error: "
                        span data-field="last_error" {
                            @match s.and_then(|s| s.last_error.as_ref()) {
                                Some(e) => { (e.at.format("%Y-%m-%d %H:%M:%S UTC")) " " (e.message) }
                                None => "none",
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&session, "/stream", "Stream", content))
}

/// One line for a pipeline's state: what it does and, when paused or failed, why.
pub fn describe(status: Option<&PipelineStatus>) -> String {
    let Some(status) = status else {
        return "not run by this process".into();
    };
    let state = match (status.state, status.reason) {
        (PipelineState::Paused, Some(PauseReason::CassandraUnavailable)) => {
            "paused (Cassandra outage)"
        }
        (PipelineState::Paused, Some(PauseReason::Unauthorized)) => {
            "paused (writes not authorized)"
        }
        (PipelineState::Paused, Some(PauseReason::Schema)) => "paused (table cannot be written)",
        (PipelineState::Paused, Some(PauseReason::RegistryUnavailable)) => {
            "paused (schema registry outage)"
        }
        (state, _) => state.label(),
    };
    match &status.detail {
        Some(detail) => format!(
            "{state} since {}: {detail}",
            status.since.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        None => format!(
            "{state} since {}",
            status.since.format("%Y-%m-%d %H:%M:%S UTC")
        ),
    }
}

async fn samples_api(
    State(state): State<AppState>,
    Query(query): Query<SinceQuery>,
) -> Json<Value> {
    Json(json!({ "samples": state.samples.since(query.since.unwrap_or(0)) }))
}

pub fn openapi_paths() -> Value {
    use super::openapi::{get_op, param_query};
    json!({
        "/api/v1/stream/samples": { "get": get_op("stream",
            "Per-second samples per pipeline (rows/s, lag, latency p50/p99, dead letters, last error), oldest first",
            vec![param_query("since", "integer", "only samples with a greater seq")]) },
    })
}
