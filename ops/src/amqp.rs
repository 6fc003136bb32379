//! AMQP connection health, for code that must notice a dead connection even
//! while it waits on something else.

use std::future::Future;

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use lapin::{ConnectionState, ErrorKind};

/// Resolves, with the error, when lapin reports an error on `connection` or
/// on one of its channels. Create it right after connecting so that no
/// failure goes unseen.
///
/// Callers race their work against it rather than trusting every pending
/// AMQP call to fail once the connection is gone: lapin has had bugs where
/// such a call (a publish, an ack) never resolves after the broker closed
/// the connection (amqp-rs/lapin#409), and a client stuck on one would never
/// reconnect.
pub fn connection_failure(
    connection: &lapin::Connection,
) -> impl Future<Output = lapin::Error> + Send + 'static {
    // Boxed: lapin's stream type names the connection's lifetime (although
    // it outlives it), which an `impl Future + 'static` may not capture.
    let mut events: BoxStream<'static, lapin::Event> = connection.events_listener().boxed();
    async move {
        while let Some(event) = events.next().await {
            if let lapin::Event::Error(error) = event {
                return error;
            }
        }
        ErrorKind::InvalidConnectionState(ConnectionState::Closed).into()
    }
}
