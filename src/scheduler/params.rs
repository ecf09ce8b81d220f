//! Run parameters a DAG accepts, checked when a run is triggered, so that a misspelled key
//! (`{"cnt": 5}`) or a wrong type (`{"count": "five"}`) is refused at the door, naming the
//! key and what is valid, instead of a run that succeeds doing the default.
//!
//! A DAG accepts the keys of its `params` (typed by their default: a string default takes
//! strings, a number numbers, ...; a `null` default anything) and, when it has a `produce`
//! task, the keys that task reads from the run's conf (`topic`, `count`, `duration`,
//! `rate`; see [`super::live`]). A DAG with neither accepts no parameters.

use super::dag::Dag;
use super::task::TaskKind;
use serde::Serialize;
use serde_json::{Map, Value};

/// What one parameter accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// A Kafka topic name (produce tasks' `topic`).
    Topic,
    /// A whole number of records, at least 1 (produce tasks' `count`).
    Count,
    /// A duration text such as `"10s"` (produce tasks' `duration`).
    Duration,
    /// Records per second within the producer's limits (produce tasks' `rate`).
    Rate,
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
    /// Anything (a `null` default).
    Any,
}

impl ParamKind {
    fn of_default(v: &Value) -> ParamKind {
        match v {
            Value::Null => ParamKind::Any,
            Value::Bool(_) => ParamKind::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => ParamKind::Integer,
            Value::Number(_) => ParamKind::Number,
            Value::String(_) => ParamKind::String,
            Value::Array(_) => ParamKind::Array,
            Value::Object(_) => ParamKind::Object,
        }
    }

    /// What the kind accepts, in words.
    pub fn describe(self) -> String {
        match self {
            ParamKind::Topic => "a Kafka topic name".into(),
            ParamKind::Count => "a whole number of at least 1".into(),
            ParamKind::Duration => "a duration such as \"10s\"".into(),
            ParamKind::Rate => format!(
                "records per second from {} to {}",
                crate::produce::MIN_RATE,
                crate::produce::MAX_RATE
            ),
            ParamKind::String => "a string".into(),
            ParamKind::Number => "a number".into(),
            ParamKind::Integer => "a whole number".into(),
            ParamKind::Boolean => "true or false".into(),
            ParamKind::Array => "a JSON array".into(),
            ParamKind::Object => "a JSON object".into(),
            ParamKind::Any => "any JSON value".into(),
        }
    }

    /// `Err(problem)` when `v` is not of this kind.
    fn check(self, v: &Value) -> Result<(), String> {
        let ok = match self {
            ParamKind::Topic => match v.as_str() {
                Some(t) => return crate::config::check_topic(t),
                None => false,
            },
            ParamKind::Count => v.as_u64().is_some_and(|n| n >= 1),
            ParamKind::Duration => match v.as_str() {
                Some(t) => {
                    return humantime::parse_duration(t)
                        .map(drop)
                        .map_err(|e| format!("{v} is not a duration: {e}"))
                }
                None => false,
            },
            ParamKind::Rate => v.as_f64().is_some_and(|r| {
                (crate::produce::MIN_RATE..=crate::produce::MAX_RATE).contains(&r)
            }),
            ParamKind::String => v.is_string(),
            ParamKind::Number => v.is_number(),
            ParamKind::Integer => v.is_i64() || v.is_u64(),
            ParamKind::Boolean => v.is_boolean(),
            ParamKind::Array => v.is_array(),
            ParamKind::Object => v.is_object(),
            ParamKind::Any => true,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("{v} is not {}", self.describe()))
        }
    }
}

/// One accepted run parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ParamKind,
}

/// A run parameter refused at trigger time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("run parameter `{key}` of DAG `{dag_id}`: {problem} (fix: {fix})")]
pub struct ParamError {
    pub dag_id: String,
    pub key: String,
    pub problem: String,
    pub fix: String,
}

/// The parameters `dag` accepts, by name.
pub fn schema(dag: &Dag) -> Vec<ParamSpec> {
    let mut specs: Vec<ParamSpec> = Vec::new();
    if dag
        .tasks
        .iter()
        .any(|t| matches!(t.kind, TaskKind::Produce(_)))
    {
        for (name, kind) in [
            ("count", ParamKind::Count),
            ("duration", ParamKind::Duration),
            ("rate", ParamKind::Rate),
            ("topic", ParamKind::Topic),
        ] {
            specs.push(ParamSpec {
                name: name.into(),
                kind,
            });
        }
    }
    for (name, default) in &dag.params {
        if !specs.iter().any(|s| &s.name == name) {
            specs.push(ParamSpec {
                name: name.clone(),
                kind: ParamKind::of_default(default),
            });
        }
    }
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    specs
}

/// The accepted parameters in words: `count (a whole number of at least 1), ...`.
pub fn describe(specs: &[ParamSpec]) -> String {
    specs
        .iter()
        .map(|s| format!("{} ({})", s.name, s.kind.describe()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `Ok` when every key of `conf` is a parameter of `dag` and has the right type.
pub fn check(dag: &Dag, conf: &Map<String, Value>) -> Result<(), ParamError> {
    let specs = schema(dag);
    let error = |key: &str, problem: String, fix: String| ParamError {
        dag_id: dag.dag_id.clone(),
        key: key.into(),
        problem,
        fix,
    };
    for (key, value) in conf {
        let Some(spec) = specs.iter().find(|s| &s.name == key) else {
            let fix = if specs.is_empty() {
                "this DAG takes no parameters; declare them under [params] in its DAG file, e.g. `[params] size = 1`".to_string()
            } else {
                format!("use only its parameters: {}", describe(&specs))
            };
            return Err(error(key, "is not a parameter of this DAG".into(), fix));
        };
        if let Err(problem) = spec.kind.check(value) {
            return Err(error(
                key,
                problem,
                format!("give `{key}` {}", spec.kind.describe()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn user_automation_takes_the_produce_keys() {
        let dag = super::super::dag::user_automation();
        assert!(check(
            &dag,
            &map(json!({"count": 5, "rate": 10, "duration": "10s"}))
        )
        .is_ok());
        assert!(check(&dag, &map(json!({"topic": "other_topic"}))).is_ok());
        let e = check(&dag, &map(json!({"count": "five"}))).err();
        let e = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("`count`") && e.contains("whole number"), "{e}");
        let e = check(&dag, &map(json!({"cnt": 5}))).err();
        let e = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            e.contains("`cnt`") && e.contains("count (") && e.contains("duration ("),
            "{e}"
        );
        for bad in [
            json!({"count": 0}),
            json!({"count": -1}),
            json!({"count": 1.5}),
            json!({"duration": "soon"}),
            json!({"rate": 0}),
            json!({"topic": "a b"}),
        ] {
            assert!(check(&dag, &map(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn params_are_typed_by_their_default() {
        let mut dag = super::super::dag::user_automation();
        dag.tasks.clear();
        assert!(schema(&dag).is_empty());
        let e = check(&dag, &map(json!({"k": "v"}))).err();
        assert!(e.is_some_and(|e| e.fix.contains("no parameters")));
        dag.params = map(json!({"size": 1, "name": "x", "any": null}));
        assert!(check(&dag, &map(json!({"size": 5, "name": "y", "any": [1]}))).is_ok());
        assert!(check(&dag, &map(json!({"size": "5"}))).is_err());
        assert!(check(&dag, &map(json!({"name": 1}))).is_err());
    }
}
