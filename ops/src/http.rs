//! The error answer every Wattline HTTP API gives: a status and the body
//! `{"error": {"code": "...", "message": "..."}}`, for unknown routes and
//! methods too.
//!
//! Each service keeps its own `ApiError` (its constructors name what can go
//! wrong there, and it adds its own headers) around this [`ApiError`], which
//! holds the part they share: the status, code and message, and the
//! response they make. [`route_not_found`] and [`method_not_allowed`] are
//! the router fallbacks, generic over the service's error so its headers
//! are added to those answers too. With feature `utoipa`, the body is
//! documented and [`BearerAuth`] declares the access-token scheme.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// A failed request: status, a stable machine-readable code, a sentence
/// for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

/// The body of every error response.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable machine-readable code and a sentence for people.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    #[cfg_attr(feature = "utoipa", schema(example = "invalid_time"))]
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with a code naming the problem.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 for `what`.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl IntoResponse for ApiError {
    /// The JSON body; a 401 also says which scheme to use (`Bearer`).
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code: self.code,
                    message: self.message,
                },
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Declares the `bearer` scheme (a JWT access token) that OpenAPI paths
/// name with `security(("bearer" = []))`: `modifiers(&BearerAuth)`.
#[cfg(feature = "utoipa")]
#[derive(Debug)]
pub struct BearerAuth;

#[cfg(feature = "utoipa")]
impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The router's fallback: 404 `not_found`, "no such route".
pub async fn route_not_found<E: From<ApiError>>() -> E {
    ApiError::not_found("route").into()
}

/// The router's fallback for a known route and another method: 405
/// `method_not_allowed`.
pub async fn method_not_allowed<E: From<ApiError>>() -> E {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .expect("body");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    #[tokio::test]
    async fn errors_answer_with_the_json_body_and_401_names_the_scheme() {
        let response = ApiError::invalid("invalid_time", "bad `from`").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
        assert_eq!(
            body(response).await,
            serde_json::json!({"error": {"code": "invalid_time", "message": "bad `from`"}})
        );

        let response =
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "no").into_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[tokio::test]
    async fn the_fallbacks_are_404_and_405() {
        let not_found: ApiError = route_not_found().await;
        assert_eq!(
            (not_found.status(), not_found.code()),
            (StatusCode::NOT_FOUND, "not_found")
        );
        let not_allowed: ApiError = method_not_allowed().await;
        assert_eq!(
            (not_allowed.status(), not_allowed.code()),
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
        );
    }
}
