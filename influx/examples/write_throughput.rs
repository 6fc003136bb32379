//! End-to-end write throughput into a real InfluxDB: builds 5,000-point bodies and writes them
//! with 2 concurrent writers, gzip off then on, into a temporary database it drops afterwards.
//!
//! `cargo run --release -p wattline-influx --example write_throughput -- [URL] [POINTS]`
//! (defaults: http://127.0.0.1:8086, 2,000,000 points per run).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use wattline_influx::{
    InfluxApi, InfluxWriter, LineProtocolBuilder, PowerPoint, WriteOutcome, WriterConfig,
};

const BODY_POINTS: usize = 5_000;
const SOCKETS: usize = 300;
const WRITERS: usize = 2;

/// Writes `bodies` bodies (indices `first..`, stepping by WRITERS) and returns points written.
async fn writer_task(writer: InfluxWriter, first: usize, bodies: usize, run: i64) -> Result<u64> {
    let ids: Vec<(String, String, String)> = (0..SOCKETS)
        .map(|i| {
            (
                format!("hh-{:06}", i / 10),
                format!("pi-{:06}", i / 4),
                format!("socket-{}", i % 4),
            )
        })
        .collect();
    let mut builder = LineProtocolBuilder::with_capacity(BODY_POINTS * 128);
    let mut written = 0;
    for body in (first..bodies).step_by(WRITERS) {
        builder.clear();
        for n in 0..BODY_POINTS {
            let global = body * BODY_POINTS + n;
            let (household, device, socket) = &ids[global % SOCKETS];
            builder.push(&PowerPoint {
                household,
                device,
                socket,
                // One reading per socket per second; `run` keeps the two runs' points apart.
                timestamp_ms: 1_795_000_000_000
                    + run * 86_400_000
                    + (global / SOCKETS) as i64 * 1_000,
                watts: 40.0 + (global % 97) as f64 * 1.37,
                energy_wh: Some(123_456.047 + global as f64 * 0.011),
                voltage_v: Some(229.8),
                current_a: None,
            })?;
        }
        match writer.write(builder.as_bytes()).await? {
            WriteOutcome::Written => written += builder.point_count() as u64,
            other => bail!("unexpected outcome {other:?}"),
        }
    }
    Ok(written)
}

#[tokio::main]
async fn main() -> Result<()> {
    testkit::init_crypto();
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8086".into());
    let points: usize = match args.next() {
        Some(p) => p.parse().context("POINTS must be a number")?,
        None => 2_000_000,
    };
    let bodies = points.div_ceil(BODY_POINTS);
    // Dropped (with its points) when `db` goes, error or not.
    let db = testkit::InfluxDatabase::create_on(&url).await?;
    for (run, gzip) in [false, true].into_iter().enumerate() {
        let writer = InfluxWriter::new(WriterConfig {
            url: url.clone(),
            api: InfluxApi::v1(db.name.clone()),
            gzip,
            timeout: Duration::from_secs(60),
        })?;
        let started = Instant::now();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(writer_task(writer.clone(), w, bodies, run as i64)))
            .collect();
        let mut written = 0;
        for task in tasks {
            written += task.await??;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "gzip={gzip:<5} {written} points in {secs:.2} s = {:.0} points/s ({WRITERS} writers, {BODY_POINTS}-point bodies)",
            written as f64 / secs
        );
    }
    Ok(())
}
