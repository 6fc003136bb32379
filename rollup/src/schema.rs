//! Where rollups live in InfluxDB and what their points hold: the contract
//! between the rollup job that writes them and read-service that reads them.
//!
//! Raw readings are measurement [`RAW_MEASUREMENT`] in the database's default
//! retention policy (tags `household`, `device`, `socket`; fields `watts`,
//! `energy_wh` cumulative). Rollups are kept in their own retention policies,
//! longer than raw data, one point per bucket, timestamped at the bucket's
//! start (UTC), and are recomputed idempotently: writing a bucket again
//! overwrites it.

use std::time::Duration;

/// Raw readings, as the write service stores them.
pub const RAW_MEASUREMENT: &str = "power";

/// A rollup resolution: its retention policy and bucket length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    /// Retention policy holding this resolution's measurements.
    pub retention_policy: &'static str,
    /// Bucket length.
    pub bucket: Duration,
}

/// One-minute buckets.
pub const MINUTE: Resolution = Resolution {
    retention_policy: "rollup_1m",
    bucket: Duration::from_secs(60),
};

/// One-hour buckets.
pub const HOUR: Resolution = Resolution {
    retention_policy: "rollup_1h",
    bucket: Duration::from_secs(3600),
};

/// Per-socket rollup points: tags `household`, `device`, `socket`.
pub const SOCKET_MEASUREMENT: &str = "power";

/// Per-household rollup points (all sockets together): tag `household`.
pub const HOUSEHOLD_MEASUREMENT: &str = "household";

/// Fields of a rollup point.
pub mod field {
    /// Mean power over the bucket's readings, W (float). For the household
    /// measurement: the sum of its sockets' means.
    pub const WATTS: &str = "watts";
    /// Highest reading in the bucket, W (float). Socket measurement only.
    pub const WATTS_MAX: &str = "watts_max";
    /// Energy used in the bucket, Wh (float): the counter's increase between
    /// consecutive readings, each assigned to the bucket of the later
    /// reading; across a counter reset (the counter went down) the increase
    /// is estimated from power × time instead.
    pub const ENERGY_WH: &str = "energy_wh";
    /// The counter's last value in the bucket, Wh (float). Socket measurement only.
    pub const ENERGY_TOTAL_WH: &str = "energy_total_wh";
    /// Number of readings in the bucket (integer). Socket measurement only.
    pub const SAMPLES: &str = "samples";
}
