//! The error answer every Wattline HTTP API gives: a status and the body
//! `{"error": {"code": "...", "message": "..."}}`, for unknown routes and
//! methods too.
//!
//! Each service keeps its own `ApiError` (its constructors name what can go
//! wrong there, and it adds its own headers) around this [`ApiError`], which
//! holds the part they share: the status, code and message, and the
//! response they make. [`route_not_found`] and [`method_not_allowed`] are
//! the router fallbacks, generic over the service's error so its headers
//! are added to those answers too. [`enforce_limits`] gives every route a
//! body limit and a deadline, with the same error body. With feature
//! `utoipa`, the body is documented and [`BearerAuth`] declares the
//! access-token scheme.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
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

/// 413 `body_too_large`: the body is over `limit` bytes.
pub fn body_too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("request bodies are limited to {limit} bytes"),
    )
}

/// 408 `request_timeout`: the request (its body included) or its answer
/// took longer than `timeout`.
pub fn request_timeout(timeout: Duration) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        format!(
            "the request was not received and answered within {} s",
            timeout.as_secs_f64()
        ),
    )
}

/// What every request to a service must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Largest body, on every route (one that takes none too).
    pub max_body_bytes: usize,
    /// Longest time to receive the body and produce the response head
    /// (a streamed body then runs as long as it needs).
    pub timeout: Duration,
}

/// Middleware (`axum::middleware::from_fn_with_state(limits,
/// enforce_limits::<ServiceError>)`): refuses a body over the limit with
/// 413, whether it declares its length or comes chunked, and whether or not
/// the route reads bodies; answers 408 when the body arrives too slowly or
/// the handler takes too long. Both as JSON errors of the service's type.
///
/// The body is read here, in full, before the handler runs: every body our
/// APIs take is a few short fields, and a route that ignores its body must
/// not be a way to stream megabytes into the server unnoticed.
pub async fn enforce_limits<E: From<ApiError> + IntoResponse>(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    let limit = limits.max_body_bytes;
    if declared_length(request.headers()).is_some_and(|length| length > limit as u64) {
        return E::from(body_too_large(limit as u64)).into_response();
    }
    let within_time = async {
        let (parts, body) = request.into_parts();
        let body = read_body(body, limit).await?;
        Ok::<_, ApiError>(next.run(Request::from_parts(parts, Body::from(body))).await)
    };
    match tokio::time::timeout(limits.timeout, within_time).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => E::from(error).into_response(),
        Err(_) => E::from(request_timeout(limits.timeout)).into_response(),
    }
}

/// The request's `Content-Length`, if it has a valid one.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok())
}

/// The whole body, or 413 as soon as more than `limit` bytes have arrived.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let mut chunks = body.into_data_stream();
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk
            .map_err(|_| ApiError::invalid("invalid_body", "the request body could not be read"))?;
        if body.len() + chunk.len() > limit {
            return Err(body_too_large(limit as u64));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
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

    async fn limited(limits: RequestLimits, request: Request) -> Response {
        use axum::routing::post;
        use tower::ServiceExt;
        let router = axum::Router::new()
            .route(
                "/echo",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .route(
                "/slow",
                post(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                limits,
                enforce_limits::<ApiError>,
            ));
        router.oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_413_declared_or_streamed_and_slow_requests_408() {
        let limits = RequestLimits {
            max_body_bytes: 10,
            timeout: Duration::from_millis(200),
        };
        let request = |path: &str, body: Body| Request::post(path).body(body).unwrap();
        let fits = limited(limits, request("/echo", Body::from("0123456789"))).await;
        assert_eq!(fits.status(), StatusCode::OK);

        let declared = limited(limits, request("/echo", Body::from("0123456789A"))).await;
        assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body(declared).await["error"]["code"], "body_too_large");

        // No length up front, and a route that never reads its body.
        let chunks = futures_util::stream::iter(
            ["01234", "56789", "A"].map(|c| Ok::<_, std::io::Error>(Bytes::from(c))),
        );
        let streamed = limited(limits, request("/slow", Body::from_stream(chunks))).await;
        assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);

        let late = limited(limits, request("/slow", Body::empty())).await;
        assert_eq!(late.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(body(late).await["error"]["code"], "request_timeout");
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
