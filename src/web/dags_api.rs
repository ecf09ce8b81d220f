//! The scheduler's REST API, modelled on Airflow's stable API: DAGs (list, one, PATCH
//! `is_paused`), DAG runs (list, one, POST = trigger with `conf`), task instances of a run,
//! and one try's log. Field names follow Airflow (`dag_run_id`, `logical_date`,
//! `data_interval_start`, `try_number`...). The OpenAPI paths are in [`openapi_paths`].

use super::dags::{scheduler, web_error};
use super::{openapi, AppState, Routes, WebError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn register(routes: Routes) -> Routes {
    routes
        .api(Method::GET, "/api/v1/dags", list_dags)
        .api(Method::GET, "/api/v1/dags/{dag_id}", get_dag)
        .api(Method::PATCH, "/api/v1/dags/{dag_id}", patch_dag)
        .api(Method::GET, "/api/v1/dags/{dag_id}/dagRuns", list_runs)
        .api(Method::POST, "/api/v1/dags/{dag_id}/dagRuns", trigger)
        .api(
            Method::GET,
            "/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}",
            get_run,
        )
        .api(
            Method::GET,
            "/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances",
            task_instances,
        )
        .api(
            Method::GET,
            "/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}",
            task_log,
        )
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Json<Value>, WebError> {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| WebError::Internal(e.to_string()))
}

fn body<T>(payload: Result<Json<T>, JsonRejection>) -> Result<T, WebError> {
    payload
        .map(|Json(t)| t)
        .map_err(|e| WebError::BadRequest(e.body_text()))
}

async fn list_dags(State(state): State<AppState>) -> Result<Json<Value>, WebError> {
    let s = scheduler(&state)?;
    let dags = s.list_dags().map_err(web_error)?;
    Ok(Json(json!({
        "total_entries": dags.len(),
        "dags": dags,
        "import_errors": s.import_errors(),
    })))
}

async fn get_dag(
    State(state): State<AppState>,
    Path(dag_id): Path<String>,
) -> Result<Json<Value>, WebError> {
    to_json(&scheduler(&state)?.dag(&dag_id).map_err(web_error)?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DagPatch {
    is_paused: bool,
}

async fn patch_dag(
    State(state): State<AppState>,
    Path(dag_id): Path<String>,
    payload: Result<Json<DagPatch>, JsonRejection>,
) -> Result<Json<Value>, WebError> {
    let patch = body(payload)?;
    let summary = scheduler(&state)?
        .set_paused(&dag_id, patch.is_paused)
        .map_err(web_error)?;
    to_json(&summary)
}

#[derive(Debug, Deserialize)]
pub struct RunsQuery {
    limit: Option<usize>,
}

async fn list_runs(
    State(state): State<AppState>,
    Path(dag_id): Path<String>,
    Query(query): Query<RunsQuery>,
) -> Result<Json<Value>, WebError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let runs = scheduler(&state)?.runs(&dag_id, limit).map_err(web_error)?;
    Ok(Json(
        json!({ "total_entries": runs.len(), "dag_runs": runs }),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerBody {
    conf: Option<Value>,
}

async fn trigger(
    State(state): State<AppState>,
    Path(dag_id): Path<String>,
    payload: Result<Json<TriggerBody>, JsonRejection>,
) -> Result<Json<Value>, WebError> {
    let request = body(payload)?;
    let run = scheduler(&state)?
        .trigger(&dag_id, request.conf)
        .map_err(web_error)?;
    to_json(&run)
}

async fn get_run(
    State(state): State<AppState>,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> Result<Json<Value>, WebError> {
    to_json(
        &scheduler(&state)?
            .run_info(&dag_id, &run_id)
            .map_err(web_error)?,
    )
}

async fn task_instances(
    State(state): State<AppState>,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> Result<Json<Value>, WebError> {
    let tis = scheduler(&state)?
        .task_instances(&dag_id, &run_id)
        .map_err(web_error)?;
    Ok(Json(
        json!({ "total_entries": tis.len(), "task_instances": tis }),
    ))
}

async fn task_log(
    State(state): State<AppState>,
    Path((dag_id, run_id, task_id, try_number)): Path<(String, String, String, u32)>,
) -> Result<Json<Value>, WebError> {
    to_json(
        &scheduler(&state)?
            .task_log(&dag_id, &run_id, &task_id, try_number)
            .map_err(web_error)?,
    )
}

pub fn openapi_paths() -> Value {
    let p = openapi::param_path;
    let get = |summary, params| openapi::get_op("dags", summary, params);
    let conf = json!({ "type": "object", "properties": {
        "conf": { "type": "object", "description": "Run parameters; override the DAG's params" } } });
    let mut patch = openapi::post_op(
        "dags",
        "Pause or unpause a DAG",
        vec![p("dag_id")],
        json!({ "type": "object", "required": ["is_paused"],
            "properties": { "is_paused": { "type": "boolean" } } }),
    );
    patch["summary"] = json!("Pause or unpause a DAG (no new scheduled runs while paused)");
    json!({
        "/api/v1/dags": { "get": get("DAGs with schedule, pause flag, next run and last run; DAG file import errors", vec![]) },
        "/api/v1/dags/{dag_id}": {
            "get": get("One DAG with its tasks and params", vec![p("dag_id")]),
            "patch": patch,
        },
        "/api/v1/dags/{dag_id}/dagRuns": {
            "get": get("The DAG's runs, newest first", vec![p("dag_id"),
                openapi::param_query("limit", "integer", "At most this many runs (default 100)")]),
            "post": openapi::post_op("dags", "Trigger a run now, with optional conf", vec![p("dag_id")], conf),
        },
        "/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}": { "get": get("One run", vec![p("dag_id"), p("dag_run_id")]) },
        "/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances": {
            "get": get("The run's task instances: state, try number, times", vec![p("dag_id"), p("dag_run_id")]),
        },
        "/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}": {
            "get": get("One try's log (`running` while it grows)",
                vec![p("dag_id"), p("dag_run_id"), p("task_id"), p("try_number")]),
        },
    })
}
