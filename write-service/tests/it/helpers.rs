//! Shared set-up: a write service run in-process against a fresh vhost and
//! database, a publisher and dead-letter reading.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use lapin::options::{BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::AMQPValue;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::Value;
use testkit::{InfluxDatabase, RabbitVhost};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
pub use wattline_proto::now_ms;
use wattline_proto::{Batch, Reading, SocketSeries};
use write_service::topology::{DEAD_LETTER_QUEUE, EXCHANGE};
use write_service::{Config, RunError, WriteService};

/// Waits for conditions that become true eventually (never for timing).
pub const PATIENCE: Duration = Duration::from_secs(15);

/// The queue the service consumes (its default `--queue`).
pub const WRITE_QUEUE: &str = "wattline.readings.write";

/// A fresh vhost and database.
pub struct Env {
    pub vhost: RabbitVhost,
    pub db: InfluxDatabase,
}

impl Env {
    pub async fn new() -> Result<Self> {
        Self::with_influx(&testkit::influx_url()).await
    }

    /// A fresh vhost, and a database on the InfluxDB at `influx_url` (a
    /// private one a test may stop) instead of the shared one.
    pub async fn with_influx(influx_url: &str) -> Result<Self> {
        testkit::init_crypto();
        Ok(Self {
            vhost: RabbitVhost::create().await?,
            db: InfluxDatabase::create_on(influx_url).await?,
        })
    }

    /// Defaults, HTTP on port 0, small batches so tests exercise several.
    pub fn config(&self) -> Config {
        let mut config = Config::new(&self.vhost.amqp_url);
        config.influx_url = self.db.url.clone();
        config.influx_db = self.db.name.clone();
        config.listen = "127.0.0.1:0".parse().expect("address");
        config.batch_points = 500;
        config.batch_age_ms = 50;
        config.shutdown_grace = Duration::from_secs(5);
        config
    }

    /// Messages in a queue of this vhost (ready + unacked), per the
    /// management API (whose counters lag by a few seconds).
    pub async fn queue_counts(&self, queue: &str) -> Result<(u64, u64)> {
        let info = self.vhost.queue_info(queue).await?;
        let ready = info["messages_ready"].as_u64().unwrap_or(0);
        let unacked = info["messages_unacknowledged"].as_u64().unwrap_or(0);
        Ok((ready, unacked))
    }

    /// Waits until the management API shows `queue` with no message at all.
    pub async fn wait_queue_empty(&self, queue: &str) -> Result<()> {
        testkit::eventually(
            Duration::from_secs(20),
            &format!("{queue} empty"),
            || async {
                let info = self.vhost.queue_info(queue).await?;
                Ok((info["messages"].as_u64() == Some(0)
                    && info["messages_unacknowledged"].as_u64() == Some(0))
                .then_some(()))
            },
        )
        .await
    }

    /// Waits until InfluxDB holds exactly `expected` points.
    pub async fn wait_points(&self, expected: u64) -> Result<()> {
        self.wait_points_within(expected, PATIENCE).await
    }

    /// [`Env::wait_points`] with a timeout of its own.
    pub async fn wait_points_within(&self, expected: u64, timeout: Duration) -> Result<()> {
        testkit::eventually(timeout, &format!("{expected} points"), || async {
            Ok((self.db.count_points("power").await? == expected).then_some(()))
        })
        .await
    }
}

/// The service running in-process.
pub struct Running {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    task: JoinHandle<Result<(), RunError>>,
}

impl Running {
    pub async fn start(config: Config) -> Result<Self> {
        let service = WriteService::bind(config).await?;
        let addr = service.local_addr();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(service.run(shutdown.clone()));
        let running = Self {
            addr,
            shutdown,
            task,
        };
        testkit::eventually(PATIENCE, "healthz 200", || async {
            Ok((running.healthz().await?.0 == 200).then_some(()))
        })
        .await?;
        Ok(running)
    }

    pub async fn healthz(&self) -> Result<(u16, Value)> {
        let response = reqwest::get(format!("http://{}/healthz", self.addr)).await?;
        let status = response.status().as_u16();
        Ok((status, serde_json::from_str(&response.text().await?)?))
    }

    pub async fn metrics(&self) -> Result<String> {
        Ok(reqwest::get(format!("http://{}/metrics", self.addr))
            .await?
            .text()
            .await?)
    }

    /// A counter from `/metrics` (`name` or `name{label="value"}`, see
    /// [`testkit::metric`]), 0 while the service has not exported it.
    pub async fn counter(&self, name: &str) -> Result<f64> {
        Ok(testkit::metric(&self.metrics().await?, name).unwrap_or(0.0))
    }

    /// Waits until counter `name` exceeds `floor` (counters count whole
    /// events: above `n` means at least `n + 1`), and returns its value.
    pub async fn wait_counter_above(&self, name: &str, floor: f64) -> Result<f64> {
        testkit::eventually(PATIENCE, &format!("{name} above {floor}"), || async {
            let value = self.counter(name).await?;
            Ok((value > floor).then_some(value))
        })
        .await
    }

    /// Cancels and waits for a clean exit.
    pub async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        self.task.await.context("service task")??;
        Ok(())
    }
}

/// Publishes to `wattline.readings` as the agents do (persistent, confirmed).
pub struct Publisher {
    _connection: Connection,
    channel: Channel,
}

impl Publisher {
    pub async fn connect(amqp_url: &str) -> Result<Self> {
        let connection = Connection::connect(amqp_url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Self {
            _connection: connection,
            channel,
        })
    }

    pub async fn publish(&self, routing_key: &str, body: &[u8]) -> Result<()> {
        let confirmation = self
            .channel
            .basic_publish(
                EXCHANGE.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await?
            .await?;
        if !confirmation.is_ack() || confirmation.take_message().is_some() {
            return Err(anyhow!(
                "publish to {routing_key} not confirmed or unroutable"
            ));
        }
        Ok(())
    }

    /// The channel, for reading queues in tests.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }
}

/// A dead letter as found in `wattline.readings.dead`.
#[derive(Debug, Clone)]
pub struct Dead {
    pub body: Vec<u8>,
    pub headers: BTreeMap<String, String>,
}

impl Dead {
    pub fn reason(&self) -> &str {
        self.headers
            .get("x-wattline-reason")
            .map_or("", String::as_str)
    }
}

/// Takes every message now in the dead-letter queue.
pub async fn take_dead_letters(publisher: &Publisher) -> Result<Vec<Dead>> {
    let mut dead = Vec::new();
    while let Some(message) = publisher
        .channel()
        .basic_get(DEAD_LETTER_QUEUE.into(), BasicGetOptions { no_ack: true })
        .await?
    {
        let mut headers = BTreeMap::new();
        if let Some(table) = message.delivery.properties.headers() {
            for (key, value) in table.inner() {
                if let AMQPValue::LongString(s) = value {
                    headers.insert(
                        key.to_string(),
                        String::from_utf8_lossy(s.as_bytes()).into_owned(),
                    );
                }
            }
        }
        dead.push(Dead {
            body: message.delivery.data,
            headers,
        });
    }
    Ok(dead)
}

/// Waits until the dead-letter queue has delivered `count` messages in total.
pub async fn wait_dead_letters(publisher: &Publisher, count: usize) -> Result<Vec<Dead>> {
    let all = std::cell::RefCell::new(Vec::new());
    testkit::eventually(PATIENCE, &format!("{count} dead letters"), || async {
        let taken = take_dead_letters(publisher).await?;
        let mut all = all.borrow_mut();
        all.extend(taken);
        Ok((all.len() >= count).then_some(()))
    })
    .await
    .with_context(|| format!("{} of {count} dead letters arrived", all.borrow().len()))?;
    Ok(all.into_inner())
}

/// A batch of `sockets` sockets × `readings` readings, `step_ms` apart from
/// `start_ms`, with watts `socket_index * 100 + reading_index + 0.5`.
pub fn batch(
    device: &str,
    sockets: &[&str],
    readings: usize,
    start_ms: i64,
    step_ms: i64,
) -> Batch {
    Batch {
        device_id: device.into(),
        sequence: 1,
        sockets: sockets
            .iter()
            .enumerate()
            .map(|(s, socket)| SocketSeries {
                socket_id: (*socket).into(),
                readings: (0..readings)
                    .map(|r| {
                        let mut reading =
                            Reading::new(start_ms + r as i64 * step_ms, (s * 100 + r) as f64 + 0.5);
                        reading.energy_wh = Some(1000.0 + r as f64);
                        reading
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Points per series in the database: `(device, household, socket) → count`.
pub async fn counts_per_series(
    db: &InfluxDatabase,
) -> Result<BTreeMap<(String, String, String), u64>> {
    let rows = db
        .rows("SELECT count(watts) FROM power GROUP BY device, household, socket")
        .await?;
    let mut counts = BTreeMap::new();
    for row in rows {
        let text = |k: &str| {
            row.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let count = row.get("count").and_then(Value::as_u64).unwrap_or(0);
        counts.insert((text("device"), text("household"), text("socket")), count);
    }
    Ok(counts)
}
