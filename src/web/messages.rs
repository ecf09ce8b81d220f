//! Messages for the UI: the newest messages of a topic, one message by position, and
//! re-sending a dead letter to its source topic. Reading assigns partitions directly
//! (never joins a group, never commits); values are shown lossily as UTF-8 and cut at
//! 8 KiB.

use super::kafka::{kafka_err, KafkaBrowser};
use super::WebError;
use crate::kafka::client_config;
use crate::stream::dead_letter::header as dlq_header;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::FutureRecord;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde::Serialize;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Message values longer than this are cut for display.
const MAX_SHOWN_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct ShownMessage {
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the epoch, when the message has a timestamp.
    pub timestamp: Option<i64>,
    pub key: Option<String>,
    pub value: String,
    pub truncated: bool,
    pub headers: Vec<(String, String)>,
}

impl ShownMessage {
    pub fn from_owned(m: &OwnedMessage) -> Self {
        let payload = m.payload().unwrap_or_default();
        let cut = payload.len().min(MAX_SHOWN_BYTES);
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        let v = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                        (h.key.to_string(), v.into_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        ShownMessage {
            partition: m.partition(),
            offset: m.offset(),
            timestamp: m.timestamp().to_millis(),
            key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            value: String::from_utf8_lossy(&payload[..cut]).into_owned(),
            truncated: cut < payload.len(),
            headers,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl KafkaBrowser {
    /// The newest `limit` messages of `topic` (across partitions), newest first.
    pub async fn tail(&self, topic: &str, limit: usize) -> Result<Vec<ShownMessage>, WebError> {
        let partitions = self.partitions(topic).await?;
        let ranges: Vec<(i32, i64, i64)> = partitions
            .iter()
            .filter(|p| p.high > p.low)
            .map(|p| (p.partition, (p.high - limit as i64).max(p.low), p.high))
            .collect();
        let messages = self.read_ranges(topic, ranges).await?;
        let mut shown: Vec<ShownMessage> = messages.iter().map(ShownMessage::from_owned).collect();
        shown.sort_by(|a, b| {
            (b.timestamp, b.offset, b.partition).cmp(&(a.timestamp, a.offset, a.partition))
        });
        shown.truncate(limit);
        Ok(shown)
    }

    /// The message at `partition`/`offset` of `topic`.
    pub async fn message(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<OwnedMessage, WebError> {
        // Negative offsets mean special positions to librdkafka; i64::MAX has no next one.
        let end = offset
            .checked_add(1)
            .filter(|_| offset >= 0 && partition >= 0)
            .ok_or_else(|| WebError::BadRequest(format!("no message at {partition}/{offset}")))?;
        let messages = self
            .read_ranges(topic, vec![(partition, offset, end)])
            .await?;
        messages
            .into_iter()
            .find(|m| m.offset() == offset)
            .ok_or_else(|| WebError::NotFound(format!("message {topic}/{partition}/{offset}")))
    }

    /// Reads `[from, to)` of each (partition, from, to), until every range is done or the
    /// request timeout runs out.
    async fn read_ranges(
        &self,
        topic: &str,
        ranges: Vec<(i32, i64, i64)>,
    ) -> Result<Vec<OwnedMessage>, WebError> {
        let topic = topic.to_string();
        let config = self.config.clone();
        self.blocking(move |_, timeout| {
            let consumer: BaseConsumer = client_config(&config)
                .set("group.id", "cassflow-web-reader")
                .set("enable.auto.commit", "false")
                .set("enable.partition.eof", "true")
                .create()
                .map_err(kafka_err("cannot create a Kafka client"))?;
            let mut tpl = TopicPartitionList::new();
            for (p, from, _) in &ranges {
                tpl.add_partition_offset(&topic, *p, Offset::Offset(*from))
                    .map_err(kafka_err("assignment"))?;
            }
            consumer.assign(&tpl).map_err(kafka_err("assign"))?;
            let mut open: HashSet<i32> = ranges.iter().map(|r| r.0).collect();
            let mut out = Vec::new();
            let deadline = Instant::now() + timeout;
            while !open.is_empty() && Instant::now() < deadline {
                match consumer.poll(Duration::from_millis(200)) {
                    Some(Ok(m)) => {
                        let end = ranges
                            .iter()
                            .find(|r| r.0 == m.partition())
                            .map_or(0, |r| r.2);
                        if m.offset() >= end - 1 {
                            open.remove(&m.partition());
                        }
                        if m.offset() < end {
                            out.push(m.detach());
                        }
                    }
                    Some(Err(KafkaError::PartitionEOF(p))) => {
                        open.remove(&p);
                    }
                    Some(Err(e)) => tracing::debug!(error = %e, "reading messages for the UI"),
                    None => {}
                }
            }
            Ok(out)
        })
        .await
    }

    /// Sends a dead letter back to `source_topic`: same key, value and Kafka timestamp
    /// (the source's, so the row's write time stays the record's own and a re-sent old
    /// record never overwrites newer data), the original headers without cassflow's
    /// dead-letter ones, plus `cassflow.resent_from`. A truncated letter is refused: its
    /// whole message lies in the source topic at the position its headers name.
    pub async fn resend(
        &self,
        dead_letter: &OwnedMessage,
        source_topic: &str,
    ) -> Result<(i32, i64), WebError> {
        let header_text = |name: &str| {
            dead_letter
                .headers()
                .and_then(|h| h.iter().filter(|h| h.key == name).last())
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        if let Some(size) = header_text(dlq_header::TRUNCATED) {
            let at = [
                dlq_header::SOURCE_TOPIC,
                dlq_header::SOURCE_PARTITION,
                dlq_header::SOURCE_OFFSET,
            ]
            .map(|h| header_text(h).unwrap_or_else(|| "?".into()))
            .join("/");
            return Err(WebError::BadRequest(format!(
                "dead letter {}/{}/{} holds only the start of a {size}-byte value; re-produce the whole message from {at} instead, e.g. with kcat -C -t <topic> -p <partition> -o <offset> -c 1",
                dead_letter.topic(),
                dead_letter.partition(),
                dead_letter.offset()
            )));
        }
        let source_timestamp = header_text(dlq_header::SOURCE_TIMESTAMP)
            .and_then(|t| t.parse::<i64>().ok())
            .filter(|t| *t >= 0);
        let mut headers = OwnedHeaders::new();
        if let Some(original) = dead_letter.headers() {
            for h in original.iter().filter(|h| !is_dead_letter_header(h.key)) {
                headers = headers.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
        let from = format!(
            "{}/{}/{}",
            dead_letter.topic(),
            dead_letter.partition(),
            dead_letter.offset()
        );
        headers = headers.insert(Header {
            key: "cassflow.resent_from",
            value: Some(&from),
        });
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(source_topic).headers(headers);
        if let Some(t) = source_timestamp {
            record = record.timestamp(t);
        }
        if let Some(k) = dead_letter.key() {
            record = record.key(k);
        }
        if let Some(v) = dead_letter.payload() {
            record = record.payload(v);
        }
        let delivery = self
            .producer
            .send(record, self.timeout)
            .await
            .map_err(|(e, _)| {
                WebError::Kafka(format!("cannot re-send to `{source_topic}`: {e}"))
            })?;
        Ok((delivery.partition, delivery.offset))
    }
}

fn is_dead_letter_header(key: &str) -> bool {
    [
        dlq_header::REASON,
        dlq_header::ERROR,
        dlq_header::SOURCE_TOPIC,
        dlq_header::SOURCE_PARTITION,
        dlq_header::SOURCE_OFFSET,
        dlq_header::SOURCE_TIMESTAMP,
        dlq_header::DEAD_LETTERED_AT,
        dlq_header::TRUNCATED,
        dlq_header::HEADERS_DROPPED,
    ]
    .contains(&key)
}
