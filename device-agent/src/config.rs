//! The agent's configuration: every option is a flag and an environment
//! variable (clap `long, env`); the doc comments are `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use lapin::uri::AMQPUri;
pub use wattline_ops::{AmqpUrl, LogFormat, Secret};
use wattline_proto::ids::DeviceId;

/// Reads smart sockets and sends their power readings to Wattline: batches
/// are kept in an on-disk spool until RabbitMQ confirms them, so a broker
/// outage or a restart loses nothing.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "device-agent",
    version,
    after_help = "Exit codes: 0 everything read was confirmed by the broker; 1 an error (e.g. the \
                  spool cannot be written); 2 bad flags; 3 stopped by SIGTERM/SIGINT with batches \
                  still spooled (they are sent on the next start)."
)]
pub struct Config {
    /// This device's id, as registered with Wattline (1–64 characters, no control
    /// characters). Publishes use the routing key readings.<device id>.
    #[arg(long, env = "DEVICE_ID")]
    pub device_id: DeviceId,

    /// The device's secret: when given, the agent logs in to RabbitMQ as its device id
    /// with this secret, whatever credentials --amqp-url holds. Never logged.
    #[arg(long, env = "DEVICE_SECRET", hide_env_values = true)]
    pub secret: Option<Secret>,

    /// RabbitMQ URL (amqp:// or amqps://) with vhost, and credentials unless --secret is
    /// given.
    #[arg(
        long,
        env = "AMQP_URL",
        hide_env_values = true,
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp_url: AmqpUrl,

    /// Where readings come from: simulated household sockets, or CSV lines
    /// `socket,timestamp_ms,watts[,energy_wh]` from --input.
    #[arg(long, env = "SOURCE", value_enum, default_value_t = SourceKind::Simulated)]
    pub source: SourceKind,

    /// CSV input file, or `-` for standard input (RFC 4180 quoting, header optional).
    #[arg(long, env = "INPUT", required_if_eq("source", "csv"))]
    pub input: Option<PathBuf>,

    /// Number of simulated sockets.
    #[arg(long, env = "SOCKETS", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub sockets: u16,

    /// Seed of the simulation: the same seed gives the same household.
    #[arg(long, env = "SEED", default_value_t = 1)]
    pub seed: u64,

    /// How often a simulated socket is sampled.
    #[arg(long, env = "SAMPLE_INTERVAL", default_value = "10s", value_parser = parse_positive_duration)]
    pub sample_interval: Duration,

    /// Start the simulation this far in the past and send that history at once, as an
    /// agent back from a week offline would (e.g. 1day).
    #[arg(long, env = "BACKFILL", default_value = "0s", value_parser = humantime::parse_duration)]
    pub backfill: Duration,

    /// How often a batch is spooled and published.
    #[arg(long, env = "INTERVAL", default_value = "60s", value_parser = parse_positive_duration)]
    pub interval: Duration,

    /// Largest batch, in readings: a CSV file or a backfill is cut into batches of this size.
    /// At most 100,000: at most 4 MB of values plus the socket ids, well under the
    /// broker's 16 MiB max_message_size (deploy/stack.sh).
    #[arg(long, env = "MAX_BATCH_READINGS", default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_batch_readings: u32,

    /// Directory of the on-disk spool (created if missing). One agent per directory.
    #[arg(long, env = "SPOOL_DIR", default_value = "spool")]
    pub spool_dir: PathBuf,

    /// Largest size of the spool; when full, the oldest batches are dropped (and logged).
    #[arg(long, env = "SPOOL_MAX_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub spool_max_bytes: u64,

    /// Publish this many batches, then exit once all of them are confirmed.
    #[arg(long, env = "COUNT")]
    pub count: Option<u64>,

    /// Read for this long, then exit once everything read is confirmed.
    #[arg(long, env = "DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,

    /// Batches published and not yet confirmed at once.
    #[arg(long, env = "MAX_IN_FLIGHT", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_in_flight: u32,

    /// Longest wait between two reconnection attempts (the backoff doubles up to this).
    #[arg(long, env = "MAX_BACKOFF", default_value = "30s", value_parser = parse_positive_duration)]
    pub max_backoff: Duration,

    /// On SIGTERM/SIGINT, how long to keep publishing what is spooled before exiting;
    /// the rest stays in the spool for the next start.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// How often a status line (read, spooled, confirmed) is logged.
    #[arg(long, env = "STATUS_INTERVAL", default_value = "30s", value_parser = parse_positive_duration)]
    pub status_interval: Duration,

    /// Optional address of an HTTP server for /metrics and /healthz (port 0 picks one).
    #[arg(long, env = "LISTEN")]
    pub listen: Option<SocketAddr>,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Where readings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceKind {
    /// A seeded simulation of a household's sockets.
    Simulated,
    /// CSV lines from a file or standard input.
    Csv,
}

impl Config {
    /// The broker URL to connect to, logging in with the device's credentials
    /// when it has a secret.
    pub fn broker_uri(&self) -> Result<AMQPUri, String> {
        let mut uri: AMQPUri = self
            .amqp_url
            .expose()
            .parse()
            .map_err(|e| format!("invalid --amqp-url: {e}"))?;
        if let Some(secret) = &self.secret {
            uri.authority.userinfo.username = self.device_id.to_string();
            uri.authority.userinfo.password = secret.expose().to_owned();
        }
        uri.query.frame_max.get_or_insert(AGENT_FRAME_MAX);
        Ok(uri)
    }
}

/// The AMQP frame size the agent asks for unless `--amqp-url` sets
/// `frame_max`. lapin keeps 32 frames of buffer each way, 8 MiB at
/// RabbitMQ's default of 128 KiB: more than the rest of the agent together.
/// A batch is a few KiB; a larger one simply travels in more frames.
pub const AGENT_FRAME_MAX: u32 = 16 * 1024;

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_asks_for_small_frames_unless_the_url_says_otherwise() {
        let config = parse(&["--device-id", "d"]).unwrap();
        assert_eq!(
            config.broker_uri().unwrap().query.frame_max,
            Some(AGENT_FRAME_MAX)
        );
        let config = parse(&[
            "--device-id",
            "d",
            "--amqp-url",
            "amqp://u:p@127.0.0.1:5672/%2f?frame_max=131072",
        ])
        .unwrap();
        assert_eq!(config.broker_uri().unwrap().query.frame_max, Some(131_072));
    }

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("device-agent").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_fit_a_household_agent() {
        let config = parse(&["--device-id", "pi 1"]).expect("parses");
        assert_eq!(config.source, SourceKind::Simulated);
        assert_eq!(config.interval, Duration::from_secs(60));
        assert_eq!(config.count, None);
    }

    #[test]
    fn device_ids_follow_the_id_rules() {
        assert!(parse(&["--device-id", "Küche, Steckdose=1 \"x\""]).is_ok());
        assert!(parse(&["--device-id", ""]).is_err());
        assert!(parse(&["--device-id", &"x".repeat(65)]).is_err());
        assert!(parse(&["--device-id", "a\nb"]).is_err());
    }

    #[test]
    fn csv_needs_an_input_and_durations_must_be_positive() {
        assert!(parse(&["--device-id", "d", "--source", "csv"]).is_err());
        assert!(parse(&["--device-id", "d", "--source", "csv", "--input", "-"]).is_ok());
        assert!(parse(&["--device-id", "d", "--interval", "0s"]).is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config = parse(&["--device-id", "d", "--secret", "hunter2"]).expect("parses");
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn a_secret_means_logging_in_as_the_device() {
        let config = parse(&["--device-id", "pi-7", "--secret", "s3cret"]).expect("parses");
        let uri = config.broker_uri().expect("valid");
        assert_eq!(uri.authority.userinfo.username, "pi-7");
        assert_eq!(uri.authority.userinfo.password, "s3cret");
        let without = parse(&["--device-id", "pi-7"]).expect("parses");
        assert_eq!(
            without
                .broker_uri()
                .expect("valid")
                .authority
                .userinfo
                .username,
            "guest"
        );
    }
}
