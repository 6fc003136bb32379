//! Metrics: names, descriptions, and the notable events, each counted in one
//! place.

use metrics::{counter, describe_counter, describe_histogram, Unit};
use metrics_exporter_prometheus::PrometheusHandle;
use wattline_ops::prometheus::HttpMetrics;

use crate::access_token::Role;

/// Metric names (`wattline_auth_*`).
pub mod names {
    pub const HTTP_REQUESTS: &str = "wattline_auth_http_requests_total";
    pub const HTTP_DURATION: &str = "wattline_auth_http_request_duration_seconds";
    pub const LOGINS: &str = "wattline_auth_logins_total";
    pub const REGISTRATIONS: &str = "wattline_auth_registrations_total";
    pub const REFRESHES: &str = "wattline_auth_refreshes_total";
    pub const BROKER_DECISIONS: &str = "wattline_auth_broker_decisions_total";
}

/// The HTTP API's request metrics.
pub const HTTP_METRICS: HttpMetrics = HttpMetrics {
    requests: names::HTTP_REQUESTS,
    duration: names::HTTP_DURATION,
};

/// Installs the recorder (once per process) and describes the metrics.
pub fn prometheus() -> PrometheusHandle {
    // Logins take tens of milliseconds (argon2id), everything else less than one.
    const HTTP_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
    let handle = wattline_ops::prometheus::install(&[(names::HTTP_DURATION, HTTP_BUCKETS)]);
    use names::*;
    describe_counter!(HTTP_REQUESTS, "HTTP requests, by route, method and status");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request duration, by route and method"
    );
    describe_counter!(
        LOGINS,
        "Login attempts, by outcome (ok, invalid_credentials, rate_limited)"
    );
    describe_counter!(REGISTRATIONS, "Accounts created, by role");
    describe_counter!(
        REFRESHES,
        "Refresh attempts, by outcome (ok, missing, unknown, expired, reused)"
    );
    describe_counter!(
        BROKER_DECISIONS,
        "Answers to RabbitMQ's HTTP auth backend, by check (user, vhost, resource, topic) and decision"
    );
    handle
}

pub fn login(outcome: &'static str) {
    counter!(names::LOGINS, "outcome" => outcome).increment(1);
}

pub fn registered(role: Role) {
    counter!(names::REGISTRATIONS, "role" => role.as_str()).increment(1);
}

pub fn refresh(outcome: &'static str) {
    counter!(names::REFRESHES, "outcome" => outcome).increment(1);
}

pub fn broker_decision(check: &'static str, decision: &'static str) {
    counter!(names::BROKER_DECISIONS, "check" => check, "decision" => decision).increment(1);
}
