//! Which offset may be committed: per partition, the next offset after the longest run of
//! finished records from the start. A record finishes when its row is written or it is
//! dead-lettered; an offset is never stored past an unfinished record, so a crash replays
//! at most what was in flight (at-least-once), and upserts make replays harmless.

use std::collections::{BTreeSet, HashMap};

/// Identifies one record in flight, including the assignment it belongs to, so that a
/// write finishing after its partition was revoked (and maybe re-assigned) is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub partition: i32,
    pub offset: i64,
    generation: u64,
}

#[derive(Debug)]
struct PartitionState {
    generation: u64,
    pending: BTreeSet<i64>,
    /// Offset of the newest record begun.
    newest: Option<i64>,
    /// The last next-offset reported as committable.
    reported: Option<i64>,
}

#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<i32, PartitionState>,
    next_generation: u64,
}

impl OffsetTracker {
    /// Registers a record as in flight. Records of one partition arrive in offset order.
    pub fn begin(&mut self, partition: i32, offset: i64) -> Ticket {
        let generation = match self.partitions.get(&partition) {
            Some(state) => state.generation,
            None => {
                self.next_generation += 1;
                let generation = self.next_generation;
                self.partitions.insert(
                    partition,
                    PartitionState {
                        generation,
                        pending: BTreeSet::new(),
                        newest: None,
                        // Reading starts here: committing this offset would say nothing new.
                        reported: Some(offset),
                    },
                );
                generation
            }
        };
        if let Some(state) = self.partitions.get_mut(&partition) {
            state.pending.insert(offset);
            state.newest = Some(state.newest.map_or(offset, |n| n.max(offset)));
        }
        Ticket {
            partition,
            offset,
            generation,
        }
    }

    /// Marks a record finished. Returns the partition's new committable next-offset if it
    /// advanced, or None (also for tickets of a revoked assignment).
    pub fn finish(&mut self, ticket: Ticket) -> Option<i64> {
        let state = self.partitions.get_mut(&ticket.partition)?;
        if state.generation != ticket.generation || !state.pending.remove(&ticket.offset) {
            return None;
        }
        let committable = match state.pending.first() {
            Some(&lowest) => lowest,
            None => state.newest? + 1,
        };
        if state.reported.is_some_and(|r| r >= committable) {
            return None;
        }
        state.reported = Some(committable);
        Some(committable)
    }

    /// Forgets a partition (revoked): its in-flight records will not be committed here.
    pub fn revoke(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }

    /// Records in flight, over all partitions.
    pub fn in_flight(&self) -> usize {
        self.partitions.values().map(|s| s.pending.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commits_only_past_contiguous_finished_records() {
        let mut t = OffsetTracker::default();
        let a = t.begin(0, 10);
        let b = t.begin(0, 11);
        let c = t.begin(0, 12);
        assert_eq!(t.finish(b), None, "10 still pending: nothing past it");
        assert_eq!(t.finish(a), Some(12), "10 and 11 done: next to read is 12");
        assert_eq!(t.finish(c), Some(13));
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn partitions_are_independent() {
        let mut t = OffsetTracker::default();
        let a = t.begin(0, 5);
        let b = t.begin(1, 7);
        assert_eq!(t.finish(b), Some(8));
        assert_eq!(t.finish(a), Some(6));
    }

    #[test]
    fn tickets_of_a_revoked_assignment_are_ignored() {
        let mut t = OffsetTracker::default();
        let old = t.begin(3, 100);
        t.revoke(3);
        let new = t.begin(3, 100);
        assert_eq!(t.finish(old), None, "stale ticket");
        assert_eq!(t.finish(new), Some(101));
    }

    proptest! {
        /// Whatever order writes finish in, the committed offset never passes an
        /// unfinished record, and ends one past the newest once all are finished.
        #[test]
        fn never_commits_past_an_unfinished_record(
            count in 1usize..60,
            order in proptest::collection::vec(any::<proptest::sample::Index>(), 60),
        ) {
            let mut t = OffsetTracker::default();
            let mut tickets: Vec<Ticket> = (0..count as i64).map(|o| t.begin(0, 1000 + o)).collect();
            let mut finished = std::collections::BTreeSet::new();
            let mut last = None;
            let mut i = 0;
            while !tickets.is_empty() {
                let pick = order[i % order.len()].index(tickets.len());
                i += 1;
                let ticket = tickets.swap_remove(pick);
                finished.insert(ticket.offset);
                if let Some(c) = t.finish(ticket) {
                    for o in 1000..c {
                        prop_assert!(finished.contains(&o), "committed {c} past unfinished {o}");
                    }
                    prop_assert!(last.is_none_or(|l| c > l));
                    last = Some(c);
                }
            }
            prop_assert_eq!(last, Some(1000 + count as i64));
        }
    }
}
