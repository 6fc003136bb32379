//! Publishes spooled batches to RabbitMQ, oldest first, with publisher
//! confirms, and removes a batch from the spool only once the broker has
//! confirmed it.
//!
//! Messages are persistent and `mandatory`: a batch the broker cannot route
//! to any queue comes back and stays in the spool, rather than being
//! confirmed into nowhere. Up to `max_in_flight` batches are unconfirmed at
//! once. On any failure (connection lost, nack, returned message, confirm
//! timeout) the connection is dropped, the agent waits a jittered backoff
//! (`wattline_ops::retry`) whose ceiling doubles from 250 ms up to
//! `max_backoff`, reconnects, and starts again from the oldest
//! unconfirmed batch. Batches the broker received but had not confirmed may
//! then arrive twice; the write service stores them idempotently.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::uri::AMQPUri;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, PublisherConfirm,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use wattline_ops::amqp::connection_failure;
use wattline_ops::retry::{Backoff, BackoffPolicy};
use wattline_proto::{routing_key, EXCHANGE};

use crate::spool::{Spool, SpooledBatch};
use crate::telemetry::AgentStats;

/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;
/// Connecting, opening the channel and turning on confirms.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long to wait for the broker to confirm a connection close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// A confirm that takes longer than this means a broker in trouble.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(60);
/// Ceiling of the first reconnect delay.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub struct PublisherSettings {
    pub uri: AMQPUri,
    pub device_id: String,
    pub max_in_flight: usize,
    pub max_backoff: Duration,
}

/// Why a round of publishing ended without the spool being drained.
#[derive(Debug, thiserror::Error)]
enum PublishFailure {
    #[error("connecting: {0}")]
    Connect(String),
    #[error("{0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker could not route the batch to any queue (is the write service's topology declared?)")]
    Unroutable,
    #[error("the broker refused the batch (nack)")]
    Nacked,
    #[error("no confirm within {0:?}")]
    ConfirmTimeout(Duration),
    #[error("spool: {0}")]
    Spool(#[from] crate::spool::SpoolError),
    #[error("spool task failed: {0}")]
    SpoolTask(#[from] tokio::task::JoinError),
}

impl PublishFailure {
    /// A short label for metrics.
    fn reason(&self) -> &'static str {
        match self {
            Self::Connect(_) => "connect",
            Self::Amqp(_) => "amqp",
            Self::Unroutable => "unroutable",
            Self::Nacked => "nacked",
            Self::ConfirmTimeout(_) => "confirm_timeout",
            Self::Spool(_) | Self::SpoolTask(_) => "spool",
        }
    }
}

/// What tells the publisher when to stop.
#[derive(Debug, Clone)]
pub struct Stopping {
    /// Cancelled once nothing more will be spooled: the publisher returns when
    /// the spool is empty.
    pub producing_done: CancellationToken,
    /// Cancelled when the publisher must return at once (shutdown grace over).
    pub give_up: CancellationToken,
}

#[derive(Debug)]
pub struct Publisher {
    settings: PublisherSettings,
    routing_key: ShortString,
    spool: Arc<Spool>,
    stats: Arc<AgentStats>,
    /// Notified whenever a batch is spooled.
    spooled: Arc<Notify>,
}

impl Publisher {
    pub fn new(
        settings: PublisherSettings,
        spool: Arc<Spool>,
        stats: Arc<AgentStats>,
        spooled: Arc<Notify>,
    ) -> Self {
        let routing_key = routing_key(&settings.device_id).into();
        Self {
            settings,
            routing_key,
            spool,
            stats,
            spooled,
        }
    }

    /// Publishes until the spool is empty after production ended, or until
    /// told to give up.
    pub async fn run(self, stopping: Stopping) {
        let mut backoff = Backoff::new(BackoffPolicy {
            initial: FIRST_BACKOFF,
            max: self.settings.max_backoff,
        });
        loop {
            let outcome = tokio::select! {
                outcome = self.publish_until_drained(&stopping, &mut backoff) => outcome,
                () = stopping.give_up.cancelled() => return,
            };
            self.stats.set_connected(false);
            match outcome {
                Ok(()) => return,
                Err(failure) => self.stats.publish_failed(failure.reason(), &failure),
            }
            let pause = backoff.next_delay();
            tracing::info!(retry_in = ?pause, "waiting before reconnecting to RabbitMQ");
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = stopping.give_up.cancelled() => return,
            }
        }
    }

    /// One connection's worth of publishing: returns `Ok` once production is
    /// done and the spool is empty, or the failure that ended it.
    async fn publish_until_drained(
        &self,
        stopping: &Stopping,
        backoff: &mut Backoff,
    ) -> Result<(), PublishFailure> {
        if self.nothing_left(stopping) {
            return Ok(());
        }
        let (connection, channel) = self.connect().await?;
        // Publishing races against this (see `connection_failure`).
        let failure = connection_failure(&connection);
        self.stats.set_connected(true);
        let result = tokio::select! {
            result = self.publish_on(&channel, stopping, backoff) => result,
            error = failure => Err(error.into()),
        };
        // Closing politely lets the broker finish what it was doing; a
        // connection that is already gone errors here, or never answers.
        let close = connection.close(200, "bye".into());
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
        result
    }

    fn nothing_left(&self, stopping: &Stopping) -> bool {
        stopping.producing_done.is_cancelled() && self.spool.stats().batches == 0
    }

    async fn connect(&self) -> Result<(Connection, Channel), PublishFailure> {
        let properties = ConnectionProperties::default()
            .with_connection_name(format!("device-agent {}", self.settings.device_id).into());
        let connect = async {
            let connection = Connection::connect_uri(self.settings.uri.clone(), properties)
                .await
                .map_err(|e| PublishFailure::Connect(e.to_string()))?;
            let channel = connection.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            Ok((connection, channel))
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| PublishFailure::Connect(format!("no answer within {CONNECT_TIMEOUT:?}")))?
    }

    async fn publish_on(
        &self,
        channel: &Channel,
        stopping: &Stopping,
        backoff: &mut Backoff,
    ) -> Result<(), PublishFailure> {
        let mut in_flight: VecDeque<(SpooledBatch, PublisherConfirm)> = VecDeque::new();
        let mut last_published: Option<u64> = None;
        loop {
            // Register interest before looking at the spool, so a batch
            // spooled in between still wakes us.
            let spooled = self.spooled.notified();
            let room = self.settings.max_in_flight.saturating_sub(in_flight.len());
            for batch in self.spool.pending_after(last_published, room) {
                last_published = Some(batch.sequence);
                let Some(payload) = self.load(batch).await? else {
                    continue;
                };
                let confirm = channel
                    .basic_publish(
                        EXCHANGE.into(),
                        self.routing_key.clone(),
                        BasicPublishOptions {
                            mandatory: true,
                            ..BasicPublishOptions::default()
                        },
                        &payload,
                        self.properties(batch.sequence),
                    )
                    .await?;
                in_flight.push_back((batch, confirm));
            }

            let Some((batch, confirm)) = in_flight.pop_front() else {
                if self.nothing_left(stopping) {
                    return Ok(());
                }
                tokio::select! {
                    () = spooled => {}
                    () = stopping.producing_done.cancelled() => {}
                }
                continue;
            };
            let confirmation = tokio::time::timeout(CONFIRM_TIMEOUT, confirm)
                .await
                .map_err(|_| PublishFailure::ConfirmTimeout(CONFIRM_TIMEOUT))??;
            match confirmation {
                Confirmation::Ack(None) | Confirmation::NotRequested => {}
                Confirmation::Ack(Some(_returned)) => return Err(PublishFailure::Unroutable),
                Confirmation::Nack(_) => return Err(PublishFailure::Nacked),
            }
            let spool = Arc::clone(&self.spool);
            tokio::task::spawn_blocking(move || spool.remove(batch.sequence)).await??;
            self.stats.confirmed(u64::from(batch.readings));
            backoff.reset();
        }
    }

    /// Reads a batch from the spool; a corrupt one is set aside (and
    /// logged) so it never blocks the rest.
    async fn load(&self, batch: SpooledBatch) -> Result<Option<Vec<u8>>, PublishFailure> {
        let spool = Arc::clone(&self.spool);
        Ok(tokio::task::spawn_blocking(move || spool.read_or_quarantine(&batch)).await??)
    }

    fn properties(&self, sequence: u64) -> BasicProperties {
        let mut headers = FieldTable::default();
        headers.insert(
            "x-wattline-sequence".into(),
            AMQPValue::LongLongInt(sequence as i64),
        );
        BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_content_type("application/x-protobuf".into())
            .with_type("wattline.v1.ReadingBatch".into())
            .with_message_id(format!("{}/{sequence}", self.settings.device_id).into())
            .with_headers(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_keys_carry_the_device_id_verbatim() {
        assert_eq!(routing_key("pi 7, kitchen"), "readings.pi 7, kitchen");
    }
}
