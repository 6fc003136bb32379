//! The `rollup` binary: --help, backfill, run with /healthz and SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::support::*;

fn rollup_command(db: &testkit::InfluxDatabase) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollup"));
    command
        .env("INFLUX_URL", &db.url)
        .env("INFLUX_DB", &db.name)
        .env("RUST_LOG", "info")
        .kill_on_drop(true);
    command
}

#[tokio::test]
async fn help_describes_every_subcommand() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rollup"))
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for word in ["setup", "run", "backfill", "--influx-url", "INFLUX_DB"] {
        assert!(help.contains(word), "{word} missing from:\n{help}");
    }
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rollup"))
        .args(["backfill", "--help"])
        .output()
        .expect("run backfill --help");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("--from") && help.contains("--household"),
        "{help}"
    );
}

#[tokio::test]
async fn setup_then_backfill_writes_the_rollups() {
    let db = testkit::InfluxDatabase::create().await.expect("database");
    let t0 = base_time_ms();
    // Two days, one socket, one reading a minute, counter +1 Wh a reading.
    let raw: Vec<Raw> = (0..2 * 1440)
        .map(|m| Raw {
            household: "h",
            device: "d",
            socket: "s",
            time_ms: t0 + m * MINUTE_MS,
            watts: 60.0,
            energy_wh: Some(m as f64),
        })
        .collect();
    write_raw(&db, &raw).await;

    let setup = rollup_command(&db)
        .arg("setup")
        .output()
        .await
        .expect("setup");
    assert!(setup.status.success(), "{setup:?}");
    let output = rollup_command(&db)
        .args(["backfill", "--from", &timestamp(t0).to_string()])
        .args(["--to", &timestamp(t0 + 2 * 86_400_000).to_string()])
        .output()
        .await
        .expect("backfill");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("backfill 2/2"), "{stderr}");
    assert!(stdout.contains("2880 readings"), "{stdout}");

    let hours = rows_by_time(&db, r#"SELECT energy_wh, samples FROM "rollup_1h"."power""#).await;
    assert_eq!(hours.len(), 48);
    // The first hour misses the step into its first reading; every other
    // hour has 60 steps, the one at midnight carried across the day chunks.
    assert_close(&hours[&t0]["energy_wh"], 59.0, "first hour");
    assert_close(
        &hours[&(t0 + 24 * HOUR_MS)]["energy_wh"],
        60.0,
        "second day",
    );
    assert_eq!(hours[&(t0 + 24 * HOUR_MS)]["samples"], 60);
}

#[tokio::test]
async fn run_serves_healthz_and_stops_on_sigterm() {
    let db = database().await;
    write_recent_reading(&db, None).await;
    let (mut child, base) = spawn_run(&db);
    let client = reqwest::Client::new();
    testkit::eventually(Duration::from_secs(20), "a successful pass", || async {
        let text = metrics(&client, &base).await?;
        Ok(
            testkit::metric(&text, "wattline_rollup_passes_total{outcome=\"ok\"}")
                .filter(|&passes| passes >= 1.0),
        )
    })
    .await
    .expect("passes");
    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    let points = db
        .rows(r#"SELECT count(watts) FROM "rollup_1m"."household""#)
        .await
        .expect("query");
    assert_eq!(points[0]["count"], 1);

    assert_stops_on_sigterm(&mut child).await;
}

#[tokio::test]
async fn run_without_setup_reports_failing_passes() {
    // A database without the rollup retention policies.
    let db = testkit::InfluxDatabase::create().await.expect("database");
    write_recent_reading(&db, Some(1.0)).await;
    let (mut child, base) = spawn_run(&db);
    let client = reqwest::Client::new();
    let url = format!("{base}/healthz");
    let body = testkit::eventually(Duration::from_secs(20), "an unhealthy answer", || async {
        let response = client.get(&url).send().await?;
        Ok((response.status() == 503).then_some(()))
    })
    .await;
    body.expect("503 after a failed pass");
    let text = metrics(&client, &base).await.expect("metrics");
    let failed = testkit::metric(&text, "wattline_rollup_passes_total{outcome=\"error\"}");
    assert!(failed.is_some_and(|n| n >= 1.0), "{text}");
    assert_stops_on_sigterm(&mut child).await;
}

/// One reading of socket h/d/s a minute ago: inside the last 2 h that
/// `run` passes recompute.
async fn write_recent_reading(db: &testkit::InfluxDatabase, energy_wh: Option<f64>) {
    let now = jiff::Timestamp::now().as_millisecond();
    write_raw(
        db,
        &[Raw {
            household: "h",
            device: "d",
            socket: "s",
            time_ms: now - 60_000,
            watts: 5.0,
            energy_wh,
        }],
    )
    .await;
}

/// `rollup run` with a pass every 200 ms, serving on a free port: the
/// process and its base URL.
fn spawn_run(db: &testkit::InfluxDatabase) -> (Child, String) {
    let port = testkit::free_port().expect("free port");
    let child = rollup_command(db)
        .args([
            "run",
            "--every",
            "200ms",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn run");
    (child, format!("http://127.0.0.1:{port}"))
}

/// The text of `{base}/metrics`.
async fn metrics(client: &reqwest::Client, base: &str) -> reqwest::Result<String> {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await
}

/// SIGTERM, then a clean exit within 10 s.
async fn assert_stops_on_sigterm(child: &mut Child) {
    testkit::sigterm(child);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("wait");
    assert!(status.success(), "{status:?}");
}
