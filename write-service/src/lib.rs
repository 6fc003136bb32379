//! Wattline's write service: RabbitMQ reading batches → validation → InfluxDB
//! line protocol → InfluxDB, acking a message only once InfluxDB durably
//! accepted every point in it (or it was moved to the dead-letter queue).
//!
//! Modules, by job:
//! - [`config`]: flags and environment (clap), secrets redacted;
//! - [`topology`]: the exchanges and queues declared at every connect;
//! - [`consumer`]: a delivery → accepted / empty / poison, using
//!   [`validate`] (pure checks, reason codes), [`ids`] (id types, shared
//!   with every part via `wattline-proto`) and
//!   [`households`] (device → household: auth-service's registry over HTTP
//!   behind a cache that rides out its outages, or a fixed map);
//! - [`pipeline`]: the session loop — batching by points and age, up to N
//!   writes in flight, in-order acks, bisection of rejected batches,
//!   reconnects — with capped, jittered backoff from `wattline_ops::retry`;
//! - [`rate_limit`]: the per-device limit on readings (a flood's excess is
//!   dead-lettered, a backlog replay is not);
//! - [`dead_letter`]: publishing poison to `wattline.readings.dead` with
//!   confirms before the original is acked;
//! - [`telemetry`] (tracing, metrics, events) and [`http`] (`/metrics`,
//!   `/healthz`).
//!
//! `main` parses [`Config`], sets up logging and calls [`run`]; integration
//! tests call [`WriteService::bind`] on port 0 and [`WriteService::run`].

pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod households;
pub mod http;
pub mod pipeline;
pub mod rate_limit;
pub mod telemetry;
pub mod topology;
pub mod validate;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wattline_influx::{InfluxWriter, WriteError};

pub use config::Config;
use households::HouseholdDirectory;
use http::Health;
use pipeline::write::BatchWriter;
use pipeline::Pipeline;
/// The shared id rule and id types (in `wattline-proto`).
pub use wattline_proto::ids;

/// Why the service could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("invalid configuration: {0}")]
    Config(#[from] config::ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up the InfluxDB writer: {0}")]
    Writer(#[from] WriteError),
    #[error("RabbitMQ topology: {0}")]
    Topology(#[from] topology::TopologyError),
    #[error("HTTP server failed: {0}")]
    Http(std::io::Error),
}

/// Runs the write service until `shutdown` is cancelled, then drains and
/// returns `Ok`. The same entry point `main` and the tests use.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    WriteService::bind(config).await?.run(shutdown).await
}

/// A write service with its HTTP port bound, ready to [`run`](Self::run).
#[derive(Debug)]
pub struct WriteService {
    config: Config,
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    pipeline: Pipeline,
}

impl WriteService {
    /// Validates the configuration, builds the household directory from it
    /// (auth-service's registry, cached, or a fixed map) and binds `--listen`.
    pub async fn bind(config: Config) -> Result<Self, RunError> {
        let directory = config.household_directory()?;
        Self::bind_with_directory(config, directory).await
    }

    /// Like [`bind`](Self::bind) with another household directory.
    pub async fn bind_with_directory(
        config: Config,
        directory: Arc<dyn HouseholdDirectory>,
    ) -> Result<Self, RunError> {
        let writer = InfluxWriter::new(config.writer_config()?)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| RunError::Listen {
                addr: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| RunError::Listen {
            addr: config.listen,
            source,
        })?;
        let health = Arc::new(Health::default());
        let pipeline = Pipeline {
            settings: config.pipeline_settings(),
            directory,
            writer: BatchWriter::new(writer, health.clone()),
            health,
        };
        Ok(Self {
            config,
            listener,
            local_addr,
            pipeline,
        })
    }

    /// The address `/metrics` and `/healthz` are served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves HTTP and consumes until `shutdown`; then stops consuming,
    /// finishes (within `--shutdown-grace`) what it holds, and returns.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), RunError> {
        let Self {
            config,
            listener,
            local_addr,
            pipeline,
        } = self;
        // Debug of the config redacts the AMQP password and InfluxDB secrets.
        tracing::info!(?config, %local_addr, "write service starting");
        let metrics = telemetry::prometheus();

        match pipeline.writer.ping().await {
            Ok(()) => pipeline.health.set_influx_reachable(true),
            // Not fatal: writes wait and retry until InfluxDB is back.
            Err(error) => tracing::warn!(%error, "InfluxDB not reachable at startup"),
        }

        // The HTTP server outlives the pipeline's drain, so /metrics and
        // /healthz answer until the very end.
        let http_stop = CancellationToken::new();
        let app = http::router(pipeline.health.clone(), metrics.clone());
        let server = tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(http_stop.clone().cancelled_owned())
                .into_future(),
        );
        let upkeep = tokio::spawn({
            let stop = http_stop.clone();
            async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tick.tick() => metrics.run_upkeep(),
                    }
                }
            }
        });

        let result = pipeline.run(&shutdown).await;
        http_stop.cancel();
        let _ = upkeep.await;
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(RunError::Http(e)),
            Err(e) => tracing::error!(error = %e, "HTTP server task failed"),
        }
        result?;
        tracing::info!("write service stopped");
        Ok(())
    }
}
