//! The task graph of a DAG: upstream references must name tasks of the same DAG, and the
//! graph must be acyclic. Produces a topological order (ties broken by task id) so the
//! engine can settle a whole run in one pass, and names the cycle when there is one.

use std::collections::{BTreeMap, BTreeSet};

/// A problem with a DAG's dependencies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("task `{task}` depends on `{upstream}`, which is not a task of this DAG")]
    UnknownUpstream { task: String, upstream: String },
    /// The tasks of a cycle, first one repeated at the end, in upstream-to-downstream order.
    #[error("cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

/// Task ids in an order where every task comes after its upstream tasks.
/// `upstream` maps each task to the tasks it depends on.
pub fn topological_order(
    upstream: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<String>, GraphError> {
    let mut downstream: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (task, ups) in upstream {
        downstream.entry(task.as_str()).or_default();
        for up in ups {
            if !upstream.contains_key(up) {
                return Err(GraphError::UnknownUpstream {
                    task: task.clone(),
                    upstream: up.clone(),
                });
            }
            downstream
                .entry(up.as_str())
                .or_default()
                .insert(task.as_str());
        }
    }
    if let Some(cycle) = find_cycle(&downstream) {
        return Err(GraphError::Cycle(cycle));
    }
    // Kahn's algorithm; the BTreeSet of ready tasks gives a stable order by id.
    let mut waiting: BTreeMap<&str, usize> = upstream
        .iter()
        .map(|(t, ups)| (t.as_str(), ups.iter().collect::<BTreeSet<_>>().len()))
        .collect();
    let mut ready: BTreeSet<&str> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(t, _)| *t)
        .collect();
    let mut order = Vec::with_capacity(upstream.len());
    while let Some(task) = ready.pop_first() {
        order.push(task.to_string());
        for down in downstream.get(task).into_iter().flatten() {
            if let Some(n) = waiting.get_mut(down) {
                *n -= 1;
                if *n == 0 {
                    ready.insert(down);
                }
            }
        }
    }
    Ok(order)
}

/// A cycle in the downstream graph, as a path that returns to its first task.
fn find_cycle(downstream: &BTreeMap<&str, BTreeSet<&str>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = BTreeMap::new();
    for &root in downstream.keys() {
        if marks.contains_key(root) {
            continue;
        }
        // Iterative DFS: the path and, per path entry, the children left to visit.
        let mut path: Vec<&str> = vec![root];
        let mut pending: Vec<Vec<&str>> = vec![children(downstream, root)];
        marks.insert(root, Mark::Visiting);
        while let Some(left) = pending.last_mut() {
            match left.pop() {
                Some(child) => match marks.get(child) {
                    Some(Mark::Visiting) => {
                        let from = path.iter().position(|t| *t == child).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            path[from..].iter().map(|t| t.to_string()).collect();
                        cycle.push(child.to_string());
                        return Some(cycle);
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(child, Mark::Visiting);
                        path.push(child);
                        pending.push(children(downstream, child));
                    }
                },
                None => {
                    if let Some(done) = path.pop() {
                        marks.insert(done, Mark::Done);
                    }
                    pending.pop();
                }
            }
        }
    }
    None
}

/// Children in reverse id order, so popping visits them in id order.
fn children<'a>(downstream: &BTreeMap<&'a str, BTreeSet<&'a str>>, task: &str) -> Vec<&'a str> {
    downstream
        .get(task)
        .map(|c| c.iter().rev().copied().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(t, ups)| (t.to_string(), ups.iter().map(|u| u.to_string()).collect()))
            .collect()
    }

    #[test]
    fn orders_upstream_first() {
        let g = graph(&[
            ("load", &["extract"]),
            ("extract", &[]),
            ("check", &["load"]),
        ]);
        assert_eq!(
            topological_order(&g),
            Ok(vec!["extract".into(), "load".into(), "check".into()])
        );
    }

    #[test]
    fn names_the_cycle() {
        let g = graph(&[("a", &["c"]), ("b", &["a"]), ("c", &["b"]), ("d", &[])]);
        let err = topological_order(&g).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("cycle: a -> b -> c -> a"));
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        let g = graph(&[("a", &["a"])]);
        let err = topological_order(&g).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("cycle: a -> a"));
    }

    #[test]
    fn unknown_upstream_is_named() {
        let g = graph(&[("a", &["nope"])]);
        assert_eq!(
            topological_order(&g),
            Err(GraphError::UnknownUpstream {
                task: "a".into(),
                upstream: "nope".into()
            })
        );
    }
}
