//! `rollup run`: a pass every `--every`, recomputing the last `--lookback`,
//! with `/healthz` and `/metrics` on `--listen`.
//!
//! A pass that fails (InfluxDB down) is logged and counted; the next one
//! recomputes the same buckets, so nothing is lost while the outage is
//! shorter than the look-back. On shutdown a running pass is abandoned:
//! what it wrote is valid, and the next start recomputes the rest.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use jiff::{SignedDuration, Timestamp};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::config::RunArgs;
use crate::rollup::{Rollup, RollupError};
use crate::telemetry;

/// Why `run` could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The InfluxDB clients could not be built.
    #[error(transparent)]
    Rollup(#[from] RollupError),
    /// `--listen` could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("HTTP server failed: {0}")]
    Http(std::io::Error),
}

/// What `/healthz` reports.
#[derive(Debug, Default)]
pub struct Health {
    /// 0 no pass finished yet, 1 last pass ok, 2 last pass failed.
    last_outcome: AtomicU8,
    /// Unix ms of the last successful pass's end (0: none).
    last_success_ms: AtomicI64,
}

impl Health {
    fn record(&self, ok: bool) {
        self.last_outcome
            .store(if ok { 1 } else { 2 }, Ordering::Relaxed);
        if ok {
            let now = Timestamp::now().as_millisecond();
            self.last_success_ms.store(now, Ordering::Relaxed);
        }
    }
}

/// The rollup job with its HTTP port bound, ready to [`run`](Self::run).
#[derive(Debug)]
pub struct RollupService {
    rollup: Rollup,
    args: RunArgs,
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
}

impl RollupService {
    /// Binds `--listen`.
    pub async fn bind(rollup: Rollup, args: RunArgs) -> Result<Self, RunError> {
        let listen_error = |source| RunError::Listen {
            addr: args.listen,
            source,
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(listen_error)?;
        let local_addr = listener.local_addr().map_err(listen_error)?;
        Ok(Self {
            rollup,
            args,
            listener,
            local_addr,
        })
    }

    /// The address `/metrics` and `/healthz` are served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Runs passes and serves HTTP until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), RunError> {
        let Self {
            rollup,
            args,
            listener,
            local_addr,
        } = self;
        tracing::info!(settings = ?rollup.settings(), ?args, %local_addr, "rollup starting");
        let metrics = telemetry::prometheus();
        let health = Arc::new(Health::default());
        let app = router(health.clone(), metrics.clone());
        let server = tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.clone().cancelled_owned())
                .into_future(),
        );

        let mut tick = tokio::time::interval(args.every.max(Duration::from_millis(10)));
        // A slow pass delays the next rather than causing a burst.
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let lookback = SignedDuration::try_from(args.lookback).unwrap_or(SignedDuration::MAX);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            // Recompute's output depends only on the data, so dropping a pass
            // midway (shutdown) leaves correct points behind.
            tokio::select! {
                () = shutdown.cancelled() => {
                    tracing::info!("shutdown during a pass; the next start redoes it");
                    break;
                }
                () = pass(&rollup, lookback, &health) => {}
            }
            metrics.run_upkeep();
        }
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(RunError::Http(e)),
            Err(e) => tracing::error!(error = %e, "HTTP server task failed"),
        }
        tracing::info!("rollup stopped");
        Ok(())
    }
}

async fn pass(rollup: &Rollup, lookback: SignedDuration, health: &Health) {
    let started = Instant::now();
    let now = Timestamp::now();
    let from = now.checked_sub(lookback).unwrap_or(Timestamp::MIN);
    match rollup.recompute(from, now, None).await {
        Ok(stats) => {
            telemetry::pass_succeeded(&stats, started.elapsed());
            health.record(true);
        }
        Err(error) => {
            telemetry::pass_failed(&error, started.elapsed());
            health.record(false);
        }
    }
}

/// The router for `/metrics` and `/healthz`.
pub fn router(health: Arc<Health>, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", wattline_ops::prometheus::route(metrics))
        .with_state(health)
}

/// 200 before the first pass and while the last pass succeeded, 503 after a
/// failed one (InfluxDB unreachable, retention policy missing).
async fn healthz(State(health): State<Arc<Health>>) -> impl IntoResponse {
    let outcome = health.last_outcome.load(Ordering::Relaxed);
    let last_success_ms = health.last_success_ms.load(Ordering::Relaxed);
    let (status, text) = match outcome {
        0 => (StatusCode::OK, "starting"),
        1 => (StatusCode::OK, "ok"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "failing"),
    };
    let last_success = (last_success_ms > 0).then(|| telemetry::ms_text(last_success_ms));
    (
        status,
        Json(serde_json::json!({"status": text, "last_success": last_success})),
    )
}
