//! The auth service's configuration: every option is a flag and an
//! environment variable (clap `long, env`); the doc comments are `--help`.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use wattline_ops::serve::parse_timeout;
pub use wattline_ops::{LogFormat, Secret};

/// Accounts, households, devices and tokens for Wattline; also answers
/// RabbitMQ's HTTP auth backend for device logins and tells the write
/// service which household a device belongs to.
#[derive(Debug, Clone, Parser)]
#[command(name = "auth-service", version)]
pub struct Config {
    /// Address of the public HTTP API (/api/auth/*, /api/devices, /api/household/*,
    /// /.well-known/jwks.json, /api/openapi.json, /healthz, /metrics).
    #[arg(long, env = "LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,

    /// Address of the internal API: RabbitMQ's HTTP auth backend (/internal/rabbitmq/*)
    /// and the device registry the write service reads (/internal/devices/{id}). It
    /// answers without authentication, so keep it on a private interface.
    #[arg(long, env = "INTERNAL_LISTEN", default_value = "127.0.0.1:8091")]
    pub internal_listen: SocketAddr,

    /// Database: sqlite://PATH (the file is created on first start) or
    /// postgres://user:pass@host/db. Never logged.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://wattline-auth.db",
        hide_env_values = true,
        hide_default_value = false
    )]
    pub database_url: Secret,

    /// The token signing key: an Ed25519 private key, PKCS#8 PEM text. Overrides
    /// --signing-key-file. Never logged.
    #[arg(long, env = "JWT_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<Secret>,

    /// File holding the Ed25519 signing key (PKCS#8 PEM). If it does not exist, a new key
    /// is generated and written there (mode 600) on first start.
    #[arg(
        long,
        env = "JWT_SIGNING_KEY_FILE",
        default_value = "wattline-auth-signing-key.pem"
    )]
    pub signing_key_file: PathBuf,

    /// Public keys (Ed25519, SPKI PEM) of earlier signing keys, still published in the
    /// JWKS so that tokens they signed stay valid until they expire; repeatable, or
    /// comma-separated in the environment.
    #[arg(
        long = "verify-key-file",
        env = "JWT_VERIFY_KEY_FILES",
        value_delimiter = ','
    )]
    pub verify_key_files: Vec<PathBuf>,

    /// `iss` of the access tokens issued (and required of tokens presented).
    #[arg(long, env = "JWT_ISSUER", default_value = "wattline-auth")]
    pub issuer: String,

    /// `aud` of the access tokens issued (and required of tokens presented).
    #[arg(long, env = "JWT_AUDIENCE", default_value = "wattline")]
    pub audience: String,

    /// Lifetime of an access token.
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value = "15m", value_parser = humantime::parse_duration)]
    pub access_token_ttl: Duration,

    /// Lifetime of a refresh token (each use issues a new one).
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value = "30days", value_parser = humantime::parse_duration)]
    pub refresh_token_ttl: Duration,

    /// How long a refresh token, once exchanged, may be exchanged again without
    /// counting as reuse: a browser that reloads while its refresh is in flight
    /// never receives the new cookie and presents the old token again. Beyond
    /// this window a spent token revokes its family. 0s turns the grace off.
    #[arg(long, env = "REFRESH_REUSE_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub refresh_reuse_grace: Duration,

    /// Lifetime of an invitation to join a household.
    #[arg(long, env = "INVITE_TTL", default_value = "7days", value_parser = humantime::parse_duration)]
    pub invite_ttl: Duration,

    /// Login and password-check attempts allowed per account, as COUNT/PERIOD (a burst of
    /// COUNT, then one more every PERIOD/COUNT); beyond it: 429 with Retry-After.
    #[arg(long, env = "LOGIN_LIMIT_PER_ACCOUNT", default_value = "5/1m")]
    pub login_limit_per_account: RateLimit,

    /// Login and registration attempts allowed per client address, as COUNT/PERIOD.
    #[arg(long, env = "LOGIN_LIMIT_PER_CLIENT", default_value = "30/1m")]
    pub login_limit_per_client: RateLimit,

    /// Take the client address for rate limits from the last X-Forwarded-For entry
    /// (set this only behind a reverse proxy that appends it, such as the dashboard).
    #[arg(long, env = "TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,

    /// Send the browser session cookie (`wattline_refresh`) without `Secure`, so that
    /// browsers keep it over plain http. Only for a demo or development on localhost:
    /// anywhere else, serve https and leave this off.
    #[arg(long, env = "INSECURE_COOKIES")]
    pub insecure_cookies: bool,

    /// Longest a client may take to send a request's line and headers; also how long
    /// an idle keep-alive connection is kept open waiting for its next request. Stops
    /// slow-loris clients from holding connections. Keep it above the dashboard
    /// gateway's 10 s pool idle time.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub header_read_timeout: Duration,

    /// Longest a request may take from its headers to the answer's head, receiving its
    /// body included (a slow body is cut off): 408 beyond it.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub request_timeout: Duration,

    /// Shortest password accepted.
    #[arg(long, env = "PASSWORD_MIN_LENGTH", default_value_t = 10)]
    pub password_min_length: usize,

    /// The RabbitMQ virtual host devices may use.
    #[arg(long, env = "AMQP_VHOST", default_value = "/")]
    pub amqp_vhost: String,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `COUNT/PERIOD`, e.g. `5/1m`: a burst of COUNT attempts, refilled at one
/// attempt every PERIOD/COUNT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: NonZeroU32,
    pub period: Duration,
}

impl FromStr for RateLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (count, period) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not COUNT/PERIOD (e.g. 5/1m)"))?;
        let count: NonZeroU32 = count
            .trim()
            .parse()
            .map_err(|e| format!("count {count:?}: {e}"))?;
        let period = humantime::parse_duration(period.trim())
            .map_err(|e| format!("period {period:?}: {e}"))?;
        if period.is_zero() {
            return Err("the period must be longer than zero".into());
        }
        Ok(Self { count, period })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_parse_count_and_period() {
        let limit: RateLimit = "5/1m".parse().unwrap();
        assert_eq!(limit.count.get(), 5);
        assert_eq!(limit.period, Duration::from_secs(60));
        assert!("0/1m".parse::<RateLimit>().is_err());
        assert!("5".parse::<RateLimit>().is_err());
        assert!("5/0s".parse::<RateLimit>().is_err());
        assert!("x/1m".parse::<RateLimit>().is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config = Config::parse_from([
            "auth-service",
            "--database-url",
            "postgres://u:hunter2@db/x",
            "--signing-key=-----BEGIN PRIVATE KEY-----hunter3",
        ]);
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("hunter3"), "{debug}");
    }
}
