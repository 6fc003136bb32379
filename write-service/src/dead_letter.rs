//! Moving poison messages aside: publish the original body to the
//! dead-letter exchange (persistent, publisher confirms, on a channel of its
//! own) with the reason in headers. The caller acks the original only after
//! [`DeadLetterer::publish`] returned `Ok`, i.e. the broker confirmed the copy.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};

use crate::telemetry;
use crate::topology::{text, DEAD_LETTER_EXCHANGE};
use crate::validate::Reason;

/// Header with the [`Reason`] code.
pub const REASON_HEADER: &str = "x-wattline-reason";
/// Header with the human-readable detail (truncated).
pub const ERROR_HEADER: &str = "x-wattline-error";
/// Header with the routing key the message was published with.
pub const ROUTING_KEY_HEADER: &str = "x-wattline-routing-key";
/// Longest detail kept in [`ERROR_HEADER`], in characters.
pub const MAX_ERROR_CHARS: usize = 500;

/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

/// A message to move aside.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The original delivery's tag (to ack afterwards).
    pub tag: u64,
    pub routing_key: String,
    pub payload: Vec<u8>,
    pub reason: Reason,
    pub detail: String,
}

/// The broker did not take the dead letter. The original stays unacked.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("publishing a dead letter failed: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker refused (nacked) a dead letter")]
    Nacked,
}

/// Publishes dead letters on a confirm-mode channel.
#[derive(Debug, Clone)]
pub struct DeadLetterer {
    channel: Channel,
}

impl DeadLetterer {
    /// Opens the dead-letter channel with publisher confirms on.
    pub async fn open(connection: &Connection) -> Result<Self, lapin::Error> {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Self { channel })
    }

    /// Publishes one dead letter and waits for the broker's confirm; then
    /// logs and counts it (the single place that does both).
    pub async fn publish(&self, letter: &DeadLetter) -> Result<(), DeadLetterError> {
        let detail = truncate(&letter.detail, MAX_ERROR_CHARS);
        let mut headers = FieldTable::default();
        headers.insert(REASON_HEADER.into(), text(letter.reason.as_str()));
        headers.insert(ERROR_HEADER.into(), text(detail));
        headers.insert(ROUTING_KEY_HEADER.into(), text(&letter.routing_key));
        let properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_headers(headers);
        // Same routing key as the original (the fanout exchange ignores it
        // for routing, but consumers of the dead-letter queue see it); keys
        // longer than AMQP allows cannot have arrived, fall back to none.
        let routing_key = ShortString::try_new(letter.routing_key.as_str()).unwrap_or_default();
        let confirmation = self
            .channel
            .basic_publish(
                DEAD_LETTER_EXCHANGE.into(),
                routing_key,
                BasicPublishOptions::default(),
                &letter.payload,
                properties,
            )
            .await?
            .await?;
        if confirmation.is_nack() {
            return Err(DeadLetterError::Nacked);
        }
        telemetry::dead_lettered(letter.reason, &letter.routing_key, &letter.detail);
        Ok(())
    }

    /// Closes the channel (best effort, at shutdown).
    pub async fn close(&self) {
        let _ = self.channel.close(200, "shutting down".into()).await;
    }
}

/// The first `max` characters of `text` (never splitting a character).
pub fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("short", 500), "short");
        assert_eq!(
            truncate(&"ü".repeat(600), MAX_ERROR_CHARS).chars().count(),
            500
        );
    }
}
