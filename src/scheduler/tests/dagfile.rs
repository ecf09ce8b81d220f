//! DAG files: the accepted shape, unknown keys rejected naming file and key, cycles named.

use super::harness;
use crate::scheduler::dagfile::parse;
use crate::scheduler::task::{TaskKind, TriggerRule};
use std::time::Duration;

const GOOD: &str = r#"
description = "nightly"
schedule = "0 3 * * *"
start_date = 2024-01-01T00:00:00Z
catchup = true
max_active_runs = 2
tags = ["etl"]
[params]
count = 10
[default_args]
retries = 2
retry_delay = "30s"
[tasks.load]
kind = "shell"
upstream = ["extract"]
command = "echo load"
execution_timeout = "5m"
[tasks.extract]
kind = "produce"
count = 100
retries = 0
[tasks.check]
kind = "cql_check"
upstream = ["load"]
min_rows = 100
trigger_rule = "all_done"
[tasks.lag]
kind = "wait_lag"
upstream = ["extract"]
timeout = "2m"
"#;

#[test]
fn a_full_dag_file_parses() {
    let dag =
        parse(GOOD, "nightly_load", "dags/nightly_load.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dag.dag_id, "nightly_load");
    assert_eq!(dag.schedule.to_string(), "0 3 * * *");
    assert!(dag.catchup);
    assert_eq!(dag.max_active_runs, 2);
    assert_eq!(dag.params.get("count"), Some(&serde_json::json!(10)));
    let ids: Vec<&str> = dag.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(
        ids,
        ["extract", "lag", "load", "check"],
        "upstream tasks first"
    );
    let load = dag.task("load").unwrap_or_else(|| panic!("load"));
    assert_eq!(load.retries, 2, "from default_args");
    assert_eq!(load.retry_delay, Duration::from_secs(30));
    assert_eq!(load.execution_timeout, Some(Duration::from_secs(300)));
    assert!(matches!(&load.kind, TaskKind::Shell(s) if s.command == "echo load"));
    let extract = dag.task("extract").unwrap_or_else(|| panic!("extract"));
    assert_eq!(extract.retries, 0, "task value wins over default_args");
    let check = dag.task("check").unwrap_or_else(|| panic!("check"));
    assert_eq!(check.trigger_rule, TriggerRule::AllDone);
    let lag = dag.task("lag").unwrap_or_else(|| panic!("lag"));
    assert!(matches!(&lag.kind, TaskKind::WaitLag(w) if w.timeout == Duration::from_secs(120)));
    assert_eq!(dag.leaves(), ["lag", "check"]);
}

fn error_of(text: &str) -> String {
    match parse(text, "d", "d.toml") {
        Ok(_) => panic!("should not parse:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn unknown_keys_are_named() {
    let top = error_of("schedul = \"@daily\"\n[tasks.a]\nkind = \"shell\"\ncommand = \"true\"\n");
    assert!(top.contains("schedul"), "{top}");
    assert!(top.contains("line 1"), "{top}");
    let task = error_of("[tasks.a]\nkind = \"cql_check\"\nmin_row = 1\n");
    assert!(
        task.contains("task `a`") && task.contains("min_row"),
        "{task}"
    );
    let kind = error_of("[tasks.a]\nkind = \"python\"\n");
    assert!(kind.contains("unknown kind `python`"), "{kind}");
    let args =
        error_of("[default_args]\nretry = 1\n[tasks.a]\nkind = \"shell\"\ncommand = \"true\"\n");
    assert!(args.contains("retry"), "{args}");
}

#[test]
fn cycles_and_missing_tasks_are_named() {
    let cycle = error_of(
        "[tasks.a]\nkind = \"shell\"\ncommand = \"true\"\nupstream = [\"c\"]\n\
         [tasks.b]\nkind = \"shell\"\ncommand = \"true\"\nupstream = [\"a\"]\n\
         [tasks.c]\nkind = \"shell\"\ncommand = \"true\"\nupstream = [\"b\"]\n",
    );
    assert_eq!(cycle, "cycle: a -> b -> c -> a");
    let missing = error_of("[tasks.a]\nkind = \"shell\"\ncommand = \"true\"\nupstream = [\"x\"]\n");
    assert!(missing.contains("`x`"), "{missing}");
}

#[test]
fn bad_values_are_explained() {
    assert!(error_of(
        "schedule = \"@sometimes\"\n[tasks.a]\nkind = \"shell\"\ncommand = \"true\"\n"
    )
    .contains("preset"));
    assert!(error_of(
        "start_date = \"yesterday\"\n[tasks.a]\nkind = \"shell\"\ncommand = \"true\"\n"
    )
    .contains("start_date"));
    assert!(error_of("[tasks.a]\nkind = \"produce\"\n").contains("duration"));
    assert!(error_of("").contains("no tasks"));
    assert!(error_of(
        "schedule = \"@daily\"\ncatchup = true\n[tasks.a]\nkind = \"shell\"\ncommand = \"true\"\n"
    )
    .contains("start_date"));
}

#[tokio::test]
async fn broken_files_are_import_errors_not_dags() {
    let h = harness(
        &[
            (
                "ok.toml",
                "[tasks.a]\nkind = \"shell\"\ncommand = \"true\"\n",
            ),
            (
                "loop.toml",
                "[tasks.a]\nkind = \"shell\"\ncommand = \"true\"\nupstream = [\"a\"]\n",
            ),
        ],
        "2024-01-01T00:00:00Z",
    );
    let ids: Vec<String> = h
        .sched
        .list_dags()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|d| d.dag_id)
        .collect();
    assert_eq!(ids, ["ok", "user_automation"]);
    let errors = h.sched.import_errors();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].file.ends_with("loop.toml"), "{errors:?}");
    assert_eq!(
        errors[0].message,
        format!("{}: cycle: a -> a", errors[0].file)
    );
}

#[test]
fn the_documented_example_parses() {
    let doc = include_str!("../../../docs/scheduler.md");
    let start = doc
        .find("```toml\n")
        .map(|i| i + 8)
        .unwrap_or_else(|| panic!("no toml block"));
    let end = doc[start..]
        .find("```")
        .map(|i| start + i)
        .unwrap_or_else(|| panic!("unclosed"));
    let dag =
        parse(&doc[start..end], "example", "docs/scheduler.md").unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = dag.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["produce", "caught_up", "rows", "report"]);
}
