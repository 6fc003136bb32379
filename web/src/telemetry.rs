//! Metrics and the access log: names, descriptions, and each notable event
//! logged and counted in one place.
//!
//! Requests are labelled by class (`static`, `auth`, `read`, `meta`), never
//! by path: paths carry ids, and a scanner must not grow the metrics. The
//! log shows method, path and status, never the query, headers or bodies
//! (which carry tokens, cookies and passwords).

use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::proxy::Service;

/// Metric names (`wattline_web_*`).
pub mod names {
    pub const HTTP_REQUESTS: &str = "wattline_web_http_requests_total";
    pub const HTTP_DURATION: &str = "wattline_web_http_request_duration_seconds";
    pub const UPSTREAM_DURATION: &str = "wattline_web_upstream_duration_seconds";
    pub const UPSTREAM_ERRORS: &str = "wattline_web_upstream_errors_total";
}

/// Installs the recorder (once per process) and describes the metrics.
pub fn prometheus() -> PrometheusHandle {
    // Static files take a millisecond; queries over a year of readings, seconds.
    const BUCKETS: &[f64] = &[
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    let handle = wattline_ops::prometheus::install(&[
        (names::HTTP_DURATION, BUCKETS),
        (names::UPSTREAM_DURATION, BUCKETS),
    ]);
    use names::*;
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests, by class (static, auth, read, meta) and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time until the response headers were sent, by class"
    );
    describe_histogram!(
        UPSTREAM_DURATION,
        Unit::Seconds,
        "Time until a service answered with its headers, by upstream (auth, read)"
    );
    describe_counter!(
        UPSTREAM_ERRORS,
        "Requests a service did not answer or whose answer broke off, by upstream and kind \
         (unavailable, timeout, mid_stream)"
    );
    handle
}

/// What a path is, for metrics and log levels.
pub fn class_of(path: &str) -> &'static str {
    match Service::for_path(path) {
        Some(service) => service.label(),
        None if path == "/healthz" || path == "/metrics" => "meta",
        None => "static",
    }
}

/// A service answered, after `elapsed`.
pub fn upstream_answered(upstream: &'static str, elapsed: Duration) {
    histogram!(names::UPSTREAM_DURATION, "upstream" => upstream).record(elapsed.as_secs_f64());
}

/// A service did not answer: logged (a service down needs an operator) and
/// counted.
pub fn upstream_failed(upstream: &'static str, kind: &'static str, error: &dyn std::fmt::Display) {
    // reqwest's message names the URL, which holds no secret (the query is
    // the client's, but our API puts none there).
    tracing::warn!(upstream, kind, %error, "upstream request failed");
    counter!(names::UPSTREAM_ERRORS, "upstream" => upstream, "kind" => kind).increment(1);
}

/// Middleware: counts every request by class and status, and logs it
/// (API calls at INFO, static files and health checks at DEBUG).
pub async fn observe(request: Request, next: Next) -> Response {
    let class = class_of(request.uri().path());
    let method = request.method().clone();
    // Only the path: a query may hold anything the client put there.
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status();
    counter!(names::HTTP_REQUESTS, "class" => class, "status" => status.as_str().to_owned())
        .increment(1);
    histogram!(names::HTTP_DURATION, "class" => class).record(elapsed.as_secs_f64());
    log_request(class, &method, &path, status, elapsed);
    response
}

fn log_request(class: &str, method: &Method, path: &str, status: StatusCode, elapsed: Duration) {
    let millis = elapsed.as_secs_f64() * 1000.0;
    let status = status.as_u16();
    if class == "static" || class == "meta" {
        tracing::debug!(class, %method, path, status, millis, "request");
    } else {
        tracing::info!(class, %method, path, status, millis, "request");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fall_into_few_classes() {
        assert_eq!(class_of("/api/auth/login"), "auth");
        assert_eq!(class_of("/api/live"), "read");
        assert_eq!(class_of("/metrics"), "meta");
        assert_eq!(class_of("/assets/index-3f2a.js"), "static");
        assert_eq!(class_of("/sockets/d-1/fridge"), "static");
    }
}
