//! How fast a backfill goes: `cargo test -p wattline-rollup --release --test it
//! -- --ignored --nocapture measure`. Sizes from ROLLUP_MEASURE_SOCKETS (30) and
//! ROLLUP_MEASURE_DAYS (30); readings every 10 s. Prints, never asserts, timings.

use std::time::{Duration, Instant};

use wattline_influx::{InfluxApi, InfluxWriter, LineProtocolBuilder, PowerPoint, WriterConfig};
use wattline_rollup::backfill::backfill;

use crate::support::*;

fn env_number(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test]
#[ignore = "a measurement: minutes of writing and reading"]
async fn measure_backfill() {
    let sockets = env_number("ROLLUP_MEASURE_SOCKETS", 30);
    let days = env_number("ROLLUP_MEASURE_DAYS", 30);
    let db = database().await;
    let writer = InfluxWriter::new(WriterConfig {
        url: db.url.clone(),
        api: InfluxApi::v1(db.name.clone()),
        gzip: false,
        timeout: Duration::from_secs(60),
    })
    .expect("writer");
    let t0 = base_time_ms() - (days - 1) * 86_400_000;
    let names: Vec<String> = (0..sockets).map(|s| format!("socket-{s}")).collect();
    let started = Instant::now();
    let mut written = 0u64;
    let mut lines = LineProtocolBuilder::with_capacity(1 << 20);
    for day in 0..days {
        for (s, socket) in names.iter().enumerate() {
            let household = if s % 10 < 5 { "home-a" } else { "home-b" };
            for i in 0..8640i64 {
                let n = day * 8640 + i;
                lines
                    .push(&PowerPoint {
                        household,
                        device: "dev",
                        socket,
                        timestamp_ms: t0 + n * 10_000,
                        watts: 50.0 + (n % 7) as f64 * 3.0 + s as f64,
                        energy_wh: Some(n as f64 * 0.15),
                        voltage_v: None,
                        current_a: None,
                    })
                    .expect("point");
                if lines.point_count() == 10_000 {
                    writer.write(lines.as_bytes()).await.expect("write");
                    written += 10_000;
                    lines.clear();
                }
            }
        }
    }
    written += lines.point_count() as u64;
    writer.write(lines.as_bytes()).await.expect("write");
    let write_time = started.elapsed();
    eprintln!(
        "measure: wrote {written} raw readings ({sockets} sockets x {days} days) in {:.1} s \
         ({:.0}/s)",
        write_time.as_secs_f64(),
        written as f64 / write_time.as_secs_f64()
    );

    let rollup = rollup(&db);
    let summary = backfill(
        &rollup,
        timestamp(t0),
        timestamp(t0 + days * 86_400_000),
        None,
        1,
        &mut std::io::sink(),
    )
    .await
    .expect("backfill");
    assert_eq!(summary.stats.readings, written);
    eprintln!(
        "measure: backfill of {} days: {} readings, {} rollup points in {:.1} s: {:.0} readings/s, \
         {:.0} points written/s",
        summary.days,
        summary.stats.readings,
        summary.stats.points_written,
        summary.elapsed.as_secs_f64(),
        summary.readings_per_second(),
        summary.stats.points_written as f64 / summary.elapsed.as_secs_f64()
    );

    // One `run` pass over this data: the last 2 h, widened to 3 hours.
    let end = t0 + days * 86_400_000;
    let started = Instant::now();
    let stats = rollup
        .recompute(timestamp(end - 2 * HOUR_MS - 1), timestamp(end), None)
        .await
        .expect("pass");
    eprintln!(
        "measure: one run pass (3 h, {} readings): {:.0} ms",
        stats.readings,
        started.elapsed().as_secs_f64() * 1000.0
    );

    // What the look-back for each socket's previous reading costs, by window.
    for window_days in [1, 7, 30] {
        let mut settings = wattline_rollup::Settings::new(&db.url, &db.name);
        settings.previous_window = Duration::from_secs(window_days * 86_400);
        let rollup = wattline_rollup::Rollup::new(settings).expect("rollup");
        let started = Instant::now();
        // An hour after the data: only the look-back reads anything.
        rollup
            .recompute(timestamp(end), timestamp(end + HOUR_MS), None)
            .await
            .expect("look-back");
        eprintln!(
            "measure: look-back of {window_days} day(s) for {sockets} sockets: {:.0} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
}
