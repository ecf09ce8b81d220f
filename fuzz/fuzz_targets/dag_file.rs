//! The DAG file parser (`scheduler::dagfile::parse`) on arbitrary text. Properties: it
//! never panics; an accepted DAG has a valid id, at least one task, and its tasks in an
//! order where every task comes after the tasks it depends on.
#![no_main]

use cassflow::scheduler::dagfile::{check_id, parse};
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(dag) = parse(text, "fuzz_dag", "fuzz_dag.toml") else {
        return;
    };
    assert!(check_id("dag_id", &dag.dag_id).is_ok(), "{}", dag.dag_id);
    assert!(!dag.tasks.is_empty());
    let mut done = HashSet::new();
    for task in &dag.tasks {
        for up in &task.upstream {
            assert!(
                done.contains(up.as_str()),
                "{} runs before its upstream {up}",
                task.task_id
            );
        }
        assert!(
            done.insert(task.task_id.as_str()),
            "task {} twice",
            task.task_id
        );
    }
});
