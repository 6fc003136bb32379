//! How fast the write service drains a backlog into the local InfluxDB.
//!
//! Publishes MESSAGES (default 20 000) messages of 30 readings (SOCKETS × READINGS
//! from the environment, default 3 sockets × 10 readings; 30 × 1 is a
//! household's minute batch) into a fresh vhost, then starts the service in-process and times the
//! drain until every point is written and acked; prints points/s and the
//! process's CPU time during the drain (from /proc/self/stat). Bounded and
//! loopback only; the vhost and database are deleted afterwards.
//!
//! ```text
//! cargo run --release -p write-service --example throughput [-- MESSAGES]
//! SOCKETS=30 READINGS=1 cargo run --release -p write-service --example throughput
//! ```

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;
use wattline_proto::{Batch, Reading, SocketSeries};
use write_service::telemetry::{self, names};
use write_service::topology::{self, EXCHANGE};
use write_service::{Config, WriteService};

/// A number from the environment, or `default`.
fn env_or(name: &str, default: usize) -> Result<usize> {
    std::env::var(name).map_or(Ok(default), |v| {
        v.parse()
            .with_context(|| format!("{name} must be a number"))
    })
}
/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

/// User + system CPU time of this process (Linux, 100 ticks a second).
fn cpu_time() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let after = stat.rsplit_once(')').context("stat format")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(Duration::from_millis(ticks * 10))
}

fn points_written() -> f64 {
    let text = telemetry::prometheus().render();
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(names::POINTS_WRITTEN)?.strip_prefix(' '));
    value.and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let messages: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().context("MESSAGES must be a number")?,
        None => 20_000,
    };
    let (sockets, readings) = (env_or("SOCKETS", 3)?, env_or("READINGS", 10)?);
    testkit::init_crypto();
    let vhost = testkit::RabbitVhost::create().await?;
    let db = testkit::InfluxDatabase::create().await?;

    let mut config = Config::new(&vhost.amqp_url);
    config.influx_url = db.url.clone();
    config.influx_db = db.name.clone();
    config.listen = "127.0.0.1:0".parse()?;
    config.households = vec!["bench=bench-home".parse().map_err(anyhow::Error::msg)?];

    // Backlog first, so the measurement covers the service alone.
    let connection = Connection::connect(&vhost.amqp_url, ConnectionProperties::default()).await?;
    topology::declare(&connection, &config.queue, config.queue_type).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let start_ms = wattline_proto::now_ms() - 86_400_000;
    let published = Instant::now();
    for m in 0..messages {
        let batch = Batch {
            device_id: "bench".into(),
            sequence: m as u64,
            sockets: (0..sockets)
                .map(|s| SocketSeries {
                    socket_id: format!("socket-{s:02}"),
                    readings: (0..readings)
                        .map(|r| {
                            let ts = start_ms + (m * readings + r) as i64 * 10;
                            let mut reading = Reading::new(ts, 40.0 + (r % 7) as f64 * 3.1);
                            reading.energy_wh = Some(10_000.0 + (m * readings + r) as f64 * 0.011);
                            reading
                        })
                        .collect(),
                })
                .collect(),
        };
        channel
            .basic_publish(
                EXCHANGE.into(),
                "readings.bench".into(),
                BasicPublishOptions::default(),
                &batch.encode(),
                BasicProperties::default().with_delivery_mode(PERSISTENT),
            )
            .await?;
        if m % 1000 == 999 {
            channel.wait_for_confirms().await?;
        }
    }
    channel.wait_for_confirms().await?;
    connection.close(200, "published".into()).await?;
    let total_points = (messages * sockets * readings) as f64;
    println!(
        "published {messages} messages ({total_points} points) in {:.1} s",
        published.elapsed().as_secs_f64()
    );

    println!(
        "service: prefetch {}, batch {} points / {} ms, {} writes in flight, gzip {:?}",
        config.prefetch,
        config.batch_points,
        config.batch_age_ms,
        config.max_inflight_writes,
        config.influx_gzip
    );
    let before_points = points_written();
    let service = WriteService::bind(config).await?;
    let shutdown = CancellationToken::new();
    let cpu_before = cpu_time()?;
    let started = Instant::now();
    let task = tokio::spawn(service.run(shutdown.clone()));
    while points_written() - before_points < total_points {
        if started.elapsed() > Duration::from_secs(600) {
            bail!("not drained after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time()? - cpu_before;
    shutdown.cancel();
    task.await??;

    let stored = db.count_points("power").await?;
    println!(
        "drained {total_points} points in {:.2} s: {:.0} points/s, {:.0} messages/s",
        elapsed.as_secs_f64(),
        total_points / elapsed.as_secs_f64(),
        messages as f64 / elapsed.as_secs_f64()
    );
    println!(
        "service CPU time {:.2} s ({:.0}% of one core, {:.2} µs/point); InfluxDB holds {stored} points",
        cpu.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / elapsed.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / total_points
    );
    if stored as f64 != total_points {
        bail!("InfluxDB holds {stored} points, expected {total_points}");
    }
    Ok(())
}
