//! The batch being filled: messages plus their line protocol, built into a
//! reused buffer, flushed when it holds `--batch-points` points or its
//! oldest message is `--batch-age-ms` old.

use std::time::Duration;

use tokio::time::Instant;
use wattline_influx::{InvalidPoint, LineProtocolBuilder};

use crate::consumer::Accepted;

/// A batch handed to the writer: the body and the messages it came from
/// (kept to bisect, ack or dead-letter them afterwards).
#[derive(Debug)]
pub struct ReadyBatch {
    pub builder: LineProtocolBuilder,
    pub messages: Vec<Accepted>,
}

impl ReadyBatch {
    /// Points in the body.
    pub fn points(&self) -> usize {
        self.builder.point_count()
    }
}

/// The batch being filled.
#[derive(Debug, Default)]
pub struct PendingBatch {
    builder: LineProtocolBuilder,
    messages: Vec<Accepted>,
    oldest: Option<Instant>,
}

impl PendingBatch {
    /// An empty batch that builds into `builder` (cleared first).
    pub fn new(mut builder: LineProtocolBuilder) -> Self {
        builder.clear();
        Self {
            builder,
            messages: Vec::new(),
            oldest: None,
        }
    }

    /// Adds a message's points. On error the message is handed back; points
    /// pushed before the failing one stay in the body (validation makes this
    /// unreachable; see [`Accepted::push_points`]).
    pub fn push(&mut self, message: Accepted) -> Result<(), Box<(Accepted, InvalidPoint)>> {
        if let Err(e) = message.push_points(&mut self.builder) {
            return Err(Box::new((message, e)));
        }
        self.oldest.get_or_insert(message.received);
        self.messages.push(message);
        Ok(())
    }

    /// Points so far.
    pub fn points(&self) -> usize {
        self.builder.point_count()
    }

    /// True when no message is waiting.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// True once the batch holds `limit` points or more.
    pub fn is_full(&self, limit: usize) -> bool {
        self.points() >= limit
    }

    /// When the batch must be flushed at the latest: its oldest message's
    /// arrival plus `max_age`.
    pub fn deadline(&self, max_age: Duration) -> Option<Instant> {
        self.oldest.map(|t| t + max_age)
    }

    /// Takes the batch out, leaving an empty one that builds into `next`.
    pub fn take(&mut self, next: LineProtocolBuilder) -> Option<ReadyBatch> {
        if self.is_empty() {
            return None;
        }
        let taken = std::mem::replace(self, PendingBatch::new(next));
        Some(ReadyBatch {
            builder: taken.builder,
            messages: taken.messages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{DeviceId, HouseholdId};
    use crate::validate::Summary;
    use wattline_influx::DeviceKey;
    use wattline_proto::wire::CheckedBatch;
    use wattline_proto::{Batch, Reading, SocketSeries};

    fn message(tag: u64, readings: usize, received: Instant) -> Accepted {
        let readings: Vec<Reading> = (0..readings)
            .map(|i| Reading::new(1_795_000_000_000 + i as i64, 1.0))
            .collect();
        let summary = Summary {
            readings: readings.len(),
            newest_ms: readings.last().map(|r| r.timestamp_ms),
        };
        let batch = Batch {
            device_id: "d".into(),
            sequence: tag,
            sockets: vec![SocketSeries {
                socket_id: "s".into(),
                readings,
            }],
        }
        .encode();
        Accepted {
            tag,
            routing_key: "readings.d".into(),
            batch: CheckedBatch::new(batch).unwrap(),
            device: DeviceId::parse("d").unwrap(),
            household: HouseholdId::parse("h").unwrap(),
            key: DeviceKey::new("h", "d").unwrap(),
            summary,
            received,
        }
    }

    #[test]
    fn fills_by_points_and_ages_from_the_oldest_message() {
        let t0 = Instant::now();
        let age = Duration::from_millis(200);
        let mut pending = PendingBatch::default();
        assert_eq!(pending.deadline(age), None);
        pending.push(message(1, 30, t0)).unwrap();
        pending
            .push(message(2, 30, t0 + Duration::from_millis(150)))
            .unwrap();
        assert_eq!(pending.points(), 60);
        assert_eq!(
            pending.deadline(age),
            Some(t0 + age),
            "the oldest message sets the deadline"
        );
        assert!(!pending.is_full(61));
        assert!(pending.is_full(60));

        let ready = pending.take(LineProtocolBuilder::new()).unwrap();
        assert_eq!(ready.points(), 60);
        assert_eq!(
            ready.messages.iter().map(|m| m.tag).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(
            ready
                .builder
                .as_bytes()
                .iter()
                .filter(|b| **b == b'\n')
                .count(),
            60
        );
        assert!(pending.is_empty());
        assert_eq!(pending.deadline(age), None);
        assert!(pending.take(LineProtocolBuilder::new()).is_none());
    }

    #[test]
    fn a_reused_builder_starts_empty() {
        let mut used = LineProtocolBuilder::new();
        message(1, 3, Instant::now())
            .push_points(&mut used)
            .unwrap();
        let pending = PendingBatch::new(used);
        assert_eq!(pending.points(), 0);
    }
}
