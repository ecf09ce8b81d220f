//! What happens to one record: decoded (the users record, or JSON parsed with its numbers
//! as the plan needs), converted by the pipeline's [`Mapping`], bound with its write time
//! and TTL, and written, or its row deleted for a tombstone, or dead-lettered with the
//! reason. Transient failures are retried here; pausing the pipeline is the caller's
//! [`Shared`]'s, and which offsets may be committed is [`super::offsets`]'.

use super::convert;
use super::dead_letter::{Refusal, Sent};
use super::mapping::{Extras, Mapping, RecordContext, Row};
use super::metrics::{self, ReasonLabel};
use super::retry::{RecordRetries, Verdict};
use super::sink::{Op, Prepared, WriteError};
use super::status::PauseReason;
use super::{consumer, statement, write_time, Outcome, Shared, StreamError, PROBE_EVERY};
use crate::config::RecordFormat;
use crate::record::UserView;
use crate::registry::{wire, Decoder, RegistryError};
use rdkafka::message::{Message, OwnedMessage};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Decodes, converts and writes one record (or deletes the row of a tombstone), or
/// dead-letters it. Retries transient failures until they succeed or shutdown abandons the
/// record.
pub(super) async fn process(shared: &Shared, message: &OwnedMessage) -> Outcome {
    let mut record = RecordContext::of(message);
    if let (Some(format), Some(key)) = (shared.pipeline.key_format.registry_format(), message.key())
    {
        match registry_value(shared, message, key, format, "key").await {
            Ok(value) => record.set_key_json(value),
            Err(outcome) => return outcome,
        }
    }
    let Some(payload) = message.payload() else {
        return tombstone(shared, message, &record).await;
    };
    if payload.len() > shared.stream.max_message_bytes {
        let reason = format!(
            "value of {} bytes exceeds stream.max_message_bytes ({})",
            payload.len(),
            shared.stream.max_message_bytes
        );
        return dead_letter(shared, message, "oversized", &reason).await;
    }
    // The row's text borrows from the decoded value, which borrows from the payload.
    // The plan this record is converted with: read once (a shared lock and a reference
    // count on every record's path); a path that waits first (a schema fetch) reads it again.
    let current = shared.sink.current();
    let exact_numbers = current.mapping.exact_numbers();
    match shared.pipeline.format {
        RecordFormat::Users => match UserView::decode(payload) {
            Ok((view, notes)) => {
                if notes.unknown_fields > 0 {
                    shared
                        .metrics
                        .unknown_fields
                        .inc_by(notes.unknown_fields as u64);
                }
                write(shared, message, current, Op::Write, |m| {
                    m.row(&view, &record)
                })
                .await
            }
            Err(e) => dead_letter(shared, message, e.reason(), &e.to_string()).await,
        },
        RecordFormat::Avro | RecordFormat::Protobuf | RecordFormat::JsonSchema => {
            let (id, body) = match wire::split(payload) {
                Ok(split) => split,
                Err(e) => {
                    return dead_letter(shared, message, wire_reason(&e), &e.to_string()).await
                }
            };
            let format = shared.pipeline.format;
            let decoder = match decoder_for(shared, message, id, format, "value").await {
                Ok(decoder) => decoder,
                Err(outcome) => return outcome,
            };
            match decoder.read(body, exact_numbers) {
                Ok(serde_json::Value::Object(map)) => {
                    // As for JSON: the row owns its values and the tree goes before the
                    // write; a re-plan (rare) decodes the payload again.
                    let tree = std::sync::Mutex::new(Some(map));
                    let to_row = |mapping: &Mapping| {
                        let taken = tree.lock().ok().and_then(|mut t| t.take());
                        let map = taken.unwrap_or_else(|| {
                            match decoder.read(body, mapping.exact_numbers()) {
                                Ok(serde_json::Value::Object(map)) => map,
                                _ => serde_json::Map::new(),
                            }
                        });
                        mapping.row(&map, &record).map(Row::into_owned)
                    };
                    let current = shared.sink.current();
                    write(shared, message, current, Op::Write, to_row).await
                }
                Ok(_) => {
                    let e = format!(
                        "schema {id} reads the value as something other than a record or object"
                    );
                    dead_letter(shared, message, "not_an_object", &e).await
                }
                Err(e) => {
                    let e = format!("value, schema {id}: {e}");
                    dead_letter(shared, message, "undecodable", &e).await
                }
            }
        }
        RecordFormat::Json => match convert::parse_json(payload, exact_numbers) {
            Ok(serde_json::Value::Object(map)) => {
                // The row owns its values and the tree is dropped before the write: a tree
                // can be tens of times its message (`{"a":[0,0,...]}`) and a write may retry
                // for long. The intake counts the message and its row, not the tree. After a
                // re-plan (rare) the payload, which parsed once, is parsed again, exactly
                // when the new plan has a decimal or varint the first parse did not read.
                let tree = std::sync::Mutex::new(Some((exact_numbers, map)));
                let to_row = |mapping: &Mapping| {
                    let taken = tree.lock().ok().and_then(|mut t| t.take());
                    let map = tree_for(mapping, taken, payload);
                    mapping.row(&map, &record).map(Row::into_owned)
                };
                write(shared, message, current, Op::Write, to_row).await
            }
            Ok(_) => {
                dead_letter(
                    shared,
                    message,
                    "not_an_object",
                    "value is JSON but not an object",
                )
                .await
            }
            Err(e) => {
                let reason = if std::str::from_utf8(payload).is_err() {
                    "invalid_utf8"
                } else {
                    "invalid_json"
                };
                dead_letter(shared, message, reason, &e.to_string()).await
            }
        },
    }
}

/// The dead-letter reason of a message that is not in the wire format.
fn wire_reason(e: &wire::WireError) -> &'static str {
    match e {
        wire::WireError::Short(_) => "truncated",
        wire::WireError::BadMagic(_) => "bad_magic_byte",
        wire::WireError::BadIndexes => "undecodable",
    }
}

/// A key (`what`) in the wire format of `format`, read into a JSON tree with its schema.
async fn registry_value(
    shared: &Shared,
    message: &OwnedMessage,
    bytes: &[u8],
    format: RecordFormat,
    what: &str,
) -> Result<serde_json::Value, Outcome> {
    let (id, body) = match wire::split(bytes) {
        Ok(split) => split,
        Err(e) => {
            let e = format!("{what}: {e}");
            return Err(dead_letter(shared, message, "undecodable_key", &e).await);
        }
    };
    let decoder = decoder_for(shared, message, id, format, what).await?;
    match decoder.read(body, false) {
        Ok(value) => Ok(value),
        Err(e) => {
            let e = format!("{what}, schema {id}: {e}");
            Err(dead_letter(shared, message, "undecodable_key", &e).await)
        }
    }
}

/// The decoder of schema `id`, waiting while the registry does not answer (the pipeline
/// pauses; the record is never dead-lettered for an outage), or the record dead-lettered
/// when the id is unknown or its schema unusable.
async fn decoder_for(
    shared: &Shared,
    message: &OwnedMessage,
    id: u32,
    format: RecordFormat,
    what: &str,
) -> Result<std::sync::Arc<Decoder>, Outcome> {
    let Some(registry) = &shared.registry else {
        let e = "the pipeline has no schema registry";
        return Err(dead_letter(shared, message, "unknown_schema", e).await);
    };
    let mut backoff = shared.stream.retry_initial_backoff;
    loop {
        let e = match registry.decoder(id, format).await {
            Ok(decoder) => return Ok(decoder),
            Err(e) => e,
        };
        if !e.is_outage() {
            let reason = match e {
                RegistryError::UnknownId { .. } => "unknown_schema",
                _ => "unusable_schema",
            };
            let e = format!("{what}: {e}");
            return Err(dead_letter(shared, message, reason, &e).await);
        }
        shared.metrics.retries.inc();
        shared.pause_for(PauseReason::RegistryUnavailable, &e.to_string());
        tracing::debug!(pipeline = %shared.pipeline.name, partition = message.partition(), offset = message.offset(), schema = id, error = %e, "schema fetch failed, retrying");
        tokio::select! {
            _ = shared.shutdown.cancelled() => tokio::time::sleep(backoff).await,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = consumer::next_backoff(backoff, shared.stream.retry_max_backoff);
    }
}

/// The parsed message for `mapping`: the tree parsed before the write when it was parsed
/// as this mapping needs (numbers exact or not), else the payload parsed again.
fn tree_for(
    mapping: &Mapping,
    parsed: Option<(bool, serde_json::Map<String, serde_json::Value>)>,
    payload: &[u8],
) -> serde_json::Map<String, serde_json::Value> {
    let exact = mapping.exact_numbers();
    match parsed {
        Some((parsed_exact, map)) if parsed_exact == exact => map,
        _ => match convert::parse_json(payload, exact) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        },
    }
}

/// A message with a null value: deletes the row its key names (every primary key column
/// filled from the key, headers or metadata), or is dead-lettered with `deletes = false`.
async fn tombstone(shared: &Shared, message: &OwnedMessage, record: &RecordContext<'_>) -> Outcome {
    if !shared.pipeline.deletes {
        let why = "the message is a tombstone (null value) and this pipeline does not delete (fix: set `deletes = true` to delete the row its key names)";
        return dead_letter(shared, message, "tombstone", why).await;
    }
    let to_key = |mapping: &Mapping| {
        Ok(Row {
            cells: mapping.delete_key(record)?,
            extras: Extras {
                ttl_seconds: None,
                write_time_micros: mapping.delete_write_time(record)?,
            },
        })
    };
    write(shared, message, shared.sink.current(), Op::Delete, to_key).await
}

/// Why a record's values cannot be bound: its dead-letter reason and error.
struct Refused {
    reason: &'static str,
    error: String,
}

/// The values `op` of `prepared` binds for the record: its row (from `convert`) and its
/// write time (`columns.__timestamp`, else its Kafka timestamp; one too far in the future
/// is refused or clamped as `stream.future_timestamp` says).
fn bind<'a>(
    shared: &Shared,
    message: &OwnedMessage,
    prepared: &Prepared,
    op: Op,
    convert: &impl Fn(&Mapping) -> Result<Row<'a>, convert::ConvertError>,
) -> Result<Vec<convert::Cell<'a>>, Refused> {
    let row = convert(&prepared.mapping).map_err(|e| Refused {
        reason: e.reason(),
        error: e.to_string(),
    })?;
    let (own, what) = match row.extras.write_time_micros {
        Some(micros) => (Some(micros), "write time from columns.__timestamp"),
        None => (
            message
                .timestamp()
                .to_millis()
                .and_then(|ms| ms.checked_mul(1000)),
            "Kafka timestamp",
        ),
    };
    let now = chrono::Utc::now().timestamp_micros();
    let micros = match write_time::of_micros(own, what, now, &shared.stream) {
        write_time::WriteTime::At(micros) => micros,
        write_time::WriteTime::Clamped(micros) => {
            shared.metrics.timestamps_clamped.inc();
            micros
        }
        write_time::WriteTime::InFuture(why) => {
            return Err(Refused {
                reason: write_time::IN_FUTURE,
                error: why,
            })
        }
    };
    Ok(match op {
        Op::Write => prepared.shape.binds(row, micros),
        Op::Delete => statement::delete_binds(row.cells, prepared.shape.timed(), micros),
    })
}

/// Converts with `prepared` and writes a row (or dead-letters why it could not be
/// converted), retrying transient failures until they succeed or shutdown abandons the
/// record. A schema error re-plans the table once (and converts again) before the record is
/// judged; a pipeline-wide failure pauses the pipeline while the record waits; a record
/// that fails while others are written is dead-lettered after `stream.max_record_retries`
/// tries.
async fn write<'a>(
    shared: &Shared,
    message: &OwnedMessage,
    mut prepared: std::sync::Arc<Prepared>,
    op: Op,
    convert: impl Fn(&Mapping) -> Result<Row<'a>, convert::ConvertError>,
) -> Outcome {
    let mut row = match bind(shared, message, &prepared, op, &convert) {
        Ok(row) => row,
        Err(r) => return dead_letter(shared, message, r.reason, &r.error).await,
    };
    let mut backoff = shared.stream.retry_initial_backoff;
    let mut failures = 0u64;
    let mut retries = RecordRetries::new(&shared.progress, shared.stream.max_record_retries);
    let mut replanned = false;
    loop {
        let started = Instant::now();
        let error = match shared
            .sink
            .write(&prepared, op, &row, order_unless_retry(failures, message))
            .await
        {
            Ok(()) => {
                shared.write_succeeded();
                shared
                    .metrics
                    .write_latency
                    .observe(started.elapsed().as_secs_f64());
                shared.metrics.written.inc();
                if failures > 0 {
                    // Per record: the pipeline logs the pause and its end once.
                    tracing::debug!(
                        pipeline = %shared.pipeline.name,
                        partition = message.partition(),
                        offset = message.offset(),
                        failures,
                        "write succeeded after retries"
                    );
                }
                return Outcome::Written;
            }
            Err(e) => e,
        };
        failures += 1;
        match error {
            WriteError::Record(e) => {
                return dead_letter(shared, message, "rejected_by_cassandra", &e).await;
            }
            WriteError::Schema(e) if replanned => {
                let e = format!("{e} (also after re-reading the table)");
                return dead_letter(shared, message, "rejected_by_cassandra", &e).await;
            }
            WriteError::Schema(e) => match shared.sink.replan(prepared.generation).await {
                Ok(next) => {
                    replanned = true;
                    prepared = next;
                    row = match bind(shared, message, &prepared, op, &convert) {
                        Ok(row) => row,
                        Err(r) => return dead_letter(shared, message, r.reason, &r.error).await,
                    };
                    continue;
                }
                Err(replan) => shared.pause_for(
                    PauseReason::Schema,
                    &format!("{e}; re-reading the table failed: {replan}"),
                ),
            },
            WriteError::Pipeline(e) => shared.pause_for(PauseReason::Unauthorized, &e),
            WriteError::Transient(e) => {
                shared.metrics.retries.inc();
                metrics::note_error(
                    &shared.pipeline.name,
                    &format!("write failed, retrying: {e}"),
                );
                match retries.failed(&shared.progress) {
                    Verdict::Exhausted => {
                        let e = format!(
                            "{e} (failed {} times while other records were written)",
                            retries.counted()
                        );
                        return dead_letter(shared, message, "retries_exhausted", &e).await;
                    }
                    // Others are written meanwhile: this record is the suspect, not Cassandra.
                    Verdict::Counted => {}
                    Verdict::Outage => {
                        shared.pause_for(PauseReason::CassandraUnavailable, &e);
                        let in_flight =
                            usize::try_from(shared.metrics.in_flight.get()).unwrap_or(0);
                        if retries.uncounted_streak().is_multiple_of(PROBE_EVERY)
                            && in_flight < shared.stream.max_in_flight
                        {
                            tracing::debug!(pipeline = %shared.pipeline.name, in_flight, "probing: letting other records try");
                            shared.probe.store(true, Ordering::Relaxed);
                            shared.outage.store(false, Ordering::Relaxed);
                        }
                    }
                }
                // Per record, so debug: a pause is logged by the pipeline (start, a summary
                // every 30 s, end), and a record that fails alone ends as a dead letter.
                tracing::debug!(pipeline = %shared.pipeline.name, partition = message.partition(), offset = message.offset(), failures, counted = retries.counted(), error = %e, "write failed, retrying");
            }
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => {
                // Keep trying until the drain deadline; the job abandons us after it.
                tokio::time::sleep(backoff).await;
            }
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = consumer::next_backoff(backoff, shared.stream.retry_max_backoff);
    }
}

/// Where a record's write may join a batch: its partition and offset, or None once it
/// failed (a retry is written on its own: a record that keeps failing must not fail, or
/// use up the retries of, the records it would share a batch with).
fn order_unless_retry(failures: u64, message: &OwnedMessage) -> Option<(i32, i64)> {
    (failures == 0).then(|| (message.partition(), message.offset()))
}

/// Sends the message to the dead-letter topic (truncated if it is too large for it),
/// retrying while Kafka is unavailable; a refusal retrying cannot change stops the pipeline.
/// Boxed: the producer's future is kilobytes, and every record's work would carry that
/// much (moved when its task is spawned) for a path few records take.
fn dead_letter<'a>(
    shared: &'a Shared,
    message: &'a OwnedMessage,
    reason: &'a str,
    error: &'a str,
) -> futures::future::BoxFuture<'a, Outcome> {
    Box::pin(send_dead_letter(shared, message, reason, error))
}

async fn send_dead_letter(
    shared: &Shared,
    message: &OwnedMessage,
    reason: &str,
    error: &str,
) -> Outcome {
    let mut backoff = shared.stream.retry_initial_backoff;
    let mut failures = 0u64;
    loop {
        match shared.dlq.send(message, reason, error).await {
            Ok(sent) => {
                metrics::note_error(
                    &shared.pipeline.name,
                    &format!("dead letter ({reason}): {error}"),
                );
                metrics::stream_metrics()
                    .dead_letters
                    .get_or_create(&ReasonLabel {
                        pipeline: shared.pipeline.name.clone(),
                        reason: reason.to_string(),
                    })
                    .inc();
                let truncated_from = match sent {
                    Sent::Whole => None,
                    Sent::Truncated { original_bytes } => Some(original_bytes),
                };
                tracing::warn!(
                    partition = message.partition(),
                    offset = message.offset(),
                    reason,
                    error,
                    dead_letter_topic = %shared.dlq.topic(),
                    truncated_from,
                    "dead-lettered"
                );
                return Outcome::DeadLettered;
            }
            Err(e) if e.refusal == Refusal::Permanent => {
                shared.fail(StreamError::DeadLetter {
                    pipeline: shared.pipeline.name.clone(),
                    record: format!(
                        "{}/{}/{}",
                        message.topic(),
                        message.partition(),
                        message.offset()
                    ),
                    source: e,
                });
                return Outcome::Abandoned;
            }
            Err(e) => {
                failures += 1;
                metrics::note_error(
                    &shared.pipeline.name,
                    &format!("cannot send dead letter yet, retrying: {e}"),
                );
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(
                        partition = message.partition(),
                        offset = message.offset(),
                        error = %e,
                        failures,
                        "cannot send dead letter yet, retrying"
                    );
                }
                if shared.shutdown.is_cancelled() && failures > 3 {
                    return Outcome::Abandoned;
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = consumer::next_backoff(backoff, shared.stream.retry_max_backoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PipelineConfig;
    use crate::stream::convert::ColumnPlan;
    use crate::stream::mapping::Source;

    fn mapping(kind: &str) -> Mapping {
        let plan = vec![ColumnPlan::new(
            "total",
            Source::same_named("total"),
            kind.parse().expect("a type"),
        )];
        Mapping::new(&PipelineConfig::default(), plan, Vec::new()).expect("a mapping")
    }

    #[test]
    fn a_tree_parsed_for_another_plan_is_parsed_again() {
        let payload = br#"{"total": 12345678901234567890.123456789}"#;
        let plain = || convert::parse_json(payload, false).ok();
        let Some(serde_json::Value::Object(lossy)) = plain() else {
            panic!("an object")
        };
        // Parsed before a re-plan added a decimal column: read again, every digit kept.
        let tree = tree_for(&mapping("decimal"), Some((false, lossy.clone())), payload);
        assert_eq!(
            tree["total"],
            serde_json::Value::String("12345678901234567890.123456789".into())
        );
        // Parsed as the plan needs: used as it is.
        let tree = tree_for(&mapping("double"), Some((false, lossy.clone())), payload);
        assert_eq!(tree, lossy);
        // Taken already (a retry): parsed again for the plan.
        let tree = tree_for(&mapping("double"), None, payload);
        assert_eq!(tree, lossy);
    }
}
