//! Accounts, sessions and devices through the gateway, against a real
//! auth-service: what the browser does, including the refresh cookie.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{assets_dir, client, nowhere, Auth, Web};

const PASSWORD: &str = "correct horse battery staple";

async fn json_of(response: reqwest::Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The `wattline_refresh=...` pair of a response's Set-Cookie, and the whole header.
fn refresh_cookie(response: &reqwest::Response) -> (String, String) {
    let header = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("wattline_refresh="))
        .unwrap_or_else(|| panic!("no wattline_refresh cookie in {:?}", response.headers()))
        .to_owned();
    let pair = header.split(';').next().unwrap_or_default().to_owned();
    (pair, header)
}

#[tokio::test]
async fn a_browser_registers_uses_its_token_refreshes_with_the_cookie_and_logs_out() {
    let assets = assets_dir();
    let auth = Auth::start(&[]).await;
    let web = Web::start(&auth.base, &nowhere(), assets.path(), &[]).await;
    let http = client();

    let response = http
        .post(web.url("/api/auth/register"))
        .json(&json!({"email": "ann@example.org", "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    let (cookie, set_cookie) = refresh_cookie(&response);
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("Path=/api/auth"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let session = json_of(response, StatusCode::CREATED).await;
    let access = session["access_token"].as_str().expect("access token");

    let me = http
        .get(web.url("/api/auth/me"))
        .bearer_auth(access)
        .send()
        .await
        .expect("me");
    let me = json_of(me, StatusCode::OK).await;
    assert_eq!(me["email"], "ann@example.org", "{me}");

    // A device, as the Devices page adds one; the list shows it.
    let created = http
        .post(web.url("/api/devices"))
        .bearer_auth(access)
        .json(&json!({"name": "Kitchen Pi"}))
        .send()
        .await
        .expect("create device");
    let created = json_of(created, StatusCode::CREATED).await;
    let listed = http
        .get(web.url("/api/devices"))
        .bearer_auth(access)
        .send()
        .await
        .expect("list devices");
    let listed = json_of(listed, StatusCode::OK).await;
    assert!(
        listed
            .to_string()
            .contains(created["device"]["id"].as_str().expect("device id")),
        "{listed}"
    );

    // A page reload: no token in memory, only the cookie, no body at all.
    let refreshed = http
        .post(web.url("/api/auth/refresh"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("refresh");
    let (next_cookie, _) = refresh_cookie(&refreshed);
    assert_ne!(next_cookie, cookie, "refresh tokens rotate");
    let refreshed = json_of(refreshed, StatusCode::OK).await;
    assert!(refreshed["access_token"].is_string(), "{refreshed}");

    let jwks = http
        .get(web.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks");
    let jwks = json_of(jwks, StatusCode::OK).await;
    assert!(jwks["keys"].as_array().is_some_and(|keys| !keys.is_empty()));

    let logout = http
        .post(web.url("/api/auth/logout"))
        .header(COOKIE, &next_cookie)
        .send()
        .await
        .expect("logout");
    assert!(logout.status().is_success(), "{}", logout.status());
    let (cleared, header) = refresh_cookie(&logout);
    assert_eq!(cleared, "wattline_refresh=", "{header}");
    let again = http
        .post(web.url("/api/auth/refresh"))
        .header(COOKIE, &next_cookie)
        .send()
        .await
        .expect("refresh after logout");
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn auth_errors_and_their_status_pass_through_unchanged() {
    let assets = assets_dir();
    let auth = Auth::start(&[]).await;
    let web = Web::start(&auth.base, &nowhere(), assets.path(), &[]).await;
    let response = client()
        .get(web.url("/api/devices"))
        .header(AUTHORIZATION, "Bearer not-a-token")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    let body = json_of(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["error"]["code"], "invalid_token");
}

/// A client that connects from `ip` (any 127.x address is this machine).
fn client_from(ip: &str) -> reqwest::Client {
    testkit::init_crypto();
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().expect("ip"))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn failed_login(
    http: &reqwest::Client,
    web: &Web,
    attempt: usize,
    claimed: &str,
) -> StatusCode {
    http.post(web.url("/api/auth/login"))
        // What a client claims comes first; the gateway appends the truth.
        .header("x-forwarded-for", claimed)
        .json(
            &json!({"email": format!("nobody{attempt}@example.org"), "password": "wrong password"}),
        )
        .send()
        .await
        .expect("login")
        .status()
}

/// auth-service sees every client through the gateway's one connection; it
/// tells them apart (for its per-client login limit) only by the address the
/// gateway appends to `X-Forwarded-For`, and a client cannot slip past the
/// limit by claiming another address.
#[tokio::test]
async fn auth_service_limits_each_client_by_the_address_the_gateway_forwards() {
    let assets = assets_dir();
    let auth = Auth::start(&["--login-limit-per-client=2/1h"]).await;
    let web = Web::start(&auth.base, &nowhere(), assets.path(), &[]).await;
    let (mallory, ann) = (client_from("127.0.0.5"), client_from("127.0.0.6"));

    for attempt in 0..2 {
        let claimed = format!("203.0.113.{attempt}");
        assert_eq!(
            failed_login(&mallory, &web, attempt, &claimed).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        failed_login(&mallory, &web, 2, "203.0.113.99").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the third attempt from one address is limited, whatever it claims"
    );
    assert_eq!(
        failed_login(&ann, &web, 3, "").await,
        StatusCode::UNAUTHORIZED,
        "another client address is not limited"
    );
}
