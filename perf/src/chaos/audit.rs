//! The run's two views of the truth: the audit queue (a copy of every batch
//! the broker accepted, see [`super::ledger`]) and InfluxDB's points; and a
//! watch on the write queue's depth. All of them outlive broker restarts:
//! they reconnect.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use tokio_util::sync::CancellationToken;
use wattline_proto::{EXCHANGE, ROUTING_KEY_PREFIX};

use super::fleet::DATABASE;
use super::ledger::{Ledger, Points, SeriesKey};
use crate::amqp;

/// The audit queue: bound like the write queue, read only by the run.
pub const AUDIT_QUEUE: &str = "chaos.audit";
/// The write services' queue (their default `--queue`).
pub const WRITE_QUEUE: &str = "wattline.readings.write";
/// Where the write services dead-letter what they refuse.
pub const DEAD_LETTER_QUEUE: &str = "wattline.readings.dead";
/// Pause before reconnecting to a broker that went away.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// Declares the audit queue and binds it to the readings exchange (declared
/// by the write services, which must have started).
pub async fn declare_audit_queue(amqp_url: &str) -> Result<()> {
    let connection = amqp::connect(amqp_url, "audit setup").await?;
    let channel = amqp::channel(&connection).await?;
    channel
        .queue_declare(
            AUDIT_QUEUE.into(),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await
        .context("declare the audit queue")?;
    channel
        .queue_bind(
            AUDIT_QUEUE.into(),
            EXCHANGE.into(),
            format!("{ROUTING_KEY_PREFIX}#").into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .context("bind the audit queue")?;
    amqp::close_connection(&connection, "audit queue declared").await;
    Ok(())
}

/// Consumes the audit queue into `ledger` until `stop`, reconnecting after
/// broker restarts. Each message is recorded before it is acked, so a
/// reconnect can only deliver one twice (flagged as a redelivery).
pub async fn consume_audit_queue(
    amqp_url: String,
    ledger: Arc<Mutex<Ledger>>,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        if let Err(error) = consume_once(&amqp_url, &ledger, &stop).await {
            tracing::debug!(%error, "audit consumer reconnects");
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(RECONNECT_PAUSE) => {}
            }
        }
    }
}

async fn consume_once(
    amqp_url: &str,
    ledger: &Mutex<Ledger>,
    stop: &CancellationToken,
) -> Result<()> {
    let connection = amqp::connect(amqp_url, "audit consumer").await?;
    let channel = amqp::channel(&connection).await?;
    channel.basic_qos(1000, BasicQosOptions::default()).await?;
    let mut deliveries = channel
        .basic_consume(
            AUDIT_QUEUE.into(),
            "chaos-audit".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    loop {
        let delivery = tokio::select! {
            () = stop.cancelled() => {
                amqp::close_connection(&connection, "run over").await;
                return Ok(());
            }
            delivery = deliveries.next() => delivery,
        };
        let Some(delivery) = delivery else {
            bail!("the audit consumer was cancelled by the broker");
        };
        let delivery = delivery?;
        let device = delivery
            .routing_key
            .as_str()
            .strip_prefix(ROUTING_KEY_PREFIX)
            .unwrap_or_default()
            .to_owned();
        ledger
            .lock()
            .expect("ledger lock")
            .record(&device, &delivery.data, delivery.redelivered);
        delivery.ack(BasicAckOptions::default()).await?;
    }
}

/// Ready-message counts of the run's queues, over a connection that is
/// re-made after a broker restart; `None` while the broker is away.
pub struct QueueWatch {
    amqp_url: String,
    link: Option<(Connection, Channel)>,
}

impl std::fmt::Debug for QueueWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueWatch")
            .field("connected", &self.link.is_some())
            .finish()
    }
}

impl QueueWatch {
    pub fn new(amqp_url: &str) -> Self {
        Self {
            amqp_url: amqp_url.to_owned(),
            link: None,
        }
    }

    /// Ready messages in `queue`, or `None` if the broker does not answer.
    pub async fn ready(&mut self, queue: &str) -> Option<u32> {
        if self.link.is_none() {
            let connect = async {
                let connection = amqp::connect(&self.amqp_url, "queue watch").await?;
                let channel = amqp::channel(&connection).await?;
                anyhow::Ok((connection, channel))
            };
            self.link = tokio::time::timeout(Duration::from_secs(2), connect)
                .await
                .ok()
                .and_then(Result::ok);
        }
        let (_, channel) = self.link.as_ref()?;
        match amqp::ready_messages(channel, queue, Duration::from_secs(2)).await {
            Ok(ready) => Some(ready),
            Err(_) => {
                self.link = None;
                None
            }
        }
    }
}

/// How many readings InfluxDB holds, or `None` if it does not answer
/// within a couple of seconds (it may be frozen or restarting).
pub async fn stored_count(http: &reqwest::Client, influx_url: &str) -> Option<u64> {
    let response = http
        .post(format!("{influx_url}/query"))
        .form(&[("db", DATABASE), ("q", "SELECT count(watts) FROM power")])
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let body: serde_json::Value = response.json().await.ok()?;
    // No series yet: nothing stored.
    Some(
        body["results"][0]["series"][0]["values"][0][1]
            .as_u64()
            .unwrap_or(0),
    )
}

/// Every stored reading of the fleet's households, keyed like the ledger:
/// (device, socket) → time → watts. `households` pairs each household with
/// its device.
pub async fn stored_points(
    influx_url: &str,
    households: &[(String, String)],
) -> Result<HashMap<SeriesKey, Points>> {
    let http = reqwest::Client::new();
    let mut stored = HashMap::new();
    for (household, device) in households {
        // The ids are the run's own ([a-z0-9-]), so quoting them is enough.
        let query =
            format!("SELECT watts FROM power WHERE household = '{household}' GROUP BY socket");
        let body = http
            .post(format!("{influx_url}/query"))
            .form(&[
                ("db", DATABASE),
                ("q", query.as_str()),
                ("epoch", "ms"),
                ("chunked", "true"),
                ("chunk_size", "10000"),
            ])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("query {household}'s points"))?
            .text()
            .await?;
        // Chunked answers are one JSON document a line.
        for chunk in body.lines().filter(|line| !line.trim().is_empty()) {
            let chunk: serde_json::Value = serde_json::from_str(chunk)?;
            let result = &chunk["results"][0];
            if let Some(error) = result.get("error") {
                bail!("InfluxDB: {error}");
            }
            for series in result["series"].as_array().into_iter().flatten() {
                let socket = series["tags"]["socket"].as_str().unwrap_or_default();
                let points: &mut Points = stored
                    .entry((device.clone(), socket.to_owned()))
                    .or_default();
                for row in series["values"].as_array().into_iter().flatten() {
                    if let (Some(time), Some(watts)) = (row[0].as_i64(), row[1].as_f64()) {
                        points.insert(time, watts);
                    }
                }
            }
        }
    }
    Ok(stored)
}
