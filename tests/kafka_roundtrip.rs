//! Real Kafka: a topic created through the admin API takes a message produced with rdkafka,
//! and a consumer reads the same message back.

mod common;

use cassflow::kafka::{admin, client_config};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;

#[tokio::test]
async fn produced_message_is_consumed_back() {
    let config = common::stack().await;
    let topic = common::unique("roundtrip");
    let created = admin::ensure_topic(&config.kafka, &topic, 3, 1)
        .await
        .expect("create topic");
    assert!(created, "a fresh topic is created");
    let again = admin::ensure_topic(&config.kafka, &topic, 3, 1)
        .await
        .expect("create topic again");
    assert!(!again, "creating an existing topic is harmless and says so");

    let producer: FutureProducer = client_config(&config.kafka)
        .set("acks", "all")
        .create()
        .expect("producer");
    let payload = format!("{{\"hello\":\"{topic}\"}}");
    let header = rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
        key: "origin",
        value: Some("test"),
    });
    producer
        .send(
            FutureRecord::to(&topic)
                .key("k1")
                .payload(&payload)
                .headers(header),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("delivered");

    let consumer: StreamConsumer = client_config(&config.kafka)
        .set("group.id", common::unique("g"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a message within 30 s")
        .expect("no consumer error");
    assert_eq!(message.key(), Some(&b"k1"[..]));
    assert_eq!(message.payload(), Some(payload.as_bytes()));
    let origin = message
        .headers()
        .and_then(|h| h.iter().find(|h| h.key == "origin"))
        .and_then(|h| h.value);
    assert_eq!(origin, Some(&b"test"[..]));
}

#[tokio::test]
async fn probe_sees_the_broker() {
    let config = common::stack().await;
    let info = admin::probe(&config.kafka, Duration::from_secs(10))
        .await
        .expect("metadata");
    assert_eq!(info.brokers, 1);
}
