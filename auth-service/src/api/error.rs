//! The API's errors: a status and a JSON body
//! `{"error": {"code": "...", "message": "..."}}` (`wattline_ops::http`) for
//! every failure,
//! including requests axum refuses before a handler runs (bad JSON, wrong
//! content type, bodies over the limit, unknown routes).

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use wattline_ops::http;
pub use wattline_ops::http::ErrorBody;

use crate::rate_limit::RetryAfter;
use crate::store::StoreError;

/// A failed request: the shared error answer, and `Retry-After` when rate
/// limited.
#[derive(Debug)]
pub struct ApiError {
    error: http::ApiError,
    retry_after: Option<RetryAfter>,
}

impl From<http::ApiError> for ApiError {
    fn from(error: http::ApiError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        http::ApiError::new(status, code, message).into()
    }

    /// 400 with a code naming the problem.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        http::ApiError::invalid(code, message).into()
    }

    /// 401: no, or no valid, credentials. The message never says which part
    /// was wrong.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403: authenticated, but the role may not do this.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the household's owner may do this",
        )
    }

    /// 404 for `what` (also for other households' things: their existence
    /// is not revealed).
    pub fn not_found(what: &str) -> Self {
        http::ApiError::not_found(what).into()
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after: RetryAfter) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many attempts; try again in {} s",
                    retry_after.seconds()
                ),
            )
        }
    }

    /// 500; the cause goes to the log, not to the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.error.status()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.error.into_response();
        if let Some(retry_after) = self.retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.seconds()),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "an account with this email already exists",
            ),
            other => Self::internal(&other),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        // Keeps axum's status: 400 bad syntax, 415 not JSON, 413 too large,
        // 422 wrong fields or types.
        Self::new(rejection.status(), "invalid_body", rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::new(rejection.status(), "invalid_path", rejection.body_text())
    }
}
