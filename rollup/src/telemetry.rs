//! Metrics of `rollup run`, and its notable events: each logs and counts in
//! one place so logs and metrics never drift apart.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::rollup::{RecomputeStats, RollupError};

/// Metric names (`wattline_rollup_*`).
pub mod names {
    /// Passes, by outcome (`ok`, `error`).
    pub const PASSES: &str = "wattline_rollup_passes_total";
    /// Raw readings read.
    pub const POINTS_READ: &str = "wattline_rollup_points_read_total";
    /// Rollup points written.
    pub const POINTS_WRITTEN: &str = "wattline_rollup_points_written_total";
    /// Rollup points InfluxDB dropped as beyond retention.
    pub const POINTS_DROPPED: &str = "wattline_rollup_points_dropped_total";
    /// Duration of a pass.
    pub const PASS_DURATION: &str = "wattline_rollup_pass_duration_seconds";
    /// Unix time of the last successful pass.
    pub const LAST_SUCCESS: &str = "wattline_rollup_last_success_timestamp_seconds";
}

const BUCKETS: [wattline_ops::prometheus::Buckets; 1] = [(
    names::PASS_DURATION,
    &[
        0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
    ],
)];

/// The process-wide Prometheus recorder's handle, installed on first use,
/// the metrics described.
pub fn prometheus() -> PrometheusHandle {
    static DESCRIBED: OnceLock<()> = OnceLock::new();
    let handle = wattline_ops::prometheus::install(&BUCKETS);
    DESCRIBED.get_or_init(describe);
    handle
}

fn describe() {
    use names::*;
    describe_counter!(PASSES, "Recomputation passes, by outcome (ok, error)");
    describe_counter!(POINTS_READ, "Raw readings read by passes");
    describe_counter!(POINTS_WRITTEN, "Rollup points written by passes");
    describe_counter!(
        POINTS_DROPPED,
        "Rollup points InfluxDB dropped as beyond their retention policy"
    );
    describe_histogram!(PASS_DURATION, Unit::Seconds, "Duration of one pass");
    describe_gauge!(
        LAST_SUCCESS,
        Unit::Seconds,
        "Unix time at which the last successful pass finished"
    );
    for outcome in ["ok", "error"] {
        counter!(PASSES, "outcome" => outcome).absolute(0);
    }
    counter!(POINTS_READ).absolute(0);
    counter!(POINTS_WRITTEN).absolute(0);
    counter!(POINTS_DROPPED).absolute(0);
}

/// A pass finished.
pub fn pass_succeeded(stats: &RecomputeStats, elapsed: Duration) {
    counter!(names::PASSES, "outcome" => "ok").increment(1);
    counter!(names::POINTS_READ).increment(stats.readings);
    counter!(names::POINTS_WRITTEN).increment(stats.points_written);
    counter!(names::POINTS_DROPPED).increment(stats.points_dropped);
    histogram!(names::PASS_DURATION).record(elapsed.as_secs_f64());
    gauge!(names::LAST_SUCCESS).set(jiff::Timestamp::now().as_millisecond() as f64 / 1000.0);
    tracing::info!(
        from = %ms_text(stats.from_ms),
        to = %ms_text(stats.to_ms),
        readings = stats.readings,
        series = stats.series,
        points_written = stats.points_written,
        points_dropped = stats.points_dropped,
        skipped_series = stats.skipped_series,
        duration_ms = elapsed.as_millis() as u64,
        "rollup pass done"
    );
}

/// A pass failed; the next one recomputes the same buckets.
pub fn pass_failed(error: &RollupError, elapsed: Duration) {
    counter!(names::PASSES, "outcome" => "error").increment(1);
    histogram!(names::PASS_DURATION).record(elapsed.as_secs_f64());
    let duration_ms = elapsed.as_millis() as u64;
    if error.needs_setup() {
        tracing::error!(%error, duration_ms, "rollup pass failed: run `rollup setup` first");
    } else if error.is_retryable() {
        tracing::warn!(%error, duration_ms, "rollup pass failed; retrying at the next pass");
    } else {
        // Needs an operator (a missing retention policy, bad credentials).
        tracing::error!(%error, duration_ms, "rollup pass failed");
    }
}

/// A Unix ms time as RFC 3339, for logs.
pub fn ms_text(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}
