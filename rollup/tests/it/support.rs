//! A fresh database with the rollup retention policies, raw readings
//! written as line protocol, and rollup rows read back by time.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};
use testkit::InfluxDatabase;
use wattline_influx::query::QueryClient;
use wattline_influx::{InfluxApi, InfluxWriter, LineProtocolBuilder, PowerPoint, WriterConfig};
use wattline_rollup::setup::{setup, Retention};
use wattline_rollup::{Rollup, Settings};

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;

/// A raw reading of one socket.
#[derive(Debug, Clone)]
pub struct Raw {
    pub household: &'static str,
    pub device: &'static str,
    pub socket: &'static str,
    pub time_ms: i64,
    pub watts: f64,
    pub energy_wh: Option<f64>,
}

/// A database of its own with `rollup setup` done.
pub async fn database() -> InfluxDatabase {
    testkit::init_crypto();
    let db = InfluxDatabase::create().await.expect("database");
    setup(&query_client(&db), Retention::Infinite)
        .await
        .expect("setup");
    db
}

pub fn query_client(db: &InfluxDatabase) -> QueryClient {
    testkit::init_crypto();
    QueryClient::builder(&db.url, &db.name)
        .build()
        .expect("client")
}

pub fn rollup(db: &InfluxDatabase) -> Rollup {
    testkit::init_crypto();
    Rollup::new(Settings::new(&db.url, &db.name)).expect("rollup")
}

/// Writes raw readings to the default retention policy, as write-service does.
pub async fn write_raw(db: &InfluxDatabase, readings: &[Raw]) {
    testkit::init_crypto();
    let writer = InfluxWriter::new(WriterConfig {
        url: db.url.clone(),
        api: InfluxApi::v1(db.name.clone()),
        gzip: false,
        timeout: Duration::from_secs(30),
    })
    .expect("writer");
    for batch in readings.chunks(5000) {
        let mut lines = LineProtocolBuilder::new();
        for r in batch {
            lines
                .push(&PowerPoint {
                    household: r.household,
                    device: r.device,
                    socket: r.socket,
                    timestamp_ms: r.time_ms,
                    watts: r.watts,
                    energy_wh: r.energy_wh,
                    voltage_v: None,
                    current_a: None,
                })
                .expect("valid point");
        }
        writer.write(lines.as_bytes()).await.expect("raw written");
    }
}

/// Rows of a rollup query keyed by their time (ms).
pub async fn rows_by_time(
    db: &InfluxDatabase,
    influxql: &str,
) -> BTreeMap<i64, Map<String, Value>> {
    db.rows(influxql)
        .await
        .expect("query")
        .into_iter()
        .map(|row| (row["time"].as_i64().expect("time"), row))
        .collect()
}

/// Asserts two floats agree to rounding.
#[track_caller]
pub fn assert_close(got: &Value, want: f64, what: &str) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {got} is no number"));
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{what}: got {got}, want {want}"
    );
}

/// Midnight UTC three days ago: recent enough for any retention, old
/// enough that `run` passes (last 2 h) never touch it.
pub fn base_time_ms() -> i64 {
    let now = jiff::Timestamp::now().as_millisecond();
    now - now.rem_euclid(86_400_000) - 3 * 86_400_000
}

pub fn timestamp(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).expect("timestamp")
}
