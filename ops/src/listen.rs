//! Binding a service's TCP listener, with an error that names the address
//! (the usual cause: another process already listens there).

use std::net::SocketAddr;

use tokio::net::TcpListener;

/// The listener could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct ListenError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// Binds `addr` (port 0: any free port; see `TcpListener::local_addr`).
pub async fn listen(addr: SocketAddr) -> Result<TcpListener, ListenError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError { addr, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_port_is_an_error_naming_the_address() {
        let first = listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = first.local_addr().unwrap();
        let error = listen(addr).await.unwrap_err();
        assert_eq!(error.addr, addr);
        assert!(error
            .to_string()
            .starts_with(&format!("cannot listen on {addr}: ")));
    }
}
