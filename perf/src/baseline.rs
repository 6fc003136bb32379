//! The two baselines a pipeline run is compared against, fed the same data.
//!
//! The pipeline (agents → RabbitMQ → write service → InfluxDB) can never be
//! faster than its slowest part on its own. Measuring each part alone, on
//! the same machine and with the same data, says where the pipeline stands:
//! close to the slower baseline means Wattline's own code costs little;
//! well below it means the code is the bottleneck.
//!
//! - [`influx_alone`]: **InfluxDB alone.** The same points the pipeline
//!   would write (the workload's batches, with the write service's
//!   measurement, tags and fields, built with the same
//!   [`LineProtocolBuilder::push_series`]), cut into bodies of the same
//!   batch size and POSTed uncompressed by the same [`InfluxWriter`] with
//!   `writers` requests in flight. Every body is built before the clock
//!   starts, so the number is what InfluxDB accepts from an efficient
//!   client, not what we spend building line protocol. The readings are
//!   stamped about an hour in the past: valid, and never colliding with a
//!   pipeline run's "now" points.
//! - [`broker_alone`]: **RabbitMQ alone.** The same `wattline.v1` messages
//!   through the same kind of queue (durable topic exchange, durable classic
//!   queue bound with `readings.#`), published persistent and `mandatory`
//!   with publisher confirms as the agents do (several channels, each with
//!   up to 1000 unconfirmed), consumed on a connection of its own with
//!   manual acks and a bounded prefetch as the write service does (one
//!   `multiple` ack per ~100 deliveries), and nothing done with them.
//!   Messages are encoded before the clock starts; the clock runs from the
//!   first publish until the consumer has acked the last message, so it
//!   covers the broker's whole round trip, confirms and acks included.
//!
//! Both numbers depend on the workload's shape as the pipeline's do
//! (InfluxDB's cost grows with fields a point and series, the broker's with
//! messages, hardly with their size), which is why they take the run's
//! [`Workload`] rather than data of their own.
//!
//! Every wait on the broker is bounded (see [`crate::amqp`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use bytes::Bytes;
use futures_util::{FutureExt as _, StreamExt as _};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, Consumer, ExchangeKind};
use tokio::task::JoinSet;
use wattline_influx::{
    InfluxApi, InfluxWriter, LineProtocolBuilder, SeriesTags, WriteOutcome, WriterConfig,
};

use crate::amqp::{
    bounded, channel, close_channel, close_connection, confirmed, connect, OP_TIMEOUT, PERSISTENT,
};
use crate::workload::Workload;

/// How far in the past the InfluxDB baseline's readings end: old enough never to meet a
/// pipeline run's points, recent enough for any retention policy worth measuring.
const INFLUX_AGE_MS: i64 = 3_600_000;
/// Per-request limit of an InfluxDB write (connect + send + answer).
const INFLUX_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Binding of the baseline queue: every device's readings, as the write queue's.
const BINDING_KEY: &str = "readings.#";
/// Unconfirmed publishes one publisher keeps in flight before it waits for the oldest.
const MAX_UNCONFIRMED: usize = 1000;
/// A consumer acks (multiple) at least this often, as the write service acks a written batch.
const ACK_EVERY: u64 = 100;
/// ... and acks what it holds once no delivery has come for this long, as the write service
/// flushes a part batch after its batch age. Not at once when its buffer is momentarily
/// empty: with the consumer keeping up, that would ack every few messages (measured: 20
/// times as many acks and 10-20 % fewer messages a second), which the write service never
/// does.
const ACK_IDLE: Duration = Duration::from_millis(10);
/// One publisher confirm.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);
/// The consumer waiting for its next delivery while messages are still due.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// InfluxDB alone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InfluxBaseline {
    /// Points written (every one answered 2xx).
    pub points: u64,
    /// From the first request to the last 2xx answer.
    pub elapsed_s: f64,
    /// `points / elapsed_s`.
    pub points_per_s: f64,
    /// Points (lines) per request body.
    pub batch_points: usize,
    /// Requests in flight at once.
    pub writers: usize,
}

/// RabbitMQ alone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BrokerBaseline {
    /// Messages published, confirmed, delivered and acked.
    pub messages: u64,
    /// From the first publish to the consumer's ack of the last message.
    pub elapsed_s: f64,
    /// `messages / elapsed_s`.
    pub msgs_per_s: f64,
    /// Mean encoded (`wattline.v1`) size of a message.
    pub bytes_per_message: f64,
}

/// Writes `points` of the workload's points into `database` on the InfluxDB at `influx_url`
/// in bodies of `batch_points` lines, `writers` requests at a time, gzip off, and times it
/// from the first request to the last 2xx. Any other answer is an error carrying InfluxDB's
/// text. The caller owns `database` (the points stay there).
///
/// Every body is held in memory before the clock starts: about 140 bytes a point.
#[tracing::instrument(skip(workload), fields(run = %workload.run_id))]
pub async fn influx_alone(
    influx_url: &str,
    database: &str,
    workload: &Workload,
    points: u64,
    batch_points: usize,
    writers: usize,
) -> Result<InfluxBaseline> {
    check_workload(workload)?;
    ensure!(points > 0, "the InfluxDB baseline needs at least one point");
    ensure!(batch_points > 0, "batch_points must be at least 1");
    ensure!(writers > 0, "writers must be at least 1");

    let first_ms = old_start_ms(wattline_proto::now_ms(), workload, points);
    let bodies = Arc::new(influx_bodies(workload, points, batch_points, first_ms)?);
    tracing::info!(bodies = bodies.len(), "InfluxDB baseline: bodies built");
    let writer = InfluxWriter::new(WriterConfig {
        url: influx_url.to_owned(),
        api: InfluxApi::v1(database),
        gzip: false,
        timeout: INFLUX_REQUEST_TIMEOUT,
    })
    .context("InfluxDB writer")?;
    // Outside the clock: a clear error for an InfluxDB that is not there.
    writer
        .ping()
        .await
        .with_context(|| format!("InfluxDB at {influx_url}"))?;

    // Writers take the next unsent body, so a slow answer does not leave one idle.
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..writers {
        let (writer, bodies, next) = (writer.clone(), Arc::clone(&bodies), Arc::clone(&next));
        tasks.spawn(async move {
            let mut last_answer = None;
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(index) else {
                    return Ok::<_, anyhow::Error>(last_answer);
                };
                let failed = |why: String| {
                    anyhow!("InfluxDB baseline: body {index} of {}: {why}", bodies.len())
                };
                match writer.write_encoded(body).await {
                    Ok(WriteOutcome::Written) => last_answer = Some(Instant::now()),
                    // A 400 InfluxDB calls a partial write is not a 2xx: some points are missing.
                    Ok(WriteOutcome::PartiallyDropped { message, .. }) => {
                        return Err(failed(format!("points dropped: {message}")))
                    }
                    Err(error) => return Err(failed(error.to_string())),
                }
            }
        });
    }
    let mut finished = started;
    while let Some(joined) = tasks.join_next().await {
        // Returning early drops the set, which aborts the other writers.
        if let Some(at) = joined.context("InfluxDB baseline writer")?? {
            finished = finished.max(at);
        }
    }
    let elapsed_s = (finished - started).as_secs_f64();
    let baseline = InfluxBaseline {
        points,
        elapsed_s,
        points_per_s: rate(points, elapsed_s),
        batch_points,
        writers,
    };
    tracing::info!(?baseline, "InfluxDB baseline done");
    Ok(baseline)
}

/// The exchange and queue the broker baseline uses: `perf.baseline.<run_id>`.
pub fn broker_baseline_name(workload: &Workload) -> String {
    format!("perf.baseline.{}", workload.run_id)
}

/// Sends `messages` of the workload's batches through RabbitMQ on the vhost of `amqp_url`
/// and back out, doing nothing with them: `publishers` channels with confirms publish, one
/// consumer with manual acks and `prefetch` drains (see the module docs). The exchange and
/// queue ([`broker_baseline_name`]) are deleted afterwards, also after an error when the
/// broker still answers.
#[tracing::instrument(skip(amqp_url, workload), fields(run = %workload.run_id))]
pub async fn broker_alone(
    amqp_url: &str,
    workload: &Workload,
    messages: u64,
    publishers: usize,
    prefetch: u16,
) -> Result<BrokerBaseline> {
    check_workload(workload)?;
    ensure!(
        messages > 0,
        "the broker baseline needs at least one message"
    );
    ensure!(publishers > 0, "publishers must be at least 1");
    ensure!(prefetch > 0, "prefetch must be at least 1");
    let name = broker_baseline_name(workload);
    let name = ShortString::try_new(name.as_str())
        .map_err(|_| anyhow!("{name:?} is too long for an AMQP name"))?;

    let encoded = Arc::new(encode_messages(workload, messages)?);
    let bytes_per_message = encoded.mean_bytes();

    let connection = connect(amqp_url, "publishers").await?;
    let run = async {
        declare(&connection, &name).await?;
        pass_through(amqp_url, &connection, &name, encoded, publishers, prefetch).await
    };
    let result = run.await;
    let cleanup = delete_topology(amqp_url, &connection, &name).await;
    close_connection(&connection, "baseline done").await;
    let elapsed_s = match (result, cleanup) {
        (Ok(elapsed_s), Ok(0)) => elapsed_s,
        (Ok(_), Ok(left)) => bail!(
            "broker baseline: queue {name} still held {left} messages after the consumer \
             acked all {messages}"
        ),
        (Ok(_), Err(error)) => return Err(error),
        (Err(error), cleanup) => {
            if let Err(cleanup) = cleanup {
                tracing::warn!(
                    error = format!("{cleanup:#}"),
                    "broker baseline: cleanup failed"
                );
            }
            return Err(error);
        }
    };
    let baseline = BrokerBaseline {
        messages,
        elapsed_s,
        msgs_per_s: rate(messages, elapsed_s),
        bytes_per_message,
    };
    tracing::info!(?baseline, "broker baseline done");
    Ok(baseline)
}

/// Refuses a workload that has no readings to send.
fn check_workload(workload: &Workload) -> Result<()> {
    ensure!(
        !workload.is_empty(),
        "the workload must have at least one household, socket and reading per socket"
    );
    Ok(())
}

/// Batch `index` in the order both baselines send them: households round-robin, so batch
/// `index` is household `index % H`'s batch number `index / H`, stamped from
/// `first_ms + n × R` (consecutive batches of a series never overlap).
fn nth_batch(workload: &Workload, index: u64, first_ms: i64) -> (u32, wattline_proto::Batch) {
    let households = u64::from(workload.households);
    let household = u32::try_from(index % households).unwrap_or(0);
    let n = index / households;
    let offset = i64::try_from(n * u64::from(workload.readings_per_socket)).unwrap_or(i64::MAX);
    (
        household,
        workload.batch(household, n, first_ms.saturating_add(offset)),
    )
}

/// Where the InfluxDB baseline's first batches start: [`INFLUX_AGE_MS`] before `now_ms`,
/// and earlier still by however long `points` readings span, so the last one is an hour
/// old too (never in the future, which the write service would refuse).
fn old_start_ms(now_ms: i64, workload: &Workload, points: u64) -> i64 {
    let per_message = u64::from(workload.readings_per_message()).max(1);
    let batches = points.div_ceil(per_message);
    let per_household = batches.div_ceil(u64::from(workload.households).max(1));
    let span = per_household.saturating_mul(u64::from(workload.readings_per_socket));
    now_ms - INFLUX_AGE_MS - i64::try_from(span).unwrap_or(i64::MAX / 2)
}

/// The InfluxDB baseline's request bodies: the first `points` points of the workload's
/// batches (see [`nth_batch`]), tagged as the write service tags them, in bodies of
/// `batch_points` lines (the last one may be shorter). A series is split across bodies
/// where a body fills up, as the write service's batcher would.
fn influx_bodies(
    workload: &Workload,
    points: u64,
    batch_points: usize,
    first_ms: i64,
) -> Result<Vec<Bytes>> {
    let mut bodies = Vec::new();
    let mut builder = LineProtocolBuilder::with_capacity(batch_points.saturating_mul(160));
    let mut remaining = points;
    let mut index = 0;
    while remaining > 0 {
        let (household, batch) = nth_batch(workload, index, first_ms);
        index += 1;
        let household_id = workload.household_id(household);
        for series in &batch.sockets {
            let tags = SeriesTags {
                household: &household_id,
                device: &batch.device_id,
                socket: &series.socket_id,
            };
            let take = usize::try_from(remaining)
                .unwrap_or(usize::MAX)
                .min(series.readings.len());
            let mut readings = &series.readings[..take];
            while !readings.is_empty() {
                let room = batch_points - builder.point_count();
                let (now, later) = readings.split_at(room.min(readings.len()));
                builder
                    .push_series(tags, now)
                    .with_context(|| format!("workload series {tags:?}"))?;
                readings = later;
                if builder.point_count() == batch_points {
                    bodies.push(Bytes::copy_from_slice(builder.as_bytes()));
                    builder.clear();
                }
            }
            remaining -= take as u64;
            if remaining == 0 {
                break;
            }
        }
    }
    if !builder.is_empty() {
        bodies.push(Bytes::copy_from_slice(builder.as_bytes()));
    }
    Ok(bodies)
}

/// The broker baseline's messages, encoded before the clock starts.
#[derive(Debug)]
struct Encoded {
    /// `readings.<device id>` of each household.
    routing_keys: Vec<ShortString>,
    /// (household, `wattline.v1` payload), in publishing order.
    messages: Vec<(u32, Vec<u8>)>,
}

impl Encoded {
    fn mean_bytes(&self) -> f64 {
        let total: usize = self.messages.iter().map(|(_, payload)| payload.len()).sum();
        total as f64 / self.messages.len().max(1) as f64
    }

    fn total_bytes(&self) -> u64 {
        self.messages.iter().map(|(_, p)| p.len() as u64).sum()
    }
}

/// The first `messages` batches (see [`nth_batch`]), stamped from now as the agents would.
fn encode_messages(workload: &Workload, messages: u64) -> Result<Encoded> {
    let routing_keys = (0..workload.households)
        .map(|h| {
            let key = format!("readings.{}", workload.device_id(h));
            ShortString::try_new(key.as_str())
                .map_err(|_| anyhow!("routing key {key:?} is longer than 255 bytes"))
        })
        .collect::<Result<_>>()?;
    let first_ms = wattline_proto::now_ms();
    let messages = (0..messages)
        .map(|index| {
            let (household, batch) = nth_batch(workload, index, first_ms);
            (household, batch.encode())
        })
        .collect();
    Ok(Encoded {
        routing_keys,
        messages,
    })
}

/// The durable topic exchange and durable classic queue `name`, bound with `readings.#`.
/// A queue left with messages by an earlier run of the same id is purged.
async fn declare(connection: &Connection, name: &ShortString) -> Result<()> {
    let channel = channel(connection).await?;
    bounded(
        &format!("declaring exchange {name}"),
        OP_TIMEOUT,
        channel.exchange_declare(
            name.clone(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        ),
    )
    .await?;
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("classic")),
    );
    let queue = bounded(
        &format!("declaring queue {name}"),
        OP_TIMEOUT,
        channel.queue_declare(name.clone(), QueueDeclareOptions::durable(), arguments),
    )
    .await?;
    if queue.message_count() > 0 {
        // Only a run with the same id that could not clean up leaves them; they would
        // be counted as ours.
        tracing::warn!(
            queue = %name,
            messages = queue.message_count(),
            "broker baseline: purging messages an earlier run left"
        );
        bounded(
            &format!("purging queue {name}"),
            OP_TIMEOUT,
            channel.queue_purge(name.clone(), QueuePurgeOptions::default()),
        )
        .await?;
    }
    bounded(
        &format!("binding queue {name}"),
        OP_TIMEOUT,
        channel.queue_bind(
            name.clone(),
            name.clone(),
            BINDING_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await?;
    close_channel(&channel, "declared").await;
    Ok(())
}

/// Deletes the queue and exchange `name`, on `connection` or, should that one be broken,
/// on a new one. Returns the messages the queue still held.
async fn delete_topology(
    amqp_url: &str,
    connection: &Connection,
    name: &ShortString,
) -> Result<u32> {
    match delete_on(connection, name).await {
        Ok(left) => Ok(left),
        Err(first) => {
            tracing::debug!(
                error = format!("{first:#}"),
                "retrying cleanup on a new connection"
            );
            let fresh = connect(amqp_url, "cleanup").await.context(first)?;
            let left = delete_on(&fresh, name).await;
            close_connection(&fresh, "cleaned up").await;
            left
        }
    }
}

async fn delete_on(connection: &Connection, name: &ShortString) -> Result<u32> {
    let channel = channel(connection).await?;
    let left = bounded(
        &format!("deleting queue {name}"),
        OP_TIMEOUT,
        channel.queue_delete(name.clone(), QueueDeleteOptions::default()),
    )
    .await?;
    bounded(
        &format!("deleting exchange {name}"),
        OP_TIMEOUT,
        channel.exchange_delete(name.clone(), ExchangeDeleteOptions::default()),
    )
    .await?;
    close_channel(&channel, "deleted").await;
    Ok(left)
}

/// The timed part of the broker baseline. Publishers share `connection` (one channel
/// each, as agents would share a broker node); the consumer has a connection of its own,
/// as the write service does. Returns the seconds from the first publish to the last ack.
async fn pass_through(
    amqp_url: &str,
    connection: &Connection,
    name: &ShortString,
    encoded: Arc<Encoded>,
    publishers: usize,
    prefetch: u16,
) -> Result<f64> {
    let expected = encoded.messages.len() as u64;
    let expected_bytes = encoded.total_bytes();

    // Everything is connected, consuming and in confirm mode before the clock starts.
    let consumer_connection = connect(amqp_url, "consumer").await?;
    let consumer_channel = channel(&consumer_connection).await?;
    bounded(
        "basic.qos",
        OP_TIMEOUT,
        consumer_channel.basic_qos(prefetch, BasicQosOptions::default()),
    )
    .await?;
    let consumer = bounded(
        &format!("consuming {name}"),
        OP_TIMEOUT,
        consumer_channel.basic_consume(
            name.clone(),
            "perf-baseline".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ),
    )
    .await?;
    let mut channels = Vec::with_capacity(publishers);
    for _ in 0..publishers {
        let channel = channel(connection).await?;
        bounded(
            "confirm.select",
            OP_TIMEOUT,
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        channels.push(channel);
    }

    // Dropping a set aborts its tasks: an early return stops everything.
    let mut consuming = JoinSet::new();
    let mut publishing = JoinSet::new();
    let ack_every = ack_every(prefetch);
    consuming.spawn(consume_all(
        consumer_channel.clone(),
        consumer,
        expected,
        ack_every,
    ));
    let started = Instant::now();
    for (first, channel) in channels.into_iter().enumerate() {
        publishing.spawn(publish_share(
            channel,
            name.clone(),
            Arc::clone(&encoded),
            first,
            publishers,
        ));
    }
    while let Some(joined) = publishing.join_next().await {
        joined.context("broker baseline publisher")??;
    }
    let consumed = consuming
        .join_next()
        .await
        .context("the consumer task is gone")?
        .context("broker baseline consumer")??;
    let elapsed_s = (consumed.last_ack - started).as_secs_f64();
    tracing::debug!(acks = consumed.acks, ack_every, "broker baseline consumed");
    ensure!(
        consumed.bytes == expected_bytes,
        "the consumer received {} bytes, {expected_bytes} were published",
        consumed.bytes
    );

    // Closing the consumer's channel after its acks makes the broker settle them first.
    close_channel(&consumer_channel, "consumed").await;
    close_connection(&consumer_connection, "consumed").await;
    Ok(elapsed_s)
}

/// Publishes messages `first`, `first + step`, … of `encoded` on `channel`, persistent and
/// mandatory, keeping up to [`MAX_UNCONFIRMED`] unconfirmed; returns once all are confirmed.
async fn publish_share(
    channel: Channel,
    exchange: ShortString,
    encoded: Arc<Encoded>,
    first: usize,
    step: usize,
) -> Result<()> {
    let mut in_flight = VecDeque::with_capacity(MAX_UNCONFIRMED);
    for (household, payload) in encoded.messages.iter().skip(first).step_by(step) {
        if in_flight.len() >= MAX_UNCONFIRMED {
            if let Some(oldest) = in_flight.pop_front() {
                confirmed(oldest, CONFIRM_TIMEOUT).await?;
            }
        }
        let routing_key = encoded
            .routing_keys
            .get(*household as usize)
            .context("household without a routing key")?;
        let confirm = bounded(
            "basic.publish",
            OP_TIMEOUT,
            channel.basic_publish(
                exchange.clone(),
                routing_key.clone(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                payload,
                BasicProperties::default().with_delivery_mode(PERSISTENT),
            ),
        )
        .await?;
        in_flight.push_back(confirm);
    }
    while let Some(oldest) = in_flight.pop_front() {
        confirmed(oldest, CONFIRM_TIMEOUT).await?;
    }
    close_channel(&channel, "published").await;
    Ok(())
}

/// What the consumer saw.
#[derive(Debug)]
struct Consumed {
    /// When the ack of the last message was sent.
    last_ack: Instant,
    /// Payload bytes received.
    bytes: u64,
    /// `basic.ack`s sent.
    acks: u64,
}

/// How many deliveries the consumer lets pile up before acking them: [`ACK_EVERY`], but
/// never more than half the prefetch, so the broker always has room to keep delivering.
fn ack_every(prefetch: u16) -> u64 {
    ACK_EVERY.min(u64::from(prefetch / 2)).max(1)
}

/// Takes `expected` deliveries, acking them with `multiple: true` every `ack_every` of them
/// and whenever none has come for [`ACK_IDLE`] (as the write service acks what it has
/// written), and the last one at once.
async fn consume_all(
    channel: Channel,
    mut consumer: Consumer,
    expected: u64,
    ack_every: u64,
) -> Result<Consumed> {
    let mut received = 0;
    let mut bytes = 0;
    let mut acks = 0;
    let mut unacked = 0;
    let mut last_tag = 0;
    let ack = |tag| {
        bounded(
            "basic.ack",
            OP_TIMEOUT,
            channel.basic_ack(tag, BasicAckOptions { multiple: true }),
        )
    };
    while received < expected {
        // Most deliveries are already buffered: take them without arming a timer.
        let ready = match consumer.next().now_or_never() {
            Some(next) => Some(next),
            None => tokio::time::timeout(ACK_IDLE, consumer.next()).await.ok(),
        };
        let next = match ready {
            Some(next) => next,
            None => {
                // Quiet for a moment: settle what we hold before waiting on.
                if unacked > 0 {
                    ack(last_tag).await?;
                    (unacked, acks) = (0, acks + 1);
                }
                match tokio::time::timeout(DELIVERY_TIMEOUT, consumer.next()).await {
                    Ok(next) => next,
                    Err(_) => bail!(
                        "no delivery within {DELIVERY_TIMEOUT:?} after {received} of {expected} \
                         messages"
                    ),
                }
            }
        };
        let delivery = next
            .context("the consumer was cancelled (queue deleted?)")?
            .context("consuming")?;
        received += 1;
        bytes += delivery.data.len() as u64;
        last_tag = delivery.delivery_tag;
        unacked += 1;
        if unacked >= ack_every {
            ack(last_tag).await?;
            (unacked, acks) = (0, acks + 1);
        }
    }
    if unacked > 0 {
        ack(last_tag).await?;
        acks += 1;
    }
    Ok(Consumed {
        last_ack: Instant::now(),
        bytes,
        acks,
    })
}

/// `count / seconds`, 0 for a zero duration (nothing measurable).
fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of every body, as (series key, timestamp).
    fn lines(bodies: &[Bytes]) -> Vec<(String, i64)> {
        bodies
            .iter()
            .flat_map(|body| std::str::from_utf8(body).unwrap().lines())
            .map(|line| {
                let (key, rest) = line.split_once(' ').unwrap();
                let timestamp = rest.rsplit_once(' ').unwrap().1.parse().unwrap();
                (key.to_owned(), timestamp)
            })
            .collect()
    }

    #[test]
    fn bodies_hold_exactly_the_points_asked_for_in_full_bodies() {
        // 2 households × 3 sockets × 10 readings: 60 points a batch; 1000 points end
        // inside a batch and inside a series, and bodies of 64 cut series in the middle.
        let w = Workload::new(2, 3, 10, "t");
        let bodies = influx_bodies(&w, 1000, 64, 1_700_000_000_000).unwrap();
        assert_eq!(bodies.len(), 16); // 15 × 64 + 40
        let counts: Vec<usize> = bodies
            .iter()
            .map(|b| b.iter().filter(|&&c| c == b'\n').count())
            .collect();
        assert!(counts[..15].iter().all(|&c| c == 64), "{counts:?}");
        assert_eq!(counts[15], 40);
        assert_eq!(lines(&bodies).len(), 1000);
    }

    #[test]
    fn every_point_is_a_distinct_point_of_the_write_services_schema() {
        let w = Workload::new(3, 2, 5, "t");
        let bodies = influx_bodies(&w, 500, 7, 1_700_000_000_000).unwrap();
        let all = lines(&bodies);
        let distinct: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), 500, "a point would overwrite another");
        let first = std::str::from_utf8(&bodies[0])
            .unwrap()
            .lines()
            .next()
            .unwrap();
        assert!(
            first.starts_with("power,device=perf-t-d0,household=perf-t-h0,socket=s0 watts="),
            "{first}"
        );
        assert!(first.contains(",energy_wh="), "{first}");
        // Households round-robin, each series' timestamps increasing.
        let key = |h: u32| format!("power,device=perf-t-d{h},household=perf-t-h{h},socket=s1");
        for h in 0..3 {
            let stamps: Vec<i64> = all
                .iter()
                .filter(|(k, _)| *k == key(h))
                .map(|&(_, t)| t)
                .collect();
            assert!(!stamps.is_empty());
            assert!(stamps.windows(2).all(|p| p[0] < p[1]), "{stamps:?}");
        }
    }

    #[test]
    fn one_body_when_the_batch_is_larger_than_the_points() {
        let bodies = influx_bodies(&Workload::new(1, 1, 30, "t"), 45, 5000, 0).unwrap();
        assert_eq!(bodies.len(), 1);
        assert_eq!(lines(&bodies).len(), 45);
    }

    #[test]
    fn the_influx_points_end_an_hour_before_now() {
        let now = 1_800_000_000_000;
        for (w, points) in [
            (Workload::new(1, 1, 1, "t"), 10_000_000),
            (Workload::new(10, 3, 10, "t"), 500_000),
            (Workload::new(4, 30, 1, "t"), 7),
        ] {
            let first = old_start_ms(now, &w, points);
            let bodies = influx_bodies(&w, points.min(100_000), 5000, first).unwrap();
            let newest = lines(&bodies).iter().map(|&(_, t)| t).max().unwrap();
            assert!(newest < now - INFLUX_AGE_MS, "{w:?}");
            // The whole run, not just the sample built here.
            let last_batch = (points.div_ceil(u64::from(w.readings_per_message())) - 1)
                / u64::from(w.households);
            let last = first + ((last_batch + 1) * u64::from(w.readings_per_socket)) as i64;
            assert!(last <= now - INFLUX_AGE_MS, "{w:?}");
        }
    }

    #[test]
    fn messages_go_round_robin_over_households_with_their_routing_keys() {
        let w = Workload::new(3, 2, 4, "t");
        let encoded = encode_messages(&w, 7).unwrap();
        let households: Vec<u32> = encoded.messages.iter().map(|&(h, _)| h).collect();
        assert_eq!(households, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(encoded.routing_keys[2].as_str(), "readings.perf-t-d2");
        let fourth = wattline_proto::Batch::decode(&encoded.messages[3].1).unwrap();
        assert_eq!(
            (fourth.device_id.as_str(), fourth.sequence),
            ("perf-t-d0", 1)
        );
        assert_eq!(fourth.reading_count(), 8);
        let mean = encoded.mean_bytes();
        assert!(mean > 0.0 && encoded.total_bytes() as f64 == mean * 7.0);
    }

    #[test]
    fn acks_come_often_enough_for_any_prefetch() {
        assert_eq!(ack_every(2000), 100);
        assert_eq!(ack_every(100), 50);
        assert_eq!(ack_every(3), 1);
        assert_eq!(ack_every(1), 1);
    }

    #[test]
    fn rates_and_refusals() {
        assert_eq!(rate(10, 2.0), 5.0);
        assert_eq!(rate(10, 0.0), 0.0);
        assert!(check_workload(&Workload::new(0, 1, 1, "t")).is_err());
        assert!(check_workload(&Workload::new(1, 1, 1, "t")).is_ok());
        assert_eq!(
            broker_baseline_name(&Workload::new(1, 1, 1, "t")),
            "perf.baseline.t"
        );
    }
}
