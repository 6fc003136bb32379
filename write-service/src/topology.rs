//! The RabbitMQ objects the write service relies on, declared idempotently
//! at every (re)connect:
//!
//! - topic exchange `wattline.readings` (durable), where agents publish
//!   with routing key `readings.<device id>`;
//! - fanout exchange `wattline.readings.dead` (durable) and the durable queue
//!   `wattline.readings.dead` bound to it: dead letters;
//! - the durable write queue (`--queue`), bound with `readings.#`, with
//!   `x-dead-letter-exchange` pointing at the dead-letter exchange and the
//!   configured `x-queue-type`.
//!
//! Declaring an object that exists with other settings is refused by the
//! broker (406 PRECONDITION_FAILED); that becomes a [`TopologyError::Conflict`]
//! naming the object, because retrying cannot fix it.

use clap::ValueEnum;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Connection, ErrorKind, ExchangeKind};

/// The exchange agents publish readings to (the wire contract, shared with
/// the agent).
pub use wattline_proto::EXCHANGE;
/// The exchange dead letters are published to.
pub const DEAD_LETTER_EXCHANGE: &str = "wattline.readings.dead";
/// The queue holding dead letters for inspection.
pub const DEAD_LETTER_QUEUE: &str = "wattline.readings.dead";
/// Binding of the write queue: every device's readings.
pub const BINDING_KEY: &str = "readings.#";

/// The queue type (`x-queue-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueueType {
    /// A single-node queue (the default; fine for one broker).
    Classic,
    /// A replicated Raft queue for a RabbitMQ cluster.
    Quorum,
}

impl QueueType {
    /// The `x-queue-type` argument value.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
        }
    }
}

/// Why the topology could not be declared.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// An object exists with other settings; an operator must reconcile it.
    #[error(
        "{object} already exists with different settings ({detail}); delete it or start \
         with matching settings (e.g. --queue-type)"
    )]
    Conflict { object: String, detail: String },
    /// The broker or connection failed.
    #[error("declaring {object}: {source}")]
    Amqp {
        object: String,
        #[source]
        source: lapin::Error,
    },
}

impl TopologyError {
    fn from_lapin(object: String, source: lapin::Error) -> Self {
        if let ErrorKind::ProtocolError(e) = source.kind() {
            if matches!(
                e.kind(),
                AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED)
            ) {
                return Self::Conflict {
                    object,
                    detail: e.get_message().to_string(),
                };
            }
        }
        Self::Amqp { object, source }
    }

    /// True when retrying (after a reconnect) cannot help.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }
}

/// An AMQP long-string value (queue arguments, headers).
pub(crate) fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// Declares every object (see the module docs) on a channel of its own.
pub async fn declare(
    connection: &Connection,
    queue: &str,
    queue_type: QueueType,
) -> Result<(), TopologyError> {
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| TopologyError::from_lapin("a channel".into(), e))?;
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    let exchanges = [
        (EXCHANGE, ExchangeKind::Topic),
        (DEAD_LETTER_EXCHANGE, ExchangeKind::Fanout),
    ];
    for (name, kind) in exchanges {
        channel
            .exchange_declare(name.into(), kind, durable_exchange, FieldTable::default())
            .await
            .map_err(|e| TopologyError::from_lapin(format!("exchange {name}"), e))?;
    }

    let mut type_only = FieldTable::default();
    type_only.insert("x-queue-type".into(), text(queue_type.as_str()));
    channel
        .queue_declare(
            DEAD_LETTER_QUEUE.into(),
            QueueDeclareOptions::durable(),
            type_only.clone(),
        )
        .await
        .map_err(|e| TopologyError::from_lapin(format!("queue {DEAD_LETTER_QUEUE}"), e))?;
    channel
        .queue_bind(
            DEAD_LETTER_QUEUE.into(),
            DEAD_LETTER_EXCHANGE.into(),
            ShortString::from(""),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| TopologyError::from_lapin(format!("binding of {DEAD_LETTER_QUEUE}"), e))?;

    let mut arguments = type_only;
    // Messages the broker itself dead-letters (a consumer's reject, a
    // quorum queue's delivery limit) land with ours.
    arguments.insert("x-dead-letter-exchange".into(), text(DEAD_LETTER_EXCHANGE));
    let queue_name = ShortString::try_new(queue).map_err(|_| TopologyError::Conflict {
        object: format!("queue {queue:?}"),
        detail: "name longer than 255 bytes".into(),
    })?;
    channel
        .queue_declare(
            queue_name.clone(),
            QueueDeclareOptions::durable(),
            arguments,
        )
        .await
        .map_err(|e| TopologyError::from_lapin(format!("queue {queue}"), e))?;
    channel
        .queue_bind(
            queue_name,
            EXCHANGE.into(),
            BINDING_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| TopologyError::from_lapin(format!("binding of {queue}"), e))?;
    // Best effort: the channel is no longer needed, and a failure to close
    // it changes nothing about the declarations that succeeded.
    let _ = channel.close(200, "topology declared".into()).await;
    Ok(())
}
