//! What `cassflow stream` says while it runs: every [`EVERY`], one info line per pipeline
//! (consumed, written, dead-lettered, lag, state), read from the same metrics `/metrics`
//! serves. Logged, not printed, so a terminal and a log file see the same lines; a pipeline
//! whose numbers and state did not change since its last line says nothing, so an idle job
//! stays quiet. (`partitions assigned` is logged by the consumer; the summary at exit is the
//! command's.)

use cassflow::web::sampler::Samples;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the progress lines come.
pub const EVERY: Duration = Duration::from_secs(10);

/// Logs the progress lines until `cancel`.
pub async fn log_until(cancel: CancellationToken) {
    let samples = Samples::default();
    let mut said: HashMap<String, (u64, u64, u64, i64, String)> = HashMap::new();
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        samples.take();
        let Some(sample) = samples.latest() else {
            continue;
        };
        for (name, p) in sample.pipelines {
            let state = p
                .status
                .as_ref()
                .map(|s| match s.reason {
                    Some(reason) => format!("{} ({})", s.state.label(), reason.label()),
                    None => s.state.label().to_string(),
                })
                .unwrap_or_else(|| "starting".into());
            let now = (p.consumed, p.written, p.dead_letters, p.lag, state);
            if said.get(&name) == Some(&now) {
                continue;
            }
            tracing::info!(
                pipeline = %name,
                consumed = now.0,
                written = now.1,
                dead_lettered = now.2,
                lag = now.3,
                state = %now.4,
                "stream progress"
            );
            said.insert(name, now);
        }
    }
}
