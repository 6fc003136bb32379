//! Bodies over the limit and clients too slow to wait for, against real
//! auth-service, read-service and gateway servers: every route answers a
//! 413 JSON error to a body over its limit, declared or chunked, directly
//! and through the gateway; slow request heads and bodies are cut off while
//! other clients are served; idle keep-alive connections are closed.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::AsyncWriteExt;

use crate::support::{assets_dir, client, raw, Auth, Read, Web};

/// Over the services' 16 KiB, under the gateway's default 64 KiB: the
/// services' own limit must answer, also behind the gateway.
const OVERSIZED: usize = 20 * 1024;

/// Every route of auth-service's public API, with ids that need not exist
/// (the body is refused before anything else is looked at).
const AUTH_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/auth/logout"),
    ("GET", "/api/auth/me"),
    ("DELETE", "/api/auth/me"),
    ("POST", "/api/auth/password"),
    ("GET", "/api/household"),
    ("PUT", "/api/household/settings"),
    ("GET", "/api/household/members"),
    ("DELETE", "/api/household/members/u-1"),
    ("POST", "/api/household/invites"),
    ("GET", "/api/devices"),
    ("POST", "/api/devices"),
    ("GET", "/api/devices/d-1"),
    ("PATCH", "/api/devices/d-1"),
    ("DELETE", "/api/devices/d-1"),
    ("POST", "/api/devices/d-1/secret"),
    ("PUT", "/api/devices/d-1/sockets/s-1"),
    ("GET", "/.well-known/jwks.json"),
];

/// Every route of read-service.
const READ_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/sockets"),
    ("GET", "/api/power"),
    ("GET", "/api/energy"),
    ("GET", "/api/export.csv"),
    ("GET", "/api/live"),
    ("GET", "/api/openapi.json"),
];

/// Routes each service has outside its API.
const OPERATIONS_ROUTES: &[(&str, &str)] = &[("GET", "/healthz"), ("GET", "/metrics")];

/// The gateway's own routes: the dashboard's files and pages.
const GATEWAY_ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/index.html"),
    ("GET", "/assets/index-3f2a9c.js"),
    ("GET", "/settings"),
    ("HEAD", "/"),
];

/// Sends `size` bytes to `method path` at `base`, with a Content-Length or
/// chunked (spoken by hand: HTTP clients send no chunked body with a GET);
/// returns the status and the JSON error code.
async fn send_body(
    base: &str,
    method: &str,
    path: &str,
    size: usize,
    chunked: bool,
) -> (u16, String) {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\n"
    )
    .into_bytes();
    if chunked {
        request.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        for _ in 0..size.div_ceil(1024) {
            request.extend_from_slice(b"400\r\n");
            request.extend_from_slice(&[b' '; 1024]);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
    } else {
        request.extend_from_slice(format!("Content-Length: {size}\r\n\r\n").as_bytes());
        request.extend(std::iter::repeat_n(b' ', size));
    }
    let answer = raw::exchange(base, &request).await;
    let code = answer.error_code().unwrap_or_else(|| {
        let text = answer.text();
        format!("not a JSON error: {:?}", &text[..text.len().min(80)])
    });
    (answer.status, code)
}

#[tokio::test]
async fn every_route_refuses_a_body_over_its_limit_with_a_json_413_declared_or_chunked() {
    let assets = assets_dir();
    let auth = Auth::start(&[]).await;
    let read = Read::start(&auth, &[]).await;
    let web = Web::start(&auth.base, &read.base, assets.path(), &[]).await;

    let mut cases: Vec<(&str, &str, &str, usize)> = Vec::new();
    for &(method, path) in AUTH_ROUTES.iter().chain(OPERATIONS_ROUTES) {
        cases.push((&auth.base, method, path, OVERSIZED));
    }
    for &(method, path) in READ_ROUTES.iter().chain(OPERATIONS_ROUTES) {
        cases.push((&read.base, method, path, OVERSIZED));
    }
    // Through the gateway: the API goes to the services, whose limits answer.
    for &(method, path) in AUTH_ROUTES.iter().chain(READ_ROUTES) {
        cases.push((&web.base, method, path, OVERSIZED));
    }
    // The gateway's own routes take no body at all.
    for &(method, path) in GATEWAY_ROUTES.iter().chain(OPERATIONS_ROUTES) {
        cases.push((&web.base, method, path, 1));
    }
    let mut failures = Vec::new();
    for &(base, method, path, size) in &cases {
        for chunked in [false, true] {
            let (status, code) = send_body(base, method, path, size, chunked).await;
            // A HEAD answer has no body to hold the JSON.
            let json_or_head = code == "body_too_large" || method == "HEAD";
            if status != 413 || !json_or_head {
                failures.push(format!(
                    "{method} {base}{path} ({size} bytes, chunked: {chunked}): {status} {code}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "not refused:\n{}", failures.join("\n"));

    // A body within the limit is read (the limit is not "no body").
    let (status, code) = send_body(&web.base, "POST", "/api/auth/login", 100, true).await;
    assert_eq!(
        (status, code.as_str()),
        (400, "invalid_body"),
        "100 spaces are read, and are not JSON"
    );
}

/// How a slow client's attempt ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The server answered (status) or hung up before the client was done.
    CutOff(Option<u16>),
    /// The client sent everything: the server waited all along.
    Finished,
}

/// Sends `start` at once, then `dribble` one byte every 100 ms, while
/// listening for the server to answer or hang up.
async fn dribble(base: String, start: String, dribble: Vec<u8>) -> Outcome {
    let stream = raw::connect(&base).await;
    let (mut reader, mut writer) = stream.into_split();
    let send = async move {
        if writer.write_all(start.as_bytes()).await.is_err() {
            return;
        }
        for byte in dribble {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(&[byte]).await.is_err() {
                // The server hung up: keep "sending" no more, but do not
                // count as finished.
                std::future::pending::<()>().await;
            }
        }
    };
    let listen = async move {
        use tokio::io::AsyncReadExt;
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes).await;
        let head = String::from_utf8_lossy(&bytes).into_owned();
        head.split(' ').nth(1).and_then(|code| code.parse().ok())
    };
    tokio::select! {
        () = send => Outcome::Finished,
        status = listen => Outcome::CutOff(status),
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off_while_others_are_served_and_idle_connections_closed() {
    let timeouts = ["--header-read-timeout=1s", "--request-timeout=2s"];
    let assets = assets_dir();
    let auth = Auth::start(&timeouts).await;
    let read = Read::start(&auth, &timeouts).await;
    let web = Web::start(
        &auth.base,
        &read.base,
        assets.path(),
        &["--header-read-timeout=1s"],
    )
    .await;
    // 200 bytes at 10 a second: 20 s, far beyond every timeout.
    let slow_header = format!("X-Slow: {}\r\n\r\n", "a".repeat(200));
    let slow_body = " ".repeat(200);
    let servers = [
        ("auth-service", auth.base.clone(), "POST /api/auth/login"),
        ("read-service", read.base.clone(), "GET /api/sockets"),
        ("gateway", web.base.clone(), "POST /api/auth/login"),
    ];
    for (name, base, body_route) in &servers {
        let headers = tokio::spawn(dribble(
            base.clone(),
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\n".to_owned(),
            slow_header.clone().into_bytes(),
        ));
        let body = tokio::spawn(dribble(
            base.clone(),
            format!(
                "{body_route} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n",
                slow_body.len()
            ),
            slow_body.clone().into_bytes(),
        ));
        // Meanwhile, others are served.
        for _ in 0..3 {
            let health = client()
                .get(format!("{base}/healthz"))
                .send()
                .await
                .expect("healthz");
            assert_eq!(health.status(), StatusCode::OK, "{name}");
        }
        let headers = headers.await.expect("task");
        assert!(
            matches!(headers, Outcome::CutOff(None | Some(408))),
            "{name}, slow headers: {headers:?}"
        );
        let body = body.await.expect("task");
        assert_eq!(
            body,
            Outcome::CutOff(Some(408)),
            "{name}, slow body: a 408 before the body is complete"
        );

        // An idle keep-alive connection is closed.
        let mut idle = raw::connect(base).await;
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("send");
        let first = raw::read_answer(&mut idle).await.expect("an answer");
        assert!(first.status > 0, "{name}: {}", first.head);
        let closed = tokio::time::timeout(Duration::from_secs(30), raw::read_answer(&mut idle))
            .await
            .unwrap_or_else(|_| panic!("{name} kept an idle connection open for 30 s"));
        assert!(
            closed.as_ref().is_none_or(|answer| answer.status == 408),
            "{name}: {closed:?}"
        );
    }
}
