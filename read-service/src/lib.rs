//! Wattline's read service: a household's power, energy and cost from
//! InfluxDB, JWT-scoped.
//!
//! Modules, by job:
//! - [`config`]: flags and environment (clap), the InfluxDB token redacted;
//! - [`jwt`]: access-token verification with auth-service's JWKS (cached,
//!   refetched on an unknown key id at most every 10 s, EdDSA only);
//! - [`settings`]: household time zone and tariff from auth-service's
//!   internal API, cached;
//! - [`schema`]: where readings and rollups live (the rollup job's contract,
//!   re-exported); InfluxDB is read with `wattline_influx`'s InfluxQL client;
//! - [`resolution`]: which data a power chart reads and at what step;
//! - [`periods`]: calendar hours, days, weeks and months in a time zone;
//! - [`energy`]: summing rollup increases into periods and pricing them;
//! - [`admission`]: at most so many requests read InfluxDB at once, the
//!   excess refused with 429;
//! - [`api`]: the HTTP API, one module per resource;
//! - [`telemetry`]: metric names, the recorder and timed InfluxDB queries.
//!
//! `main` parses [`Config`], sets up logging and calls [`run`]; integration
//! tests call [`ReadService::bind`] on port 0 and [`ReadService::run`].

pub mod admission;
pub mod api;
pub mod config;
pub mod energy;
pub mod jwt;
pub mod periods;
pub mod resolution;
pub mod settings;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wattline_influx::query::{QueryClient, QueryError};

use crate::admission::Admission;
use crate::api::{AppState, Limits};
use crate::jwt::Verifier;
use crate::settings::Settings;
pub use config::Config;
pub use wattline_rollup::schema;

/// Longest wait for a connection to InfluxDB (`--influx-timeout` is the
/// wait for an answer).
const INFLUX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the service could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Listen(#[from] wattline_ops::ListenError),
    #[error("InfluxDB client: {0}")]
    Influx(#[from] QueryError),
}

/// Runs the service until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    ReadService::bind(config).await?.run(shutdown).await
}

/// A read service with its port bound.
#[derive(Debug)]
pub struct ReadService {
    listener: TcpListener,
    state: AppState,
    header_read_timeout: Duration,
}

impl ReadService {
    /// Builds the clients and binds `--listen`. Nothing is contacted yet:
    /// InfluxDB and auth-service may start later.
    pub async fn bind(config: Config) -> Result<Self, RunError> {
        // Debug of the config redacts the InfluxDB token.
        tracing::info!(?config, "read service starting");
        // reqwest is built without a default TLS provider (see the
        // workspace): ring, as every Wattline binary uses. A no-op if one is
        // installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let influx = QueryClient::builder(&config.influx_url, &config.influx_db)
            .token(config.influx_token.as_ref().map(config::Secret::expose))
            .connect_timeout(INFLUX_CONNECT_TIMEOUT)
            .timeout(config.influx_timeout)
            .build()?;
        let state = AppState {
            influx,
            verifier: Arc::new(Verifier::new(
                &config.auth_url,
                &config.jwt_issuer,
                &config.jwt_audience,
                config.jwks_cache_ttl,
                config.jwks_refetch_interval,
            )),
            settings: Arc::new(Settings::new(
                &config.auth_internal_url,
                config.settings_cache_ttl,
            )),
            limits: Limits {
                reporting_window: config.reporting_window,
                socket_horizon: config.socket_horizon,
                live_interval: config.live_interval,
                request_timeout: config.request_timeout,
            },
            admission: Admission::new(config.max_concurrent_queries as usize, config.queue_timeout),
            metrics: telemetry::prometheus(),
            shutdown: CancellationToken::new(),
        };
        let listener = wattline_ops::listen(config.listen).await?;
        Ok(Self {
            listener,
            state,
            header_read_timeout: config.header_read_timeout,
        })
    }

    /// The API's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown`; then ends live feeds, stops accepting, lets
    /// requests in progress finish, and returns.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), RunError> {
        tracing::info!(addr = %self.local_addr(), "read service listening");
        self.state.shutdown = shutdown.clone();
        wattline_ops::serve::serve(
            self.listener,
            api::router(self.state),
            self.header_read_timeout,
            shutdown,
        )
        .await;
        tracing::info!("read service stopped");
        Ok(())
    }
}
