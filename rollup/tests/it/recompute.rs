//! `Rollup::recompute` against the real InfluxDB: two sockets of 10 s
//! readings over three hours with a counter reset, a 75-minute gap and a
//! late write, checked field by field against values worked out by hand.

use serde_json::Value;
use wattline_rollup::Settings;

use crate::support::*;

const HOME: &str = "home 1,a=b";
const DEVICE: &str = "dev 1";
const OTHER_HOME: &str = "home-2";

/// The fridge's counter restarts at this reading (minute 70, second 20).
const RESET_AT: i64 = 6 * 70 + 2;
/// The TV is silent for minutes 30..105 (readings 180..630).
const GAP: std::ops::Range<i64> = 180..630;
/// The fridge's readings of minute 150 arrive late.
const LATE: std::ops::Range<i64> = 900..906;

/// Reading `n` (10 s apart from `t0`) of the fridge: 100..150 W through
/// each minute, counter +0.5 Wh a reading, back to 0.25 at `RESET_AT`.
fn fridge(t0: i64, n: i64) -> Raw {
    let energy = if n < RESET_AT {
        1000.0 + 0.5 * (n + 1) as f64
    } else {
        0.25 + 0.5 * (n - RESET_AT) as f64
    };
    Raw {
        household: HOME,
        device: DEVICE,
        socket: "fridge",
        time_ms: t0 + n * 10_000,
        watts: 100.0 + 10.0 * n.rem_euclid(6) as f64,
        energy_wh: Some(energy),
    }
}

/// Reading `n` of the TV: 50 and 70 W alternating, counter +0.2 Wh a
/// reading (and counting through the gap).
fn tv(t0: i64, n: i64) -> Raw {
    Raw {
        household: HOME,
        device: DEVICE,
        socket: "tv",
        time_ms: t0 + n * 10_000,
        watts: 50.0 + 20.0 * (n % 2) as f64,
        energy_wh: Some(500.0 + 0.2 * (n + 1) as f64),
    }
}

/// A lamp in another household, one reading a minute.
fn lamp(t0: i64, minute: i64) -> Raw {
    Raw {
        household: OTHER_HOME,
        device: "dev-2",
        socket: "lamp",
        time_ms: t0 + minute * MINUTE_MS,
        watts: 10.0,
        energy_wh: Some(minute as f64 / 6.0),
    }
}

/// Everything but the late readings: the fridge from 10 s before `t0`
/// (the previous reading), the TV from `t0`, 3 hours.
fn on_time(t0: i64) -> Vec<Raw> {
    let fridge = (-1..1080)
        .filter(|n| !LATE.contains(n))
        .map(|n| fridge(t0, n));
    let tv = (0..1080).filter(|n| !GAP.contains(n)).map(|n| tv(t0, n));
    fridge.chain(tv).collect()
}

fn late(t0: i64) -> Vec<Raw> {
    LATE.map(|n| fridge(t0, n)).collect()
}

const FIELDS: &str = "watts, watts_max, energy_wh, energy_total_wh, samples";

/// Expected socket bucket: (watts, watts_max, energy_wh, energy_total_wh, samples).
type Expected = (f64, f64, f64, f64, u64);

/// The fridge's minute `m`, all readings present.
fn fridge_minute(m: i64) -> Expected {
    let energy = if m == 70 {
        // Five counter steps and, across the reset, (110 + 120) / 2 W for 10 s.
        2.5 + 115.0 * 10.0 / 3600.0
    } else {
        3.0
    };
    let total = if m < 70 {
        1003.0 + 3.0 * m as f64
    } else {
        0.25 + 0.5 * (6 * m + 5 - RESET_AT) as f64
    };
    (125.0, 150.0, energy, total, 6)
}

/// The TV's minute `m` (outside the gap).
fn tv_minute(m: i64) -> Expected {
    let energy = match m {
        0 => 1.0,                       // no reading before t0: five steps
        105 => 0.2 * 451.0 + 5.0 * 0.2, // the whole gap, as counted, plus five steps
        _ => 1.2,
    };
    (60.0, 70.0, energy, 500.0 + 0.2 * (6 * m + 6) as f64, 6)
}

fn tv_has_minute(m: i64) -> bool {
    !(30..105).contains(&m)
}

#[track_caller]
fn check_socket(row: &serde_json::Map<String, Value>, want: Expected, what: &str) {
    assert_close(&row["watts"], want.0, &format!("{what} watts"));
    assert_close(&row["watts_max"], want.1, &format!("{what} watts_max"));
    assert_close(&row["energy_wh"], want.2, &format!("{what} energy_wh"));
    assert_close(
        &row["energy_total_wh"],
        want.3,
        &format!("{what} energy_total_wh"),
    );
    assert_eq!(row["samples"].as_u64(), Some(want.4), "{what} samples");
}

#[tokio::test]
async fn rollups_match_values_worked_out_by_hand() {
    let db = database().await;
    let t0 = base_time_ms();
    write_raw(&db, &on_time(t0)).await;
    let rollup = rollup(&db);

    // Before the late readings: minute 150 of the fridge is missing and
    // minute 151 holds the counter's increase over the hole.
    let stats = rollup
        .recompute(timestamp(t0), timestamp(t0 + 3 * HOUR_MS), None)
        .await
        .expect("recompute");
    assert_eq!(stats.readings, 1080 - 6 + 1080 - 450);
    let fridge_q =
        format!(r#"SELECT {FIELDS} FROM "rollup_1m"."power" WHERE socket = 'fridge' GROUP BY *"#);
    let minutes = rows_by_time(&db, &fridge_q).await;
    assert_eq!(minutes.len(), 179);
    assert!(!minutes.contains_key(&(t0 + 150 * MINUTE_MS)));
    // 3.5 Wh from the last reading of minute 149 to the first of 151, then five steps.
    assert_close(
        &minutes[&(t0 + 151 * MINUTE_MS)]["energy_wh"],
        6.0,
        "over the hole",
    );

    // The late readings arrive; the next recomputation takes them in.
    write_raw(&db, &late(t0)).await;
    let stats = rollup
        .recompute(timestamp(t0 + 10), timestamp(t0 + 3 * HOUR_MS - 10), None)
        .await
        .expect("recompute");
    assert_eq!((stats.from_ms, stats.to_ms), (t0, t0 + 3 * HOUR_MS));
    // Socket points: 180 + 105 minutes, 3 + 3 hours; household: 180 + 3.
    assert_eq!(stats.points_written, 180 + 105 + 6 + 183);

    let minutes = rows_by_time(&db, &fridge_q).await;
    assert_eq!(minutes.len(), 180);
    for m in 0..180 {
        let row = &minutes[&(t0 + m * MINUTE_MS)];
        check_socket(row, fridge_minute(m), &format!("fridge minute {m}"));
        assert_eq!(row["household"], HOME);
        assert_eq!(row["device"], DEVICE);
    }

    let tv_q = format!(r#"SELECT {FIELDS} FROM "rollup_1m"."power" WHERE socket = 'tv'"#);
    let minutes = rows_by_time(&db, &tv_q).await;
    assert_eq!(minutes.len(), 105);
    for m in (0..180).filter(|&m| tv_has_minute(m)) {
        check_socket(
            &minutes[&(t0 + m * MINUTE_MS)],
            tv_minute(m),
            &format!("tv minute {m}"),
        );
    }

    let hours = rows_by_time(
        &db,
        &format!(r#"SELECT {FIELDS} FROM "rollup_1h"."power" WHERE socket = 'fridge'"#),
    )
    .await;
    let fridge_hours: [Expected; 3] = [
        (125.0, 150.0, 180.0, 1180.0, 360),
        // 59 minutes of 3 Wh and minute 70 of 2.5 Wh + the reset estimate.
        (125.0, 150.0, 59.0 * 3.0 + 2.5 + 115.0 / 360.0, 148.75, 360),
        (125.0, 150.0, 180.0, 328.75, 360),
    ];
    assert_eq!(hours.len(), 3);
    for (h, want) in fridge_hours.into_iter().enumerate() {
        check_socket(
            &hours[&(t0 + h as i64 * HOUR_MS)],
            want,
            &format!("fridge hour {h}"),
        );
    }
    let hours = rows_by_time(
        &db,
        &format!(r#"SELECT {FIELDS} FROM "rollup_1h"."power" WHERE socket = 'tv'"#),
    )
    .await;
    let tv_hours: [Expected; 3] = [
        (60.0, 70.0, 1.0 + 29.0 * 1.2, 536.0, 180),
        (60.0, 70.0, 91.2 + 14.0 * 1.2, 644.0, 90),
        (60.0, 70.0, 72.0, 716.0, 360),
    ];
    for (h, want) in tv_hours.into_iter().enumerate() {
        check_socket(
            &hours[&(t0 + h as i64 * HOUR_MS)],
            want,
            &format!("tv hour {h}"),
        );
    }

    // The household: sum of socket means, sum of energy.
    let household = rows_by_time(
        &db,
        r#"SELECT watts, energy_wh FROM "rollup_1m"."household" GROUP BY household"#,
    )
    .await;
    assert_eq!(household.len(), 180);
    for m in 0..180 {
        let row = &household[&(t0 + m * MINUTE_MS)];
        let (mut watts, mut energy) = (125.0, fridge_minute(m).2);
        if tv_has_minute(m) {
            watts += 60.0;
            energy += tv_minute(m).2;
        }
        assert_eq!(row["household"], HOME);
        assert_close(&row["watts"], watts, &format!("household minute {m} watts"));
        assert_close(
            &row["energy_wh"],
            energy,
            &format!("household minute {m} energy"),
        );
    }
    let household = rows_by_time(
        &db,
        r#"SELECT watts, energy_wh FROM "rollup_1h"."household""#,
    )
    .await;
    assert_eq!(household.len(), 3);
    for h in 0..3 {
        let row = &household[&(t0 + h as i64 * HOUR_MS)];
        assert_close(&row["watts"], 185.0, &format!("household hour {h} watts"));
        let energy = fridge_hours[h].2 + tv_hours[h].2;
        assert_close(
            &row["energy_wh"],
            energy,
            &format!("household hour {h} energy"),
        );
    }
}

/// Every rollup point of the database, as InfluxDB returns them.
async fn everything(db: &testkit::InfluxDatabase) -> Vec<Value> {
    let mut all = Vec::new();
    for q in [
        r#"SELECT * FROM "rollup_1m"."power""#,
        r#"SELECT * FROM "rollup_1h"."power""#,
        r#"SELECT * FROM "rollup_1m"."household""#,
        r#"SELECT * FROM "rollup_1h"."household""#,
    ] {
        all.push(db.query(q).await.expect("query"));
    }
    all
}

#[tokio::test]
async fn recomputing_writes_identical_points_whatever_the_chunking() {
    let db = database().await;
    let t0 = base_time_ms();
    let mut raw = on_time(t0);
    raw.extend(late(t0));
    write_raw(&db, &raw).await;
    let (from, to) = (timestamp(t0), timestamp(t0 + 3 * HOUR_MS));

    let first_stats = rollup(&db).recompute(from, to, None).await.expect("first");
    let first = everything(&db).await;
    let second_stats = rollup(&db).recompute(from, to, None).await.expect("second");
    assert_eq!(first_stats, second_stats);
    assert_eq!(everything(&db).await, first);

    // One-hour chunks carry each socket's last reading across chunk edges,
    // tiny batches split writes, and tiny InfluxDB answer chunks split each
    // series: the points are the same.
    let mut settings = Settings::new(&db.url, &db.name);
    settings.chunk = std::time::Duration::from_secs(3600);
    settings.batch_points = 7;
    settings.query_chunk_rows = 13;
    let rollup = wattline_rollup::Rollup::new(settings).expect("rollup");
    let third = rollup.recompute(from, to, None).await.expect("third");
    assert_eq!(third.points_written, first_stats.points_written);
    assert_eq!(everything(&db).await, first);
}

#[tokio::test]
async fn a_household_filter_touches_only_that_household() {
    let db = database().await;
    let t0 = base_time_ms();
    let mut raw = on_time(t0);
    raw.extend((0..180).map(|m| lamp(t0, m)));
    write_raw(&db, &raw).await;

    let stats = rollup(&db)
        .recompute(timestamp(t0), timestamp(t0 + 3 * HOUR_MS), Some(OTHER_HOME))
        .await
        .expect("recompute");
    assert_eq!(stats.readings, 180);
    let households = db
        .rows(r#"SELECT count(watts) FROM "rollup_1m"."household" GROUP BY household"#)
        .await
        .expect("query");
    assert_eq!(households.len(), 1, "{households:?}");
    assert_eq!(households[0]["household"], OTHER_HOME);
    assert_eq!(households[0]["count"], 180);
    let sockets = db
        .rows(r#"SELECT count(watts) FROM "rollup_1h"."power" GROUP BY household, socket"#)
        .await
        .expect("query");
    assert_eq!(sockets.len(), 1, "{sockets:?}");
    assert_eq!(sockets[0]["socket"], "lamp");

    // A lamp minute: one reading, the counter's step from the minute before.
    let lamp = rows_by_time(&db, &format!(r#"SELECT {FIELDS} FROM "rollup_1m"."power""#)).await;
    check_socket(
        &lamp[&(t0 + 7 * MINUTE_MS)],
        (10.0, 10.0, 1.0 / 6.0, 7.0 / 6.0, 1),
        "lamp",
    );
    check_socket(&lamp[&t0], (10.0, 10.0, 0.0, 0.0, 1), "lamp's first");
}

#[tokio::test]
async fn an_empty_range_writes_nothing() {
    let db = database().await;
    let t0 = base_time_ms();
    let stats = rollup(&db)
        .recompute(timestamp(t0), timestamp(t0 + HOUR_MS), None)
        .await
        .expect("recompute");
    assert_eq!((stats.readings, stats.points_written), (0, 0));
    let stats = rollup(&db)
        .recompute(timestamp(t0), timestamp(t0), None)
        .await
        .expect("recompute");
    assert_eq!(stats.points_written, 0);
}
