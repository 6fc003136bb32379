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
use std::time::Instant as StdInstant;

use metrics::{counter, histogram};
use wattline_influx::{InfluxWriter, LineProtocolBuilder, WriteError, WriteOutcome};

use super::batch::ReadyBatch;
use super::bisect::{bisect, Attempt};
use crate::consumer::Accepted;
use crate::http::Health;
use crate::retry::{Backoff, BackoffPolicy};
use crate::telemetry::{self, names};

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
    backoff: BackoffPolicy,
    health: Arc<Health>,
}

impl BatchWriter {
    pub fn new(writer: InfluxWriter, backoff: BackoffPolicy, health: Arc<Health>) -> Self {
        Self {
            writer,
            backoff,
            health,
        }
    }

    /// Writes one batch until every message is either accepted by InfluxDB
    /// or found to be refused by it.
    pub async fn write_batch(&self, batch: ReadyBatch) -> WrittenBatch {
        let ReadyBatch { builder, messages } = batch;
        histogram!(names::BATCH_POINTS).record(builder.point_count() as f64);
        let message = match self.write_until_answered(builder.as_bytes()).await {
            Attempt::Written { dropped } => {
                self.count_written(builder.point_count(), dropped);
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
            async move {
                let attempt = self.write_until_answered(body.as_bytes()).await;
                if let Attempt::Written { dropped } = attempt {
                    self.count_written(body.point_count(), dropped);
                }
                attempt
            }
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

    fn count_written(&self, points: usize, dropped: u64) {
        counter!(names::BATCHES_WRITTEN).increment(1);
        counter!(names::POINTS_WRITTEN).increment((points as u64).saturating_sub(dropped));
    }

    /// Sends `body` until InfluxDB answers it with a success or a rejection.
    async fn write_until_answered(&self, body: &[u8]) -> Attempt {
        let mut backoff = Backoff::new(self.backoff);
        loop {
            let started = StdInstant::now();
            let result = self.writer.write(body).await;
            histogram!(names::WRITE_DURATION).record(started.elapsed().as_secs_f64());
            match result {
                Ok(WriteOutcome::Written) => {
                    self.health.set_influx_reachable(true);
                    return Attempt::Written { dropped: 0 };
                }
                Ok(WriteOutcome::PartiallyDropped { dropped, message }) => {
                    self.health.set_influx_reachable(true);
                    telemetry::points_dropped(dropped, &message);
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
