//! The consuming pipeline: one AMQP session at a time, reconnecting with
//! backoff when the connection drops.
//!
//! Inside a session a single task owns all state, so no locks are needed:
//!
//! ```text
//! deliveries ─> classify ─┬─ accepted ─> pending batch ─(full / aged)─> up to N writes in flight
//!                         ├─ empty ─────────────────────────────────────┐        │
//!                         └─ poison ─> dead-letter publish (confirmed) ─┤  written / rejected
//!                                                                       v        v
//!                                              ack window: basic.ack(multiple) in delivery order
//! ```
//!
//! - [`batch`]: the batch being filled; [`write`]: writing with retry and
//!   bisection; [`bisect`]: the pure bisection search; [`acks`]: in-order
//!   acknowledgement.
//! - Back-pressure: when the pending batch is full and every write slot is
//!   busy, the session stops taking deliveries; the prefetch then stops the
//!   broker. A stalled InfluxDB therefore stalls consumption, never memory.
//! - A lost connection drops all session state: nothing unacked is lost,
//!   the broker redelivers it, and points are idempotent.

pub mod acks;
pub mod batch;
pub mod bisect;
pub mod write;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, Consumer};
use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wattline_influx::LineProtocolBuilder;
use wattline_ops::amqp::connection_failure;
use wattline_ops::retry::{Backoff, BackoffPolicy};
use wattline_proto::now_ms;

use self::acks::AckWindow;
use self::batch::{PendingBatch, ReadyBatch};
use self::write::{BatchWriter, WrittenBatch};
use crate::consumer::{classify, Incoming, Intake};
use crate::dead_letter::{DeadLetter, DeadLetterError, DeadLetterer};
use crate::households::HouseholdDirectory;
use crate::http::Health;
use crate::rate_limit::{DeviceRateLimiter, RateLimitSettings};
use crate::telemetry::{self, names};
use crate::topology::{self, QueueType, TopologyError};
use crate::validate::{Invalid, Reason};

/// How often the INFO progress line is logged.
const SUMMARY_EVERY: Duration = Duration::from_secs(10);
/// Reconnect backoff: a broker restart takes seconds, so start at 500 ms; cap
/// at 10 s, so the queue is drained again at most 10 s after the broker is
/// back (a refused connect costs the broker next to nothing).
const RECONNECT: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_millis(500),
    max: Duration::from_secs(10),
};
/// A connect and topology declaration that take longer than this are
/// treated as failed (lapin has had connects that never resolve, e.g. when
/// the broker refuses connection.open while it boots).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long to wait for the broker to confirm a connection close: after a
/// failure there may be nobody left to answer.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the pipeline needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub amqp_url: String,
    pub queue: String,
    pub queue_type: QueueType,
    pub prefetch: u16,
    pub batch_points: usize,
    pub batch_age: Duration,
    pub max_inflight_writes: usize,
    pub max_clock_skew: Duration,
    pub shutdown_grace: Duration,
    pub rate_limit: RateLimitSettings,
}

/// Everything a session uses that outlives it.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub settings: Settings,
    pub directory: Arc<dyn HouseholdDirectory>,
    pub writer: BatchWriter,
    pub health: Arc<Health>,
}

/// Why a session ended before shutdown.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("AMQP: {0}")]
    Amqp(#[from] lapin::Error),
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
    #[error("the broker cancelled our consumer (queue deleted?)")]
    ConsumerCancelled,
}

impl Pipeline {
    /// Consumes until `shutdown`, reconnecting after connection loss. Fails
    /// only on a topology conflict, which no retry can fix.
    pub async fn run(&self, shutdown: &CancellationToken) -> Result<(), TopologyError> {
        let mut backoff = Backoff::new(RECONNECT);
        let mut session_number = 0u64;
        // Outlives sessions: a reconnect does not give a flooding device a
        // fresh burst.
        let mut rate_limit = DeviceRateLimiter::new(self.settings.rate_limit);
        while !shutdown.is_cancelled() {
            match self.connect_and_declare(shutdown).await {
                Ok(Some((connection, failure))) => {
                    session_number += 1;
                    let session = self.session(
                        &connection,
                        session_number,
                        &mut backoff,
                        &mut rate_limit,
                        shutdown,
                    );
                    let outcome = tokio::select! {
                        outcome = session => outcome,
                        error = failure => Err(SessionError::Amqp(error)),
                    };
                    self.health.set_consuming(false);
                    let close = connection.close(200, "write-service session over".into());
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
                    match outcome {
                        Ok(()) => return Ok(()),
                        Err(error) => {
                            counter!(names::RECONNECTS).increment(1);
                            tracing::warn!(%error, "AMQP session lost; unacked messages will be redelivered; reconnecting");
                        }
                    }
                }
                Ok(None) => return Ok(()),
                Err(ConnectError::Topology(e)) if e.is_conflict() => return Err(e),
                Err(error) => {
                    tracing::warn!(%error, attempt = backoff.attempts() + 1, "cannot reach RabbitMQ; retrying")
                }
            }
            let delay = backoff.next_delay();
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(delay) => {}
            }
        }
        Ok(())
    }

    /// Connects and declares the topology, within [`CONNECT_TIMEOUT`]. Returns
    /// the connection with a future that resolves when it fails; `Ok(None)`:
    /// shutdown came first.
    async fn connect_and_declare(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<Option<(Connection, BoxFuture<'static, lapin::Error>)>, ConnectError> {
        let connect_and_declare = async {
            let properties =
                ConnectionProperties::default().with_connection_name("write-service".into());
            let connection = Connection::connect(&self.settings.amqp_url, properties).await?;
            // The session races against this (see `connection_failure`).
            let failure: BoxFuture<'static, _> = Box::pin(connection_failure(&connection));
            if let Err(e) =
                topology::declare(&connection, &self.settings.queue, self.settings.queue_type).await
            {
                let close = connection.close(200, "topology failed".into());
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
                return Err(ConnectError::Topology(e));
            }
            Ok((connection, failure))
        };
        tokio::select! {
            _ = shutdown.cancelled() => Ok(None),
            result = tokio::time::timeout(CONNECT_TIMEOUT, connect_and_declare) => {
                result.map_err(|_| ConnectError::Timeout)?.map(Some)
            }
        }
    }

    async fn session(
        &self,
        connection: &Connection,
        number: u64,
        backoff: &mut Backoff,
        rate_limit: &mut DeviceRateLimiter,
        shutdown: &CancellationToken,
    ) -> Result<(), SessionError> {
        let channel = connection.create_channel().await?;
        // Per consumer (global: false): the bound on unacked deliveries.
        channel
            .basic_qos(self.settings.prefetch, BasicQosOptions::default())
            .await?;
        let dead_letterer = DeadLetterer::open(connection).await?;
        let tag = format!("write-service-{}-{number}", std::process::id());
        let mut consumer = channel
            .basic_consume(
                ShortString::try_new(self.settings.queue.as_str()).unwrap_or_default(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        self.health.set_consuming(true);
        backoff.reset();
        tracing::info!(queue = %self.settings.queue, consumer = %tag, prefetch = self.settings.prefetch, "consuming");

        let mut session = Session::new(self, channel.clone(), dead_letterer.clone(), rate_limit);
        let result = session.consume(&mut consumer, shutdown).await;
        if result.is_ok() {
            // Shutdown: stop deliveries first, then finish what we hold.
            self.health.set_consuming(false);
            if let Err(error) = channel
                .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
                .await
            {
                tracing::warn!(%error, "basic.cancel failed");
            }
            session.drain().await?;
            dead_letterer.close().await;
            let _ = channel.close(200, "shutting down".into()).await;
        }
        result
    }
}

#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("connecting: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("connecting timed out after {CONNECT_TIMEOUT:?}")]
    Timeout,
    #[error(transparent)]
    Topology(TopologyError),
}

/// How a delivery finished, for acking and the lag histogram.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Written { newest_ms: Option<i64> },
    DeadLettered,
    Empty,
}

type WriteFuture = BoxFuture<'static, WrittenBatch>;
type DeadLetterFuture = BoxFuture<'static, (u64, Result<(), DeadLetterError>)>;

/// Counters for the periodic INFO line.
#[derive(Debug)]
struct Progress {
    since: Instant,
    deliveries: u64,
    points: u64,
    acked: u64,
    last_lag_s: Option<f64>,
}

impl Progress {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            deliveries: 0,
            points: 0,
            acked: 0,
            last_lag_s: None,
        }
    }
}

/// Handles of the metrics a session updates per delivery, looked up once
/// (the recorder is installed before the pipeline runs).
struct SessionMetrics {
    deliveries: Counter,
    empty_batches: Counter,
    lag: Histogram,
    inflight: Gauge,
    rate_limit_devices: Gauge,
}

impl SessionMetrics {
    fn new() -> Self {
        Self {
            deliveries: counter!(names::DELIVERIES),
            empty_batches: counter!(names::EMPTY_BATCHES),
            lag: histogram!(names::LAG),
            inflight: gauge!(names::INFLIGHT),
            rate_limit_devices: gauge!(names::RATE_LIMIT_DEVICES),
        }
    }
}

/// One AMQP session's state (see the module docs).
struct Session<'a> {
    pipeline: &'a Pipeline,
    channel: Channel,
    dead_letterer: DeadLetterer,
    rate_limit: &'a mut DeviceRateLimiter,
    pending: PendingBatch,
    spare_builders: Vec<LineProtocolBuilder>,
    acks: AckWindow<Outcome>,
    writes: FuturesUnordered<WriteFuture>,
    dead_letters: FuturesUnordered<DeadLetterFuture>,
    progress: Progress,
    metrics: SessionMetrics,
}

impl<'a> Session<'a> {
    fn new(
        pipeline: &'a Pipeline,
        channel: Channel,
        dead_letterer: DeadLetterer,
        rate_limit: &'a mut DeviceRateLimiter,
    ) -> Self {
        Self {
            pipeline,
            channel,
            dead_letterer,
            rate_limit,
            pending: PendingBatch::default(),
            spare_builders: Vec::new(),
            acks: AckWindow::new(),
            writes: FuturesUnordered::new(),
            dead_letters: FuturesUnordered::new(),
            progress: Progress::new(),
            metrics: SessionMetrics::new(),
        }
    }

    fn settings(&self) -> &Settings {
        &self.pipeline.settings
    }

    /// The main loop; returns `Ok` when `shutdown` fires.
    async fn consume(
        &mut self,
        consumer: &mut Consumer,
        shutdown: &CancellationToken,
    ) -> Result<(), SessionError> {
        let mut summary = tokio::time::interval_at(Instant::now() + SUMMARY_EVERY, SUMMARY_EVERY);
        loop {
            let batch_points = self.settings().batch_points;
            let slot_free = self.writes.len() < self.settings().max_inflight_writes;
            let deadline = self.pending.deadline(self.settings().batch_age);
            // A full batch that cannot be flushed yet: stop taking deliveries
            // (back-pressure through the prefetch).
            let take_deliveries = !self.pending.is_full(batch_points);
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(()),
                Some(done) = self.writes.next(), if !self.writes.is_empty() => self.on_written(done),
                Some((tag, result)) = self.dead_letters.next(), if !self.dead_letters.is_empty() => {
                    self.on_dead_lettered(tag, result)?;
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() && slot_free => {
                    self.flush();
                }
                delivery = consumer.next(), if take_deliveries => match delivery {
                    Some(Ok(delivery)) => self.intake(delivery, shutdown).await,
                    Some(Err(error)) => return Err(error.into()),
                    None => return Err(SessionError::ConsumerCancelled),
                },
                _ = summary.tick() => self.log_progress(),
            }
            if self.pending.is_full(batch_points)
                && self.writes.len() < self.settings().max_inflight_writes
            {
                self.flush();
            }
            self.ack_finished().await?;
        }
    }

    /// After shutdown: flush the pending batch and wait (up to the grace
    /// period) for writes and dead letters, acking as they finish.
    async fn drain(&mut self) -> Result<(), SessionError> {
        self.flush();
        let grace = self.settings().shutdown_grace;
        let finish = async {
            while !self.writes.is_empty() || !self.dead_letters.is_empty() {
                tokio::select! {
                    Some(done) = self.writes.next(), if !self.writes.is_empty() => self.on_written(done),
                    Some((tag, result)) = self.dead_letters.next(), if !self.dead_letters.is_empty() => {
                        self.on_dead_lettered(tag, result)?;
                    }
                }
                self.ack_finished().await?;
            }
            Ok::<_, SessionError>(())
        };
        match tokio::time::timeout(grace, finish).await {
            Ok(result) => result?,
            Err(_) => tracing::warn!(
                unacked = self.acks.unfinished(),
                ?grace,
                "shutdown grace period over; unwritten messages stay unacked and will be redelivered"
            ),
        }
        self.ack_finished().await?;
        self.log_progress();
        tracing::info!(unacked = self.acks.unacked(), "session drained");
        Ok(())
    }

    async fn intake(&mut self, delivery: Delivery, shutdown: &CancellationToken) {
        let tag = delivery.delivery_tag;
        // A redelivery was charged to the device when it first came (here or
        // at a replica that died): charging it again would count it twice.
        let redelivered = delivery.redelivered;
        // Tracked before anything else, so no later multiple-ack covers it
        // while it is unfinished.
        self.acks.track(tag);
        self.metrics.deliveries.increment(1);
        self.progress.deliveries += 1;
        let incoming = Incoming {
            tag,
            routing_key: delivery.routing_key.to_string(),
            payload: delivery.data,
        };
        let pipeline = self.pipeline;
        let intake = classify(
            incoming,
            pipeline.directory.as_ref(),
            pipeline.settings.max_clock_skew,
            shutdown,
        )
        .await;
        match intake {
            // Shutting down while the directory is unavailable: leave it unacked.
            None => {}
            Some(Intake::Empty { tag }) => {
                self.metrics.empty_batches.increment(1);
                self.acks.complete(tag, Outcome::Empty);
            }
            Some(Intake::Poison(letter)) => self.dead_letter(letter),
            Some(Intake::Accepted(message)) => {
                if !redelivered {
                    let readings = message.points() as u64;
                    let checked = self.rate_limit.check(
                        message.device.as_str(),
                        readings,
                        std::time::Instant::now(),
                    );
                    self.metrics
                        .rate_limit_devices
                        .set(self.rate_limit.tracked() as f64);
                    if let Err(over) = checked {
                        telemetry::rate_limited(readings);
                        let why = Invalid::new(Reason::RateLimited, over.to_string());
                        self.dead_letter(message.into_dead_letter(why));
                        return;
                    }
                }
                if let Err(refused) = self.pending.push(message) {
                    let (message, error) = *refused;
                    tracing::error!(%error, tag, "validated message could not be encoded (bug)");
                    let why = Invalid::new(Reason::InvalidValue, error.to_string());
                    self.dead_letter(message.into_dead_letter(why));
                }
            }
        }
    }

    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let next = self.spare_builders.pop().unwrap_or_default();
        let Some(ready) = self.pending.take(next) else {
            return;
        };
        self.start_write(ready);
    }

    fn start_write(&mut self, ready: ReadyBatch) {
        let writer = self.pipeline.writer.clone();
        self.writes
            .push(Box::pin(async move { writer.write_batch(ready).await }));
        self.metrics.inflight.set(self.writes.len() as f64);
    }

    fn on_written(&mut self, done: WrittenBatch) {
        self.metrics.inflight.set(self.writes.len() as f64);
        let WrittenBatch {
            mut builder,
            written,
            rejected,
        } = done;
        for message in written {
            self.progress.points += message.points() as u64;
            self.acks.complete(
                message.tag,
                Outcome::Written {
                    newest_ms: message.summary.newest_ms,
                },
            );
        }
        for (message, why) in rejected {
            let why = Invalid::new(Reason::RejectedByInfluxdb, why);
            self.dead_letter(message.into_dead_letter(why));
        }
        // Keep the buffer (and its capacity) for a later batch.
        if self.spare_builders.len() <= self.settings().max_inflight_writes {
            builder.clear();
            self.spare_builders.push(builder);
        }
    }

    fn dead_letter(&mut self, letter: DeadLetter) {
        let dead_letterer = self.dead_letterer.clone();
        self.dead_letters.push(Box::pin(async move {
            let result = dead_letterer.publish(&letter).await;
            (letter.tag, result)
        }));
    }

    fn on_dead_lettered(
        &mut self,
        tag: u64,
        result: Result<(), DeadLetterError>,
    ) -> Result<(), SessionError> {
        // A failed dead-letter publish means the broker or channel is in
        // trouble: end the session; the original is redelivered.
        result?;
        self.acks.complete(tag, Outcome::DeadLettered);
        Ok(())
    }

    /// Acks the finished prefix of the window with one multiple-ack.
    async fn ack_finished(&mut self) -> Result<(), SessionError> {
        let Some(ack) = self.acks.take_ackable() else {
            return Ok(());
        };
        self.channel
            .basic_ack(ack.up_to, BasicAckOptions { multiple: true })
            .await?;
        let now = now_ms();
        self.progress.acked += ack.outcomes.len() as u64;
        for outcome in &ack.outcomes {
            if let Outcome::Written {
                newest_ms: Some(newest),
            } = outcome
            {
                let lag = now.saturating_sub(*newest).max(0) as f64 / 1000.0;
                self.metrics.lag.record(lag);
                self.progress.last_lag_s = Some(lag);
            }
        }
        Ok(())
    }

    fn log_progress(&mut self) {
        let elapsed = self.progress.since.elapsed().as_secs_f64().max(0.001);
        tracing::info!(
            deliveries_per_s = (self.progress.deliveries as f64 / elapsed).round(),
            points_per_s = (self.progress.points as f64 / elapsed).round(),
            acked = self.progress.acked,
            unacked = self.acks.unacked(),
            inflight_writes = self.writes.len(),
            lag_s = self.progress.last_lag_s,
            "progress"
        );
        self.progress = Progress::new();
    }
}
