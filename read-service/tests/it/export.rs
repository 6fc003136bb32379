use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn export_streams_raw_readings_as_rfc_4180_csv_in_time_order() {
    let world = World::start(&[]).await;
    let a = world.household("a@example.com", "UTC", Value::Null).await;
    let h = a.household.as_str();
    let device = "d,\"1\"";
    let t0 = ms("2026-05-01T12:00:00Z");
    let lines = raw(h, device, "kitchen, left", t0 + 123, 85.5, 1000.25)
        + &raw(h, "d-2", "tv", t0 + 500, 20.0, 5.0)
        + &raw(h, device, "kitchen, left", t0 + 10_000, 0.0, 1000.5)
        // Outside the range.
        + &raw(h, "d-2", "tv", ms("2026-05-02T00:00:00Z"), 1.0, 1.0);
    world.write(None, &lines).await;

    let from = enc("2026-05-01T00:00:00Z");
    let to = enc("2026-05-02T00:00:00Z");
    let answer = world
        .get(
            &format!("/api/export.csv?from={from}&to={to}"),
            Some(&a.token),
        )
        .await;
    assert_eq!(answer.status, reqwest::StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        answer.header("content-disposition"),
        "attachment; filename=\"wattline-20260501-20260502.csv\""
    );
    assert_eq!(answer.header("cache-control"), "private, max-age=300");
    assert_eq!(
        answer.text,
        "time,device,socket,watts,energy_wh\r\n\
         2026-05-01T12:00:00.123Z,\"d,\"\"1\"\"\",\"kitchen, left\",85.5,1000.25\r\n\
         2026-05-01T12:00:00.500Z,d-2,tv,20,5\r\n\
         2026-05-01T12:00:10.000Z,\"d,\"\"1\"\"\",\"kitchen, left\",0,1000.5\r\n"
    );

    // One socket, with the odd ids as query values.
    let answer = world
        .get(
            &format!(
                "/api/export.csv?from={from}&to={to}&device={}&socket={}",
                enc(device),
                enc("kitchen, left")
            ),
            Some(&a.token),
        )
        .await;
    assert_eq!(answer.text.lines().count(), 3, "{}", answer.text);

    // More than 366 days is refused.
    let code = world
        .get(
            &format!(
                "/api/export.csv?from={}&to={to}",
                enc("2025-01-01T00:00:00Z")
            ),
            Some(&a.token),
        )
        .await
        .error(reqwest::StatusCode::BAD_REQUEST);
    assert_eq!(code, "invalid_range");
}
