//! Talking to RabbitMQ with every wait bounded: lapin has had calls that
//! never resolve once the broker is gone, and a load test that fails with a
//! clear error beats one that hangs. Shared by the load, the broker baseline
//! and the run's queue watcher.

use std::future::Future;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Channel, Confirmation, Connection, ConnectionProperties, PublisherConfirm};

/// AMQP delivery mode 2: the broker writes the message to disk, as the agents ask.
pub const PERSISTENT: u8 = 2;
/// Connecting and every declare, bind, delete, close or single publish.
pub const OP_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs `future`, or fails naming `what` after `limit`.
pub async fn bounded<T, E>(
    what: &str,
    limit: Duration,
    future: impl Future<Output = std::result::Result<T, E>>,
) -> Result<T>
where
    E: Into<anyhow::Error>,
{
    match tokio::time::timeout(limit, future).await {
        Ok(result) => result.map_err(Into::into).context(what.to_owned()),
        Err(_) => bail!("{what}: no answer from RabbitMQ within {limit:?}"),
    }
}

/// The ready messages in `queue` now (a passive declare: answered at once,
/// unlike the management API, whose numbers lag by seconds).
pub async fn ready_messages(channel: &Channel, queue: &str, limit: Duration) -> Result<u32> {
    let declare = channel.queue_declare(
        queue.into(),
        QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        },
        FieldTable::default(),
    );
    Ok(
        bounded(&format!("asking the depth of {queue}"), limit, declare)
            .await?
            .message_count(),
    )
}

/// Connects to `amqp_url`; `role` names the connection in errors.
pub async fn connect(amqp_url: &str, role: &str) -> Result<Connection> {
    bounded(
        &format!("connecting to RabbitMQ ({role})"),
        OP_TIMEOUT,
        Connection::connect(amqp_url, ConnectionProperties::default()),
    )
    .await
}

pub async fn channel(connection: &Connection) -> Result<Channel> {
    bounded("opening a channel", OP_TIMEOUT, connection.create_channel()).await
}

/// Closes `channel`, best effort: the caller is done with it either way.
pub async fn close_channel(channel: &Channel, reason: &str) {
    let _ = bounded(
        "closing a channel",
        OP_TIMEOUT,
        channel.close(200, reason.into()),
    )
    .await;
}

/// Closes `connection`, best effort.
pub async fn close_connection(connection: &Connection, reason: &str) {
    let _ = bounded(
        "closing a connection",
        OP_TIMEOUT,
        connection.close(200, reason.into()),
    )
    .await;
}

/// Waits up to `limit` for one publisher confirm; see [`accepted`].
pub async fn confirmed(confirm: PublisherConfirm, limit: Duration) -> Result<()> {
    accepted(bounded("publisher confirm", limit, confirm).await?)
}

/// A publisher confirm's answer: a nack or a returned (unroutable) message is an error.
pub fn accepted(confirmation: Confirmation) -> Result<()> {
    match confirmation {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(returned)) => bail!(
            "the broker returned a message as unroutable ({} {})",
            returned.reply_code,
            returned.reply_text
        ),
        Confirmation::Nack(_) => bail!("the broker nacked a message"),
        Confirmation::NotRequested => bail!("the channel is not in confirm mode"),
    }
}
