//! Serving a router on a TCP listener, with a deadline for request heads.
//!
//! `axum::serve` gives hyper no timer, so hyper's header-read timeout is
//! off there: a client that sends its request line and headers one byte a
//! minute (slow-loris), or opens connections and sends nothing, holds a
//! connection and its task for ever. [`serve`] runs hyper's HTTP/1.1
//! server with a timer and `header_read_timeout`, which also bounds how
//! long an idle keep-alive connection waits for its next request (hyper
//! restarts the timer when a connection goes idle). Slow bodies are the
//! services' request timeout's job (it covers reading the body).
//!
//! HTTP/1.1 only: browsers reach the dashboard over HTTP/1.1 or through a
//! TLS terminator, and the services talk HTTP/1.1 to each other, so there
//! is no HTTP/2 (without TLS, prior knowledge only) to protect as well.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Pause after a failed `accept` (out of file descriptors, say), so the
/// loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown`; then stops accepting,
/// lets the requests in progress finish, and returns. Every request carries
/// `ConnectInfo<SocketAddr>` (the TCP peer), as with
/// `into_make_service_with_connect_info`.
///
/// A connection that has not sent a complete request head within
/// `header_read_timeout` of starting one, or that stays idle between
/// requests for that long, is closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connections = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let service = router
            .clone()
            .map_request(move |request: Request<Incoming>| with_peer(request, peer));
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            // A client that hangs up or times out mid-request: its own
            // business, not the server's health.
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
}

/// A timeout flag's value: a humantime duration (`30s`, `1m`) longer than
/// zero (zero would refuse every request).
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let parsed = humantime::parse_duration(s.trim()).map_err(|e| format!("{s:?}: {e}"))?;
    if parsed.is_zero() {
        return Err("the duration must be longer than zero".into());
    }
    Ok(parsed)
}

fn with_peer(request: Request<Incoming>, peer: SocketAddr) -> Request<Body> {
    let mut request = request.map(Body::new);
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn started(
        timeout: Duration,
    ) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        );
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, router, timeout, stop.clone()));
        (addr, stop, task)
    }

    #[test]
    fn timeouts_are_durations_longer_than_zero() {
        assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_timeout("60").is_err());
        assert!(parse_timeout("0s").is_err());
    }

    #[tokio::test]
    async fn a_request_head_that_never_completes_is_cut_off_and_requests_carry_the_peer() {
        let (addr, stop, task) = started(Duration::from_millis(300)).await;
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();

        let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
        ok.write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        ok.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("127.0.0.1"), "{answer}");

        // The server closes the slow connection (it may first send a 408).
        // End of stream or a reset: closed either way.
        let mut rest = Vec::new();
        let _closed = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest))
            .await
            .expect("closed by the server");
        stop.cancel();
        task.await.unwrap();
    }
}
