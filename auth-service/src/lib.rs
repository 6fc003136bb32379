//! Wattline's auth service: accounts, households, devices and tokens, and
//! the answers RabbitMQ and the write service need about devices.
//!
//! Modules, by job:
//! - [`config`]: flags and environment (clap), secrets redacted;
//! - [`store`]: the database (SQLite or PostgreSQL, one code path);
//! - [`passwords`] (argon2id), [`credentials`] (random ids and secrets,
//!   hashed), [`keys`] (the Ed25519 signing key, JWKS) and
//!   [`access_token`] (issuing and verifying JWTs);
//! - [`rate_limit`]: login throttling per account and client;
//! - [`api`]: the public HTTP API; [`internal`]: the broker's auth backend
//!   and the device registry, on their own listener;
//! - [`time_zone`]: households' time zones, checked against jiff's database;
//! - [`telemetry`] names and counts the metrics.
//!
//! `main` parses [`Config`], sets up logging and calls [`run`]; integration
//! tests call [`AuthService::bind`] on port 0 and [`AuthService::run`].

pub mod access_token;
pub mod api;
pub mod config;
pub mod credentials;
pub mod internal;
pub mod keys;
pub mod passwords;
pub mod rate_limit;
pub mod store;
pub mod telemetry;
pub mod time_zone;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wattline_ops::serve::serve;

use crate::access_token::AccessTokens;
use crate::api::{AppState, Settings};
use crate::internal::InternalState;
use crate::passwords::Passwords;
use crate::rate_limit::Limits;
use crate::store::Store;
pub use config::Config;

/// Why the service could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Listen(#[from] wattline_ops::ListenError),
    #[error("cannot open the database: {0}")]
    Store(#[from] store::StoreError),
    #[error("signing keys: {0}")]
    Keys(#[from] keys::KeyError),
}

/// Now, in Unix seconds (as stored and as in tokens).
pub fn unix_now() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// Runs the service until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    AuthService::bind(config).await?.run(shutdown).await
}

/// An auth service with its database open and both ports bound.
#[derive(Debug)]
pub struct AuthService {
    public: TcpListener,
    internal: TcpListener,
    state: AppState,
    internal_state: InternalState,
    header_read_timeout: Duration,
}

impl AuthService {
    /// Opens (and migrates) the database, loads or creates the signing key,
    /// and binds `--listen` and `--internal-listen`.
    pub async fn bind(config: Config) -> Result<Self, RunError> {
        // Debug of the config redacts the database URL and the key.
        tracing::info!(?config, "auth service starting");
        let keys = keys::Keys::load(
            config.signing_key.as_ref(),
            &config.signing_key_file,
            &config.verify_key_files,
        )?;
        let store = Store::open(config.database_url.expose()).await?;
        let state = AppState {
            store: store.clone(),
            passwords: Arc::new(Passwords::new(config.password_min_length)),
            tokens: Arc::new(AccessTokens::new(
                keys,
                config.issuer.clone(),
                config.audience.clone(),
                config.access_token_ttl,
            )),
            limits: Arc::new(Limits::new(
                config.login_limit_per_account,
                config.login_limit_per_client,
            )),
            settings: Arc::new(Settings {
                refresh_token_ttl: config.refresh_token_ttl,
                refresh_reuse_grace: config.refresh_reuse_grace,
                invite_ttl: config.invite_ttl,
                trust_forwarded_for: config.trust_forwarded_for,
                secure_cookies: !config.insecure_cookies,
                amqp_vhost: config.amqp_vhost.clone(),
                request_timeout: config.request_timeout,
            }),
            metrics: telemetry::prometheus(),
        };
        let internal_state = InternalState {
            store,
            vhost: config.amqp_vhost.as_str().into(),
        };
        Ok(Self {
            public: wattline_ops::listen(config.listen).await?,
            internal: wattline_ops::listen(config.internal_listen).await?,
            state,
            internal_state,
            header_read_timeout: config.header_read_timeout,
        })
    }

    /// The public API's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.public
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The internal API's address.
    pub fn internal_addr(&self) -> SocketAddr {
        self.internal
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves both APIs until `shutdown`; then stops accepting, lets requests
    /// in progress finish, and returns.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), RunError> {
        tracing::info!(public = %self.local_addr(), internal = %self.internal_addr(), "auth service listening");
        let limits = self.state.limits.clone();
        let upkeep = tokio::spawn({
            let stop = shutdown.clone();
            let metrics = self.state.metrics.clone();
            async move {
                let mut tick = tokio::time::interval(Duration::from_secs(10));
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tick.tick() => {
                            limits.forget_idle();
                            metrics.run_upkeep();
                        }
                    }
                }
            }
        });
        tokio::join!(
            serve(
                self.public,
                api::router(self.state),
                self.header_read_timeout,
                shutdown.clone(),
            ),
            serve(
                self.internal,
                internal::router(self.internal_state),
                self.header_read_timeout,
                shutdown.clone(),
            ),
        );
        let _ = upkeep.await;
        tracing::info!("auth service stopped");
        Ok(())
    }
}
