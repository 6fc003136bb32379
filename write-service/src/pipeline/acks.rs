//! In-order acknowledgement: deliveries finish out of order (two batches in
//! flight, dead letters confirmed on their own schedule), but the broker is
//! acked in delivery order, with one `basic.ack(multiple)` per contiguous run
//! of finished deliveries.
//!
//! Why in order: `multiple: true` acks *every* tag up to the one given, so
//! acking batch N+1 before batch N is written would ack N's deliveries too.
//! Why a single tracker for writes *and* dead letters: a delivery must never
//! be acked twice (a channel error), and a poison message must not be acked
//! by a later batch's multiple-ack before its dead-letter copy is confirmed.

use std::collections::VecDeque;

/// Tracks the unacked deliveries of one channel, oldest first.
#[derive(Debug)]
pub struct AckWindow<T> {
    /// `(delivery tag, Some(outcome) once finished)`, tags strictly rising.
    entries: VecDeque<(u64, Option<T>)>,
}

/// One `basic.ack(multiple: true)` to send: every delivery up to and
/// including `up_to`, with what each one's outcome was.
#[derive(Debug, PartialEq)]
pub struct Ack<T> {
    pub up_to: u64,
    pub outcomes: Vec<T>,
}

impl<T> Default for AckWindow<T> {
    fn default() -> Self {
        Self {
            entries: VecDeque::new(),
        }
    }
}

impl<T> AckWindow<T> {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a delivery as soon as it arrives. Tags on one channel
    /// only rise; a tag that does not is ignored and reported `false`.
    pub fn track(&mut self, tag: u64) -> bool {
        if self.entries.back().is_some_and(|(last, _)| *last >= tag) {
            return false;
        }
        self.entries.push_back((tag, None));
        true
    }

    /// Marks a tracked delivery finished. Returns `false` for a tag that is
    /// not tracked (or already finished), which callers treat as a bug.
    pub fn complete(&mut self, tag: u64, outcome: T) -> bool {
        match self.entries.binary_search_by_key(&tag, |(t, _)| *t) {
            Ok(index) => match &mut self.entries[index].1 {
                slot @ None => {
                    *slot = Some(outcome);
                    true
                }
                Some(_) => false,
            },
            Err(_) => false,
        }
    }

    /// Removes the finished prefix and returns the ack that covers it, or
    /// `None` while the oldest delivery is still unfinished.
    pub fn take_ackable(&mut self) -> Option<Ack<T>> {
        let mut outcomes = Vec::new();
        let mut up_to = None;
        while let Some((tag, Some(_))) = self.entries.front() {
            let tag = *tag;
            if let Some((_, Some(outcome))) = self.entries.pop_front() {
                outcomes.push(outcome);
                up_to = Some(tag);
            }
        }
        up_to.map(|up_to| Ack { up_to, outcomes })
    }

    /// Deliveries received and not yet acked (finished or not).
    pub fn unacked(&self) -> usize {
        self.entries.len()
    }

    /// Deliveries not yet finished.
    pub fn unfinished(&self) -> usize {
        self.entries.iter().filter(|(_, o)| o.is_none()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_wait_for_the_oldest_delivery() {
        let mut w = AckWindow::new();
        for tag in 1..=6 {
            assert!(w.track(tag));
        }
        // Batch 2 (tags 4..=6) finishes before batch 1 (tags 1..=3).
        for tag in 4..=6 {
            assert!(w.complete(tag, tag * 10));
        }
        assert_eq!(w.take_ackable(), None);
        assert!(w.complete(1, 10));
        assert!(w.complete(2, 20));
        assert_eq!(
            w.take_ackable(),
            Some(Ack {
                up_to: 2,
                outcomes: vec![10, 20]
            })
        );
        assert_eq!(w.take_ackable(), None);
        assert!(w.complete(3, 30));
        assert_eq!(
            w.take_ackable(),
            Some(Ack {
                up_to: 6,
                outcomes: vec![30, 40, 50, 60]
            })
        );
        assert_eq!(w.unacked(), 0);
    }

    #[test]
    fn a_dead_letter_in_the_middle_holds_later_acks_until_confirmed() {
        let mut w = AckWindow::new();
        for tag in [7, 8, 9] {
            w.track(tag);
        }
        w.complete(7, "written");
        w.complete(9, "written");
        assert_eq!(
            w.take_ackable(),
            Some(Ack {
                up_to: 7,
                outcomes: vec!["written"]
            })
        );
        assert_eq!(w.unfinished(), 1);
        w.complete(8, "dead-lettered");
        assert_eq!(
            w.take_ackable(),
            Some(Ack {
                up_to: 9,
                outcomes: vec!["dead-lettered", "written"]
            })
        );
    }

    #[test]
    fn unknown_duplicate_and_out_of_order_tags_are_refused() {
        let mut w = AckWindow::new();
        assert!(w.track(5));
        assert!(!w.track(5));
        assert!(!w.track(4));
        assert!(!w.complete(4, ()));
        assert!(w.complete(5, ()));
        assert!(!w.complete(5, ()), "finishing twice would ack twice");
        assert_eq!(w.take_ackable().map(|a| a.up_to), Some(5));
        assert!(!w.complete(5, ()), "already acked");
    }
}
