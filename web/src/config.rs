//! The dashboard server's configuration: every option is a flag and an
//! environment variable (clap `long, env`); the doc comments are `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use wattline_ops::serve::parse_timeout;
pub use wattline_ops::LogFormat;

/// Serves Wattline's dashboard and routes its API calls, at one origin: the
/// account, household and device API to auth-service, every other /api/* to
/// read-service, bodies streamed both ways (live power included).
#[derive(Debug, Clone, Parser)]
#[command(name = "web", version)]
pub struct Config {
    /// Address to serve the dashboard, the API routes, /healthz and /metrics on.
    #[arg(long, env = "LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Base URL of auth-service's public API: /api/auth/*, /api/household*,
    /// /api/devices* and /.well-known/* go there.
    #[arg(long, env = "AUTH_URL", default_value = "http://127.0.0.1:8081")]
    pub auth_url: Upstream,

    /// Base URL of read-service: every other /api/* path goes there.
    #[arg(long, env = "READ_URL", default_value = "http://127.0.0.1:8082")]
    pub read_url: Upstream,

    /// Directory of the built dashboard (`npm run build` in web/ writes web/dist):
    /// index.html and the content-hashed files under assets/.
    #[arg(long, env = "ASSETS_DIR", default_value = "web/dist")]
    pub assets_dir: PathBuf,

    /// Largest request body passed on to a service (413 beyond it). Bodies are read
    /// whole before they are passed on; the services take a few JSON fields (16 KiB
    /// at most).
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: u64,

    /// Longest a client may take to send a request body (408 beyond it).
    #[arg(long, env = "BODY_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub body_timeout: Duration,

    /// How long a service may take to start answering (504 beyond it). Once it
    /// answers, its response may stream for as long as it likes (live power does).
    #[arg(long, env = "UPSTREAM_TIMEOUT", default_value = "60s", value_parser = parse_timeout)]
    pub upstream_timeout: Duration,

    /// Longest a client may take to send a request's line and headers; also how long
    /// an idle keep-alive connection is kept open waiting for its next request. Stops
    /// slow-loris clients from holding connections.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub header_read_timeout: Duration,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// A service's base URL: `http(s)://host[:port]`, without a trailing slash, so
/// a request's path and query are appended as they came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream(String);

impl Upstream {
    /// The base URL, e.g. `http://127.0.0.1:8081`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Upstream {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let base = s.trim().trim_end_matches('/');
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
            .ok_or_else(|| format!("{s:?} is not an http:// or https:// URL"))?;
        // A path would silently change every route; a query or credentials
        // make no sense for a base URL.
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "{s:?} must be a base URL: scheme, host and optional port only"
            ));
        }
        Ok(Self(base.to_owned()))
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_are_base_urls_without_a_trailing_slash() {
        let upstream: Upstream = "http://127.0.0.1:8081/".parse().unwrap();
        assert_eq!(upstream.as_str(), "http://127.0.0.1:8081");
        assert!("https://auth.internal".parse::<Upstream>().is_ok());
        for bad in [
            "127.0.0.1:8081",
            "ftp://x",
            "http://",
            "http://host/api",
            "http://u:p@host",
            "http://host?x=1",
        ] {
            assert!(bad.parse::<Upstream>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_defaults_are_the_documented_ports() {
        let config = Config::parse_from(["web"]);
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.auth_url.as_str(), "http://127.0.0.1:8081");
        assert_eq!(config.read_url.as_str(), "http://127.0.0.1:8082");
        assert_eq!(config.assets_dir, PathBuf::from("web/dist"));
    }
}
