//! The write service's configuration: every option is a flag and an
//! environment variable (clap `long, env`); the doc comments are `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use wattline_influx::{InfluxApi, WriterConfig};
pub use wattline_ops::{AmqpUrl, LogFormat, Secret};

use crate::households::{
    AuthDirectory, AuthDirectoryError, AuthUrl, CacheSettings, CachedDirectory, HouseholdDirectory,
    HouseholdMapping, HouseholdsFileError, StaticDirectory,
};
use crate::pipeline::Settings;
use crate::rate_limit::RateLimitSettings;
use crate::topology::QueueType;

/// Consumes reading batches from RabbitMQ and writes them to InfluxDB,
/// acking each message only once InfluxDB durably accepted it.
#[derive(Debug, Clone, Parser)]
#[command(name = "write-service", version)]
pub struct Config {
    /// RabbitMQ URL, with credentials and vhost (e.g. amqp://user:pass@host:5672/%2f).
    #[arg(long, env = "AMQP_URL", hide_env_values = true)]
    pub amqp_url: AmqpUrl,

    /// InfluxDB base URL.
    #[arg(long, env = "INFLUX_URL", default_value = "http://127.0.0.1:8086")]
    pub influx_url: String,

    /// InfluxDB database (v1 API).
    #[arg(long, env = "INFLUX_DB", default_value = "wattline")]
    pub influx_db: String,

    /// InfluxDB write API: v1 (/write?db=, InfluxDB 1.x and the 2.x/3.x compatibility
    /// endpoint) or v2 (/api/v2/write with a token).
    #[arg(long, env = "INFLUX_API", value_enum, default_value_t = ApiVersion::V1)]
    pub influx_api: ApiVersion,

    /// InfluxDB API token (v2; required there). Never logged.
    #[arg(long, env = "INFLUX_TOKEN", hide_env_values = true)]
    pub influx_token: Option<Secret>,

    /// InfluxDB organisation (v2; required there).
    #[arg(long, env = "INFLUX_ORG")]
    pub influx_org: Option<String>,

    /// InfluxDB bucket (v2); defaults to --influx-db.
    #[arg(long, env = "INFLUX_BUCKET")]
    pub influx_bucket: Option<String>,

    /// InfluxDB user name (v1 with authentication enabled).
    #[arg(long, env = "INFLUX_USER")]
    pub influx_user: Option<String>,

    /// InfluxDB password (v1 with authentication enabled). Never logged.
    #[arg(long, env = "INFLUX_PASSWORD", hide_env_values = true)]
    pub influx_password: Option<Secret>,

    /// Gzip write bodies: auto = off for a loopback InfluxDB (where it only costs CPU),
    /// on otherwise.
    #[arg(long, env = "INFLUX_GZIP", value_enum, default_value_t = GzipMode::Auto)]
    pub influx_gzip: GzipMode,

    /// Timeout of one InfluxDB write request; a timed-out write is retried.
    #[arg(long, env = "INFLUX_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub influx_timeout: Duration,

    /// Unacked messages RabbitMQ may hand us at once (AMQP prefetch). It bounds memory and
    /// the redelivery after a crash, and must cover the batches in flight: at 30 readings a
    /// message, 2 000 messages hold 60 000 points, enough for a pending batch plus
    /// --max-inflight-writes batches of --batch-points 5000 several times over. A stalled
    /// InfluxDB stops deliveries once this many are unacked.
    #[arg(long, env = "PREFETCH", default_value_t = 2000, value_parser = clap::value_parser!(u16).range(1..))]
    pub prefetch: u16,

    /// Flush a batch to InfluxDB once it holds this many points (InfluxDB recommends
    /// 5 000–10 000 points per write).
    #[arg(long, env = "BATCH_POINTS", default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_points: u32,

    /// Flush a batch once its oldest message has waited this long (ms), however small it is:
    /// bounds the latency a trickle of messages sees.
    #[arg(long, env = "BATCH_AGE_MS", default_value_t = 200)]
    pub batch_age_ms: u64,

    /// Batches written to InfluxDB concurrently (acks still go out in delivery order).
    #[arg(long, env = "MAX_INFLIGHT_WRITES", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub max_inflight_writes: u32,

    /// Queue to consume (declared durable and bound to wattline.readings with readings.#).
    #[arg(long, env = "QUEUE", default_value = "wattline.readings.write")]
    pub queue: String,

    /// Type of the queues declared: classic (single node) or quorum (replicated, for a
    /// RabbitMQ cluster). Must match an existing queue's type.
    #[arg(long, env = "QUEUE_TYPE", value_enum, default_value_t = QueueType::Classic)]
    pub queue_type: QueueType,

    /// Address of the HTTP server for /metrics and /healthz (port 0 picks a free port).
    #[arg(long, env = "LISTEN", default_value = "127.0.0.1:9091")]
    pub listen: SocketAddr,

    /// How far in the future a reading's timestamp may lie (agent clock skew); later
    /// readings are dead-lettered. Old readings are always accepted.
    #[arg(long, env = "MAX_CLOCK_SKEW", default_value = "5m", value_parser = humantime::parse_duration)]
    pub max_clock_skew: Duration,

    /// Per-device limit on readings a second, sustained; 0 turns it off. A device that
    /// gets more than --device-backlog-window ahead of it has its excess messages
    /// dead-lettered as rate_limited (kept, not dropped). 100 is over three times a
    /// 30-socket agent at 1 Hz; per replica (N replicas let N times more through).
    #[arg(long, env = "DEVICE_RATE_LIMIT", default_value_t = 100)]
    pub device_rate_limit: u32,

    /// How far ahead of --device-rate-limit a device may get: an agent back after up to
    /// this long offline replays its whole backlog at full speed and loses nothing. The
    /// burst is the product (100/s × 7 days = 60.48 M readings: a full default 64 MiB
    /// spool, or demo.sh's 3 weeks of 8 sockets many times over).
    #[arg(long, env = "DEVICE_BACKLOG_WINDOW", default_value = "7days", value_parser = humantime::parse_duration)]
    pub device_backlog_window: Duration,

    /// auth-service's internal URL (e.g. http://127.0.0.1:8091): each device's household is
    /// looked up in its registry (GET /internal/devices/{id}) and cached. Excludes
    /// --households-file and --household.
    #[arg(long, env = "AUTH_URL")]
    pub auth_url: Option<AuthUrl>,

    /// How long a device's household from auth-service is cached. When auth-service is
    /// down, expired households keep being served to known devices until it is back.
    #[arg(long, env = "AUTH_CACHE_TTL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub auth_cache_ttl: Duration,

    /// How long auth-service's "unknown device" is cached: short, so readings of a device
    /// registered a moment ago are stored soon rather than dead-lettered.
    #[arg(long, env = "AUTH_NEGATIVE_TTL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub auth_negative_ttl: Duration,

    /// CSV file of device_id,household_id records (RFC 4180 quoting, optional header).
    #[arg(long, env = "HOUSEHOLDS_FILE")]
    pub households_file: Option<PathBuf>,

    /// A device's household, DEVICE=HOUSEHOLD (split at the first `=`); repeatable. In the
    /// environment: one mapping a line.
    #[arg(long = "household", env = "HOUSEHOLDS", value_delimiter = '\n')]
    pub households: Vec<HouseholdMapping>,

    /// On SIGTERM/SIGINT, how long to keep retrying unfinished writes before exiting; what
    /// is not written by then stays unacked and the broker redelivers it.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Which InfluxDB write API to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApiVersion {
    V1,
    V2,
}

/// Whether to gzip write bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GzipMode {
    Auto,
    On,
    Off,
}

/// A configuration that parses but cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--influx-api v2 needs --influx-token (INFLUX_TOKEN)")]
    MissingToken,
    #[error("--influx-api v2 needs --influx-org (INFLUX_ORG)")]
    MissingOrg,
    #[error(transparent)]
    Households(#[from] HouseholdsFileError),
    #[error(
        "--auth-url (AUTH_URL) and --households-file/--household (HOUSEHOLDS_FILE/HOUSEHOLDS) \
         are two sources of households: give one"
    )]
    TwoHouseholdSources,
    #[error(transparent)]
    AuthDirectory(#[from] AuthDirectoryError),
}

impl Config {
    /// A configuration with every default, for tests and tools.
    pub fn new(amqp_url: &str) -> Self {
        Self::parse_from(["write-service", "--amqp-url", amqp_url])
    }

    /// The InfluxDB writer settings these options describe.
    pub fn writer_config(&self) -> Result<WriterConfig, ConfigError> {
        let api = match self.influx_api {
            ApiVersion::V1 => InfluxApi::V1 {
                database: self.influx_db.clone(),
                retention_policy: None,
                username: self.influx_user.clone(),
                password: self.influx_password.as_ref().map(|p| p.expose().to_owned()),
            },
            ApiVersion::V2 => InfluxApi::V2 {
                org: self.influx_org.clone().ok_or(ConfigError::MissingOrg)?,
                bucket: self
                    .influx_bucket
                    .clone()
                    .unwrap_or_else(|| self.influx_db.clone()),
                token: self
                    .influx_token
                    .as_ref()
                    .ok_or(ConfigError::MissingToken)?
                    .expose()
                    .to_owned(),
            },
        };
        let gzip = match self.influx_gzip {
            GzipMode::On => true,
            GzipMode::Off => false,
            GzipMode::Auto => WriterConfig::default_gzip_for(&self.influx_url),
        };
        Ok(WriterConfig {
            url: self.influx_url.clone(),
            api,
            gzip,
            timeout: self.influx_timeout,
        })
    }

    /// The household directory: auth-service's registry behind a cache with
    /// `--auth-url`, otherwise the fixed map of [`static_directory`](Self::static_directory)
    /// (empty when neither is given: every device unknown). Binaries must
    /// install a rustls crypto provider first.
    pub fn household_directory(&self) -> Result<Arc<dyn HouseholdDirectory>, ConfigError> {
        let Some(auth_url) = &self.auth_url else {
            return Ok(Arc::new(self.static_directory()?));
        };
        if self.households_file.is_some() || !self.households.is_empty() {
            return Err(ConfigError::TwoHouseholdSources);
        }
        Ok(Arc::new(CachedDirectory::new(
            AuthDirectory::new(auth_url)?,
            CacheSettings::new(self.auth_cache_ttl, self.auth_negative_ttl),
        )))
    }

    /// The household directory from `--households-file` and `--household`
    /// (flags win over the file for the same device).
    pub fn static_directory(&self) -> Result<StaticDirectory, ConfigError> {
        let mut directory = match &self.households_file {
            Some(path) => StaticDirectory::load(path)?,
            None => StaticDirectory::new(),
        };
        for mapping in &self.households {
            directory.insert(mapping.device.clone(), mapping.household.clone());
        }
        Ok(directory)
    }

    /// The batch age limit.
    pub fn batch_age(&self) -> Duration {
        Duration::from_millis(self.batch_age_ms)
    }

    /// What the consuming pipeline needs from these options.
    pub fn pipeline_settings(&self) -> Settings {
        Settings {
            amqp_url: self.amqp_url.expose().to_owned(),
            queue: self.queue.clone(),
            queue_type: self.queue_type,
            prefetch: self.prefetch,
            batch_points: self.batch_points as usize,
            batch_age: self.batch_age(),
            max_inflight_writes: self.max_inflight_writes as usize,
            max_clock_skew: self.max_clock_skew,
            shutdown_grace: self.shutdown_grace,
            rate_limit: RateLimitSettings {
                readings_per_s: self.device_rate_limit,
                backlog_window: self.device_backlog_window,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Config::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let c = Config::new("amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(c.prefetch, 2000);
        assert_eq!(c.batch_points, 5000);
        assert_eq!(c.batch_age(), Duration::from_millis(200));
        assert_eq!(c.max_inflight_writes, 2);
        assert_eq!(c.queue, "wattline.readings.write");
        assert_eq!(c.queue_type, QueueType::Classic);
        assert_eq!(c.listen.to_string(), "127.0.0.1:9091");
        assert_eq!(c.max_clock_skew, Duration::from_secs(300));
        let limit = c.pipeline_settings().rate_limit;
        assert_eq!(limit.readings_per_s, 100);
        assert_eq!(limit.backlog_window, Duration::from_secs(7 * 86_400));
        let w = c.writer_config().unwrap();
        assert!(!w.gzip, "auto gzip is off for a loopback InfluxDB");
        assert!(matches!(w.api, InfluxApi::V1 { ref database, .. } if database == "wattline"));
    }

    #[test]
    fn secrets_never_print() {
        let c = Config::parse_from([
            "write-service",
            "--amqp-url",
            "amqp://svc:hunter2@rabbit:5672/prod",
            "--influx-api",
            "v2",
            "--influx-token",
            "tok-123",
            "--influx-org",
            "acme",
            "--influx-gzip",
            "auto",
            "--influx-url",
            "https://influx.example.com",
        ]);
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("tok-123"),
            "{debug}"
        );
        assert!(debug.contains("amqp://svc:***@rabbit:5672/prod"), "{debug}");
        let w = c.writer_config().unwrap();
        assert!(w.gzip, "auto gzip is on for a remote InfluxDB");
        assert!(matches!(w.api, InfluxApi::V2 { ref bucket, ref token, .. }
            if bucket == "wattline" && token == "tok-123"));
    }

    #[test]
    fn v2_without_token_or_org_is_a_clear_error() {
        let v2_with = |flag: &str, value: &str| {
            let v2 = ["ws", "--amqp-url", "amqp://h", "--influx-api", "v2"];
            Config::parse_from(v2.into_iter().chain([flag, value]))
        };
        let c = v2_with("--influx-org", "o");
        assert!(matches!(c.writer_config(), Err(ConfigError::MissingToken)));
        let c = v2_with("--influx-token", "t");
        assert!(matches!(c.writer_config(), Err(ConfigError::MissingOrg)));
    }

    #[test]
    fn repeated_household_flags_and_a_file_merge() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, b"dev-a,home-file\ndev-b,home-b\n").unwrap();
        let c = Config::parse_from([
            "ws",
            "--amqp-url",
            "amqp://h",
            "--households-file",
            file.path().to_str().unwrap(),
            "--household",
            "dev-a=home-flag",
            "--household",
            "dev c=home c",
        ]);
        let d = c.static_directory().unwrap();
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn auth_url_with_defaults_and_durations() {
        let c = Config::new("amqp://h");
        assert!(c.auth_url.is_none());
        assert_eq!(c.auth_cache_ttl, Duration::from_secs(300));
        assert_eq!(c.auth_negative_ttl, Duration::from_secs(10));
        let c = Config::parse_from([
            "ws",
            "--amqp-url",
            "amqp://h",
            "--auth-url",
            "http://127.0.0.1:8091",
            "--auth-cache-ttl",
            "1h 30s",
            "--auth-negative-ttl",
            "500ms",
        ]);
        assert_eq!(
            c.auth_url.as_ref().map(|u| u.url().as_str()),
            Some("http://127.0.0.1:8091/")
        );
        assert_eq!(c.auth_cache_ttl, Duration::from_secs(3630));
        assert_eq!(c.auth_negative_ttl, Duration::from_millis(500));
        let _ = rustls::crypto::ring::default_provider().install_default();
        let directory = c.household_directory().unwrap();
        assert!(
            format!("{directory:?}").contains("AuthDirectory"),
            "{directory:?}"
        );
        let bad = Config::try_parse_from(["ws", "--amqp-url", "amqp://h", "--auth-url", "ftp://x"]);
        assert!(bad.is_err());
    }

    #[test]
    fn auth_url_together_with_static_households_is_a_clear_error() {
        let with = |extra: &[&str]| {
            let base = [
                "ws",
                "--amqp-url",
                "amqp://h",
                "--auth-url",
                "http://a:8091",
            ];
            Config::parse_from(base.iter().chain(extra))
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        for extra in [
            &["--household", "d=h"][..],
            &["--households-file", "/x.csv"],
        ] {
            let err = with(extra).household_directory().unwrap_err();
            assert!(matches!(err, ConfigError::TwoHouseholdSources), "{err}");
            assert!(err.to_string().contains("--auth-url"), "{err}");
        }
    }
}
