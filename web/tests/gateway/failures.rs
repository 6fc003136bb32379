//! When a service is down or a request is too big: the gateway's own JSON
//! answers, its health, and its metrics.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{assets_dir, client, nowhere, Auth, Web};

async fn error_code(response: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = response.json().await.expect("json");
    body["error"]["code"].as_str().expect("code").to_owned()
}

#[tokio::test]
async fn a_service_that_is_down_is_a_502_json_error_and_the_health_says_which() {
    let assets = assets_dir();
    let auth = Auth::start(&[]).await;
    let web = Web::start(&auth.base, &nowhere(), assets.path(), &[]).await;
    let http = client();

    let response = http
        .get(web.url("/api/power?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"))
        .bearer_auth("token")
        .send()
        .await
        .expect("request");
    assert_eq!(
        error_code(response, StatusCode::BAD_GATEWAY).await,
        "upstream_unavailable"
    );

    let health = http.get(web.url("/healthz")).send().await.expect("healthz");
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health: Value = health.json().await.expect("json");
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["auth_service"], true, "{health}");
    assert_eq!(health["read_service"], false, "{health}");
    assert_eq!(health["assets"], true, "{health}");

    let metrics = web.metrics().await;
    assert!(
        testkit::metric(
            &metrics,
            "wattline_web_upstream_errors_total{upstream=\"read\",kind=\"unavailable\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert!(
        testkit::metric(
            &metrics,
            "wattline_web_http_requests_total{class=\"read\",status=\"502\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn health_is_ok_when_the_dashboard_is_built_and_both_services_answer() {
    let assets = assets_dir();
    let auth = Auth::start(&[]).await;
    // auth-service has a /healthz too: it stands in as the read side here.
    let web = Web::start(&auth.base, &auth.base, assets.path(), &[]).await;
    let health = client()
        .get(web.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    let health: Value = health.json().await.expect("json");
    assert_eq!(health["status"], "ok", "{health}");

    let unbuilt = tempfile::tempdir().expect("tempdir");
    let web = Web::start(&auth.base, &auth.base, unbuilt.path(), &[]).await;
    let health = client()
        .get(web.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health: Value = health.json().await.expect("json");
    assert_eq!(health["assets"], false, "{health}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413_declared_or_not() {
    let assets = assets_dir();
    let auth = Auth::start(&[]).await;
    let web = Web::start(
        &auth.base,
        &nowhere(),
        assets.path(),
        &["--max-body-bytes=1000"],
    )
    .await;
    let http = client();

    let declared = http
        .post(web.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body(vec![b' '; 5000])
        .send()
        .await
        .expect("request");
    assert_eq!(
        error_code(declared, StatusCode::PAYLOAD_TOO_LARGE).await,
        "body_too_large"
    );

    // Chunked: no length up front; refused once the bytes pass the limit.
    let chunks =
        futures_util::stream::iter((0..10).map(|_| Ok::<_, std::io::Error>(vec![b' '; 500])));
    let chunked = http
        .post(web.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("request");
    assert_eq!(
        error_code(chunked, StatusCode::PAYLOAD_TOO_LARGE).await,
        "body_too_large"
    );
}
