//! Admission control in front of InfluxDB: at most `--max-concurrent-queries`
//! requests read InfluxDB at once; a request waits at most `--queue-timeout`
//! for a slot and is otherwise refused with 429 and `Retry-After`.
//!
//! Why: InfluxDB, not this service, is the bottleneck. Past its capacity every
//! extra query only makes all of them slower, until they time out as 503s and
//! its `/ping` stops answering too. Refusing the excess early keeps the
//! admitted requests fast and tells clients (the dashboard, a load balancer)
//! plainly to come back later.
//!
//! A slot is per request, not per InfluxQL statement: a request's statements
//! (two in parallel for /api/sockets and /api/energy) share its slot, so a
//! request is never refused halfway through. A CSV export keeps its slot while
//! its body streams, because InfluxDB works for as long as the body does.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::api::ApiError;
use crate::telemetry::names;

/// The slots, shared by every request.
#[derive(Debug, Clone)]
pub struct Admission {
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
}

/// A request's slot: given back when dropped.
#[derive(Debug)]
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

/// No slot became free within the queue timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    /// What the client is told to wait (`Retry-After`, whole seconds, at least 1).
    pub retry_after_s: u64,
}

impl Admission {
    /// `max_concurrent` slots (at least 1); a request waits at most `queue_timeout`.
    pub fn new(max_concurrent: usize, queue_timeout: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
            queue_timeout,
        }
    }

    /// Waits at most the queue timeout for a slot.
    pub async fn admit(&self) -> Result<Slot, Busy> {
        let wait = Arc::clone(&self.slots).acquire_owned();
        match tokio::time::timeout(self.queue_timeout, wait).await {
            Ok(Ok(permit)) => Ok(Slot(permit)),
            // The semaphore is never closed; a closed one sheds too.
            Ok(Err(_)) | Err(_) => Err(Busy {
                retry_after_s: self.retry_after_s(),
            }),
        }
    }

    /// [`Admission::admit`] for a request to `route`: refused as a 429
    /// [`ApiError`], counted in `wattline_read_shed_total` by route. Called
    /// after the request's token and parameters are checked, so refusals of
    /// bad requests never wait for a slot.
    pub async fn enter(&self, route: &'static str) -> Result<Slot, ApiError> {
        self.admit().await.map_err(|busy| {
            metrics::counter!(names::SHED, "route" => route).increment(1);
            ApiError::busy(busy)
        })
    }

    /// A short backoff: a slot frees as soon as one query answers (usually
    /// well under a second), so clients are told to come back in about the
    /// time they were willing to queue, rounded up to whole seconds.
    fn retry_after_s(&self) -> u64 {
        self.queue_timeout.as_secs_f64().ceil().max(1.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_waits_for_a_slot_then_is_refused() {
        let admission = Admission::new(1, Duration::from_millis(50));
        let held = admission.admit().await.expect("a free slot");
        assert_eq!(admission.admit().await.unwrap_err().retry_after_s, 1);
        drop(held);
        assert!(admission.admit().await.is_ok());
    }

    #[test]
    fn retry_after_is_whole_seconds_at_least_one() {
        assert_eq!(Admission::new(1, Duration::ZERO).retry_after_s(), 1);
        assert_eq!(
            Admission::new(1, Duration::from_millis(2500)).retry_after_s(),
            3
        );
    }
}
