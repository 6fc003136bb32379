//! The `rollup` command line: every option is a flag and an environment
//! variable (clap `long, env`); the doc comments are `--help`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use jiff::Timestamp;
use wattline_ops::{LogFormat, Secret};

use crate::buckets::EnergyRules;
use crate::rollup::{ApiVersion, InfluxSettings, Settings};
use crate::setup::Retention;

/// Minute and hour rollups of Wattline's readings in InfluxDB: set up their
/// retention policies, keep them current, or recompute a past range.
#[derive(Debug, Clone, Parser)]
#[command(name = "rollup", version)]
pub struct Cli {
    /// InfluxDB and how rollups are computed.
    #[command(flatten)]
    pub options: Options,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Create the database if missing, the rollup_1m (800d) and rollup_1h (INF) retention
    /// policies, and set the raw (default) retention policy's duration. Idempotent.
    Setup(SetupArgs),
    /// Keep rollups current: every --every, recompute [now - --lookback, now) for all
    /// households. Serves /healthz and /metrics.
    Run(RunArgs),
    /// Recompute a past range (after a CSV import or an agent's long outage), day by day.
    Backfill(BackfillArgs),
}

/// Options of every subcommand.
#[derive(Debug, Clone, Args)]
pub struct Options {
    /// InfluxDB base URL.
    #[arg(
        long,
        env = "INFLUX_URL",
        default_value = "http://127.0.0.1:8086",
        global = true
    )]
    pub influx_url: String,

    /// InfluxDB database holding raw readings and the rollup retention policies.
    #[arg(long, env = "INFLUX_DB", default_value = "wattline", global = true)]
    pub influx_db: String,

    /// InfluxDB write API: v1 (/write?db=&rp=) or v2 (/api/v2/write to buckets
    /// INFLUX_DB/rollup_1m and INFLUX_DB/rollup_1h, with a token).
    #[arg(long, env = "INFLUX_API", value_enum, default_value_t = ApiVersion::V1, global = true)]
    pub influx_api: ApiVersion,

    /// InfluxDB API token, sent on queries and (v2) writes. Never logged.
    #[arg(long, env = "INFLUX_TOKEN", hide_env_values = true, global = true)]
    pub influx_token: Option<Secret>,

    /// InfluxDB organisation (v2 writes).
    #[arg(long, env = "INFLUX_ORG", global = true)]
    pub influx_org: Option<String>,

    /// Timeout of one InfluxDB write, and of a query's wait for its next chunk.
    #[arg(long, env = "INFLUX_TIMEOUT", default_value = "30s",
          value_parser = humantime::parse_duration, global = true)]
    pub influx_timeout: Duration,

    /// Intervals between readings up to this long may be estimated as power x time (after
    /// a counter reset, or without a counter); longer ones trust the counter only.
    #[arg(long, env = "ROLLUP_MAX_GAP", default_value = "1h",
          value_parser = humantime::parse_duration, global = true)]
    pub max_gap: Duration,

    /// Raw time read per InfluxDB query (whole hours): bounds memory and query size.
    #[arg(long, env = "ROLLUP_CHUNK", default_value = "6h",
          value_parser = humantime::parse_duration, global = true)]
    pub chunk: Duration,

    /// How far before a range to look for each socket's previous reading (the start of the
    /// first interval's energy).
    #[arg(long, env = "ROLLUP_PREVIOUS_WINDOW", default_value = "1d",
          value_parser = humantime::parse_duration, global = true)]
    pub previous_window: Duration,

    /// Rollup points per InfluxDB write.
    #[arg(long, env = "ROLLUP_BATCH_POINTS", default_value_t = 5000,
          value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub batch_points: u32,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

impl Options {
    /// The rollup settings these options describe.
    pub fn settings(&self) -> Settings {
        Settings {
            influx: InfluxSettings {
                url: self.influx_url.clone(),
                database: self.influx_db.clone(),
                api: self.influx_api,
                token: self.influx_token.clone(),
                org: self.influx_org.clone(),
                timeout: self.influx_timeout,
            },
            rules: EnergyRules {
                max_gap: self.max_gap,
            },
            chunk: self.chunk,
            previous_window: self.previous_window,
            batch_points: self.batch_points as usize,
            query_chunk_rows: wattline_influx::query::CHUNK_ROWS,
        }
    }
}

/// `rollup setup`.
#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    /// Duration of the raw readings' (default) retention policy: e.g. 400d, or inf.
    #[arg(long, env = "RAW_RETENTION", default_value = "400d")]
    pub raw_retention: Retention,
}

/// `rollup run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Time between passes.
    #[arg(long, env = "ROLLUP_EVERY", default_value = "1m", value_parser = humantime::parse_duration)]
    pub every: Duration,

    /// Each pass recomputes [now - lookback, now), widened to whole hours: covers late
    /// readings and passes missed while InfluxDB was down.
    #[arg(long, env = "ROLLUP_LOOKBACK", default_value = "2h", value_parser = humantime::parse_duration)]
    pub lookback: Duration,

    /// Address of the HTTP server for /metrics and /healthz (port 0 picks a free port).
    #[arg(long, env = "LISTEN", default_value = "127.0.0.1:9093")]
    pub listen: SocketAddr,
}

/// `rollup backfill`.
#[derive(Debug, Clone, Args)]
pub struct BackfillArgs {
    /// Start of the range, RFC 3339 (e.g. 2026-03-29T00:00:00+01:00); widened to the hour.
    #[arg(long, env = "BACKFILL_FROM")]
    pub from: Timestamp,

    /// End of the range, RFC 3339; default now. Widened to the hour.
    #[arg(long, env = "BACKFILL_TO")]
    pub to: Option<Timestamp>,

    /// Recompute only this household's rollups.
    #[arg(long, env = "BACKFILL_HOUSEHOLD")]
    pub household: Option<String>,

    /// Attempts per day while InfluxDB is unavailable, before giving up.
    #[arg(long, env = "BACKFILL_ATTEMPTS", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub attempts: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let cli = Cli::parse_from(["rollup", "run"]);
        let Command::Run(run) = &cli.command else {
            panic!("run expected");
        };
        assert_eq!(run.every, Duration::from_secs(60));
        assert_eq!(run.lookback, Duration::from_secs(7200));
        assert_eq!(run.listen.to_string(), "127.0.0.1:9093");
        let s = cli.options.settings();
        assert_eq!(s.influx.url, "http://127.0.0.1:8086");
        assert_eq!(s.influx.database, "wattline");
        assert_eq!(s.rules.max_gap, Duration::from_secs(3600));
        assert_eq!(s.chunk, Duration::from_secs(6 * 3600));
        let cli = Cli::parse_from(["rollup", "setup"]);
        let Command::Setup(setup) = &cli.command else {
            panic!("setup expected");
        };
        assert_eq!(
            setup.raw_retention,
            Retention::Duration(Duration::from_secs(400 * 86_400))
        );
    }

    #[test]
    fn global_options_go_after_the_subcommand_and_secrets_never_print() {
        let cli = Cli::parse_from([
            "rollup",
            "backfill",
            "--from",
            "2026-03-29T00:00:00+01:00",
            "--influx-token",
            "tok-123",
            "--household",
            "h 1",
        ]);
        assert!(!format!("{cli:?}").contains("tok-123"));
        let Command::Backfill(b) = &cli.command else {
            panic!("backfill expected");
        };
        assert_eq!(b.from.to_string(), "2026-03-28T23:00:00Z");
        assert_eq!(b.household.as_deref(), Some("h 1"));
        assert!(Cli::try_parse_from(["rollup", "backfill", "--from", "yesterday"]).is_err());
    }
}
