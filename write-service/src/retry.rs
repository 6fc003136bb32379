//! The write service's retry policy, on the shared capped, jittered backoff
//! of `wattline_ops::retry`.

use std::time::Duration;

pub use wattline_ops::retry::{Backoff, BackoffPolicy};

/// InfluxDB writes and household lookups: 100 ms doubling up to 10 s, quick
/// recovery from a blip, at most one attempt every 5–10 s during a long
/// outage.
pub const WRITES: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_millis(100),
    max: Duration::from_secs(10),
};
