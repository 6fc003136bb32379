//! Metrics: names, descriptions, the recorder, and timed InfluxDB queries.

use std::time::Instant;

use metrics::{describe_counter, describe_histogram, Unit};
use metrics_exporter_prometheus::PrometheusHandle;
use wattline_influx::query::{Query, QueryClient, QueryError, Series};
use wattline_ops::prometheus::HttpMetrics;

/// Metric names (`wattline_read_*`).
pub mod names {
    pub const HTTP_REQUESTS: &str = "wattline_read_http_requests_total";
    pub const HTTP_DURATION: &str = "wattline_read_http_request_duration_seconds";
    pub const INFLUX_DURATION: &str = "wattline_read_influx_query_duration_seconds";
    pub const LIVE_STREAMS: &str = "wattline_read_live_streams_total";
    pub const SHED: &str = "wattline_read_shed_total";
}

/// The HTTP API's request metrics.
pub const HTTP_METRICS: HttpMetrics = HttpMetrics {
    requests: names::HTTP_REQUESTS,
    duration: names::HTTP_DURATION,
};

/// Installs the recorder (once per process) and describes the metrics.
pub fn prometheus() -> PrometheusHandle {
    const BUCKETS: &[f64] = &[
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    let handle = wattline_ops::prometheus::install(&[
        (names::HTTP_DURATION, BUCKETS),
        (names::INFLUX_DURATION, BUCKETS),
    ]);
    use names::*;
    describe_counter!(HTTP_REQUESTS, "HTTP requests, by route, method and status");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to the response head, by route and method"
    );
    describe_histogram!(
        INFLUX_DURATION,
        Unit::Seconds,
        "InfluxDB query duration (non-streaming queries)"
    );
    describe_counter!(LIVE_STREAMS, "Live feeds opened");
    describe_counter!(
        SHED,
        "Requests refused with 429 because no InfluxDB slot became free within --queue-timeout, by route"
    );
    handle
}

/// Runs `query` (not streamed) and records how long it took.
pub async fn timed_query(influx: &QueryClient, query: &Query) -> Result<Vec<Series>, QueryError> {
    let started = Instant::now();
    let answer = influx.query(query).await;
    metrics::histogram!(names::INFLUX_DURATION).record(started.elapsed().as_secs_f64());
    answer
}
