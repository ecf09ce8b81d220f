//! The DAG pages: the DAG list (schedule, next run, last runs, pause toggle, trigger
//! button), a DAG's grid of runs by tasks in Airflow's state colours with its runs and a
//! trigger form taking conf, and each try's log. Reads and commands go through
//! [`crate::scheduler::Scheduler`]; the JSON API is in [`super::dags_api`].

use super::error::urlencode;
use super::{layout, AppState, Routes, Session, WebError};
use crate::scheduler::store::{DagRun, TaskInstance};
use crate::scheduler::{Scheduler, SchedulerError, TaskState};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;

/// Runs shown in a DAG's grid.
const GRID_RUNS: usize = 25;
/// Run states shown per DAG in the list.
const RECENT_RUNS: usize = 10;

pub fn register(routes: Routes) -> Routes {
    let routes = routes
        .page(Method::GET, "/dags", list_page)
        .page(Method::GET, "/dags/{dag_id}", dag_page)
        .page(
            Method::GET,
            "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}",
            log_page,
        )
        .page(Method::POST, "/dags/{dag_id}/trigger", trigger_form)
        .page(Method::POST, "/dags/{dag_id}/pause", pause_form);
    super::dags_api::register(routes)
}

/// The scheduler of this process, or a 404 saying why there is none.
pub(super) fn scheduler(state: &AppState) -> Result<&Scheduler, WebError> {
    state.scheduler.as_ref().ok_or_else(|| {
        WebError::NotFound("DAGs: no scheduler runs in this process (start `cassflow up`)".into())
    })
}

pub(super) fn web_error(e: SchedulerError) -> WebError {
    match e {
        SchedulerError::DagNotFound(_)
        | SchedulerError::RunNotFound { .. }
        | SchedulerError::TaskNotFound { .. }
        | SchedulerError::LogNotFound { .. } => WebError::NotFound(e.to_string()),
        SchedulerError::InvalidConf(_) | SchedulerError::InvalidParam(_) => {
            WebError::BadRequest(e.to_string())
        }
        other => WebError::Internal(other.to_string()),
    }
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn state_name(s: Option<TaskState>) -> &'static str {
    s.map_or("none", TaskState::as_str)
}

fn pill(state: &str) -> Markup {
    html! { span class={ "state state-" (state) } { (state) } }
}

pub(super) fn dag_url(dag_id: &str) -> String {
    format!("/dags/{}", urlencode(dag_id))
}

fn log_url(ti: &TaskInstance, try_number: u32) -> String {
    format!(
        "/dags/{}/runs/{}/tasks/{}?try={try_number}",
        urlencode(&ti.dag_id),
        urlencode(&ti.run_id),
        urlencode(&ti.task_id)
    )
}

fn stylesheet() -> Markup {
    html! { link rel="stylesheet" href="/static/dags.css"; }
}

/// Reloads the page while something is still moving (works without scripts).
fn refresh_while(active: bool, seconds: u32) -> Markup {
    html! { @if active { meta http-equiv="refresh" content=(seconds); } }
}

async fn list_page(State(state): State<AppState>, session: Session) -> Result<Markup, WebError> {
    let s = scheduler(&state)?;
    let dags = s.list_dags().map_err(web_error)?;
    let mut recent = Vec::new();
    for d in &dags {
        let mut runs = s.runs(&d.dag_id, RECENT_RUNS).map_err(web_error)?;
        runs.reverse();
        recent.push(runs);
    }
    let content = html! {
        (stylesheet())
        @for e in s.import_errors() { (layout::notice("bad", &format!("DAG file not loaded: {}", e.message))) }
        table class="grid" id="dags" {
            thead { tr {
                th { "Active" } th { "DAG" } th { "Owner" } th { "Schedule" } th { "Runs (oldest to newest)" }
                th { "Last run" } th { "Next run" } th { "Actions" }
            } }
            tbody {
                @for (d, runs) in dags.iter().zip(&recent) {
                    tr id={ "dag-" (d.dag_id) } data-paused=(d.is_paused) {
                        td { (pause_button(&session, &d.dag_id, d.is_paused, "/dags")) }
                        td {
                            a href=(dag_url(&d.dag_id)) { b { (d.dag_id) } }
                            @for t in &d.tags { " " span class="pill" { (t) } }
                            @if !d.description.is_empty() { div class="small muted" { (d.description) } }
                        }
                        td { (d.owner) }
                        td { code { (d.schedule) } }
                        td class="nowrap recent" {
                            @for r in runs {
                                a class={ "cell state-" (r.state) }
                                    href=(dag_url(&d.dag_id)) title={ (r.run_id) ": " (r.state) } {}
                            }
                        }
                        td class="nowrap" {
                            @if let Some(r) = &d.last_run { (pill(r.state.as_str())) " " span class="small" { (when(Some(r.logical_date))) } }
                        }
                        td class="nowrap small" {
                            @if let Some(n) = &d.next_dagrun { (when(Some(n.run_after))) }
                        }
                        td { div class="dag-actions" {
                            form method="post" action={ (dag_url(&d.dag_id)) "/trigger" } {
                                (layout::csrf_field(&session))
                                button type="submit" id={ "trigger-" (d.dag_id) } { "Trigger" }
                            }
                        } }
                    }
                }
            }
        }
    };
    Ok(layout::page(&session, "/dags", "DAGs", content))
}

fn pause_button(session: &Session, dag_id: &str, paused: bool, next: &str) -> Markup {
    html! {
        form method="post" action={ (dag_url(dag_id)) "/pause" } {
            (layout::csrf_field(session))
            input type="hidden" name="paused" value=(!paused);
            input type="hidden" name="next" value=(next);
            button type="submit" id={ "pause-" (dag_id) } title=(if paused { "Paused: click to resume the schedule" } else { "Active: click to pause the schedule" }) {
                (if paused { "Unpause" } else { "Pause" })
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct DagQuery {
    triggered: Option<String>,
}

async fn dag_page(
    State(state): State<AppState>,
    session: Session,
    Path(dag_id): Path<String>,
    Query(query): Query<DagQuery>,
) -> Result<Markup, WebError> {
    render_dag_page(&state, &session, &dag_id, query.triggered.as_deref(), None)
}

/// A trigger that was refused: the parameters as typed, and why.
struct TriggerRefused<'a> {
    conf: &'a str,
    error: String,
}

fn render_dag_page(
    state: &AppState,
    session: &Session,
    dag_id: &str,
    triggered: Option<&str>,
    refused: Option<TriggerRefused<'_>>,
) -> Result<Markup, WebError> {
    let dag_id = dag_id.to_string();
    let s = scheduler(state)?;
    let dag = s.dag(&dag_id).map_err(web_error)?;
    let mut runs = s.runs(&dag_id, GRID_RUNS).map_err(web_error)?;
    runs.reverse();
    let mut grid: Vec<Vec<TaskInstance>> = Vec::new();
    for r in &runs {
        grid.push(s.task_instances(&dag_id, &r.run_id).map_err(web_error)?);
    }
    let active = runs.iter().any(|r| !r.state.is_finished());
    let d = &dag.summary;
    let params = serde_json::Value::Object(dag.params.clone()).to_string();
    let content = html! {
        (stylesheet())
        (refresh_while(active, 3))
        @if let Some(run) = triggered { (layout::notice("ok", &format!("Triggered run {run}."))) }
        dl class="facts" {
            dt { "Schedule" } dd { code { (d.schedule) } @if d.catchup { " (catchup)" } }
            dt { "Next run" } dd { @if let Some(n) = &d.next_dagrun {
                (when(Some(n.run_after))) span class="muted" { " for the interval " (when(Some(n.interval.start))) " to " (when(Some(n.interval.end))) }
            } @else { span class="muted" { "none scheduled" } } }
            dt { "State" } dd class="dag-actions" { (if d.is_paused { "paused" } else { "active" }) " " (pause_button(session, &d.dag_id, d.is_paused, &dag_url(&d.dag_id))) }
            dt { "Max active runs" } dd { (d.max_active_runs) }
            dt { "Start / end" } dd { (when(d.start_date)) " / " (when(d.end_date)) }
            dt { "Defined in" } dd { code { (d.fileloc) } }
            @if !d.description.is_empty() { dt { "Description" } dd { (d.description) } }
        }
        form class="trigger" method="post" action={ (dag_url(&d.dag_id)) "/trigger" } {
            (layout::csrf_field(session))
            label for="conf" { "Run parameters (JSON object, optional; overrides params " code { (params) } ")" }
            p class="small muted" id="run-parameters" {
                @if dag.run_parameters.is_empty() { "This DAG takes no run parameters." }
                @else { "Accepted: " (crate::scheduler::params::describe(&dag.run_parameters)) "." }
            }
            @if let Some(r) = &refused { p class="error" role="alert" id="trigger-error" { (r.error) } }
            textarea id="conf" name="conf" placeholder="{}" { @if let Some(r) = &refused { (r.conf) } }
            div { button type="submit" id={ "trigger-" (d.dag_id) } { "Trigger" } }
        }
        h2 { "Grid" }
        @if runs.is_empty() { p class="muted" { "No runs yet." } } @else {
            div class="scroll" { table class="dag-grid" id="grid" {
                thead { tr {
                    th { "run" }
                    @for r in &runs { th class="run" { a class={ "cell state-" (r.state) } href={ "#run-" (urlencode(&r.run_id)) } title={ (r.run_id) ": " (r.state) } {} } }
                } }
                tbody { @for t in &dag.tasks { tr data-task=(t.task_id) {
                    th { (t.task_id) " " span class="small muted" { (t.kind.name()) } }
                    @for tis in &grid {
                        td { @if let Some(ti) = tis.iter().find(|ti| ti.task_id == t.task_id) {
                            a class={ "cell state-" (state_name(ti.state)) } data-state=(state_name(ti.state))
                                href=(log_url(ti, ti.try_number.max(1)))
                                title={ (ti.task_id) " · " (ti.run_id) " · " (state_name(ti.state)) " · try " (ti.try_number) } {}
                        } }
                    }
                } } }
            } }
        }
        h2 { "Runs" }
        (runs_table(&runs))
    };
    Ok(layout::page(
        session,
        "/dags",
        &format!("DAG {dag_id}"),
        content,
    ))
}

fn runs_table(runs: &[DagRun]) -> Markup {
    html! {
        table class="grid" id="runs" {
            thead { tr { th { "Run" } th { "Type" } th { "State" } th { "Data interval" } th { "Started" } th { "Ended" } th { "Conf" } } }
            tbody {
                @for r in runs.iter().rev() {
                    tr id={ "run-" (urlencode(&r.run_id)) } data-run-id=(r.run_id) data-state=(r.state) {
                        td class="small" { (r.run_id) }
                        td { (r.run_type.as_str()) }
                        td { (pill(r.state.as_str())) }
                        td class="small nowrap" { (when(Some(r.data_interval_start))) " to " (when(Some(r.data_interval_end))) }
                        td class="small nowrap" { (when(r.start_date)) }
                        td class="small nowrap" { (when(r.end_date)) }
                        td { code { (r.conf) } }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    #[serde(rename = "try")]
    try_number: Option<u32>,
}

async fn log_page(
    State(state): State<AppState>,
    session: Session,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
    Query(query): Query<LogQuery>,
) -> Result<Markup, WebError> {
    let s = scheduler(&state)?;
    let ti = s
        .task_instances(&dag_id, &run_id)
        .map_err(web_error)?
        .into_iter()
        .find(|t| t.task_id == task_id)
        .ok_or_else(|| {
            web_error(SchedulerError::TaskNotFound {
                dag_id: dag_id.clone(),
                run_id: run_id.clone(),
                task_id: task_id.clone(),
            })
        })?;
    let try_number = query.try_number.unwrap_or(ti.try_number).max(1);
    let log = match s.task_log(&dag_id, &run_id, &task_id, try_number) {
        Ok(l) => Some(l),
        Err(SchedulerError::LogNotFound { .. }) => None,
        Err(e) => return Err(web_error(e)),
    };
    let running = log.as_ref().is_some_and(|l| l.running);
    let content = html! {
        (stylesheet())
        (refresh_while(running || matches!(ti.state, Some(TaskState::Queued) | Some(TaskState::UpForRetry)), 2))
        p { a href=(dag_url(&dag_id)) { "← DAG " (dag_id) } }
        dl class="facts" {
            dt { "Run" } dd { (run_id) }
            dt { "State" } dd { (pill(state_name(ti.state))) }
            dt { "Try" } dd { (ti.try_number) " of " (ti.max_tries + 1) }
            dt { "Started / ended" } dd { (when(ti.start_date)) " / " (when(ti.end_date)) }
            @if let Some(secs) = ti.duration_seconds() { dt { "Duration" } dd { (format!("{secs:.1} s")) } }
            @if let Some(at) = ti.next_try_at { dt { "Next try" } dd { (when(Some(at))) } }
        }
        @if ti.try_number > 1 {
            div class="tries" { "Tries: " @for n in 1..=ti.try_number {
                a href=(log_url(&ti, n)) class=[(n == try_number).then_some("current")] { (n) }
            } }
        }
        h2 { "Log of try " (try_number) @if running { " " span class="live" { "running" } } }
        @match &log {
            Some(l) => pre class="log" id="log" { (l.content) },
            None => p class="muted" { "This try has not started." },
        }
    };
    Ok(layout::page(
        &session,
        "/dags",
        &format!("Task {task_id}"),
        content,
    ))
}

#[derive(Debug, Deserialize)]
pub struct TriggerForm {
    conf: Option<String>,
}

/// Triggers a run; refused parameters re-render the DAG page (400) with the error next to
/// the form and the text as typed.
async fn trigger_form(
    State(state): State<AppState>,
    session: Session,
    Path(dag_id): Path<String>,
    Form(form): Form<TriggerForm>,
) -> Result<Response, WebError> {
    let s = scheduler(&state)?;
    let text = form.conf.as_deref().map(str::trim).unwrap_or("");
    let refuse = |error: String| -> Result<Response, WebError> {
        let page = render_dag_page(
            &state,
            &session,
            &dag_id,
            None,
            Some(TriggerRefused { conf: text, error }),
        )?;
        Ok((StatusCode::BAD_REQUEST, page).into_response())
    };
    let conf = match text {
        "" => None,
        text => match serde_json::from_str(text) {
            Ok(v) => Some(v),
            Err(e) => return refuse(format!("run parameters are not JSON: {e}")),
        },
    };
    let run = match s.trigger(&dag_id, conf) {
        Ok(run) => run,
        Err(e @ (SchedulerError::InvalidConf(_) | SchedulerError::InvalidParam(_))) => {
            return refuse(e.to_string())
        }
        Err(e) => return Err(web_error(e)),
    };
    Ok(Redirect::to(&format!(
        "{}?triggered={}",
        dag_url(&dag_id),
        urlencode(&run.run_id)
    ))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct PauseForm {
    paused: bool,
    next: Option<String>,
}

async fn pause_form(
    State(state): State<AppState>,
    Path(dag_id): Path<String>,
    Form(form): Form<PauseForm>,
) -> Result<Redirect, WebError> {
    scheduler(&state)?
        .set_paused(&dag_id, form.paused)
        .map_err(web_error)?;
    // Back to a DAG page only: never an address from the form elsewhere.
    let next = form
        .next
        .filter(|n| n.starts_with("/dags") && !n.starts_with("//"))
        .unwrap_or_else(|| "/dags".into());
    Ok(Redirect::to(&next))
}
