//! The Dead letters pages and their JSON: each pipeline's dead-letter topic, its newest
//! messages with the `cassflow.reason` / `cassflow.error` headers the stream job wrote,
//! and re-sending one message to its source topic (a POST: CSRF-checked for the page,
//! API auth for JSON). Re-sending goes only to a configured pipeline's source topic,
//! never to a topic named by a header alone.

use super::kafka::ShownMessage;
use super::{layout, AppState, Routes, Session, WebError};
use crate::config::PipelineConfig;
use crate::stream::dead_letter::header;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Redirect;
use axum::{Form, Json};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

const SHOWN: usize = 50;

pub fn register(routes: Routes) -> Routes {
    routes
        .page(Method::GET, "/dead-letters", list_page)
        .page(Method::GET, "/dead-letters/{pipeline}", pipeline_page)
        .page(Method::POST, "/dead-letters/{pipeline}/resend", resend_form)
        .api(Method::GET, "/api/v1/dead-letters/{pipeline}", list_api)
        .api(
            Method::POST,
            "/api/v1/dead-letters/{pipeline}/resend",
            resend_api,
        )
}

#[derive(Debug, Deserialize)]
pub struct Position {
    partition: i32,
    offset: i64,
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    resent: Option<String>,
    limit: Option<usize>,
}

/// The named pipeline and its dead letters, newest first (as many as the query asks, up
/// to 200); none while its topic does not exist. The page and the API show the same.
async fn newest(
    state: &AppState,
    name: &str,
    query: &PageQuery,
) -> Result<(PipelineConfig, Vec<ShownMessage>), WebError> {
    let pipeline = state.pipeline(name)?.clone();
    let limit = query.limit.unwrap_or(SHOWN).clamp(1, 200);
    match state.kafka.tail(&pipeline.dead_letter_topic(), limit).await {
        Err(WebError::NotFound(_)) => Ok((pipeline, Vec::new())),
        Ok(messages) => Ok((pipeline, messages)),
        Err(e) => Err(e),
    }
}

async fn list_page(State(state): State<AppState>, session: Session) -> Result<Markup, WebError> {
    let mut rows = Vec::new();
    for p in &state.config.pipelines {
        let count = match state.kafka.partitions(&p.dead_letter_topic()).await {
            Ok(parts) => Some(parts.iter().map(|x| x.high - x.low).sum::<i64>()),
            Err(WebError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        rows.push((p, count));
    }
    let content = html! {
        table class="grid" id="dead-letter-topics" {
            thead { tr { th { "Pipeline" } th { "Dead-letter topic" } th { "Messages retained" } th { "Source topic" } } }
            tbody {
                @for (p, count) in &rows {
                    tr {
                        td { a href={ "/dead-letters/" (p.name) } { (p.name) } }
                        td { (p.dead_letter_topic()) }
                        td class="num" { (count.map_or("topic not created yet".to_string(), |c| c.to_string())) }
                        td { (p.topic) }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &session,
        "/dead-letters",
        "Dead letters",
        content,
    ))
}

async fn pipeline_page(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Markup, WebError> {
    let (pipeline, messages) = newest(&state, &name, &query).await?;
    let content = html! {
        @if let Some(r) = &query.resent { (layout::notice("ok", &format!("Re-sent to {r}."))) }
        p class="muted" { "Topic " code { (pipeline.dead_letter_topic()) } "; re-sending puts a message back on "
            code { (pipeline.topic) } " for the stream job to try again." }
        table class="grid" id="dead-letters" {
            thead { tr { th { "Dead-lettered (UTC)" } th { "Reason" } th { "Error" } th { "From" } th { "Value" } th {} } }
            tbody {
                @for m in &messages {
                    tr {
                        td class="nowrap" { (m.header(header::DEAD_LETTERED_AT).unwrap_or(&layout::time(m.timestamp))) }
                        td { span class="pill warn" { (m.header(header::REASON).unwrap_or("?")) } }
                        td class="small" { (m.header(header::ERROR).unwrap_or("")) }
                        td class="small nowrap" {
                            (m.header(header::SOURCE_TOPIC).unwrap_or("?")) "/"
                            (m.header(header::SOURCE_PARTITION).unwrap_or("?")) "/"
                            (m.header(header::SOURCE_OFFSET).unwrap_or("?"))
                        }
                        td { code { (m.value) @if m.truncated { "…" } } }
                        td {
                            form method="post" action={ "/dead-letters/" (pipeline.name) "/resend" } {
                                (layout::csrf_field(&session))
                                input type="hidden" name="partition" value=(m.partition);
                                input type="hidden" name="offset" value=(m.offset);
                                button type="submit" class="resend" { "Re-send" }
                            }
                        }
                    }
                }
                @if messages.is_empty() { tr { td colspan="6" class="muted" { "No dead letters." } } }
            }
        }
    };
    Ok(layout::page(
        &session,
        "/dead-letters",
        &format!("Dead letters of {}", pipeline.name),
        content,
    ))
}

/// Re-sends the dead letter at `pos`; returns "topic/partition/offset" of the new message.
async fn resend(state: &AppState, name: &str, pos: &Position) -> Result<String, WebError> {
    let pipeline = state.pipeline(name)?.clone();
    let dlq = pipeline.dead_letter_topic();
    let message = state.kafka.message(&dlq, pos.partition, pos.offset).await?;
    let shown = super::kafka::ShownMessage::from_owned(&message);
    // A shared dead-letter topic may hold letters of several pipelines: honour the header
    // only when it names a configured pipeline that dead-letters into this topic.
    let target = shown
        .header(header::SOURCE_TOPIC)
        .and_then(|t| {
            state
                .config
                .pipelines
                .iter()
                .find(|p| p.topic == t && p.dead_letter_topic() == dlq)
        })
        .map_or(pipeline.topic.clone(), |p| p.topic.clone());
    let (partition, offset) = state.kafka.resend(&message, &target).await?;
    tracing::info!(
        dead_letter = %format!("{dlq}/{}/{}", pos.partition, pos.offset),
        to = %format!("{target}/{partition}/{offset}"),
        "dead letter re-sent"
    );
    Ok(format!("{target}/{partition}/{offset}"))
}

async fn resend_form(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Form(pos): Form<Position>,
) -> Result<Redirect, WebError> {
    let to = resend(&state, &name, &pos).await?;
    Ok(Redirect::to(&format!(
        "/dead-letters/{}?resent={}",
        super::error::urlencode(&name),
        super::error::urlencode(&to)
    )))
}

async fn list_api(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, WebError> {
    let (pipeline, messages) = newest(&state, &name, &query).await?;
    Ok(Json(json!({
        "pipeline": pipeline.name,
        "topic": pipeline.dead_letter_topic(),
        "messages": messages,
    })))
}

async fn resend_api(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(pos): Json<Position>,
) -> Result<Json<Value>, WebError> {
    let to = resend(&state, &name, &pos).await?;
    Ok(Json(json!({ "resent_to": to })))
}

pub fn openapi_paths() -> Value {
    use super::openapi::{get_op, param_path, param_query, post_op};
    json!({
        "/api/v1/dead-letters/{pipeline}": { "get": get_op("dead-letters",
            "The newest dead letters of the pipeline, with their reason and error headers",
            vec![param_path("pipeline"), param_query("limit", "integer", "how many (1-200, default 50)")]) },
        "/api/v1/dead-letters/{pipeline}/resend": { "post": post_op("dead-letters",
            "Re-send one dead letter to the pipeline's source topic",
            vec![param_path("pipeline")],
            json!({ "type": "object", "required": ["partition", "offset"],
                "properties": { "partition": { "type": "integer" }, "offset": { "type": "integer" } } })) },
    })
}
