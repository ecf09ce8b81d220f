//! The Cassandra pages and their JSON: keyspaces and tables, and a table's rows page by
//! page (newest write first within a page) with its row count. The count is a full scan,
//! so the page fetches it after loading instead of waiting for it.

use super::{layout, AppState, Routes, Session, WebError};
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::Json;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

pub const PAGE_SIZE: i32 = 25;

pub fn register(routes: Routes) -> Routes {
    routes
        .page(Method::GET, "/cassandra", keyspaces_page)
        .page(Method::GET, "/cassandra/{keyspace}/{table}", table_page)
        .api(Method::GET, "/api/v1/cassandra/keyspaces", keyspaces_api)
        .api(
            Method::GET,
            "/api/v1/cassandra/{keyspace}/{table}/rows",
            rows_api,
        )
        .api(
            Method::GET,
            "/api/v1/cassandra/{keyspace}/{table}/count",
            count_api,
        )
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    page: Option<String>,
    size: Option<i32>,
}

async fn keyspaces_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Markup, WebError> {
    let keyspaces = state.cassandra.keyspaces().await?;
    let content = html! {
        h2 { "Pipeline tables" }
        ul class="cards" {
            @for p in &state.config.pipelines {
                li { a href={ "/cassandra/" (p.keyspace) "/" (p.table) } { (p.keyspace) "." (p.table) }
                     span class="muted" { " ← " (p.topic) " (" (p.name) ")" } }
            }
        }
        h2 { "Keyspaces" }
        table class="grid" id="keyspaces" {
            thead { tr { th { "Keyspace" } th { "Tables" } } }
            tbody {
                @for k in keyspaces.iter().filter(|k| !k.system) {
                    tr { td { (k.name) } td { (table_links(&k.name, &k.tables)) } }
                }
            }
        }
        details {
            summary { "System keyspaces" }
            table class="grid" {
                tbody {
                    @for k in keyspaces.iter().filter(|k| k.system) {
                        tr { td { (k.name) } td { (table_links(&k.name, &k.tables)) } }
                    }
                }
            }
        }
    };
    Ok(layout::page(&session, "/cassandra", "Cassandra", content))
}

fn table_links(keyspace: &str, tables: &[String]) -> Markup {
    html! {
        @for t in tables {
            a class="pill" href={ "/cassandra/" (keyspace) "/" (t) } { (t) } " "
        }
    }
}

async fn table_page(
    State(state): State<AppState>,
    session: Session,
    Path((keyspace, table)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Result<Markup, WebError> {
    let size = query.size.unwrap_or(PAGE_SIZE);
    let page = state
        .cassandra
        .rows(&keyspace, &table, query.page.as_deref(), size)
        .await?;
    let base = format!("/cassandra/{keyspace}/{table}");
    let content = html! {
        p {
            "Rows: " span id="row-count" data-count-url={ "/api/v1/" (base.trim_start_matches('/')) "/count" } { "counting…" }
            span class="muted" { " · " (page.rows.len()) " on this page, newest write first" }
        }
        div class="scroll" {
            table class="grid" id="rows" {
                thead { tr { th { "Written (UTC)" } @for c in &page.columns { th { (c) } } } }
                tbody {
                    @for (row, written) in page.rows.iter().zip(&page.written_at) {
                        tr {
                            td class="nowrap" { (layout::time(*written)) }
                            @for v in row {
                                td { @if let Some(v) = v { (v) } @else { span class="null" { "null" } } }
                            }
                        }
                    }
                    @if page.rows.is_empty() { tr { td colspan=(page.columns.len() + 1) class="muted" { "No rows." } } }
                }
            }
        }
        nav class="pager" {
            @if query.page.is_some() { a href=(base) id="first-page" { "« First page" } }
            @if let Some(next) = &page.next_page {
                a href={ (base) "?page=" (next) "&size=" (size) } id="next-page" { "Next page »" }
            }
        }
    };
    Ok(layout::page(
        &session,
        "/cassandra",
        &format!("{keyspace}.{table}"),
        content,
    ))
}

async fn keyspaces_api(State(state): State<AppState>) -> Result<Json<Value>, WebError> {
    Ok(Json(
        json!({ "keyspaces": state.cassandra.keyspaces().await? }),
    ))
}

async fn rows_api(
    State(state): State<AppState>,
    Path((keyspace, table)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, WebError> {
    let page = state
        .cassandra
        .rows(
            &keyspace,
            &table,
            query.page.as_deref(),
            query.size.unwrap_or(PAGE_SIZE),
        )
        .await?;
    Ok(Json(json!(page)))
}

async fn count_api(
    State(state): State<AppState>,
    Path((keyspace, table)): Path<(String, String)>,
) -> Result<Json<Value>, WebError> {
    let count = state.cassandra.count(&keyspace, &table).await?;
    Ok(Json(
        json!({ "keyspace": keyspace, "table": table, "count": count }),
    ))
}

pub fn openapi_paths() -> Value {
    use super::openapi::{get_op, param_path, param_query};
    let kt = || vec![param_path("keyspace"), param_path("table")];
    let mut rows_params = kt();
    rows_params.push(param_query(
        "page",
        "string",
        "token of the page (next_page of the previous one)",
    ));
    rows_params.push(param_query(
        "size",
        "integer",
        "rows per page (1-1000, default 25)",
    ));
    json!({
        "/api/v1/cassandra/keyspaces": { "get": get_op("cassandra", "Keyspaces and their tables", vec![]) },
        "/api/v1/cassandra/{keyspace}/{table}/rows": { "get": get_op("cassandra",
            "One page of rows (newest write first within the page) and the token of the next", rows_params) },
        "/api/v1/cassandra/{keyspace}/{table}/count": { "get": get_op("cassandra",
            "Row count (a full scan, 20 s timeout)", kt()) },
    })
}
