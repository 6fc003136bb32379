//! The optional HTTP endpoint (`--listen`): `/metrics` for Prometheus and
//! `/healthz` with the connection and spool state.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::spool::Spool;
use crate::telemetry::AgentStats;

#[derive(Clone)]
struct AppState {
    stats: Arc<AgentStats>,
    spool: Arc<Spool>,
    prometheus: PrometheusHandle,
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    connected: bool,
    spooled_batches: u64,
    spooled_readings: u64,
}

/// Binds `listen` and serves until `shutdown`.
pub async fn serve(
    listen: SocketAddr,
    stats: Arc<AgentStats>,
    spool: Arc<Spool>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let state = AppState {
        stats,
        spool,
        prometheus: wattline_ops::prometheus::install(&[]),
    };
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, "serving /metrics and /healthz");
    tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(error) = server.await {
            tracing::error!(%error, "HTTP server failed");
        }
    });
    Ok(())
}

/// The agent is alive while it answers; `connected` and the spool say
/// whether data is flowing.
async fn healthz(State(state): State<AppState>) -> Json<Health> {
    let spool = state.spool.stats();
    Json(Health {
        status: "ok",
        connected: state.stats.connected(),
        spooled_batches: spool.batches,
        spooled_readings: spool.readings,
    })
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    wattline_ops::prometheus::render(&state.prometheus)
}
