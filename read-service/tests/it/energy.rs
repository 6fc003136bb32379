//! Energy in Europe/Berlin across both 2026 DST changes, priced with
//! 0.30 €/kWh, 0.35 €/kWh from 07:00 to 23:00 local, 0.25 € a day.

use serde_json::Value;

use crate::support::*;

const HOUR: i64 = 3_600_000;

/// Hourly rollups from local 2026-03-28 00:00 (+01:00) to 2026-03-31 00:00
/// (+02:00): 100 Wh an hour, except 500 Wh in the first hour of the 29th
/// and 700 Wh in the first hour of the 30th, split 60/40 between two
/// sockets; plus 100 Wh an hour for the 25-hour 2026-10-25.
async fn write_hours(world: &World, h: &str) {
    let mut lines = String::new();
    let mut hour = |t: i64, wh: f64| {
        lines += &household_rollup(h, t, wh, wh);
        lines += &socket_rollup(h, "d-1", "fridge", t, 0.0, 0.0, wh * 0.6, 0.0);
        lines += &socket_rollup(h, "d-1", "tv", t, 0.0, 0.0, wh * 0.4, 0.0);
    };
    let start = ms("2026-03-28T00:00:00+01:00");
    let end = ms("2026-03-31T00:00:00+02:00");
    let mut t = start;
    while t < end {
        let wh = if t == ms("2026-03-29T00:00:00+01:00") {
            500.0
        } else if t == ms("2026-03-30T00:00:00+02:00") {
            700.0
        } else {
            100.0
        };
        hour(t, wh);
        t += HOUR;
    }
    let mut t = ms("2026-10-25T00:00:00+02:00");
    while t < ms("2026-10-26T00:00:00+01:00") {
        hour(t, 100.0);
        t += HOUR;
    }
    world.write(Some("rollup_1h"), &lines).await;
}

fn energy_query(from: &str, to: &str, bucket: &str) -> String {
    format!(
        "/api/energy?from={}&to={}&bucket={bucket}",
        enc(from),
        enc(to)
    )
}

#[tokio::test]
async fn days_across_dst_sum_23_and_25_hours_and_price_them_locally() {
    let world = World::start(&[]).await;
    let a = world
        .household("a@example.com", "Europe/Berlin", tariff())
        .await;
    write_hours(&world, &a.household).await;

    // From midday on the 28th: snapped down to its midnight.
    let answer = world
        .get(
            &energy_query(
                "2026-03-28T12:00:00+01:00",
                "2026-03-31T00:00:00+02:00",
                "day",
            ),
            Some(&a.token),
        )
        .await;
    let body = answer.ok();
    assert_eq!(answer.header("cache-control"), "private, max-age=300");
    assert_eq!(body["time_zone"], "Europe/Berlin");
    assert_eq!(body["currency"], "EUR");
    assert_eq!(body["bucket"], "day");
    let buckets = body["buckets"].as_array().unwrap();
    let bounds: Vec<(&str, &str)> = buckets
        .iter()
        .map(|b| (b["start"].as_str().unwrap(), b["end"].as_str().unwrap()))
        .collect();
    assert_eq!(
        bounds,
        [
            ("2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00"),
            ("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"),
            ("2026-03-30T00:00:00+02:00", "2026-03-31T00:00:00+02:00"),
        ]
    );
    // 28th: 24 × 0.1 kWh; 8 hours at 0.30, 16 at 0.35.
    close(&buckets[0]["energy_kwh"], 2.4);
    close(&buckets[0]["energy_cost"], 0.8);
    close(&buckets[0]["fixed_cost"], 0.25);
    close(&buckets[0]["cost"], 1.05);
    // 29th: 23 hours; 0.5 kWh at 00:00, then 01, 03-06 (5 h) and 23 at 0.30,
    // 07-22 (16 h) at 0.35.
    close(&buckets[1]["energy_kwh"], 2.7);
    close(&buckets[1]["energy_cost"], 0.15 + 0.15 + 0.56 + 0.03);
    close(&buckets[1]["cost"], 0.89 + 0.25);
    // 30th: 0.7 kWh at 00:00, 01-06 and 23 at 0.30, 07-22 at 0.35.
    close(&buckets[2]["energy_kwh"], 3.0);
    close(&buckets[2]["energy_cost"], 0.21 + 0.18 + 0.56 + 0.03);
    close(&body["total_kwh"], 8.1);
    close(&body["total_cost"], 1.05 + 1.14 + 1.23);
    let by_socket = body["by_socket"].as_array().unwrap();
    assert_eq!(by_socket.len(), 2);
    assert_eq!(
        (
            by_socket[0]["device"].as_str(),
            by_socket[0]["socket"].as_str()
        ),
        (Some("d-1"), Some("fridge"))
    );
    close(&by_socket[0]["energy_kwh"], 8.1 * 0.6);
    close(&by_socket[0]["cost"], (0.8 + 0.89 + 0.98) * 0.6);
    close(&by_socket[1]["energy_kwh"], 8.1 * 0.4);

    // The 25-hour day.
    let body = world
        .get(
            &energy_query(
                "2026-10-25T00:00:00+02:00",
                "2026-10-26T00:00:00+01:00",
                "day",
            ),
            Some(&a.token),
        )
        .await
        .ok();
    let day = &body["buckets"][0];
    assert_eq!(body["buckets"].as_array().unwrap().len(), 1);
    assert_eq!(day["end"], "2026-10-26T00:00:00+01:00");
    close(&day["energy_kwh"], 2.5);
    // 00, 01, 02 (twice), 03-06 and 23 at 0.30 (9 h), 07-22 at 0.35 (16 h).
    close(&day["energy_cost"], 0.27 + 0.56);
    close(&day["cost"], 0.83 + 0.25);

    // One socket only.
    let body = world
        .get(
            &format!(
                "{}&device=d-1&socket=fridge",
                energy_query(
                    "2026-03-29T00:00:00+01:00",
                    "2026-03-30T00:00:00+02:00",
                    "day"
                )
            ),
            Some(&a.token),
        )
        .await
        .ok();
    close(&body["buckets"][0]["energy_kwh"], 2.7 * 0.6);
    close(&body["total_kwh"], 2.7 * 0.6);
    assert_eq!(body["by_socket"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn weeks_start_monday_and_months_pay_a_daily_charge_per_day() {
    let world = World::start(&[]).await;
    let a = world
        .household("a@example.com", "Europe/Berlin", tariff())
        .await;
    write_hours(&world, &a.household).await;

    // Sunday the 29th lies in the week from Monday the 23rd.
    let body = world
        .get(
            &energy_query(
                "2026-03-29T00:00:00+01:00",
                "2026-03-31T00:00:00+02:00",
                "week",
            ),
            Some(&a.token),
        )
        .await
        .ok();
    let weeks = body["buckets"].as_array().unwrap();
    assert_eq!(weeks.len(), 2);
    assert_eq!(weeks[0]["start"], "2026-03-23T00:00:00+01:00");
    assert_eq!(weeks[0]["end"], "2026-03-30T00:00:00+02:00");
    assert_eq!(weeks[1]["end"], "2026-04-06T00:00:00+02:00");
    close(&weeks[0]["energy_kwh"], 2.4 + 2.7);
    close(&weeks[0]["energy_cost"], 0.8 + 0.89);
    close(&weeks[0]["fixed_cost"], 7.0 * 0.25);
    close(&weeks[1]["energy_kwh"], 3.0);
    close(&weeks[1]["cost"], 0.98 + 1.75);

    let body = world
        .get(
            &energy_query("2026-03-15T00:00:00Z", "2026-04-02T00:00:00Z", "month"),
            Some(&a.token),
        )
        .await
        .ok();
    let months = body["buckets"].as_array().unwrap();
    assert_eq!(months.len(), 2);
    assert_eq!(months[0]["start"], "2026-03-01T00:00:00+01:00");
    assert_eq!(months[0]["end"], "2026-04-01T00:00:00+02:00");
    close(&months[0]["energy_kwh"], 8.1);
    close(&months[0]["fixed_cost"], 31.0 * 0.25);
    close(&months[0]["cost"], 0.8 + 0.89 + 0.98 + 7.75);
    close(&months[1]["energy_kwh"], 0.0);
    close(&months[1]["fixed_cost"], 30.0 * 0.25);
}

#[tokio::test]
async fn hours_read_minute_rollups_whose_increases_already_cover_a_counter_reset() {
    let world = World::start(&[]).await;
    let a = world
        .household("a@example.com", "Europe/Berlin", tariff())
        .await;
    let h = a.household.as_str();
    // Local 01:00 (+02:00) to 03:00 (+01:00) on 2026-10-25: three hours,
    // the second and third both "02:00". 1 Wh a minute, 2 Wh a minute in
    // the repeated hour. The counter resets to 0 at minute 30 of the first
    // hour: energy_total_wh drops, the increases (what is summed) don't.
    let start = ms("2026-10-25T01:00:00+02:00");
    let mut lines = String::new();
    let mut counter = 5000.0;
    for m in 0..180 {
        let t = start + m * 60_000;
        let wh = if (120..180).contains(&m) { 2.0 } else { 1.0 };
        counter = if m == 30 { wh } else { counter + wh };
        lines += &household_rollup(h, t, 60.0, wh);
        lines += &socket_rollup(h, "d-1", "fridge", t, 60.0, 60.0, wh, counter);
    }
    world.write(Some("rollup_1m"), &lines).await;

    let body = world
        .get(
            &energy_query(
                "2026-10-25T01:00:00+02:00",
                "2026-10-25T03:00:00+01:00",
                "hour",
            ),
            Some(&a.token),
        )
        .await
        .ok();
    let hours = body["buckets"].as_array().unwrap();
    let starts: Vec<&str> = hours.iter().map(|b| b["start"].as_str().unwrap()).collect();
    assert_eq!(
        starts,
        [
            "2026-10-25T01:00:00+02:00",
            "2026-10-25T02:00:00+02:00",
            "2026-10-25T02:00:00+01:00"
        ]
    );
    close(&hours[0]["energy_kwh"], 0.06);
    close(&hours[1]["energy_kwh"], 0.06);
    close(&hours[2]["energy_kwh"], 0.12);
    // Night rate, no daily charge for hours.
    close(&hours[2]["energy_cost"], 0.12 * 0.30);
    close(&hours[2]["fixed_cost"], 0.0);
    close(&body["total_kwh"], 0.24);
    close(&body["by_socket"][0]["energy_kwh"], 0.24);
}

#[tokio::test]
async fn without_a_tariff_costs_are_null_and_bad_buckets_are_refused() {
    let world = World::start(&[]).await;
    let a = world.household("a@example.com", "UTC", Value::Null).await;
    let h = a.household.as_str();
    world
        .write(
            Some("rollup_1h"),
            &(household_rollup(h, ms("2026-01-05T10:00:00Z"), 0.0, 1500.0)
                + &socket_rollup(
                    h,
                    "d",
                    "s",
                    ms("2026-01-05T10:00:00Z"),
                    0.0,
                    0.0,
                    1500.0,
                    0.0,
                )),
        )
        .await;
    let body = world
        .get(
            &energy_query("2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z", "day"),
            Some(&a.token),
        )
        .await
        .ok();
    assert_eq!(body["time_zone"], "UTC");
    assert_eq!(body["currency"], Value::Null);
    close(&body["buckets"][0]["energy_kwh"], 1.5);
    assert_eq!(body["buckets"][0]["cost"], Value::Null);
    assert_eq!(body["total_cost"], Value::Null);
    assert_eq!(body["by_socket"][0]["cost"], Value::Null);

    let code = world
        .get(
            &energy_query("2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z", "fortnight"),
            Some(&a.token),
        )
        .await
        .error(reqwest::StatusCode::BAD_REQUEST);
    assert_eq!(code, "invalid_bucket");
}
