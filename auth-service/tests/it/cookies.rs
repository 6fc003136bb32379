//! The browser's session: the refresh token in the HttpOnly cookie
//! `wattline_refresh`, set at login, register and refresh, used by refresh
//! and logout when the body has no token, cleared at logout.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::on_both_databases;
use crate::support::{expect_error, expect_json, Auth, Db, PASSWORD};

on_both_databases!(cookie_session, cookie_session_body);

/// The attributes of the one `Set-Cookie` a response carries.
#[derive(Debug)]
struct SetCookie {
    name: String,
    value: String,
    /// The attributes as sent, e.g. `HttpOnly`, `Max-Age=2592000`.
    attributes: Vec<String>,
}

impl SetCookie {
    fn of(response: &Response) -> Self {
        let headers: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
        assert_eq!(headers.len(), 1, "one Set-Cookie: {headers:?}");
        let text = headers[0].to_str().unwrap();
        let mut parts = text.split(';').map(str::trim);
        let (name, value) = parts.next().unwrap().split_once('=').unwrap();
        Self {
            name: name.to_owned(),
            value: value.to_owned(),
            attributes: parts.map(str::to_owned).collect(),
        }
    }

    fn has(&self, attribute: &str) -> bool {
        self.attributes
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attribute))
    }
}

impl Auth {
    /// POSTs to `path` as a browser does: no body, only the cookie.
    async fn with_cookie(&self, path: &str, cookie: &str) -> Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", format!("theme=dark; wattline_refresh={cookie}"))
            .send()
            .await
            .unwrap()
    }
}

/// Checks a session response's cookie: the body's refresh token, with
/// every attribute; returns the token.
async fn session_cookie(response: Response, status: StatusCode, secure: bool) -> String {
    let cookie = SetCookie::of(&response);
    let body: Value = expect_json(response, status).await;
    assert_eq!(cookie.name, "wattline_refresh");
    assert_eq!(cookie.value, body["refresh_token"].as_str().unwrap());
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/api/auth",
        "Max-Age=2592000",
    ] {
        assert!(cookie.has(attribute), "{attribute} missing: {cookie:?}");
    }
    assert_eq!(cookie.has("Secure"), secure, "{cookie:?}");
    cookie.value
}

async fn cookie_session_body(db: Db) {
    let auth = Auth::start(db, &[]).await;
    let registered = auth
        .post(
            "/api/auth/register",
            None,
            json!({"email": "ann@example.org", "password": PASSWORD}),
        )
        .await;
    session_cookie(registered, StatusCode::CREATED, true).await;
    let first = session_cookie(
        auth.login("ann@example.org", PASSWORD).await,
        StatusCode::OK,
        true,
    )
    .await;

    // Refresh with only the cookie: a new session and a new cookie; the
    // new access token works and the cookie token chain goes on.
    let refreshed = auth.with_cookie("/api/auth/refresh", &first).await;
    assert_eq!(refreshed.headers()["cache-control"], "no-store");
    let second = session_cookie(refreshed, StatusCode::OK, true).await;
    assert_ne!(second, first, "rotated");
    let third = session_cookie(
        auth.with_cookie("/api/auth/refresh", &second).await,
        StatusCode::OK,
        true,
    )
    .await;

    // A body token wins over the cookie; an empty JSON body or `null` falls
    // back to it.
    let other = session_cookie(
        auth.login("ann@example.org", PASSWORD).await,
        StatusCode::OK,
        true,
    )
    .await;
    let body_wins = auth
        .http
        .post(format!("{}/api/auth/refresh", auth.base))
        .header("cookie", "wattline_refresh=not-a-token")
        .json(&json!({"refresh_token": other}))
        .send()
        .await
        .unwrap();
    let other = session_cookie(body_wins, StatusCode::OK, true).await;
    let empty_body = auth
        .http
        .post(format!("{}/api/auth/refresh", auth.base))
        .header("cookie", format!("wattline_refresh={other}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let other = session_cookie(empty_body, StatusCode::OK, true).await;
    // So does a JSON `null` body (the OpenAPI document allows it).
    let null_body = auth
        .http
        .post(format!("{}/api/auth/refresh", auth.base))
        .header("cookie", format!("wattline_refresh={other}"))
        .json(&Value::Null)
        .send()
        .await
        .unwrap();
    session_cookie(null_body, StatusCode::OK, true).await;

    // Logout with only the cookie: 204, the cookie cleared, the session dead.
    let logout = auth.with_cookie("/api/auth/logout", &third).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let cleared = SetCookie::of(&logout);
    assert_eq!(cleared.name, "wattline_refresh");
    assert_eq!(cleared.value, "");
    for attribute in ["Max-Age=0", "HttpOnly", "Path=/api/auth", "Secure"] {
        assert!(cleared.has(attribute), "{attribute} missing: {cleared:?}");
    }
    let after = auth.with_cookie("/api/auth/refresh", &third).await;
    assert_eq!(
        expect_error(after, StatusCode::UNAUTHORIZED).await,
        "invalid_refresh_token"
    );

    // Neither body token nor cookie: 401, as for a bad token.
    for path in ["/api/auth/refresh", "/api/auth/logout"] {
        let bare = auth
            .http
            .post(format!("{}{path}", auth.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            expect_error(bare, StatusCode::UNAUTHORIZED).await,
            "invalid_refresh_token",
            "{path}"
        );
        let empty = auth.post(path, None, json!({})).await;
        assert_eq!(
            expect_error(empty, StatusCode::UNAUTHORIZED).await,
            "invalid_refresh_token",
            "{path}"
        );
    }
    // A body that is not JSON is still refused as before.
    let text = auth
        .http
        .post(format!("{}/api/auth/refresh", auth.base))
        .header("content-type", "text/plain")
        .header("cookie", format!("wattline_refresh={other}"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_error(text, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
        "invalid_body"
    );
    auth.stop().await;
}

/// `--insecure-cookies` (the plain-http demo) leaves out `Secure`, nothing else.
#[tokio::test]
async fn insecure_cookies_leave_out_secure() {
    let auth = Auth::start(Db::Sqlite, &["--insecure-cookies"]).await;
    auth.register("ann@example.org").await;
    let token = session_cookie(
        auth.login("ann@example.org", PASSWORD).await,
        StatusCode::OK,
        false,
    )
    .await;
    let logout = auth.with_cookie("/api/auth/logout", &token).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert!(!SetCookie::of(&logout).has("Secure"));
}

/// A shorter `--refresh-token-ttl` is the cookie's Max-Age too.
#[tokio::test]
async fn the_cookie_lives_as_long_as_the_refresh_token() {
    let auth = Auth::start(Db::Sqlite, &["--refresh-token-ttl=2h"]).await;
    auth.register("ann@example.org").await;
    let login = auth.login("ann@example.org", PASSWORD).await;
    assert!(SetCookie::of(&login).has("Max-Age=7200"));
}
