//! The built dashboard: caching by kind of file, the app's page for its
//! own routes, compression, and the security headers.

use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::StatusCode;

use crate::support::{assets_dir, client, nowhere, Web};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} in {:?}", response.headers()))
}

#[tokio::test]
async fn hashed_assets_are_cached_for_a_year_and_the_page_is_revalidated() {
    let assets = assets_dir();
    let web = Web::start(&nowhere(), &nowhere(), assets.path(), &[]).await;
    let http = client();

    let script = http
        .get(web.url("/assets/index-3f2a9c.js"))
        .send()
        .await
        .expect("script");
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(header(&script, CACHE_CONTROL.as_str()), IMMUTABLE);
    assert!(header(&script, CONTENT_TYPE.as_str()).contains("javascript"));

    for path in ["/", "/index.html"] {
        let page = http.get(web.url(path)).send().await.expect("page");
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&page, CACHE_CONTROL.as_str()), "no-cache", "{path}");
        assert!(header(&page, CONTENT_TYPE.as_str()).starts_with("text/html"));
        assert!(page.text().await.expect("body").contains("id=\"app\""));
    }

    let icon = http
        .get(web.url("/favicon.svg"))
        .send()
        .await
        .expect("icon");
    assert_eq!(icon.status(), StatusCode::OK);
    assert_eq!(header(&icon, CACHE_CONTROL.as_str()), "no-cache");

    // Revalidation is cheap: unchanged means 304 without a body.
    let page = http.get(web.url("/")).send().await.expect("page");
    let modified = header(&page, "last-modified").to_owned();
    let again = http
        .get(web.url("/"))
        .header("if-modified-since", modified)
        .send()
        .await
        .expect("revalidate");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn the_apps_own_routes_get_its_page_and_a_missing_asset_is_a_404() {
    let assets = assets_dir();
    let web = Web::start(&nowhere(), &nowhere(), assets.path(), &[]).await;
    let http = client();
    for path in ["/sockets/d-1/fridge", "/energy?bucket=day", "/settings"] {
        let page = http.get(web.url(path)).send().await.expect("page");
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&page, CACHE_CONTROL.as_str()), "no-cache");
        assert!(
            page.text().await.expect("body").contains("id=\"app\""),
            "{path}"
        );
    }
    let missing = http
        .get(web.url("/assets/index-000000.js"))
        .send()
        .await
        .expect("missing");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_ne!(
        missing.headers().get(CACHE_CONTROL).map(|v| v.as_bytes()),
        Some(IMMUTABLE.as_bytes()),
        "a 404 must not be cached for a year"
    );

    let post = http.post(web.url("/settings")).send().await.expect("post");
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: serde_json::Value = post.json().await.expect("json");
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn files_are_compressed_for_browsers_that_accept_it() {
    let assets = assets_dir();
    let web = Web::start(&nowhere(), &nowhere(), assets.path(), &[]).await;
    for (accept, encoding) in [("gzip", "gzip"), ("br", "br")] {
        let script = client()
            .get(web.url("/assets/index-3f2a9c.js"))
            .header(ACCEPT_ENCODING, accept)
            .send()
            .await
            .expect("script");
        assert_eq!(script.status(), StatusCode::OK);
        assert_eq!(header(&script, CONTENT_ENCODING.as_str()), encoding);
        assert_eq!(header(&script, CACHE_CONTROL.as_str()), IMMUTABLE);
        let compressed = script.bytes().await.expect("body");
        assert!(compressed.len() < 1000, "{} bytes", compressed.len());
    }
}

#[tokio::test]
async fn a_precompressed_file_is_served_as_is() {
    use std::io::Write;
    let assets = assets_dir();
    let plain = assets.path().join("assets/index-3f2a9c.js");
    // Level 0 (stored): unlike anything compressed on the fly.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    encoder
        .write_all(&std::fs::read(&plain).expect("read"))
        .expect("gzip");
    let gz = encoder.finish().expect("gzip");
    std::fs::write(plain.with_extension("js.gz"), &gz).expect("write .gz");
    let web = Web::start(&nowhere(), &nowhere(), assets.path(), &[]).await;
    let script = client()
        .get(web.url("/assets/index-3f2a9c.js"))
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .expect("script");
    assert_eq!(header(&script, CONTENT_ENCODING.as_str()), "gzip");
    assert_eq!(header(&script, CACHE_CONTROL.as_str()), IMMUTABLE);
    let body = script.bytes().await.expect("body");
    assert_eq!(body.as_ref(), gz.as_slice(), "the .gz file itself");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let assets = assets_dir();
    let web = Web::start(&nowhere(), &nowhere(), assets.path(), &[]).await;
    for path in ["/", "/assets/index-3f2a9c.js", "/api/sockets", "/healthz"] {
        let response = client().get(web.url(path)).send().await.expect("request");
        let csp = header(&response, "content-security-policy");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        assert_eq!(header(&response, "referrer-policy"), "same-origin");
        assert_eq!(header(&response, "x-frame-options"), "DENY");
    }
}
