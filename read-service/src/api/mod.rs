//! The HTTP API: one module per resource ([`sockets`], [`power`],
//! [`energy`], [`export`], [`live`]) and the documents others read
//! ([`meta`]: OpenAPI, health; `wattline_ops`: metrics), merged in [`router`].
//!
//! Every data handler takes a [`Household`] (from a verified access token:
//! the only place a household comes from) and parses its query with the
//! helpers here, so that time, range and socket rules are the same
//! everywhere and every refusal is a 400 JSON error.

pub mod energy;
pub mod error;
pub mod export;
pub mod live;
pub mod meta;
pub mod power;
pub mod sockets;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::middleware;
use axum::routing::get;
use axum::Router;
use jiff::Timestamp;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;
use wattline_influx::query::{Query, QueryClient};
use wattline_ops::http::RequestLimits;
use wattline_ops::{http, prometheus};

use crate::admission::Admission;
use crate::jwt::{Claims, Verifier};
use crate::settings::Settings;
use crate::telemetry;
pub use error::ApiError;

/// Largest request body accepted: the API is read-only, bodies are empty.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest range a chart or energy table may span.
pub const MAX_RANGE: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 3653);

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub influx: QueryClient,
    pub verifier: Arc<Verifier>,
    pub settings: Arc<Settings>,
    pub limits: Limits,
    /// Slots for requests that read InfluxDB.
    pub admission: Admission,
    pub metrics: PrometheusHandle,
    /// Cancelled at shutdown: ends live feeds so the server can drain.
    pub shutdown: CancellationToken,
}

/// The configuration the handlers need.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub reporting_window: Duration,
    pub socket_horizon: Duration,
    pub live_interval: Duration,
    /// See `Config::request_timeout`.
    pub request_timeout: Duration,
}

/// The router.
pub fn router(state: AppState) -> Router {
    let limits = RequestLimits {
        max_body_bytes: MAX_BODY_BYTES,
        timeout: state.limits.request_timeout,
    };
    Router::new()
        .route("/api/sockets", get(sockets::sockets))
        .route("/api/power", get(power::power))
        .route("/api/energy", get(energy::energy))
        .route("/api/export.csv", get(export::export))
        .route("/api/live", get(live::live))
        .route("/api/openapi.json", get(meta::openapi))
        .route("/healthz", get(meta::healthz))
        .route("/metrics", prometheus::route(state.metrics.clone()))
        .fallback(http::route_not_found::<ApiError>)
        .method_not_allowed_fallback(http::method_not_allowed::<ApiError>)
        .layer(middleware::from_fn_with_state(
            telemetry::HTTP_METRICS,
            prometheus::count_requests,
        ))
        // gzip or br as the client accepts; the default predicate skips
        // text/event-stream, so live events are never held in an encoder.
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn_with_state(
            limits,
            http::enforce_limits::<ApiError>,
        ))
        .with_state(state)
}

/// The caller's household, from a valid `Authorization: Bearer` access token.
#[derive(Debug, Clone)]
pub struct Household(pub Claims);

impl Household {
    pub fn id(&self) -> &str {
        &self.0.household
    }
}

impl FromRequestParts<AppState> for Household {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(ApiError::invalid_token)?;
        state
            .verifier
            .verify(token.trim())
            .await
            .map(Household)
            .map_err(|error| {
                tracing::debug!(%error, "access token refused");
                ApiError::invalid_token()
            })
    }
}

/// Query parameters, refused as [`ApiError`]s.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// A time range `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl Range {
    /// Parses `from` and `to` (RFC 3339, both required, `from < to`, span
    /// at most `max`).
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        max: jiff::SignedDuration,
    ) -> Result<Self, ApiError> {
        let from = parse_time("from", from)?;
        let to = parse_time("to", to)?;
        if from >= to {
            return Err(ApiError::invalid(
                "invalid_range",
                "`from` must be before `to`",
            ));
        }
        if to.duration_since(from) > max {
            return Err(ApiError::invalid(
                "invalid_range",
                format!("the range may span at most {} days", max.as_hours() / 24),
            ));
        }
        Ok(Self { from, to })
    }

    /// `Cache-Control` for an answer about this range: settled data (ending
    /// over an hour ago, beyond the rollup job's reach) may be reused for 5
    /// minutes; anything newer is revalidated.
    pub fn cache_control(&self) -> HeaderValue {
        let settled = self.to.as_second() < Timestamp::now().as_second() - 3600;
        HeaderValue::from_static(if settled {
            "private, max-age=300"
        } else {
            "private, no-cache"
        })
    }
}

fn parse_time(name: &'static str, value: Option<&str>) -> Result<Timestamp, ApiError> {
    let value = value.ok_or_else(|| {
        ApiError::invalid("invalid_time", format!("`{name}` is required (RFC 3339)"))
    })?;
    value.parse::<Timestamp>().map_err(|_| {
        ApiError::invalid(
            "invalid_time",
            format!("`{name}` must be an RFC 3339 time such as 2026-03-29T00:00:00+01:00"),
        )
    })
}

/// A socket: (device, socket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketRef {
    pub device: String,
    pub socket: String,
}

impl SocketRef {
    /// Both `device` and `socket`, or neither (the household total).
    pub fn parse(device: Option<&str>, socket: Option<&str>) -> Result<Option<Self>, ApiError> {
        match (device, socket) {
            (None, None) => Ok(None),
            (Some(device), Some(socket)) if valid_id(device) && valid_id(socket) => {
                Ok(Some(Self {
                    device: device.to_owned(),
                    socket: socket.to_owned(),
                }))
            }
            (Some(_), Some(_)) => Err(ApiError::invalid(
                "invalid_socket",
                "`device` and `socket` are 1 to 64 characters without control characters",
            )),
            _ => Err(ApiError::invalid(
                "invalid_socket",
                "give both `device` and `socket`, or neither for the household total",
            )),
        }
    }

    /// The `WHERE` condition (with `$device` and `$socket` bound by [`SocketRef::bind`]).
    pub const CONDITION: &'static str = " AND \"device\" = $device AND \"socket\" = $socket";

    pub fn bind(&self, query: Query) -> Query {
        query
            .bind("device", self.device.as_str())
            .bind("socket", self.socket.as_str())
    }
}

fn valid_id(id: &str) -> bool {
    let chars = id.chars().count();
    (1..=64).contains(&chars) && !id.chars().any(char::is_control)
}

/// Unix ms → RFC 3339 UTC with milliseconds.
pub fn rfc3339_ms(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_need_two_ordered_rfc3339_times() {
        let max = MAX_RANGE;
        assert!(Range::parse(
            Some("2026-03-29T00:00:00+01:00"),
            Some("2026-03-30T00:00:00Z"),
            max
        )
        .is_ok());
        for (from, to) in [
            (None, Some("2026-03-30T00:00:00Z")),
            (Some("yesterday"), Some("2026-03-30T00:00:00Z")),
            (Some("2026-03-29"), Some("2026-03-30T00:00:00Z")),
            (Some("2026-03-30T00:00:00Z"), Some("2026-03-30T00:00:00Z")),
            (Some("2000-01-01T00:00:00Z"), Some("2026-03-30T00:00:00Z")),
        ] {
            let error = Range::parse(from, to, max).unwrap_err();
            assert_eq!(
                error.status(),
                axum::http::StatusCode::BAD_REQUEST,
                "{from:?} {to:?}"
            );
        }
    }

    #[test]
    fn a_socket_is_both_ids_or_neither() {
        assert_eq!(SocketRef::parse(None, None).unwrap(), None);
        assert!(SocketRef::parse(Some("d, \"1\""), Some("fridge"))
            .unwrap()
            .is_some());
        assert!(SocketRef::parse(Some("d-1"), None).is_err());
        assert!(SocketRef::parse(None, Some("s")).is_err());
        assert!(SocketRef::parse(Some(""), Some("s")).is_err());
        assert!(SocketRef::parse(Some("d\n"), Some("s")).is_err());
    }

    #[test]
    fn times_print_as_utc_with_milliseconds() {
        assert_eq!(rfc3339_ms(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
    }
}
