//! The household comes from the token only: asking for another
//! household's device finds nothing; bad tokens and bad input are refused
//! with JSON.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn another_households_socket_finds_nothing() {
    let world = World::start(&[]).await;
    let a = world.household("a@example.com", "UTC", tariff()).await;
    let b = world.household("b@example.com", "UTC", tariff()).await;
    let t = ms("2026-06-01T10:00:00Z");
    world
        .write(None, &raw(&a.household, "d-a", "s-a", t, 123.0, 10.0))
        .await;
    world
        .write(
            Some("rollup_1h"),
            &(socket_rollup(&a.household, "d-a", "s-a", t, 123.0, 130.0, 4000.0, 10.0)
                + &household_rollup(&a.household, t, 123.0, 4000.0)),
        )
        .await;
    let from = enc("2026-06-01T00:00:00Z");
    let to = enc("2026-06-02T00:00:00Z");
    let socket = "&device=d-a&socket=s-a";

    // A sees its data.
    let mine = world
        .get(
            &format!("/api/energy?from={from}&to={to}&bucket=day{socket}"),
            Some(&a.token),
        )
        .await
        .ok();
    close(&mine["total_kwh"], 4.0);

    // B, naming A's device and socket, or nothing: nothing of A's.
    for path in [
        format!("/api/energy?from={from}&to={to}&bucket=day{socket}"),
        format!("/api/energy?from={from}&to={to}&bucket=day"),
    ] {
        let body = world.get(&path, Some(&b.token)).await.ok();
        close(&body["total_kwh"], 0.0);
        assert_eq!(body["by_socket"], Value::Array(vec![]));
    }
    for path in [
        format!("/api/power?from={from}&to={to}{socket}"),
        format!("/api/power?from={from}&to={to}"),
    ] {
        let body = world.get(&path, Some(&b.token)).await.ok();
        assert!(
            body["watts"].as_array().unwrap().iter().all(Value::is_null),
            "{body}"
        );
    }
    let csv = world
        .get(
            &format!("/api/export.csv?from={from}&to={to}{socket}"),
            Some(&b.token),
        )
        .await;
    assert_eq!(csv.text, "time,device,socket,watts,energy_wh\r\n");
    let sockets = world.get("/api/sockets", Some(&b.token)).await.ok();
    assert_eq!(sockets["sockets"], Value::Array(vec![]));
}

#[tokio::test]
async fn missing_or_bad_tokens_get_401_json() {
    let world = World::start(&[]).await;
    let a = world.household("a@example.com", "UTC", Value::Null).await;
    let path = "/api/sockets";
    assert_eq!(
        world.get(path, None).await.error(StatusCode::UNAUTHORIZED),
        "invalid_token"
    );
    for token in ["garbage", "a.b.c"] {
        assert_eq!(
            world
                .get(path, Some(token))
                .await
                .error(StatusCode::UNAUTHORIZED),
            "invalid_token"
        );
    }
    // Tampered: another household id in the payload, the signature kept.
    let parts: Vec<&str> = a.token.split('.').collect();
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = String::from_utf8(engine.decode(parts[1]).unwrap()).unwrap();
    let forged = engine.encode(payload.replace(&a.household, "h-someone-else"));
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    assert_eq!(
        world
            .get(path, Some(&tampered))
            .await
            .error(StatusCode::UNAUTHORIZED),
        "invalid_token"
    );
    // Signed with a key auth-service never published.
    let stranger = auth_service::access_token::AccessTokens::new(
        auth_service::keys::Keys::from_signing_key(&auth_service::keys::generate()),
        "wattline-auth".into(),
        "wattline".into(),
        std::time::Duration::from_secs(900),
    )
    .issue("u-1", &a.household, auth_service::access_token::Role::Owner);
    let answer = world.get(path, Some(&stranger)).await;
    assert_eq!(answer.error(StatusCode::UNAUTHORIZED), "invalid_token");
    assert_eq!(answer.header("www-authenticate"), "Bearer");
    // The real one works.
    world.get(path, Some(&a.token)).await.ok();
}

#[tokio::test]
async fn bad_input_gets_400_json() {
    let world = World::start(&[]).await;
    let a = world.household("a@example.com", "UTC", Value::Null).await;
    let (from, to) = (enc("2026-06-01T00:00:00Z"), enc("2026-06-02T00:00:00Z"));
    let cases = [
        (format!("/api/power?from=yesterday&to={to}"), "invalid_time"),
        (format!("/api/power?from={from}"), "invalid_time"),
        (format!("/api/power?from={to}&to={from}"), "invalid_range"),
        (format!("/api/power?from={from}&to={from}"), "invalid_range"),
        (
            format!("/api/power?from={}&to={to}", enc("2000-01-01T00:00:00Z")),
            "invalid_range",
        ),
        (
            format!("/api/power?from={from}&to={to}&device=d-1"),
            "invalid_socket",
        ),
        (
            format!("/api/energy?from={from}&to={to}&bucket=fortnight"),
            "invalid_bucket",
        ),
        (format!("/api/energy?from={from}&to={to}"), "invalid_bucket"),
        (
            format!("/api/energy?from={from}&to={to}&bucket=day&socket=s"),
            "invalid_socket",
        ),
        (
            format!("/api/export.csv?from=2026-06-01&to={to}"),
            "invalid_time",
        ),
    ];
    for (path, code) in cases {
        let answer = world.get(&path, Some(&a.token)).await;
        assert_eq!(answer.error(StatusCode::BAD_REQUEST), code, "{path}");
    }
    assert_eq!(
        world
            .get("/api/nothing", Some(&a.token))
            .await
            .error(StatusCode::NOT_FOUND),
        "not_found"
    );
    let openapi = world.get("/api/openapi.json", None).await.ok();
    assert!(openapi["paths"]["/api/energy"].is_object());
    let health = world.get("/healthz", None).await.ok();
    assert_eq!(health["influxdb"], true);
    let metrics = world.get("/metrics", None).await;
    assert!(
        metrics.text.contains("wattline_read_http_requests_total"),
        "{}",
        metrics.text
    );
}
