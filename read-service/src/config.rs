//! The read service's configuration: every option is a flag and an
//! environment variable (clap `long, env`); the doc comments are `--help`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use wattline_ops::serve::parse_timeout;
pub use wattline_ops::{LogFormat, Secret};

/// A household's power, energy and cost from InfluxDB, for the dashboard:
/// every request carries an access token from auth-service, and answers
/// only ever hold the token's household.
#[derive(Debug, Clone, Parser)]
#[command(name = "read-service", version)]
pub struct Config {
    /// Address of the HTTP API (/api/sockets, /api/power, /api/energy,
    /// /api/export.csv, /api/live, /api/openapi.json, /healthz, /metrics).
    #[arg(long, env = "LISTEN", default_value = "127.0.0.1:8082")]
    pub listen: SocketAddr,

    /// InfluxDB base URL (InfluxQL over /query: 1.x, or the 1.x-compatible
    /// API of 2.x and 3.x).
    #[arg(long, env = "INFLUX_URL", default_value = "http://127.0.0.1:8086")]
    pub influx_url: String,

    /// InfluxDB database holding raw readings and the rollup retention policies.
    #[arg(long, env = "INFLUX_DB", default_value = "wattline")]
    pub influx_db: String,

    /// InfluxDB API token, sent as `Authorization: Token …` (2.x/3.x v1-compatible
    /// /query); leave unset for an unauthenticated 1.x. Never logged.
    #[arg(long, env = "INFLUX_TOKEN", hide_env_values = true)]
    pub influx_token: Option<Secret>,

    /// Longest an InfluxDB query may take before the request fails (503).
    #[arg(long, env = "INFLUX_TIMEOUT", default_value = "20s", value_parser = humantime::parse_duration)]
    pub influx_timeout: Duration,

    /// Requests that may read InfluxDB at once (a request's queries share
    /// its slot; a CSV export holds it while it streams). Beyond it requests
    /// queue for --queue-timeout, then get 429 with Retry-After. Past its
    /// capacity InfluxDB only gets slower for everyone: size this to what
    /// your InfluxDB answers quickly (8 suits a 2-core machine, see
    /// docs/capacity.md).
    #[arg(long, env = "MAX_CONCURRENT_QUERIES", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_concurrent_queries: u32,

    /// Longest a request waits for an InfluxDB slot before it is refused with
    /// 429 (`Retry-After`: this, rounded up to whole seconds).
    #[arg(long, env = "QUEUE_TIMEOUT", default_value = "1s", value_parser = humantime::parse_duration)]
    pub queue_timeout: Duration,

    /// auth-service's public base URL: access tokens are verified with the keys
    /// at {AUTH_URL}/.well-known/jwks.json.
    #[arg(long, env = "AUTH_URL", default_value = "http://127.0.0.1:8081")]
    pub auth_url: String,

    /// auth-service's internal base URL, for household settings (time zone,
    /// tariff) at /internal/households/{id}.
    #[arg(
        long,
        env = "AUTH_INTERNAL_URL",
        default_value = "http://127.0.0.1:8091"
    )]
    pub auth_internal_url: String,

    /// `iss` required of access tokens.
    #[arg(long, env = "JWT_ISSUER", default_value = "wattline-auth")]
    pub jwt_issuer: String,

    /// `aud` required of access tokens.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "wattline")]
    pub jwt_audience: String,

    /// How long the JWKS is kept before it is fetched again (a token with an
    /// unknown key id triggers a fetch sooner, at most every --jwks-refetch-interval).
    #[arg(long, env = "JWKS_CACHE_TTL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub jwks_cache_ttl: Duration,

    /// Least time between two JWKS fetches caused by unknown key ids (so a
    /// flood of forged tokens cannot make us hammer auth-service).
    #[arg(long, env = "JWKS_REFETCH_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub jwks_refetch_interval: Duration,

    /// How long a household's settings (time zone, tariff) are cached.
    #[arg(long, env = "SETTINGS_CACHE_TTL", default_value = "60s", value_parser = humantime::parse_duration)]
    pub settings_cache_ttl: Duration,

    /// Time between two events of /api/live.
    #[arg(long, env = "LIVE_INTERVAL", default_value = "2s", value_parser = humantime::parse_duration)]
    pub live_interval: Duration,

    /// A socket is "reporting" when its last reading is at most this old.
    #[arg(long, env = "REPORTING_WINDOW", default_value = "2m", value_parser = humantime::parse_duration)]
    pub reporting_window: Duration,

    /// /api/sockets lists the sockets seen within this long (in raw readings or rollups).
    #[arg(long, env = "SOCKET_HORIZON", default_value = "400days", value_parser = humantime::parse_duration)]
    pub socket_horizon: Duration,

    /// Longest a client may take to send a request's line and headers; also how long
    /// an idle keep-alive connection is kept open waiting for its next request. Stops
    /// slow-loris clients from holding connections. Keep it above the dashboard
    /// gateway's 10 s pool idle time.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub header_read_timeout: Duration,

    /// Longest a request may take from its headers to the answer's head, receiving its
    /// body included: 408 beyond it. A CSV export or live feed then streams for as long
    /// as it needs.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub request_timeout: Duration,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_contract_and_the_token_is_redacted() {
        let config = Config::parse_from(["read-service", "--influx-token", "hunter2"]);
        assert_eq!(config.listen.to_string(), "127.0.0.1:8082");
        assert_eq!(config.jwt_issuer, "wattline-auth");
        assert_eq!(config.jwt_audience, "wattline");
        assert_eq!(config.settings_cache_ttl, Duration::from_secs(60));
        assert_eq!(config.reporting_window, Duration::from_secs(120));
        assert_eq!(config.live_interval, Duration::from_secs(2));
        assert_eq!(config.max_concurrent_queries, 8);
        assert_eq!(config.queue_timeout, Duration::from_secs(1));
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
