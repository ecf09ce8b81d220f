//! The Topics pages and their JSON: every topic, and per topic its partitions with
//! low/high offsets, the lag of each consumer group reading it, and a live tail of its
//! newest messages (rendered once on the server, then refreshed by polling the JSON).

use super::kafka::{GroupLag, PartitionOffsets, ShownMessage};
use super::{layout, AppState, Routes, Session, WebError};
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::Json;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

/// Messages in the tail unless the request asks for another number.
pub const TAIL_DEFAULT: usize = 20;
const TAIL_MAX: usize = 200;

pub fn register(routes: Routes) -> Routes {
    routes
        .page(Method::GET, "/topics", list_page)
        .page(Method::GET, "/topics/{topic}", topic_page)
        .api(Method::GET, "/api/v1/topics", list_api)
        .api(Method::GET, "/api/v1/topics/{topic}", topic_api)
        .api(Method::GET, "/api/v1/topics/{topic}/messages", messages_api)
}

/// Kafka's own rule for topic names; anything else cannot exist, so it is not asked for.
pub fn valid_topic(name: &str) -> Result<(), WebError> {
    let ok = !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(WebError::NotFound(format!("topic `{name}`")))
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TailQuery {
    limit: Option<usize>,
}

async fn list_page(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ListQuery>,
) -> Result<Markup, WebError> {
    let filter = query.q.unwrap_or_default();
    let topics = state.kafka.topics().await?;
    let shown: Vec<_> = topics
        .iter()
        .filter(|t| filter.is_empty() || t.name.contains(filter.as_str()))
        .collect();
    let content = html! {
        form class="filter" method="get" action="/topics" {
            input name="q" value=(filter) placeholder="filter by name";
            button type="submit" { "Filter" }
            span class="muted" { (shown.len()) " of " (topics.len()) " topics" }
        }
        table class="grid" id="topics" {
            thead { tr { th { "Topic" } th { "Partitions" } th { "Pipeline" } } }
            tbody {
                @for t in &shown {
                    tr {
                        td { a href={ "/topics/" (t.name) } { (t.name) } }
                        td class="num" { (t.partitions) }
                        td { (pipeline_role(&state, &t.name)) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&session, "/topics", "Topics", content))
}

/// "users (source)" / "users (dead letters)" for topics that belong to a pipeline.
fn pipeline_role(state: &AppState, topic: &str) -> String {
    state
        .config
        .pipelines
        .iter()
        .find_map(|p| {
            if p.topic == topic {
                Some(format!("{} (source)", p.name))
            } else if p.dead_letter_topic() == topic {
                Some(format!("{} (dead letters)", p.name))
            } else {
                None
            }
        })
        .unwrap_or_default()
}

async fn details(
    state: &AppState,
    topic: &str,
) -> Result<(Vec<PartitionOffsets>, Vec<GroupLag>), WebError> {
    valid_topic(topic)?;
    let partitions = state.kafka.partitions(topic).await?;
    let known = state
        .config
        .pipelines
        .iter()
        .filter(|p| p.topic == topic)
        .map(|p| p.group_id())
        .collect();
    let groups = state.kafka.group_lag(topic, &partitions, known).await?;
    Ok((partitions, groups))
}

async fn topic_page(
    State(state): State<AppState>,
    session: Session,
    Path(topic): Path<String>,
) -> Result<Markup, WebError> {
    let (partitions, groups) = details(&state, &topic).await?;
    let tail = state.kafka.tail(&topic, TAIL_DEFAULT).await?;
    let messages: i64 = partitions.iter().map(|p| p.high - p.low).sum();
    let content = html! {
        p class="muted" { (partitions.len()) " partitions, " (messages) " messages retained. " (pipeline_role(&state, &topic)) }
        h2 { "Partitions" }
        table class="grid" id="partitions" {
            thead { tr { th { "Partition" } th { "Leader" } th { "Low offset" } th { "High offset" } th { "Messages" } } }
            tbody {
                @for p in &partitions {
                    tr { td class="num" { (p.partition) } td class="num" { (p.leader) } td class="num" { (p.low) } td class="num" { (p.high) } td class="num" { (p.high - p.low) } }
                }
            }
        }
        h2 { "Consumer groups" }
        @if groups.is_empty() {
            p class="muted" { "No consumer group has committed offsets on this topic." }
        } @else {
            table class="grid" id="groups" {
                thead { tr { th { "Group" } th { "Lag" } th { "Committed offsets (partition: offset)" } } }
                tbody {
                    @for g in &groups {
                        tr {
                            td { (g.group) }
                            td class="num" { (g.total_lag) }
                            td class="small" {
                                @for (p, o, _) in &g.partitions {
                                    span class="pair" { (p) ": " (o.map_or("-".to_string(), |o| o.to_string())) }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Newest messages " span class="live" id="tail-status" { "live" } }
        (tail_table(&topic, &tail))
    };
    Ok(layout::page(
        &session,
        "/topics",
        &format!("Topic {topic}"),
        content,
    ))
}

/// The tail table; app.js refreshes its body from `data-tail-url`.
pub fn tail_table(topic: &str, messages: &[ShownMessage]) -> Markup {
    html! {
        table class="grid tail" id="tail" data-tail-url={ "/api/v1/topics/" (topic) "/messages?limit=" (TAIL_DEFAULT) } {
            thead { tr { th { "Time (UTC)" } th { "Partition" } th { "Offset" } th { "Key" } th { "Value" } } }
            tbody {
                @for m in messages {
                    tr {
                        td class="nowrap" { (layout::time(m.timestamp)) }
                        td class="num" { (m.partition) }
                        td class="num" { (m.offset) }
                        td class="small" { (m.key.as_deref().unwrap_or("")) }
                        td { code { (m.value) @if m.truncated { "…" } } }
                    }
                }
                @if messages.is_empty() { tr { td colspan="5" class="muted" { "No messages." } } }
            }
        }
    }
}

async fn list_api(State(state): State<AppState>) -> Result<Json<Value>, WebError> {
    let topics = state.kafka.topics().await?;
    Ok(Json(json!({ "topics": topics })))
}

async fn topic_api(
    State(state): State<AppState>,
    Path(topic): Path<String>,
) -> Result<Json<Value>, WebError> {
    let (partitions, groups) = details(&state, &topic).await?;
    Ok(Json(
        json!({ "topic": topic, "partitions": partitions, "groups": groups }),
    ))
}

async fn messages_api(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    Query(query): Query<TailQuery>,
) -> Result<Json<Value>, WebError> {
    valid_topic(&topic)?;
    let limit = query.limit.unwrap_or(TAIL_DEFAULT).clamp(1, TAIL_MAX);
    let messages = state.kafka.tail(&topic, limit).await?;
    Ok(Json(json!({ "topic": topic, "messages": messages })))
}

/// OpenAPI path items of this module.
pub fn openapi_paths() -> Value {
    use super::openapi::{get_op, param_path, param_query};
    json!({
        "/api/v1/topics": { "get": get_op("topics", "List topics with their partition counts", vec![]) },
        "/api/v1/topics/{topic}": { "get": get_op("topics", "Partitions with low/high offsets, and consumer groups with their lag",
            vec![param_path("topic")]) },
        "/api/v1/topics/{topic}/messages": { "get": get_op("topics", "The newest messages of the topic, newest first",
            vec![param_path("topic"), param_query("limit", "integer", "how many (1-200, default 20)")]) },
    })
}

#[cfg(test)]
mod tests {
    use super::valid_topic;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(valid_topic("users_created.dlq").is_ok());
        assert!(valid_topic("a/b").is_err());
        assert!(valid_topic("..").is_err());
        assert!(valid_topic("").is_err());
    }
}
