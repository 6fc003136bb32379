//! Another site's pages get nothing from the API: no CORS grant to a
//! preflight or to a credentialed request from a foreign `Origin`, the
//! security headers on every kind of answer (errors and preflights too),
//! and no HSTS from a listener that speaks plain HTTP (the TLS terminator
//! in front sets it).

use reqwest::{Method, StatusCode};

use crate::support::{assets_dir, client, Auth, Read, Web};

const EVIL: &str = "https://evil.example";

fn assert_no_cors_grant(response: &reqwest::Response, what: &str) {
    for name in response.headers().keys() {
        assert!(
            !name.as_str().starts_with("access-control-"),
            "{what}: {name} granted to {EVIL}: {:?}",
            response.headers()
        );
    }
}

fn assert_hardened(response: &reqwest::Response, what: &str) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        header("content-security-policy").contains("frame-ancestors 'none'"),
        "{what}"
    );
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(header("referrer-policy"), "same-origin", "{what}");
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none(),
        "{what}: HSTS over plain HTTP"
    );
}

#[tokio::test]
async fn a_foreign_origin_gets_no_cors_grant_and_every_answer_is_hardened() {
    let assets = assets_dir();
    let auth = Auth::start(&[]).await;
    let read = Read::start(&auth, &[]).await;
    let web = Web::start(&auth.base, &read.base, assets.path(), &[]).await;
    let http = client();
    let session: serde_json::Value = http
        .post(web.url("/api/auth/register"))
        .json(&serde_json::json!({"email": "ann@example.org", "password": "correct horse battery staple"}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let token = session["access_token"].as_str().expect("token");

    for (method, path) in [
        ("POST", "/api/auth/refresh"),
        ("POST", "/api/auth/login"),
        ("GET", "/api/auth/me"),
        ("POST", "/api/devices"),
        ("GET", "/api/sockets"),
        ("GET", "/api/export.csv"),
    ] {
        let preflight = http
            .request(Method::OPTIONS, web.url(path))
            .header("origin", EVIL)
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .expect("preflight");
        let what = format!("preflight {method} {path}");
        assert_no_cors_grant(&preflight, &what);
        assert_hardened(&preflight, &what);
    }
    for path in ["/api/auth/me", "/api/devices", "/api/sockets", "/"] {
        let response = http
            .get(web.url(path))
            .header("origin", EVIL)
            .header("cookie", "wattline_refresh=whatever")
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        assert_no_cors_grant(&response, path);
        assert_hardened(&response, path);
    }
    // Errors are hardened too.
    let too_large = http
        .post(web.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body(vec![b' '; 100 * 1024])
        .send()
        .await
        .expect("request");
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_hardened(&too_large, "413");
    let missing = http
        .get(web.url("/assets/nothing.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_hardened(&missing, "404");
}
