//! The operations endpoints on `--listen`: `/metrics` (Prometheus text,
//! rendered from the recorder's handle in an axum route rather than the
//! exporter's own listener) and `/healthz`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;

/// What `/healthz` reports; updated by the pipeline.
#[derive(Debug, Default)]
pub struct Health {
    consuming: AtomicBool,
    influx_reachable: AtomicBool,
}

impl Health {
    /// Whether a consumer is attached to the queue (AMQP connected).
    pub fn set_consuming(&self, value: bool) {
        self.consuming.store(value, Ordering::Relaxed);
    }

    /// Whether InfluxDB answered the last request.
    pub fn set_influx_reachable(&self, value: bool) {
        self.influx_reachable.store(value, Ordering::Relaxed);
    }

    /// See [`Health::set_consuming`].
    pub fn consuming(&self) -> bool {
        self.consuming.load(Ordering::Relaxed)
    }

    /// See [`Health::set_influx_reachable`].
    pub fn influx_reachable(&self) -> bool {
        self.influx_reachable.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone)]
struct AppState {
    health: Arc<Health>,
    metrics: PrometheusHandle,
}

/// The router for `/metrics` and `/healthz`.
pub fn router(health: Arc<Health>, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .with_state(AppState { health, metrics })
}

/// 200 while consuming, 503 otherwise (connecting, reconnecting, shutting
/// down). InfluxDB being down does not make the service unready: it keeps
/// consuming up to the prefetch and retries; the field tells operators why
/// nothing is acked.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let consuming = state.health.consuming();
    let status = if consuming {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if consuming { "ok" } else { "unavailable" },
        "amqp_connected": consuming,
        "influx_reachable": state.health.influx_reachable(),
    });
    (status, Json(body))
}

async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    wattline_ops::prometheus::render(&state.metrics)
}
