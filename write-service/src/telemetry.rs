//! Logs and metrics: tracing set-up (text or JSON), the Prometheus recorder,
//! and the notable events, each of which logs and counts in one place so
//! logs and metrics never drift apart.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::households::cache::Outcome;
use crate::validate::Reason;

/// Metric names (`wattline_write_*`).
pub mod names {
    pub const DELIVERIES: &str = "wattline_write_deliveries_total";
    pub const EMPTY_BATCHES: &str = "wattline_write_empty_batches_total";
    pub const POINTS_WRITTEN: &str = "wattline_write_points_written_total";
    pub const BATCHES_WRITTEN: &str = "wattline_write_batches_written_total";
    pub const WRITE_DURATION: &str = "wattline_write_write_duration_seconds";
    pub const DEAD_LETTERED: &str = "wattline_write_dead_lettered_total";
    pub const RETRIES: &str = "wattline_write_retries_total";
    pub const POINTS_DROPPED: &str = "wattline_write_points_dropped_total";
    pub const LAG: &str = "wattline_write_end_to_end_lag_seconds";
    pub const INFLIGHT: &str = "wattline_write_inflight_writes";
    pub const BATCH_POINTS: &str = "wattline_write_batch_points";
    pub const RECONNECTS: &str = "wattline_write_reconnects_total";
    pub const HOUSEHOLD_LOOKUPS: &str = "wattline_write_household_lookups_total";
    pub const HOUSEHOLD_CACHE_ENTRIES: &str = "wattline_write_household_cache_entries";
    pub const RATE_LIMITED_READINGS: &str = "wattline_write_rate_limited_readings_total";
    pub const RATE_LIMIT_DEVICES: &str = "wattline_write_rate_limit_devices";
}

/// Histogram buckets, by metric.
const BUCKETS: [wattline_ops::prometheus::Buckets; 3] = [
    (
        names::WRITE_DURATION,
        &[
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ],
    ),
    (
        names::LAG,
        &[
            // Fine at the low end: perf reads its latency percentiles from here.
            0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0,
            60.0, 300.0, 3600.0, 86_400.0,
        ],
    ),
    (
        names::BATCH_POINTS,
        &[
            1.0, 10.0, 100.0, 500.0, 1000.0, 2500.0, 5000.0, 10_000.0, 50_000.0,
        ],
    ),
];

/// The process-wide Prometheus recorder's handle, installed on first use
/// (with our histogram buckets), the metrics described.
pub fn prometheus() -> PrometheusHandle {
    static DESCRIBED: OnceLock<()> = OnceLock::new();
    let handle = wattline_ops::prometheus::install(&BUCKETS);
    DESCRIBED.get_or_init(describe);
    handle
}

fn describe() {
    use names::*;
    describe_counter!(DELIVERIES, "Deliveries received from RabbitMQ");
    describe_counter!(EMPTY_BATCHES, "Deliveries holding no readings (acked)");
    describe_counter!(POINTS_WRITTEN, "Points InfluxDB accepted");
    describe_counter!(BATCHES_WRITTEN, "Batches InfluxDB accepted");
    describe_histogram!(
        WRITE_DURATION,
        Unit::Seconds,
        "Duration of one InfluxDB write request"
    );
    describe_counter!(
        DEAD_LETTERED,
        "Messages moved to the dead-letter queue, by reason"
    );
    describe_counter!(RETRIES, "InfluxDB write attempts retried after an error");
    describe_counter!(
        POINTS_DROPPED,
        "Points InfluxDB dropped as beyond its retention policy"
    );
    describe_histogram!(
        LAG,
        Unit::Seconds,
        "Ack time minus the newest reading's time, per acked message"
    );
    describe_gauge!(INFLIGHT, "InfluxDB writes in flight");
    describe_histogram!(BATCH_POINTS, "Points per batch sent to InfluxDB");
    describe_counter!(RECONNECTS, "AMQP sessions lost and reconnected");
    for reason in Reason::ALL {
        counter!(DEAD_LETTERED, "reason" => reason.as_str()).absolute(0);
    }
    describe_counter!(
        HOUSEHOLD_LOOKUPS,
        "Household lookups through auth-service's cached registry, by outcome \
         (hit, miss, stale_served, unavailable)"
    );
    describe_gauge!(
        HOUSEHOLD_CACHE_ENTRIES,
        "Devices in the household cache (fresh or expired)"
    );
    describe_counter!(
        RATE_LIMITED_READINGS,
        "Readings refused by the per-device rate limit (their messages are dead-lettered \
         as rate_limited)"
    );
    counter!(RATE_LIMITED_READINGS).absolute(0);
    describe_gauge!(
        RATE_LIMIT_DEVICES,
        "Devices the rate limit tracks (those ahead of their sustained rate)"
    );
    for outcome in Outcome::ALL {
        counter!(HOUSEHOLD_LOOKUPS, "outcome" => outcome.as_str()).absolute(0);
    }
}

/// A message was dead-lettered (its copy confirmed by the broker).
pub fn dead_lettered(reason: Reason, routing_key: &str, detail: &str) {
    counter!(names::DEAD_LETTERED, "reason" => reason.as_str()).increment(1);
    tracing::warn!(%reason, routing_key, detail, "message dead-lettered");
}

/// The rate limit refused a device's message (it is dead-lettered next, and
/// logged once its dead letter is confirmed).
pub fn rate_limited(readings: u64) {
    counter!(names::RATE_LIMITED_READINGS).increment(readings);
}

/// InfluxDB dropped points beyond its retention policy; the batch is acked.
pub fn points_dropped(dropped: u64, message: &str) {
    counter!(names::POINTS_DROPPED).increment(dropped);
    tracing::warn!(
        dropped,
        message,
        "InfluxDB dropped points beyond its retention policy"
    );
}

/// A write failed in a way worth retrying.
pub fn write_retry(error: &wattline_influx::WriteError, attempt: u32, delay: Duration) {
    counter!(names::RETRIES).increment(1);
    let delay_ms = delay.as_millis() as u64;
    match error {
        // Credentials need an operator: ERROR, per the project's log levels.
        wattline_influx::WriteError::Unauthorized { .. }
        | wattline_influx::WriteError::Config(_) => {
            tracing::error!(%error, attempt, delay_ms, "InfluxDB write refused; retrying")
        }
        _ => tracing::warn!(%error, attempt, delay_ms, "InfluxDB write failed; retrying"),
    }
}
