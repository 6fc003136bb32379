use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn an_hour_of_one_socket_comes_from_raw_readings_every_10_s() {
    let world = World::start(&[]).await;
    let a = world.household("a@example.com", "UTC", Value::Null).await;
    let h = a.household.as_str();
    let t0 = ms("2026-03-01T10:00:00Z");
    let mut lines = String::new();
    for k in 0..360 {
        // One reading per 10 s step, watts = k; a second reading at +5 s in
        // even steps, watts = k + 10: mean k + 5, max k + 10.
        lines += &raw(h, "d-1", "s-1", t0 + k * 10_000, k as f64, 0.0);
        if k % 2 == 0 {
            lines += &raw(
                h,
                "d-1",
                "s-1",
                t0 + k * 10_000 + 5_000,
                (k + 10) as f64,
                0.0,
            );
        }
        // Another socket at a constant 50 W, for the total.
        lines += &raw(h, "d-1", "s-2", t0 + k * 10_000 + 1_000, 50.0, 0.0);
    }
    world.write(None, &lines).await;

    let query = format!(
        "/api/power?from={}&to={}&device=d-1&socket=s-1",
        enc("2026-03-01T11:00:00+01:00"),
        enc("2026-03-01T11:00:00Z")
    );
    let body = world.get(&query, Some(&a.token)).await.ok();
    assert_eq!(body["resolution"], "raw");
    assert_eq!(body["step_s"], 10);
    assert_eq!(body["from"], "2026-03-01T10:00:00Z");
    let t = body["t"].as_array().unwrap();
    assert_eq!(t.len(), 360);
    assert_eq!(t[1], t0 / 1000 + 10);
    close(&body["watts"][0], 5.0);
    close(&body["watts_max"][0], 10.0);
    close(&body["watts"][7], 7.0);
    close(&body["watts_max"][7], 7.0);
    close(&body["watts"][358], 363.0);

    // The household total: the sum of the sockets' means per step.
    let total = format!(
        "/api/power?from={}&to={}",
        enc("2026-03-01T10:00:00Z"),
        enc("2026-03-01T11:00:00Z")
    );
    let body = world.get(&total, Some(&a.token)).await.ok();
    close(&body["watts"][0], 55.0);
    close(&body["watts"][7], 57.0);
    assert_eq!(body["watts_max"][0], Value::Null);

    // Compressed for clients that accept it.
    let response = world
        .http
        .get(format!("{}{total}", world.base))
        .bearer_auth(&a.token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-encoding")
            .map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
}

#[tokio::test]
async fn a_day_reads_minute_rollups_and_a_year_hour_rollups() {
    let world = World::start(&[]).await;
    let a = world.household("a@example.com", "UTC", Value::Null).await;
    let h = a.household.as_str();
    let day = ms("2026-02-01T00:00:00Z");
    let mut minutes = String::new();
    for m in 0..1440 {
        let t = day + m * 60_000;
        minutes += &socket_rollup(h, "d-1", "s-1", t, m as f64, (m + 10) as f64, 1.0, m as f64);
        minutes += &household_rollup(h, t, 1000.0 + m as f64, 1.0);
    }
    world.write(Some("rollup_1m"), &minutes).await;
    let mut hours = String::new();
    for hour in 0..72 {
        let t = day + hour * 3_600_000;
        hours += &socket_rollup(h, "d-1", "s-1", t, hour as f64, (hour * 2) as f64, 1.0, 0.0);
        hours += &household_rollup(h, t, 100.0 + hour as f64, 1.0);
    }
    world.write(Some("rollup_1h"), &hours).await;

    // A day: 1-minute rollups, 2-minute steps (720 points).
    let query = format!(
        "/api/power?from={}&to={}&device=d-1&socket=s-1",
        enc("2026-02-01T00:00:00Z"),
        enc("2026-02-02T00:00:00Z")
    );
    let body = world.get(&query, Some(&a.token)).await.ok();
    assert_eq!(
        (body["resolution"].as_str(), body["step_s"].as_i64()),
        (Some("1m"), Some(120))
    );
    assert_eq!(body["t"].as_array().unwrap().len(), 720);
    // Step i holds minutes 2i and 2i+1.
    close(&body["watts"][0], 0.5);
    close(&body["watts_max"][0], 11.0);
    close(&body["watts"][100], 200.5);
    close(&body["watts_max"][100], 211.0);
    let total = format!(
        "/api/power?from={}&to={}",
        enc("2026-02-01T00:00:00Z"),
        enc("2026-02-02T00:00:00Z")
    );
    let body = world.get(&total, Some(&a.token)).await.ok();
    close(&body["watts"][3], 1006.5);
    close(&body["watts_max"][3], 1007.0);

    // A year: hourly rollups, 12-hour steps.
    let query = format!(
        "/api/power?from={}&to={}&device=d-1&socket=s-1",
        enc("2026-01-01T00:00:00Z"),
        enc("2027-01-01T00:00:00Z")
    );
    let answer = world.get(&query, Some(&a.token)).await;
    let body = answer.ok();
    assert_eq!(
        (body["resolution"].as_str(), body["step_s"].as_i64()),
        (Some("1h"), Some(43_200))
    );
    assert_eq!(body["t"].as_array().unwrap().len(), 730);
    // February 1st is day 31: steps 62..67 hold the 72 hours.
    assert_eq!(body["watts"][61], Value::Null);
    close(&body["watts"][62], 5.5);
    close(&body["watts_max"][62], 22.0);
    close(&body["watts"][67], 65.5);
    assert_eq!(body["watts"][68], Value::Null);
    // Settled data may be cached; the year isn't over.
    assert_eq!(answer.header("cache-control"), "private, no-cache");
    let past = format!(
        "/api/power?from={}&to={}",
        enc("2026-02-01T00:00:00Z"),
        enc("2026-02-04T00:00:00Z")
    );
    let answer = world.get(&past, Some(&a.token)).await;
    assert_eq!(answer.header("cache-control"), "private, max-age=300");
    // 3 days: minute rollups; none but the first day's exist here.
    assert_eq!(answer.ok()["resolution"], "1m");
}
