//! A steady load for fault tests: cassflow's producer writes users records to a topic at a
//! fixed rate in the background, through whatever a test does to the cluster, until the test
//! asks for the records it sent. Every record is checked delivered: the load itself never
//! loses one silently.

use cassflow::config::Config;
use cassflow::produce::producer::RecordProducer;
use cassflow::record::UserRecord;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the load sends one slice of its rate.
const TICK: Duration = Duration::from_millis(100);

/// A load running in the background; [`Load::finish`] stops it.
pub struct Load {
    /// The fewest records to send in all; 0 until [`Load::finish`] says how many.
    at_least: watch::Sender<usize>,
    task: JoinHandle<Vec<UserRecord>>,
}

impl Load {
    /// Creates `topic` (6 partitions, the cluster's default replication) and starts
    /// sending `per_second` distinct users to it.
    pub async fn start(config: &Config, topic: &str, per_second: usize) -> Load {
        cassflow::kafka::admin::ensure_topic(&config.kafka, topic, 6, -1)
            .await
            .expect("topic");
        let mut producer =
            RecordProducer::new(&config.kafka, &config.producer, topic).expect("producer");
        let (at_least, mut wanted) = watch::channel(0);
        let per_tick = (per_second / 10).max(1);
        let tag = topic.to_string();
        let task = tokio::spawn(async move {
            let mut sent = Vec::new();
            let mut tick = tokio::time::interval(TICK);
            loop {
                let goal = *wanted.borrow_and_update();
                if goal > 0 && sent.len() >= goal {
                    break;
                }
                tick.tick().await;
                for record in super::users(per_tick, &tag) {
                    producer.send(&record).await.expect("queued");
                    sent.push(record);
                }
            }
            let undelivered = producer.flush(Duration::from_secs(120)).await;
            let counts = producer.counts();
            assert_eq!(undelivered, 0, "every record of the load delivered");
            assert_eq!(counts.failed(), 0, "{:?}", counts.first_error());
            assert_eq!(counts.delivered(), sent.len() as u64);
            sent
        });
        Load { at_least, task }
    }

    /// Keeps sending until at least `at_least` records went out, then waits until each is
    /// delivered and returns them all.
    pub async fn finish(&mut self, at_least: usize) -> Vec<UserRecord> {
        let _ = self.at_least.send(at_least);
        (&mut self.task).await.expect("the load ran to its end")
    }
}
