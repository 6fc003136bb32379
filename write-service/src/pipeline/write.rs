//! Writing a batch to InfluxDB: retry what may succeed later, bisect what
//! InfluxDB refuses, and report per message what happened.
//!
//! - `Unavailable` / `Unauthorized`: the same body again, with capped
//!   exponential backoff, until it is answered. There is no give-up here:
//!   the session drops the future at shutdown (after the grace period) or
//!   on a lost connection, and the messages stay unacked.
//! - `PartiallyDropped`: written except points beyond the retention policy;
//!   counted, logged, treated as written (never looped).
//! - `Rejected`: bisect by message to find the culprit(s); see
//!   [`super::bisect`].

use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use metrics::{counter, histogram};
use wattline_influx::{InfluxWriter, LineProtocolBuilder, WriteError, WriteOutcome};
use wattline_ops::retry::{Backoff, BackoffPolicy};

use super::batch::ReadyBatch;
use super::bisect::{bisect, Attempt};
use crate::consumer::Accepted;
use crate::http::Health;
use crate::telemetry::{self, names};

/// InfluxDB writes (and household lookups, see [`crate::consumer`]): 100 ms
/// doubling up to 10 s, quick recovery from a blip, at most one attempt
/// every 5–10 s during a long outage.
pub const WRITES: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_millis(100),
    max: Duration::from_secs(10),
};

/// What became of a batch's messages.
#[derive(Debug)]
pub struct WrittenBatch {
    /// The buffer, returned for reuse.
    pub builder: LineProtocolBuilder,
    /// Messages whose points InfluxDB accepted.
    pub written: Vec<Accepted>,
    /// Messages InfluxDB refused on their own, with its message: dead-letter.
    pub rejected: Vec<(Accepted, String)>,
}

/// Writes batches with the service's retry and bisection policy.
#[derive(Debug, Clone)]
pub struct BatchWriter {
    writer: InfluxWriter,
    health: Arc<Health>,
}

impl BatchWriter {
    /// Writes with `writer`, retrying unavailability with [`WRITES`] backoff.
    pub fn new(writer: InfluxWriter, health: Arc<Health>) -> Self {
        Self { writer, health }
    }

    /// GET /ping on the InfluxDB this writes to.
    pub async fn ping(&self) -> Result<(), WriteError> {
        self.writer.ping().await
    }

    /// Writes one batch until every message is either accepted by InfluxDB
    /// or found to be refused by it.
    pub async fn write_batch(&self, batch: ReadyBatch) -> WrittenBatch {
        let ReadyBatch { builder, messages } = batch;
        histogram!(names::BATCH_POINTS).record(builder.point_count() as f64);
        let message = match self.write_until_answered(&builder).await {
            Attempt::Written { .. } => {
                return WrittenBatch {
                    builder,
                    written: messages,
                    rejected: Vec::new(),
                };
            }
            Attempt::Rejected(message) => message,
        };
        tracing::warn!(
            messages = messages.len(),
            points = builder.point_count(),
            %message,
            "InfluxDB rejected a batch; bisecting to find the offending message(s)"
        );
        let bisection = bisect(messages.len(), message, |range| {
            let mut body = LineProtocolBuilder::new();
            for m in &messages[range] {
                // Pushed before into the original body, so cannot fail now.
                let _ = m.push_points(&mut body);
            }
            async move { self.write_until_answered(&body).await }
        })
        .await;
        tracing::info!(
            writes = bisection.writes,
            rejected = bisection.rejected.len(),
            "bisection done"
        );
        let mut reasons = bisection.rejected.into_iter().peekable();
        let mut written = Vec::with_capacity(messages.len());
        let mut rejected = Vec::new();
        for (index, message) in messages.into_iter().enumerate() {
            match reasons.next_if(|(i, _)| *i == index) {
                Some((_, why)) => rejected.push((message, why)),
                None => written.push(message),
            }
        }
        WrittenBatch {
            builder,
            written,
            rejected,
        }
    }

    /// Sends `body` until InfluxDB answers it with a success or a rejection,
    /// and counts what it wrote.
    async fn write_until_answered(&self, body: &LineProtocolBuilder) -> Attempt {
        let mut backoff = Backoff::new(WRITES);
        // Gzipped (or copied) once, resent as is on every retry.
        let encoded = self.writer.encode(body.as_bytes());
        loop {
            let started = StdInstant::now();
            let result = self.writer.write_encoded(&encoded).await;
            histogram!(names::WRITE_DURATION).record(started.elapsed().as_secs_f64());
            match result {
                Ok(WriteOutcome::Written) => {
                    self.health.set_influx_reachable(true);
                    count_written(body.point_count(), 0);
                    return Attempt::Written { dropped: 0 };
                }
                Ok(WriteOutcome::PartiallyDropped { dropped, message }) => {
                    self.health.set_influx_reachable(true);
                    telemetry::points_dropped(dropped, &message);
                    count_written(body.point_count(), dropped);
                    return Attempt::Written { dropped };
                }
                Err(WriteError::Rejected { message, .. }) => {
                    self.health.set_influx_reachable(true);
                    return Attempt::Rejected(message);
                }
                Err(error) => {
                    // Unavailable, Unauthorized (and Config, which a built
                    // writer never returns): nothing was written; try again.
                    if matches!(error, WriteError::Unavailable(_)) {
                        self.health.set_influx_reachable(false);
                    }
                    let delay = backoff.next_delay();
                    telemetry::write_retry(&error, backoff.attempts(), delay);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

fn count_written(points: usize, dropped: u64) {
    counter!(names::BATCHES_WRITTEN).increment(1);
    counter!(names::POINTS_WRITTEN).increment((points as u64).saturating_sub(dropped));
}
