//! What a pipeline has received and not finished: messages held in arrival order until a
//! write slot is free, and the bytes they and the records in flight hold. Receiving stops
//! while either the held count reaches `stream.max_in_flight` or the bytes reach
//! `stream.max_in_flight_bytes`; a message larger than the whole budget is still taken
//! when nothing else is held or in flight, so it is processed alone and never deadlocks.
//!
//! It does not decide what a message costs (the job does, see [`message_cost`]) nor which
//! offsets are committed ([`super::offsets`]).

use crate::config::RecordFormat;
use rdkafka::message::{Headers, Message, OwnedMessage};
use std::collections::VecDeque;

/// A received message: all the intake needs to know of it.
pub trait Received {
    fn partition(&self) -> i32;
}

impl Received for OwnedMessage {
    fn partition(&self) -> i32 {
        Message::partition(self)
    }
}

/// Held messages and the byte budget of everything received and not yet finished.
#[derive(Debug)]
pub struct Intake<M> {
    held: VecDeque<(M, usize)>,
    max_held: usize,
    budget: usize,
    /// Bytes of held messages and of records in flight.
    in_use: usize,
}

impl<M: Received> Intake<M> {
    pub fn new(max_held: usize, budget: usize) -> Self {
        Intake {
            held: VecDeque::new(),
            max_held,
            budget,
            in_use: 0,
        }
    }

    /// Whether the job may receive one more message.
    pub fn may_receive(&self) -> bool {
        self.held.len() < self.max_held && self.in_use < self.budget
    }

    /// Keeps a received message; its `cost` stays counted until [`Intake::release`].
    pub fn hold(&mut self, message: M, cost: usize) {
        self.in_use = self.in_use.saturating_add(cost);
        self.held.push_back((message, cost));
    }

    /// The oldest held message and its cost, to start it (its bytes stay counted).
    pub fn take_oldest(&mut self) -> Option<(M, usize)> {
        self.held.pop_front()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// A started record finished (or was abandoned): its bytes are free again.
    pub fn release(&mut self, cost: usize) {
        self.in_use = self.in_use.saturating_sub(cost);
    }

    /// Drops the held messages of revoked partitions: they were read under the old
    /// assignment, and whoever owns the partition now (maybe this instance again, from
    /// the committed offset) reads them again. Must run before any message received after
    /// the revocation is held, so that none of those is dropped.
    pub fn revoke(&mut self, partitions: &[i32]) {
        let mut freed = 0;
        self.held.retain(|(m, cost)| {
            let keep = !partitions.contains(&m.partition());
            if !keep {
                freed += cost;
            }
            keep
        });
        self.release(freed);
    }

    /// Held messages (received, not started).
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Bytes held and in flight.
    pub fn bytes_in_use(&self) -> usize {
        self.in_use
    }
}

/// Fixed bytes a message costs beyond its key, value and headers (the struct, its topic
/// name, allocator overhead).
const MESSAGE_OVERHEAD: usize = 256;

/// The bytes a message holds while it is held and in flight: the message itself, and for
/// `format = "json"` as much again for the row converted from it (whose text is copied
/// out of the decoded JSON tree, which is dropped before the write; see `process`).
pub fn message_cost(message: &OwnedMessage, format: RecordFormat) -> usize {
    let payload = message.payload().map_or(0, <[u8]>::len);
    let key = message.key().map_or(0, <[u8]>::len);
    let headers = message.headers().map_or(0, |h| {
        h.iter()
            .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
            .sum()
    });
    let row = match format {
        RecordFormat::Json => payload,
        // A binary payload's row is larger than the payload: its text is spelled out.
        RecordFormat::Avro | RecordFormat::Protobuf | RecordFormat::JsonSchema => 2 * payload,
        RecordFormat::Users => 0,
    };
    MESSAGE_OVERHEAD + payload + key + headers + row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct M(i32);
    impl Received for M {
        fn partition(&self) -> i32 {
            self.0
        }
    }

    #[test]
    fn receiving_stops_at_the_byte_budget_and_resumes_on_release() {
        let mut intake = Intake::new(100, 1000);
        intake.hold(M(0), 600);
        assert!(intake.may_receive(), "600 of 1000 bytes");
        intake.hold(M(0), 600);
        assert!(!intake.may_receive(), "1200 of 1000 bytes");
        let (_, cost) = intake.take_oldest().expect("held");
        assert!(!intake.may_receive(), "started records still count");
        intake.release(cost);
        assert!(intake.may_receive());
        assert_eq!(intake.bytes_in_use(), 600);
    }

    #[test]
    fn receiving_stops_at_the_count() {
        let mut intake = Intake::new(2, usize::MAX);
        intake.hold(M(0), 1);
        intake.hold(M(0), 1);
        assert!(!intake.may_receive());
        intake.take_oldest();
        assert!(intake.may_receive(), "the count is of held messages only");
    }

    #[test]
    fn a_message_larger_than_the_budget_is_taken_alone() {
        let mut intake = Intake::new(100, 1000);
        assert!(intake.may_receive());
        intake.hold(M(0), 50_000);
        assert!(!intake.may_receive(), "nothing more until it is finished");
        let (_, cost) = intake.take_oldest().expect("held");
        intake.release(cost);
        assert!(intake.may_receive(), "then receiving goes on");
    }

    #[test]
    fn revoking_drops_that_partitions_held_messages_and_their_bytes() {
        let mut intake = Intake::new(100, 1000);
        intake.hold(M(0), 10);
        intake.hold(M(1), 20);
        intake.hold(M(0), 30);
        intake.revoke(&[0]);
        assert_eq!(intake.held(), 1);
        assert_eq!(intake.bytes_in_use(), 20);
        assert_eq!(intake.take_oldest().map(|(m, _)| m.0), Some(1));
    }
}
