//! The write time of a row (`USING TIMESTAMP`): the record's Kafka timestamp, so that an
//! older record read late never overwrites a newer one. Owns the guard against timestamps
//! from the future: a record stamped by a skewed producer clock (say in 2100) would freeze
//! its row, every later write of it being older and so silently ignored by Cassandra.
//! Such a record is dead-lettered (`timestamp_in_future`) or written at the current time,
//! as `stream.future_timestamp` says.

use crate::config::{FutureTimestamp, StreamConfig};

/// The dead-letter reason of a record stamped too far in the future.
pub const IN_FUTURE: &str = "timestamp_in_future";

/// When a record is written, or why it is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteTime {
    /// Microseconds since the epoch: the record's own time, or now if it has none.
    At(i64),
    /// The record's time was too far ahead; it is written at this time (now) instead.
    Clamped(i64),
    /// The record's time was too far ahead; this says by how much, and the fix.
    InFuture(String),
}

/// The write time of a record with Kafka timestamp `millis`, at `now_micros`.
pub fn of(millis: Option<i64>, now_micros: i64, stream: &StreamConfig) -> WriteTime {
    of_micros(
        millis.and_then(|ms| ms.checked_mul(1000)),
        "Kafka timestamp",
        now_micros,
        stream,
    )
}

/// The write time of a record whose own time (`what`: its Kafka timestamp, or the write
/// time `columns.__timestamp` gives) is `micros`, at `now_micros`.
pub fn of_micros(
    micros: Option<i64>,
    what: &str,
    now_micros: i64,
    stream: &StreamConfig,
) -> WriteTime {
    let Some(micros) = micros else {
        // No timestamp, or one out of range: the time it is written.
        return WriteTime::At(now_micros);
    };
    let skew = i64::try_from(stream.max_future_skew.as_micros()).unwrap_or(i64::MAX);
    if micros.saturating_sub(now_micros) <= skew {
        return WriteTime::At(micros);
    }
    match stream.future_timestamp {
        FutureTimestamp::Clamp => WriteTime::Clamped(now_micros),
        FutureTimestamp::DeadLetter => {
            let ahead = std::time::Duration::from_secs(
                u64::try_from((micros - now_micros) / 1_000_000).unwrap_or(u64::MAX),
            );
            let at = chrono::DateTime::from_timestamp_micros(micros)
                .map_or_else(|| format!("{micros} µs"), |t| t.to_rfc3339());
            WriteTime::InFuture(format!(
                "{what} {at} is {} ahead of this machine's clock, more than stream.max_future_skew ({}); fix the producer's clock, or set stream.future_timestamp = \"clamp\" to write such records at the current time",
                humantime::format_duration(ahead),
                humantime::format_duration(stream.max_future_skew),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NOW: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
    const YEAR_2100_MS: i64 = 4_102_444_800_000;

    fn stream(policy: FutureTimestamp) -> StreamConfig {
        StreamConfig {
            max_future_skew: Duration::from_secs(300),
            future_timestamp: policy,
            ..StreamConfig::default()
        }
    }

    #[test]
    fn a_record_is_written_at_its_kafka_time() {
        let s = stream(FutureTimestamp::DeadLetter);
        let past = NOW / 1000 - 86_400_000;
        assert_eq!(of(Some(past), NOW, &s), WriteTime::At(past * 1000));
        // A little ahead (within the skew) is a clock a little off: still its own time.
        let ahead = NOW / 1000 + 299_000;
        assert_eq!(of(Some(ahead), NOW, &s), WriteTime::At(ahead * 1000));
        assert_eq!(of(None, NOW, &s), WriteTime::At(NOW));
        assert_eq!(
            of(Some(i64::MAX), NOW, &s),
            WriteTime::At(NOW),
            "out of range"
        );
    }

    #[test]
    fn a_record_from_2100_is_dead_lettered_with_the_fix() {
        let s = stream(FutureTimestamp::DeadLetter);
        let WriteTime::InFuture(why) = of(Some(YEAR_2100_MS), NOW, &s) else {
            panic!("not refused");
        };
        assert!(why.contains("2100-01-01"), "{why}");
        assert!(why.contains("stream.max_future_skew (5m)"), "{why}");
        assert!(why.contains("stream.future_timestamp = \"clamp\""), "{why}");
        let just_over = NOW / 1000 + 301_000;
        assert!(matches!(
            of(Some(just_over), NOW, &s),
            WriteTime::InFuture(_)
        ));
    }

    #[test]
    fn clamp_writes_a_record_from_2100_now() {
        let s = stream(FutureTimestamp::Clamp);
        assert_eq!(of(Some(YEAR_2100_MS), NOW, &s), WriteTime::Clamped(NOW));
    }
}
