//! The account lifecycle end to end, on SQLite and on PostgreSQL.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::on_both_databases;
use crate::support::{expect_error, expect_json, Auth, Db, PASSWORD};

on_both_databases!(account_lifecycle, account_lifecycle_body);
on_both_databases!(refresh_token_reuse, refresh_token_reuse_body);
on_both_databases!(owner_deletion, owner_deletion_body);

/// Register → me → login → refresh → change password → log in with the new
/// one → log out → delete.
async fn account_lifecycle_body(db: Db) {
    let auth = Auth::start(db, &[]).await;
    let session = auth.register("  Ann@Example.org ").await;

    let me = expect_json(
        auth.get("/api/auth/me", Some(&session.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["email"], "ann@example.org", "stored normalised");
    assert_eq!(me["role"], "owner");
    assert_eq!(me["household_id"], session.household.as_str());

    // The same email again, in any case: 409.
    let again = auth
        .post(
            "/api/auth/register",
            None,
            json!({"email": "ANN@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(expect_error(again, StatusCode::CONFLICT).await, "conflict");

    // Weak password and malformed email: 400 with a code.
    let weak = auth
        .post(
            "/api/auth/register",
            None,
            json!({"email": "bob@example.org", "password": "short"}),
        )
        .await;
    assert_eq!(
        expect_error(weak, StatusCode::BAD_REQUEST).await,
        "weak_password"
    );
    let bad_email = auth
        .post(
            "/api/auth/register",
            None,
            json!({"email": "bob", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        expect_error(bad_email, StatusCode::BAD_REQUEST).await,
        "invalid_email"
    );

    // Login: one answer for an unknown email and a wrong password.
    let unknown = expect_json(
        auth.login("nobody@example.org", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let wrong = expect_json(
        auth.login("ann@example.org", "wrong password!").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(unknown, wrong, "the same body for both");
    let logged_in = expect_json(
        auth.login("ann@example.org", PASSWORD).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(logged_in["user"]["user_id"], session.user_id.as_str());

    // Refresh: a new pair; the new access token works.
    let refreshed = expect_json(auth.refresh(&session.refresh).await, StatusCode::OK).await;
    let access = refreshed["access_token"].as_str().unwrap().to_owned();
    assert_ne!(refreshed["refresh_token"], session.refresh.as_str());
    assert_eq!(
        auth.get("/api/auth/me", Some(&access)).await.status(),
        StatusCode::OK
    );

    // Change password: the current one is required; sessions are revoked.
    let wrong_current = auth
        .post(
            "/api/auth/password",
            Some(&access),
            json!({"current_password": "not it at all", "new_password": "a new long password"}),
        )
        .await;
    assert_eq!(wrong_current.status(), StatusCode::UNAUTHORIZED);
    let changed = auth
        .post(
            "/api/auth/password",
            Some(&access),
            json!({"current_password": PASSWORD, "new_password": "a new long password"}),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let old_refresh = refreshed["refresh_token"].as_str().unwrap();
    let revoked = auth.refresh(old_refresh).await;
    assert_eq!(
        revoked.status(),
        StatusCode::UNAUTHORIZED,
        "password change revokes sessions"
    );
    assert_eq!(
        auth.login("ann@example.org", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let new_session = expect_json(
        auth.login("ann@example.org", "a new long password").await,
        StatusCode::OK,
    )
    .await;

    // Logout revokes the refresh token.
    let refresh = new_session["refresh_token"].as_str().unwrap();
    let logout = auth
        .post("/api/auth/logout", None, json!({"refresh_token": refresh}))
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let after_logout = auth.refresh(refresh).await;
    assert_eq!(after_logout.status(), StatusCode::UNAUTHORIZED);

    // Delete: the password is required; then the account is gone.
    let new_access = new_session["access_token"].as_str().unwrap();
    let refused = auth
        .send(
            Method::DELETE,
            "/api/auth/me",
            new_access,
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let deleted = auth
        .send(
            Method::DELETE,
            "/api/auth/me",
            new_access,
            Some(json!({"password": "a new long password"})),
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        auth.get("/api/auth/me", Some(new_access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        auth.login("ann@example.org", "a new long password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // The email is free again.
    auth.register("ann@example.org").await;
    auth.stop().await;
}

/// A refresh token used twice revokes its whole family, the newer tokens too
/// (without the reuse grace, which the next test covers).
async fn refresh_token_reuse_body(db: Db) {
    let auth = Auth::start(db, &["--refresh-reuse-grace=0s"]).await;
    let first = auth.register("ann@example.org").await;
    let second = expect_json(auth.refresh(&first.refresh).await, StatusCode::OK).await;
    let second_token = second["refresh_token"].as_str().unwrap().to_owned();

    // An attacker replays the first token: refused, and the family is revoked ...
    let replay = auth.refresh(&first.refresh).await;
    assert_eq!(
        expect_error(replay, StatusCode::UNAUTHORIZED).await,
        "invalid_refresh_token"
    );
    // ... so the legitimate holder's newer token is dead too.
    assert_eq!(
        auth.refresh(&second_token).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Another login (another family) is unaffected.
    let other = expect_json(
        auth.login("ann@example.org", PASSWORD).await,
        StatusCode::OK,
    )
    .await;
    let other_token = other["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(auth.refresh(&other_token).await.status(), StatusCode::OK);
    assert_eq!(
        auth.refresh("made-up").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Within the reuse grace a spent refresh token is exchanged again (a browser
/// reloaded while its refresh was in flight, and never got the new cookie)
/// and nothing is revoked; after the grace, the same token is reuse.
#[tokio::test]
async fn a_spent_refresh_token_is_honoured_within_the_grace_only() {
    let auth = Auth::start(Db::Sqlite, &["--refresh-reuse-grace=2s"]).await;
    let first = auth.register("ann@example.org").await;
    let second = expect_json(auth.refresh(&first.refresh).await, StatusCode::OK).await;
    let second_token = second["refresh_token"].as_str().unwrap().to_owned();

    let again = expect_json(auth.refresh(&first.refresh).await, StatusCode::OK).await;
    let third_token = again["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(
        third_token, second_token,
        "each exchange issues a new token"
    );
    // Both successors work: nothing was revoked.
    let second_next = expect_json(auth.refresh(&second_token).await, StatusCode::OK).await;
    assert_eq!(auth.refresh(&third_token).await.status(), StatusCode::OK);

    // Token times are whole seconds: 3.5 s is past a 2 s grace for sure.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(
        expect_error(auth.refresh(&first.refresh).await, StatusCode::UNAUTHORIZED).await,
        "invalid_refresh_token"
    );
    // Reuse after the grace revoked the family, newest tokens included.
    let newest = second_next["refresh_token"].as_str().unwrap();
    assert_eq!(
        auth.refresh(newest).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Deleting an owner's account takes the household's devices and members
/// with it: the device can no longer log in to the broker.
async fn owner_deletion_body(db: Db) {
    let auth = Auth::start(db, &[]).await;
    let owner = auth.register("ann@example.org").await;
    let (device, secret) = auth.create_device(&owner, "Kitchen Pi").await;
    let invite = expect_json(
        auth.post(
            "/api/household/invites",
            Some(&owner.access),
            json!({"email": "bob@example.org"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let viewer = auth
        .post(
            "/api/auth/register",
            None,
            json!({
                "email": "bob@example.org", "password": PASSWORD,
                "invite_token": invite["invite_token"],
            }),
        )
        .await;
    assert_eq!(viewer.status(), StatusCode::CREATED);
    assert_eq!(
        auth.broker("user", &[("username", &device), ("password", &secret)])
            .await,
        "allow"
    );

    let deleted = auth
        .send(
            Method::DELETE,
            "/api/auth/me",
            &owner.access,
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    assert_eq!(
        auth.broker("user", &[("username", &device), ("password", &secret)])
            .await,
        "deny"
    );
    let registry = auth.registry(&device).await;
    assert_eq!(registry.status(), StatusCode::NOT_FOUND);
    let bob = auth.login("bob@example.org", PASSWORD).await;
    assert_eq!(
        bob.status(),
        StatusCode::UNAUTHORIZED,
        "members go with the household"
    );
}

/// Too many logins for one account get 429 with Retry-After, other
/// accounts are unaffected, and the limit lifts after the period.
#[tokio::test]
async fn login_rate_limits_kick_in_and_lift() {
    let auth = Auth::start(Db::Sqlite, &["--login-limit-per-account=3/3s"]).await;
    auth.register("ann@example.org").await;
    auth.register("bob@example.org").await;
    for _ in 0..3 {
        assert_eq!(
            auth.login("ann@example.org", "wrong password!")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Even the right password is refused while limited: no oracle.
    let limited = auth.login("ann@example.org", PASSWORD).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(
        expect_error(limited, StatusCode::TOO_MANY_REQUESTS).await,
        "rate_limited"
    );
    assert_eq!(
        auth.login("bob@example.org", PASSWORD).await.status(),
        StatusCode::OK
    );

    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(
        auth.login("ann@example.org", PASSWORD).await.status(),
        StatusCode::OK,
        "lifted"
    );
}

/// The per-client limit counts registrations and logins from one address,
/// whatever the account.
#[tokio::test]
async fn client_rate_limit_counts_across_accounts() {
    let auth = Auth::start(Db::Sqlite, &["--login-limit-per-client=2/1m"]).await;
    auth.register("ann@example.org").await;
    let login = auth.login("x@example.org", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    let third = auth.login("y@example.org", PASSWORD).await;
    assert_eq!(
        expect_error(third, StatusCode::TOO_MANY_REQUESTS).await,
        "rate_limited"
    );
}

/// Bad requests get 4xx with a JSON error body, never a 5xx or plain text.
#[tokio::test]
async fn malformed_requests_get_json_errors() {
    let auth = Auth::start(Db::Sqlite, &[]).await;
    let url = format!("{}/api/auth/login", auth.base);
    let cases = [
        ("not json", "application/json", StatusCode::BAD_REQUEST),
        (
            r#"{"email": 5, "password": "x"}"#,
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            r#"{"email": "a@b.c", "password": "x", "admin": true}"#,
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            r#"{"email": "a@b.c", "password": "x"}"#,
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (body, content_type, status) in cases {
        let response = auth
            .http
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            expect_error(response, status).await,
            "invalid_body",
            "{body}"
        );
    }
    let huge = format!(
        r#"{{"email": "a@b.c", "password": "{}"}}"#,
        "x".repeat(100_000)
    );
    let response = auth
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        expect_error(auth.get("/api/nothing", None).await, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    let wrong_method = auth.http.put(&url).send().await.unwrap();
    assert_eq!(
        expect_error(wrong_method, StatusCode::METHOD_NOT_ALLOWED).await,
        "method_not_allowed"
    );
    assert_eq!(
        expect_error(
            auth.get("/api/auth/me", None).await,
            StatusCode::UNAUTHORIZED
        )
        .await,
        "missing_token"
    );
}

/// /healthz, /metrics, the OpenAPI document and the JWKS answer.
#[tokio::test]
async fn operations_endpoints_answer() {
    let auth = Auth::start(Db::Sqlite, &[]).await;
    auth.register("ann@example.org").await;
    let health = expect_json(auth.get("/healthz", None).await, StatusCode::OK).await;
    assert_eq!(health["database"], true);
    let metrics = auth.get("/metrics", None).await.text().await.unwrap();
    assert!(
        testkit::metric(
            &metrics,
            r#"wattline_auth_registrations_total{role="owner"}"#
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{metrics}"
    );
    let openapi = expect_json(auth.get("/api/openapi.json", None).await, StatusCode::OK).await;
    for path in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/auth/me",
        "/api/devices",
        "/api/devices/{id}",
        "/api/household",
        "/api/household/settings",
        "/.well-known/jwks.json",
    ] {
        assert!(
            openapi["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    for schema in [
        "Tariff",
        "Band",
        "LocalTime",
        "HouseholdView",
        "SettingsRequest",
    ] {
        assert!(
            openapi["components"]["schemas"].get(schema).is_some(),
            "schema {schema} missing from the OpenAPI document"
        );
    }
    let jwks = expect_json(
        auth.get("/.well-known/jwks.json", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    assert!(jwks["keys"][0]["kid"]
        .as_str()
        .is_some_and(|kid| !kid.is_empty()));
    let internal = auth
        .http
        .get(format!("{}/healthz", auth.internal))
        .send()
        .await
        .unwrap();
    assert_eq!(internal.status(), StatusCode::OK);
}
