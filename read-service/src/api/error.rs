//! The API's errors: a status and a JSON body
//! `{"error": {"code": "...", "message": "..."}}` (`wattline_ops::http`) for
//! every failure, including requests axum refuses before a handler runs.

use axum::extract::rejection::QueryRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use wattline_influx::query::QueryError;
use wattline_ops::http;
pub use wattline_ops::http::ErrorBody;

use crate::admission::Busy;
use crate::settings::SettingsError;

/// A failed request: the shared error answer, never cached, and
/// `Retry-After` (whole seconds) when shed.
#[derive(Debug)]
pub struct ApiError(http::ApiError, Option<u64>);

impl From<http::ApiError> for ApiError {
    fn from(error: http::ApiError) -> Self {
        Self(error, None)
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self(http::ApiError::new(status, code, message), None)
    }

    /// 400 with a code naming the problem.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self(http::ApiError::invalid(code, message), None)
    }

    /// 401 `invalid_token` (the message never says which check failed).
    pub fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "this needs a valid, unexpired access token (Authorization: Bearer …)",
        )
    }

    /// 404 for `what`.
    pub fn not_found(what: &str) -> Self {
        Self(http::ApiError::not_found(what), None)
    }

    /// 503: a service we depend on failed; the cause goes to the log.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the data is unavailable right now; try again shortly",
        )
    }

    /// 429 with `Retry-After`: InfluxDB is busy with as many requests as
    /// it is allowed (see [`crate::admission`]); nothing failed.
    pub fn busy(busy: Busy) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            format!(
                "too many requests are reading data; try again in {} s",
                busy.retry_after_s
            ),
        );
        error.1 = Some(busy.retry_after_s);
        error
    }

    pub fn status(&self) -> StatusCode {
        self.0.status()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(seconds) = self.1 {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        Self::unavailable(&error)
    }
}

impl From<SettingsError> for ApiError {
    fn from(error: SettingsError) -> Self {
        Self::unavailable(&error)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::invalid("invalid_query", rejection.body_text())
    }
}
