//! What operators and their tools read: `/healthz` (the gateway and whether
//! the services behind it answer) and `/metrics`.

use std::path::PathBuf;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;

use crate::assets;
use crate::proxy::Service;
use crate::AppState;

/// How long a service's `/healthz` may take before it counts as down.
const UPSTREAM_HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// The gateway's health.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok` when every part below is, else `degraded`.
    pub status: &'static str,
    /// Whether `--assets-dir` holds a built dashboard (index.html).
    pub assets: bool,
    /// Whether auth-service's `/healthz` answered 2xx.
    pub auth_service: bool,
    /// Whether read-service's `/healthz` answered 2xx.
    pub read_service: bool,
}

/// 200 when the dashboard is built and both services answer, 503 otherwise
/// (with which part is missing).
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let (auth_service, read_service) = tokio::join!(
        upstream_healthy(&state, Service::Auth),
        upstream_healthy(&state, Service::Read)
    );
    let assets = assets_built(state.assets_dir.clone()).await;
    let ok = assets && auth_service && read_service;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let health = Health {
        status: if ok { "ok" } else { "degraded" },
        assets,
        auth_service,
        read_service,
    };
    if !ok {
        tracing::warn!(?health, "health check: degraded");
    }
    (status, Json(health))
}

async fn upstream_healthy(state: &AppState, service: Service) -> bool {
    let url = format!("{}/healthz", state.proxy.upstream(service));
    let answer = state
        .proxy
        .client()
        .get(url)
        .timeout(UPSTREAM_HEALTH_TIMEOUT)
        .send()
        .await;
    matches!(answer, Ok(response) if response.status().is_success())
}

async fn assets_built(dir: PathBuf) -> bool {
    tokio::task::spawn_blocking(move || assets::built(&dir))
        .await
        .unwrap_or(false)
}

/// Prometheus text.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    wattline_ops::prometheus::render(&state.metrics)
}
