//! The gateway's own error answers, in the shape every Wattline service uses
//! (`wattline_ops::http::ApiError`: `{"error": {"code": "...", "message": "..."}}`).
//! Errors of the services behind it pass through untouched.

use axum::http::StatusCode;
pub use wattline_ops::http::ApiError;

/// 502: the service behind `service` did not answer (refused, reset, DNS).
pub fn upstream_unavailable(service: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "upstream_unavailable",
        format!("the {service} is not reachable; try again shortly"),
    )
}

/// 504: the service accepted the request but did not start answering in time.
pub fn upstream_timeout(service: &str) -> ApiError {
    ApiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "upstream_timeout",
        format!("the {service} did not answer in time"),
    )
}

/// 413: the body is over `--max-body-bytes`.
pub use wattline_ops::http::body_too_large;

/// 405 outside /api, where only the dashboard's files are served.
pub fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "only GET and HEAD are served outside /api",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    #[tokio::test]
    async fn errors_are_json_with_a_code_and_a_message() {
        let response = upstream_unavailable("read service").into_response();
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("body");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["error"]["code"], "upstream_unavailable");
        assert!(json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("read service")));
    }
}
