//! Each pipeline's state as this process runs it: starting, running, paused (and why),
//! failed at start (and why) or stopped. The stream job sets it on every change; `/health`,
//! the Stream page and the pipelines API read it, and `cassflow_pipeline_state` /
//! `cassflow_pipeline_paused` carry it to Prometheus. It holds no counts (those are in
//! [`super::metrics`]) and is only written on a change, never per record.

use super::metrics;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

/// What a pipeline is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Creating its topics, connecting, planning columns.
    Starting,
    /// Writing records.
    Running,
    /// Partitions paused until the reason goes away; nothing is dead-lettered meanwhile.
    Paused,
    /// It could not start (missing table, unsupported column, no permission); the other
    /// pipelines keep running.
    Failed,
    /// Shut down.
    Stopped,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Starting,
        State::Running,
        State::Paused,
        State::Failed,
        State::Stopped,
    ];

    /// The metric label value (bounded: one of five).
    pub fn label(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Running => "running",
            State::Paused => "paused",
            State::Failed => "failed",
            State::Stopped => "stopped",
        }
    }
}

/// Why a pipeline is paused: a failure that concerns the pipeline, not one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// Writes fail transiently (unreachable, overloaded, timed out): an outage to wait out.
    CassandraUnavailable,
    /// Cassandra refuses the pipeline's writes (no MODIFY permission): fix the grant.
    Unauthorized,
    /// The table is missing or its columns cannot be planned after a schema change.
    Schema,
    /// The schema registry does not answer (or refuses cassflow): records wait for their
    /// schemas.
    RegistryUnavailable,
}

impl PauseReason {
    pub const ALL: [PauseReason; 4] = [
        PauseReason::CassandraUnavailable,
        PauseReason::Unauthorized,
        PauseReason::Schema,
        PauseReason::RegistryUnavailable,
    ];

    /// The metric label value (bounded: one of four).
    pub fn label(self) -> &'static str {
        match self {
            PauseReason::CassandraUnavailable => "cassandra_unavailable",
            PauseReason::Unauthorized => "unauthorized",
            PauseReason::Schema => "schema",
            PauseReason::RegistryUnavailable => "registry_unavailable",
        }
    }

    /// A stable small number, for an atomic in the hot path (0 means not paused).
    pub fn code(self) -> u8 {
        match self {
            PauseReason::CassandraUnavailable => 1,
            PauseReason::Unauthorized => 2,
            PauseReason::Schema => 3,
            PauseReason::RegistryUnavailable => 4,
        }
    }

    pub fn from_code(code: u8) -> Option<PauseReason> {
        PauseReason::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// A pipeline's state, since when, and (for paused and failed) the reason in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PipelineStatus {
    pub state: State,
    pub reason: Option<PauseReason>,
    /// What failed and how to fix it; may name servers and tables, so it is shown to
    /// signed-in users only.
    pub detail: Option<String>,
    pub since: chrono::DateTime<chrono::Utc>,
}

impl PipelineStatus {
    /// Failed, or paused for a reason that needs a person (an outage is waited out).
    pub fn needs_attention(&self) -> bool {
        match self.state {
            State::Failed => true,
            State::Paused => !matches!(
                self.reason,
                Some(PauseReason::CassandraUnavailable | PauseReason::RegistryUnavailable)
            ),
            _ => false,
        }
    }
}

fn slots() -> &'static Mutex<BTreeMap<String, PipelineStatus>> {
    static SLOTS: OnceLock<Mutex<BTreeMap<String, PipelineStatus>>> = OnceLock::new();
    SLOTS.get_or_init(Default::default)
}

/// Records `pipeline`'s new state and updates its gauges.
pub fn set(pipeline: &str, state: State, reason: Option<PauseReason>, detail: Option<String>) {
    let detail = detail.map(|d| d.chars().take(500).collect::<String>());
    if let Ok(mut slots) = slots().lock() {
        slots.insert(
            pipeline.to_string(),
            PipelineStatus {
                state,
                reason,
                detail,
                since: chrono::Utc::now(),
            },
        );
    }
    let m = metrics::stream_metrics();
    for s in State::ALL {
        m.state
            .get_or_create(&metrics::StateLabel {
                pipeline: pipeline.to_string(),
                state: s.label().to_string(),
            })
            .set(i64::from(s == state));
    }
    for r in PauseReason::ALL {
        m.paused_by
            .get_or_create(&metrics::ReasonLabel {
                pipeline: pipeline.to_string(),
                reason: r.label().to_string(),
            })
            .set(i64::from(state == State::Paused && reason == Some(r)));
    }
}

/// `pipeline`'s state, if this process runs it.
pub fn get(pipeline: &str) -> Option<PipelineStatus> {
    slots().lock().ok()?.get(pipeline).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_changes_show_in_the_gauges() {
        set("status-test", State::Starting, None, None);
        set(
            "status-test",
            State::Paused,
            Some(PauseReason::Unauthorized),
            Some("no MODIFY".into()),
        );
        let text = metrics::encode();
        assert!(
            text.contains(r#"cassflow_pipeline_state{pipeline="status-test",state="paused"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"cassflow_pipeline_state{pipeline="status-test",state="starting"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"cassflow_pipeline_paused{pipeline="status-test",reason="unauthorized"} 1"#
            ),
            "{text}"
        );
        let status = get("status-test").expect("set");
        assert!(status.needs_attention());
        assert_eq!(status.detail.as_deref(), Some("no MODIFY"));
        set("status-test", State::Running, None, None);
        assert!(!get("status-test").expect("set").needs_attention());
        for r in PauseReason::ALL {
            assert_eq!(PauseReason::from_code(r.code()), Some(r));
        }
        assert_eq!(PauseReason::from_code(0), None);
    }
}
