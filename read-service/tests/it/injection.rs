//! InfluxQL injection through every query parameter that reaches a
//! statement (device, socket, from, to, bucket) and unknown or mistyped
//! parameters: each attempt is a 400 JSON error or an answer about the
//! caller's own household only, and afterwards every point is still there.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

/// Household B's every value: a number whose digits (with their decimal
/// point) appear nowhere else, so any leak of B's data is visible in A's
/// answers.
const B_WATTS: f64 = 4242.4242;

/// What an attacker puts in a parameter.
fn payloads(other_household: &str) -> Vec<String> {
    [
        "'; DROP MEASUREMENT power; --",
        "\"; DROP MEASUREMENT \"power\"; --",
        "d-a' OR '1'='1",
        "d-a\" OR \"household\" =~ /.*/",
        "/.*/",
        ".*",
        "' OR household =~ /.*/ --",
        "x\nDROP DATABASE wattline",
        "x\\' OR 1=1",
        "$household",
        "SELECT * FROM power",
        "d-a'; DELETE FROM power WHERE time > 0; --",
        "d-b",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([
        format!("d-b' AND household='{other_household}"),
        format!("' OR household='{other_household}' --"),
    ])
    .collect()
}

#[tokio::test]
async fn injection_attempts_are_refused_or_answer_for_the_callers_household_only() {
    let world = World::start(&[]).await;
    let a = world.household("a@example.com", "UTC", tariff()).await;
    let b = world.household("b@example.com", "UTC", tariff()).await;
    let t = ms("2026-06-01T10:00:00Z");
    world
        .write(
            None,
            &(raw(&a.household, "d-a", "s-a", t, 100.0, 10.0)
                + &raw(&b.household, "d-b", "s-b", t, B_WATTS, B_WATTS)),
        )
        .await;
    world
        .write(
            Some("rollup_1h"),
            &(socket_rollup(
                &b.household,
                "d-b",
                "s-b",
                t,
                B_WATTS,
                B_WATTS,
                B_WATTS,
                B_WATTS,
            ) + &household_rollup(&b.household, t, B_WATTS, B_WATTS)),
        )
        .await;
    let points_before = world.db.count_points("power").await.expect("count");

    let (from, to) = (enc("2026-06-01T00:00:00Z"), enc("2026-06-02T00:00:00Z"));
    let mut paths = Vec::new();
    for payload in payloads(&b.household) {
        let p = enc(&payload);
        for endpoint in ["/api/power?", "/api/export.csv?", "/api/energy?bucket=day&"] {
            paths.push(format!(
                "{endpoint}from={from}&to={to}&device={p}&socket=s-b"
            ));
            paths.push(format!(
                "{endpoint}from={from}&to={to}&device=d-b&socket={p}"
            ));
            paths.push(format!("{endpoint}from={p}&to={to}"));
            paths.push(format!("{endpoint}from={from}&to={p}"));
        }
        paths.push(format!("/api/energy?from={from}&to={to}&bucket={p}"));
        // Parameters that do not exist are refused, not ignored.
        paths.push(format!("/api/power?from={from}&to={to}&household={p}"));
    }
    // B's numbers as they would print in W or kWh, its ids.
    let b_values = ["4242.42", "4.24242", &b.household, "d-b", "s-b"];
    let mut refused = 0;
    let mut answered = 0;
    for path in &paths {
        let answer = world.get(path, Some(&a.token)).await;
        match answer.status {
            StatusCode::BAD_REQUEST => {
                let code = answer.json()["error"]["code"].clone();
                assert!(code.is_string(), "{path}: {}", answer.text);
                refused += 1;
            }
            StatusCode::OK => {
                for value in b_values {
                    assert!(
                        !answer.text.contains(value),
                        "{path} shows household B's {value}: {}",
                        answer.text
                    );
                }
                answered += 1;
            }
            other => panic!("{path}: {other} {}", answer.text),
        }
    }
    println!("{refused} refused, {answered} answered with A's own data only");

    // Nothing was dropped or deleted, and B still sees its own data.
    assert_eq!(
        world.db.count_points("power").await.expect("count"),
        points_before
    );
    let measurements = world
        .db
        .query("SHOW MEASUREMENTS")
        .await
        .expect("measurements");
    assert!(measurements.to_string().contains("power"), "{measurements}");
    let mine = world
        .get(
            &format!("/api/energy?from={from}&to={to}&bucket=day"),
            Some(&b.token),
        )
        .await
        .ok();
    close(&mine["total_kwh"], B_WATTS / 1000.0);
    let sockets = world.get("/api/sockets", Some(&a.token)).await.ok();
    let devices: Vec<&Value> = sockets["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .map(|s| &s["device"])
        .collect();
    assert!(devices.iter().all(|d| *d == "d-a"), "{sockets}");
}

#[tokio::test]
async fn mistyped_or_unknown_parameters_are_400_naming_the_parameter() {
    let world = World::start(&[]).await;
    let a = world.household("a@example.com", "UTC", Value::Null).await;
    let (from, to) = (enc("2026-06-01T00:00:00Z"), enc("2026-06-02T00:00:00Z"));
    for (path, named) in [
        (
            format!("/api/power?from={from}&to={to}&devcie=d-1&socket=s"),
            "devcie",
        ),
        (
            format!("/api/energy?from={from}&to={to}&bucket=day&limit=5"),
            "limit",
        ),
        (
            format!("/api/export.csv?from={from}&to={to}&format=json"),
            "format",
        ),
        (
            format!("/api/power?from={from}&to={to}&from={from}"),
            "from",
        ),
    ] {
        let answer = world.get(&path, Some(&a.token)).await;
        assert_eq!(
            answer.error(StatusCode::BAD_REQUEST),
            "invalid_query",
            "{path}"
        );
        let message = answer.json()["error"]["message"].to_string();
        assert!(message.contains(named), "{path}: {message}");
    }
}
