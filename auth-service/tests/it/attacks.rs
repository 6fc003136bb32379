//! What an attacker sends the public API: JSON with wrong types and
//! unknown fields on every route that takes a body (4xx naming the field,
//! never a 5xx), and SQL injection in every value that reaches a statement
//! (emails, passwords, names, ids in paths, time zones, tokens), on both
//! databases: refused, or stored verbatim, and never another household's.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::on_both_databases;
use crate::support::{encode, expect_json, Auth, Db, PASSWORD};

/// Every route that takes a JSON body, with a valid body for it.
fn json_routes() -> Vec<(Method, &'static str, Value)> {
    vec![
        (
            Method::POST,
            "/api/auth/register",
            json!({"email": "new@example.org", "password": PASSWORD, "time_zone": "UTC"}),
        ),
        (
            Method::POST,
            "/api/auth/login",
            json!({"email": "ann@example.org", "password": PASSWORD}),
        ),
        (
            Method::POST,
            "/api/auth/refresh",
            json!({"refresh_token": "x"}),
        ),
        (
            Method::POST,
            "/api/auth/logout",
            json!({"refresh_token": "x"}),
        ),
        (
            Method::POST,
            "/api/auth/password",
            json!({"current_password": PASSWORD, "new_password": "another long password"}),
        ),
        (
            Method::DELETE,
            "/api/auth/me",
            json!({"password": PASSWORD}),
        ),
        (
            Method::PUT,
            "/api/household/settings",
            json!({"time_zone": "UTC", "tariff": {"currency": "EUR", "price_per_kwh": 0.3,
                   "daily_charge": 0.2, "bands": [{"from": "07:00", "to": "23:00", "price_per_kwh": 0.4}]}}),
        ),
        (
            Method::POST,
            "/api/household/invites",
            json!({"email": "bob@example.org"}),
        ),
        (Method::POST, "/api/devices", json!({"name": "Pi"})),
        (
            Method::PATCH,
            "/api/devices/{device}",
            json!({"name": "Pi"}),
        ),
        (
            Method::PUT,
            "/api/devices/{device}/sockets/s-1",
            json!({"name": "Fridge"}),
        ),
    ]
}

/// `body` with the value at `path` (keys, then array indices) replaced.
fn replaced(body: &Value, path: &[&str], value: Value) -> Value {
    let mut body = body.clone();
    let mut at = &mut body;
    for key in path {
        at = match key.parse::<usize>() {
            Ok(index) => &mut at[index],
            Err(_) => &mut at[*key],
        };
    }
    *at = value;
    body
}

/// The leaf fields of `body`, as paths.
fn leaves(body: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    match body {
        Value::Object(map) => {
            for (key, value) in map {
                let mut path = prefix.clone();
                path.push(key.clone());
                leaves(value, path, out);
            }
        }
        Value::Array(items) => {
            for (index, value) in items.iter().enumerate() {
                let mut path = prefix.clone();
                path.push(index.to_string());
                leaves(value, path, out);
            }
        }
        _ => out.push(prefix),
    }
}

on_both_databases!(
    wrong_types_and_unknown_fields,
    wrong_types_and_unknown_fields_body
);

async fn wrong_types_and_unknown_fields_body(db: Db) {
    let auth = Auth::start(db, &[]).await;
    let ann = auth.register("ann@example.org").await;
    let (device, _) = auth.create_device(&ann, "Pi").await;
    let mut failures = Vec::new();
    let mut tried = 0;
    for (method, path, valid) in json_routes() {
        let path = path.replace("{device}", &encode(&device));
        let mut attempts: Vec<(Value, String)> = Vec::new();
        // An unknown field, at the top and inside nested objects.
        let mut with_extra = valid.clone();
        with_extra["is_admin"] = json!(true);
        attempts.push((with_extra, "is_admin".into()));
        if valid["tariff"].is_object() {
            let nested = replaced(&valid, &["tariff", "discount"], json!(1));
            attempts.push((nested, "discount".into()));
            let in_band = replaced(&valid, &["tariff", "bands", "0", "colour"], json!("red"));
            attempts.push((in_band, "colour".into()));
        }
        // Every field with every wrong type.
        let mut fields = Vec::new();
        leaves(&valid, Vec::new(), &mut fields);
        for field in fields {
            let keys: Vec<&str> = field.iter().map(String::as_str).collect();
            let original = keys
                .iter()
                .fold(&valid, |at, key| match key.parse::<usize>() {
                    Ok(index) => &at[index],
                    Err(_) => &at[*key],
                });
            let name = keys
                .iter()
                .rev()
                .find(|key| key.parse::<usize>().is_err())
                .copied()
                .unwrap_or_default()
                .to_owned();
            for wrong in [
                json!(5),
                json!(true),
                json!([1]),
                json!({"a": 1}),
                json!("x"),
            ] {
                let same_kind = std::mem::discriminant(original) == std::mem::discriminant(&wrong);
                if !same_kind {
                    attempts.push((replaced(&valid, &keys, wrong), name.clone()));
                }
            }
        }
        for (body, field) in attempts {
            tried += 1;
            let response = auth
                .send(method.clone(), &path, &ann.access, Some(body.clone()))
                .await;
            let status = response.status();
            let text = response.text().await.unwrap();
            let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let message = json["error"]["message"].as_str().unwrap_or_default();
            if !status.is_client_error() || !message.contains(&field) {
                failures.push(format!("{method} {path} {body}: {status} {text}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {tried} not refused with a 4xx naming the field:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Strings that break out of an SQL literal if pasted into one.
const INJECTIONS: &[&str] = &[
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    "\"; DROP TABLE devices; --",
    "x' UNION SELECT id, email, password_hash FROM users --",
    "1; DELETE FROM devices",
    "%' OR household_id LIKE '%",
    "\\'; --",
    "Robert'); DROP TABLE households;--",
];

on_both_databases!(sql_injection, sql_injection_body);

async fn sql_injection_body(db: Db) {
    let auth = Auth::start(db, &[]).await;
    let ann = auth.register("ann@example.org").await;
    let bob = auth.register("bob@example.org").await;
    let (bobs_device, _) = auth.create_device(&bob, "Bob's Pi").await;
    let (anns_device, _) = auth.create_device(&ann, "Ann's Pi").await;

    for injection in INJECTIONS {
        let enc = encode(injection);
        // Emails: not an email (400), or no such account (401).
        for email in [injection.to_string(), format!("{injection}@example.org")] {
            let login = auth.login(&email, injection).await;
            assert!(
                matches!(
                    login.status(),
                    StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED
                ),
                "{email}: {}",
                login.status()
            );
            let login = auth.login("bob@example.org", injection).await;
            assert_eq!(login.status(), StatusCode::UNAUTHORIZED, "{injection}");
        }
        // Names are stored verbatim and come back as sent.
        let named = auth
            .send(
                Method::PATCH,
                &format!("/api/devices/{}", encode(&anns_device)),
                &ann.access,
                Some(json!({"name": injection})),
            )
            .await;
        assert_eq!(expect_json(named, StatusCode::OK).await["name"], *injection);
        let socket = auth
            .send(
                Method::PUT,
                &format!("/api/devices/{}/sockets/{enc}", encode(&anns_device)),
                &ann.access,
                Some(json!({"name": injection})),
            )
            .await;
        assert!(
            socket.status() == StatusCode::OK || socket.status() == StatusCode::BAD_REQUEST,
            "socket {injection}: {}",
            socket.status()
        );
        // Ids in paths: nothing found, nothing of Bob's touched.
        for path in [
            format!("/api/devices/{enc}"),
            format!(
                "/api/devices/{}%27%20OR%20%271%27%3D%271",
                encode(&bobs_device)
            ),
        ] {
            for method in [Method::GET, Method::DELETE] {
                let response = auth.send(method.clone(), &path, &ann.access, None).await;
                assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
            }
            let rotate = auth
                .send(Method::POST, &format!("{path}/secret"), &ann.access, None)
                .await;
            assert_eq!(rotate.status(), StatusCode::NOT_FOUND, "rotate {path}");
        }
        let member = auth
            .send(
                Method::DELETE,
                &format!("/api/household/members/{enc}"),
                &ann.access,
                None,
            )
            .await;
        assert_eq!(member.status(), StatusCode::NOT_FOUND, "member {injection}");
        // Time zones and tokens: refused.
        let settings = auth
            .send(
                Method::PUT,
                "/api/household/settings",
                &ann.access,
                Some(json!({"time_zone": injection, "tariff": null})),
            )
            .await;
        assert!(settings.status().is_client_error(), "tz {injection}");
        assert_eq!(
            auth.refresh(injection).await.status(),
            StatusCode::UNAUTHORIZED,
            "refresh {injection}"
        );
        let invited = auth
            .post(
                "/api/auth/register",
                None,
                json!({"email": "eve@example.org", "password": PASSWORD, "invite_token": injection}),
            )
            .await;
        assert!(invited.status().is_client_error(), "invite {injection}");
    }

    // Ann sees only her device; Bob's account and device are intact.
    let anns = expect_json(
        auth.get("/api/devices", Some(&ann.access)).await,
        StatusCode::OK,
    )
    .await;
    let ids: Vec<&str> = anns
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [anns_device.as_str()], "{anns}");
    assert_eq!(
        auth.login("bob@example.org", PASSWORD).await.status(),
        StatusCode::OK
    );
    let bobs = expect_json(
        auth.get("/api/devices", Some(&bob.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(bobs[0]["id"], *bobs_device, "{bobs}");
    assert_eq!(bobs[0]["name"], "Bob's Pi", "{bobs}");
}
