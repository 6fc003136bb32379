//! `rollup setup`: the database and its retention policies, idempotently.
//!
//! - the database, if missing (`CREATE DATABASE` is a no-op when it exists);
//! - `rollup_1m` kept [`MINUTE_RETENTION`], `rollup_1h` kept forever: created
//!   when missing, altered when their duration differs;
//! - the default (raw) retention policy's duration set to `--raw-retention`.
//!
//! InfluxQL DDL exists on InfluxDB 1.x only; on 2.x/3.x create the buckets
//! `<db>/rollup_1m` and `<db>/rollup_1h` and their DBRP mappings instead.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde_json::Value;
use wattline_influx::query::{quote_ident, Query, QueryClient, QueryError};

use crate::schema::{HOUR, MINUTE};

/// How long minute rollups are kept: 800 days, twice the raw default, so the
/// dashboard's 14-day views at minute resolution outlive raw data by far.
pub const MINUTE_RETENTION: Retention = Retention::Duration(Duration::from_secs(800 * 86_400));
/// Hour rollups are kept forever (a year of a socket is 8 760 points).
pub const HOUR_RETENTION: Retention = Retention::Infinite;

/// A retention duration: whole seconds, or forever (`inf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Kept this long (at least one hour, as InfluxDB requires).
    Duration(Duration),
    /// Kept forever.
    Infinite,
}

impl Retention {
    /// The InfluxQL duration literal (`INF` or whole seconds).
    fn influxql(self) -> String {
        match self {
            Self::Infinite => "INF".into(),
            Self::Duration(d) => format!("{}s", d.as_secs()),
        }
    }

    /// Seconds, 0 for forever (as InfluxDB reports it).
    fn seconds(self) -> u64 {
        match self {
            Self::Infinite => 0,
            Self::Duration(d) => d.as_secs(),
        }
    }
}

impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Infinite => f.write_str("inf"),
            Self::Duration(d) if d.as_secs() % 86_400 == 0 => {
                write!(f, "{}d", d.as_secs() / 86_400)
            }
            Self::Duration(d) => write!(f, "{}", humantime::format_duration(*d)),
        }
    }
}

impl FromStr for Retention {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("inf") {
            return Ok(Self::Infinite);
        }
        let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
        if d < Duration::from_secs(3600) || d.subsec_nanos() != 0 {
            return Err("a retention is whole seconds, at least 1h, or `inf`".into());
        }
        Ok(Self::Duration(d))
    }
}

/// Why setup failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// InfluxDB refused or was not reachable.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// `SHOW RETENTION POLICIES` had no default policy.
    #[error("database {0} has no default retention policy")]
    NoDefault(String),
}

/// What setup changed (empty when everything was already in place).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetupReport {
    /// One line per statement that changed something.
    pub changes: Vec<String>,
}

/// A retention policy as `SHOW RETENTION POLICIES` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Policy {
    name: String,
    /// Seconds, 0 = forever.
    seconds: u64,
    default: bool,
}

/// Creates or adjusts the database and its retention policies.
pub async fn setup(
    client: &QueryClient,
    raw_retention: Retention,
) -> Result<SetupReport, SetupError> {
    let db = quote_ident(client.database());
    let mut report = SetupReport::default();
    // Idempotent in InfluxDB itself.
    client
        .query(&Query::new(format!("CREATE DATABASE {db}")))
        .await?;
    let policies = retention_policies(client).await?;
    for (name, wanted) in [
        (MINUTE.retention_policy, MINUTE_RETENTION),
        (HOUR.retention_policy, HOUR_RETENTION),
    ] {
        let statement = match policies.iter().find(|p| p.name == name) {
            None => format!(
                "CREATE RETENTION POLICY {} ON {db} DURATION {} REPLICATION 1",
                quote_ident(name),
                wanted.influxql()
            ),
            Some(p) if p.seconds != wanted.seconds() => format!(
                "ALTER RETENTION POLICY {} ON {db} DURATION {}",
                quote_ident(name),
                wanted.influxql()
            ),
            Some(_) => continue,
        };
        client.query(&Query::new(statement.clone())).await?;
        report.changes.push(statement);
    }
    let raw = policies
        .iter()
        .find(|p| p.default)
        .ok_or_else(|| SetupError::NoDefault(client.database().to_owned()))?;
    if raw.seconds != raw_retention.seconds() {
        let shortening = raw_retention.seconds() != 0
            && (raw.seconds == 0 || raw.seconds > raw_retention.seconds());
        if shortening {
            tracing::warn!(policy = raw.name, to = %raw_retention,
                "shortening the raw retention: InfluxDB deletes older readings");
        }
        let statement = format!(
            "ALTER RETENTION POLICY {} ON {db} DURATION {}",
            quote_ident(&raw.name),
            raw_retention.influxql()
        );
        client.query(&Query::new(statement.clone())).await?;
        report.changes.push(statement);
    }
    Ok(report)
}

/// The database's retention policies.
async fn retention_policies(client: &QueryClient) -> Result<Vec<Policy>, SetupError> {
    let db = quote_ident(client.database());
    let results = client
        .query(&Query::new(format!("SHOW RETENTION POLICIES ON {db}")))
        .await?;
    let mut policies = Vec::new();
    for series in results {
        let column = |name: &str| series.column(name);
        let (Some(name), Some(duration), Some(default)) =
            (column("name"), column("duration"), column("default"))
        else {
            return Err(QueryError::Decode("SHOW RETENTION POLICIES columns".into()).into());
        };
        for row in &series.values {
            let text = |i: usize| row.get(i).and_then(Value::as_str).unwrap_or_default();
            policies.push(Policy {
                name: text(name).to_owned(),
                seconds: parse_go_duration(text(duration)).ok_or_else(|| {
                    QueryError::Decode(format!("retention duration {:?}", text(duration)))
                })?,
                default: row.get(default).and_then(Value::as_bool).unwrap_or(false),
            });
        }
    }
    Ok(policies)
}

/// Whole seconds of a Go duration as InfluxDB prints them (`19200h0m0s`, `0s`).
fn parse_go_duration(text: &str) -> Option<u64> {
    let mut seconds = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let value: u64 = number.parse().ok()?;
        number.clear();
        seconds += value
            * match c {
                'h' => 3600,
                'm' => 60,
                's' => 1,
                _ => return None,
            };
    }
    number.is_empty().then_some(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("0s"), Some(0));
        assert_eq!(parse_go_duration("19200h0m0s"), Some(800 * 86_400));
        assert_eq!(parse_go_duration("1h30m5s"), Some(5405));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration("1d"), None);
    }

    #[test]
    fn retentions_parse_and_print() {
        assert_eq!("inf".parse::<Retention>(), Ok(Retention::Infinite));
        assert_eq!(
            "400d".parse::<Retention>(),
            Ok(Retention::Duration(Duration::from_secs(400 * 86_400)))
        );
        assert!("30m".parse::<Retention>().is_err());
        assert!("soon".parse::<Retention>().is_err());
        assert_eq!(MINUTE_RETENTION.influxql(), "69120000s");
        assert_eq!(HOUR_RETENTION.influxql(), "INF");
        assert_eq!(Retention::Infinite.seconds(), 0);
        assert_eq!(MINUTE_RETENTION.to_string(), "800d");
        assert_eq!(
            "36h".parse::<Retention>().map(|r| r.to_string()),
            Ok("1day 12h".into())
        );
    }
}
