//! Wattline's dashboard server: the web app and the API routed to
//! auth-service and read-service at one origin, so the browser needs no
//! CORS, and the refresh cookie (`Path=/api/auth`) reaches auth-service.
//!
//! Modules, by job:
//! - [`config`]: flags and environment (clap);
//! - [`proxy`]: which service answers an API path, and streaming the
//!   request there and the answer back (`X-Forwarded-For` appended);
//! - [`assets`]: the built dashboard, its caching, the app's fallback page;
//! - [`security`]: the headers every response carries (CSP and friends);
//! - [`meta`]: `/healthz` and `/metrics`; [`telemetry`]: metric names, the
//!   access log;
//! - [`error`]: the gateway's own JSON errors (502 when a service is down).
//!
//! `main` parses [`Config`], sets up logging and calls [`run`]; integration
//! tests call [`Gateway::bind`] on port 0 and [`Gateway::run`].

pub mod assets;
pub mod config;
pub mod error;
pub mod meta;
pub mod proxy;
pub mod security;
pub mod telemetry;

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use wattline_ops::http;

pub use config::Config;

use proxy::{Proxy, Service};

/// Why the gateway could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Listen(#[from] wattline_ops::ListenError),
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub proxy: Proxy,
    pub metrics: PrometheusHandle,
    pub assets_dir: PathBuf,
    /// The static router ([`assets::router`]).
    pub assets: Router,
}

/// The gateway's router: `/healthz`, `/metrics`, the API passed to the
/// services, and the dashboard for everything else.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(meta::healthz))
        .route("/metrics", get(meta::metrics))
        .fallback(dispatch)
        .method_not_allowed_fallback(|| async { error::method_not_allowed() })
        .layer(middleware::from_fn(own_routes_take_no_body))
        .layer(middleware::from_fn(telemetry::observe))
        .layer(middleware::map_response(security::add_headers))
        .with_state(state)
}

/// An API path goes to its service, whatever the method; any other path is
/// the dashboard, for GET and HEAD only.
async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    if let Some(service) = Service::for_path(request.uri().path()) {
        return state.proxy.forward(service, request).await;
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return error::method_not_allowed().into_response();
    }

    match state.assets.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Middleware: the gateway's own routes (the dashboard's files, /healthz,
/// /metrics) take no body, so one is refused with 413, whether it declares
/// its length or comes chunked, rather than left unread on the connection.
/// API paths pass untouched: the proxy streams their bodies within
/// `--max-body-bytes`.
async fn own_routes_take_no_body(request: Request, next: Next) -> Response {
    const NO_BODY: usize = 0;
    if Service::for_path(request.uri().path()).is_some() {
        return next.run(request).await;
    }
    if http::declared_length(request.headers()).is_some_and(|length| length > 0) {
        return http::body_too_large(NO_BODY as u64).into_response();
    }
    let (parts, body) = request.into_parts();
    match http::read_body(body, NO_BODY).await {
        Ok(body) => next.run(Request::from_parts(parts, Body::from(body))).await,
        Err(error) => error.into_response(),
    }
}

/// Runs the gateway until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    Gateway::bind(config, shutdown.clone())
        .await?
        .run(shutdown)
        .await
}

/// A gateway with its port bound.
#[derive(Debug)]
pub struct Gateway {
    listener: TcpListener,
    state: AppState,
    header_read_timeout: std::time::Duration,
}

impl Gateway {
    /// Sets up the HTTP client and the metrics, and binds `--listen`.
    /// `shutdown` also ends the responses still streaming when it fires.
    pub async fn bind(config: Config, shutdown: CancellationToken) -> Result<Self, RunError> {
        tracing::info!(?config, "web starting");
        // reqwest is built without a default TLS provider (see the
        // workspace); https upstreams need one. Idempotent.
        let _ = rustls::crypto::ring::default_provider().install_default();
        if !assets::built(&config.assets_dir) {
            tracing::warn!(
                dir = %config.assets_dir.display(),
                "no index.html in the assets dir: run `npm ci && npm run build` in web/; \
                 the API is served all the same"
            );
        }
        let state = AppState {
            proxy: Proxy::new(&config, shutdown)?,
            metrics: telemetry::prometheus(),
            assets: assets::router(&config.assets_dir),
            assets_dir: config.assets_dir.clone(),
        };
        let listener = wattline_ops::listen(config.listen).await?;
        Ok(Self {
            listener,
            state,
            header_read_timeout: config.header_read_timeout,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown`; then stops accepting, ends streaming
    /// responses, lets the other requests finish, and returns.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), RunError> {
        tracing::info!(addr = %self.local_addr(), "web listening");
        let metrics = self.state.metrics.clone();
        let upkeep = tokio::spawn({
            let stop = shutdown.clone();
            async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        _ = tick.tick() => metrics.run_upkeep(),
                    }
                }
            }
        });
        wattline_ops::serve::serve(
            self.listener,
            router(self.state),
            self.header_read_timeout,
            shutdown,
        )
        .await;
        let _ = upkeep.await;
        tracing::info!("web stopped");
        Ok(())
    }
}
