//! [`Rollup`]: recomputes the rollups of a time range from raw readings.
//!
//! A recomputation widens the range to whole UTC hours (so every hour bucket
//! it writes is complete), then walks it in chunks of `chunk` hours. Per
//! chunk it streams the raw readings series by series, turns each socket's
//! readings into minute and hour buckets ([`crate::buckets`]), adds them to
//! its household's totals, and writes the points in batches to the
//! `rollup_1m` and `rollup_1h` retention policies. Each socket's last
//! reading is carried into the next chunk; the first chunk looks it up
//! before the range (`previous_window` back) so the first interval's energy
//! counts. Memory holds one socket's readings of one chunk and the household
//! totals of one chunk.
//!
//! Writing a bucket again overwrites it (same measurement, tags and time),
//! so recomputing is idempotent and safe to repeat or run twice at once.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use clap::ValueEnum;
use jiff::Timestamp;
use wattline_influx::query::{Query, QueryClient, QueryClientBuilder, QueryError, Series};
use wattline_influx::{InfluxApi, InfluxWriter, WriteError, WriteOutcome, WriterConfig};
use wattline_ops::Secret;

use crate::buckets::{self, EnergyRules, HouseholdTotals, Reading};
use crate::points::{RollupLines, SeriesKey};
use crate::schema::{Resolution, HOUR, MINUTE};

/// Raw readings of a range, one series per socket, oldest first.
const RAW_QUERY: &str = "SELECT watts, energy_wh FROM power \
    WHERE time >= $from AND time < $to \
    GROUP BY household, device, socket ORDER BY time ASC";
/// [`RAW_QUERY`] for one household.
const RAW_QUERY_HOUSEHOLD: &str = "SELECT watts, energy_wh FROM power \
    WHERE time >= $from AND time < $to AND household = $household \
    GROUP BY household, device, socket ORDER BY time ASC";
/// Each socket's last reading in a range. Not `last()`: with two fields it
/// answers the range's start as the time, and the reset and gap rules need
/// the reading's own.
const PREVIOUS_QUERY: &str = "SELECT watts, energy_wh FROM power \
    WHERE time >= $from AND time < $to \
    GROUP BY household, device, socket ORDER BY time DESC LIMIT 1";
/// [`PREVIOUS_QUERY`] for one household.
const PREVIOUS_QUERY_HOUSEHOLD: &str = "SELECT watts, energy_wh FROM power \
    WHERE time >= $from AND time < $to AND household = $household \
    GROUP BY household, device, socket ORDER BY time DESC LIMIT 1";

const HOUR_MS: i64 = 3_600_000;

/// Which InfluxDB API to use (`INFLUX_API`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApiVersion {
    /// InfluxDB 1.x: `/write?db=…&rp=…`, no credentials.
    V1,
    /// InfluxDB 2.x/3.x: `/api/v2/write` to bucket `<db>/<rp>` (the 1.x
    /// mapping convention), `Authorization: Token` on writes and queries.
    V2,
}

/// How to reach InfluxDB.
#[derive(Debug, Clone)]
pub struct InfluxSettings {
    /// Base URL, e.g. `http://127.0.0.1:8086`.
    pub url: String,
    /// Database holding raw readings and the rollup retention policies.
    pub database: String,
    /// Write API.
    pub api: ApiVersion,
    /// API token (v2; sent on queries whenever given).
    pub token: Option<Secret>,
    /// Organisation (v2 writes).
    pub org: Option<String>,
    /// Timeout of a write, and of a query's wait for its next chunk.
    pub timeout: Duration,
}

impl InfluxSettings {
    /// A query client for the database, with the token and timeout.
    pub fn query_client(&self) -> QueryClientBuilder {
        QueryClient::builder(&self.url, &self.database)
            .token(self.token.as_ref().map(Secret::expose))
            .timeout(self.timeout)
    }
}

/// Everything a [`Rollup`] needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// InfluxDB.
    pub influx: InfluxSettings,
    /// Energy rules (counter resets, gaps).
    pub rules: EnergyRules,
    /// Raw time read per query; rounded up to whole hours.
    pub chunk: Duration,
    /// How far before a range to look for each socket's previous reading.
    pub previous_window: Duration,
    /// Points per write request.
    pub batch_points: usize,
    /// Rows per chunk of InfluxDB's streamed answers.
    pub query_chunk_rows: usize,
}

impl Settings {
    /// Defaults for an InfluxDB 1.x at `url` without credentials: 1 h gap
    /// limit, 6 h chunks, 1 day look-back, 5 000 points per write.
    pub fn new(url: &str, database: &str) -> Self {
        Self {
            influx: InfluxSettings {
                url: url.to_owned(),
                database: database.to_owned(),
                api: ApiVersion::V1,
                token: None,
                org: None,
                timeout: Duration::from_secs(30),
            },
            rules: EnergyRules::default(),
            chunk: Duration::from_secs(6 * 3600),
            previous_window: Duration::from_secs(24 * 3600),
            batch_points: 5000,
            query_chunk_rows: wattline_influx::query::CHUNK_ROWS,
        }
    }
}

/// Why a recomputation failed. Nothing is left half-done that a repeat
/// would not fix: points already written are simply written again.
#[derive(Debug, thiserror::Error)]
pub enum RollupError {
    /// Reading from InfluxDB failed.
    #[error("reading raw readings: {0}")]
    Query(#[from] QueryError),
    /// Writing rollups failed (a missing retention policy: run `rollup setup`).
    #[error("writing to retention policy {retention_policy}: {source}")]
    Write {
        /// Where the write went.
        retention_policy: &'static str,
        /// What InfluxDB said.
        #[source]
        source: WriteError,
    },
    /// The settings cannot work.
    #[error("invalid settings: {0}")]
    Config(String),
}

impl RollupError {
    /// True when the same recomputation may succeed later (InfluxDB down).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Query(QueryError::Unavailable(_)) => true,
            Self::Write { source, .. } => source.is_retryable() && !self.needs_setup(),
            _ => false,
        }
    }

    /// True when a rollup retention policy is missing: `rollup setup` was
    /// not run. (InfluxDB answers that write with a 500.)
    pub fn needs_setup(&self) -> bool {
        matches!(self, Self::Write { source, .. }
            if source.to_string().contains("retention policy not found"))
    }
}

/// What one recomputation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecomputeStats {
    /// Start of the range recomputed (aligned down to the hour), Unix ms.
    pub from_ms: i64,
    /// End of the range recomputed (aligned up to the hour), Unix ms.
    pub to_ms: i64,
    /// Raw readings read (in the range; the look-back not counted).
    pub readings: u64,
    /// Socket series read, counted once per chunk they appear in.
    pub series: u64,
    /// Series skipped because a tag cannot be written back (logged).
    pub skipped_series: u64,
    /// Rollup points written (minute and hour, socket and household).
    pub points_written: u64,
    /// Points InfluxDB dropped as beyond a retention policy (logged).
    pub points_dropped: u64,
}

impl RecomputeStats {
    fn add(&mut self, other: &Self) {
        self.readings += other.readings;
        self.series += other.series;
        self.skipped_series += other.skipped_series;
        self.points_written += other.points_written;
        self.points_dropped += other.points_dropped;
    }
}

/// Recomputes rollups. Cheap to clone (shares connection pools).
#[derive(Debug, Clone)]
pub struct Rollup {
    query: QueryClient,
    minute: InfluxWriter,
    hour: InfluxWriter,
    settings: Settings,
}

impl Rollup {
    /// Builds the InfluxDB clients. Binaries must install a rustls crypto
    /// provider first (`rustls::crypto::ring::default_provider().install_default()`).
    pub fn new(settings: Settings) -> Result<Self, RollupError> {
        let influx = &settings.influx;
        let query = influx
            .query_client()
            .chunk_rows(settings.query_chunk_rows)
            .build()?;
        let writer = |resolution: Resolution| {
            let api = match influx.api {
                ApiVersion::V1 => InfluxApi::V1 {
                    database: influx.database.clone(),
                    retention_policy: Some(resolution.retention_policy.to_owned()),
                    username: None,
                    password: None,
                },
                ApiVersion::V2 => InfluxApi::V2 {
                    org: influx.org.clone().ok_or_else(|| {
                        RollupError::Config("--influx-api v2 needs --influx-org".into())
                    })?,
                    bucket: format!("{}/{}", influx.database, resolution.retention_policy),
                    token: influx
                        .token
                        .as_ref()
                        .ok_or_else(|| {
                            RollupError::Config("--influx-api v2 needs --influx-token".into())
                        })?
                        .expose()
                        .to_owned(),
                },
            };
            InfluxWriter::new(WriterConfig {
                url: influx.url.clone(),
                api,
                gzip: WriterConfig::default_gzip_for(&influx.url),
                timeout: influx.timeout,
            })
            .map_err(|source| RollupError::Write {
                retention_policy: resolution.retention_policy,
                source,
            })
        };
        Ok(Self {
            minute: writer(MINUTE)?,
            hour: writer(HOUR)?,
            query,
            settings,
        })
    }

    /// The settings this rollup runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Recomputes every rollup bucket in `[from, to)`, widened to whole UTC
    /// hours, for every household or only `household`.
    #[tracing::instrument(skip(self, from, to), fields(from = %from, to = %to))]
    pub async fn recompute(
        &self,
        from: Timestamp,
        to: Timestamp,
        household: Option<&str>,
    ) -> Result<RecomputeStats, RollupError> {
        let from_ms = buckets::bucket_start(from.as_millisecond(), HOUR_MS);
        let to_ms = -buckets::bucket_start(-to.as_millisecond(), HOUR_MS);
        let mut stats = RecomputeStats {
            from_ms,
            to_ms,
            ..RecomputeStats::default()
        };
        if to_ms <= from_ms {
            return Ok(stats);
        }
        let window_ms = buckets::bucket_ms(self.settings.previous_window);
        let mut previous = self
            .previous_readings(from_ms.saturating_sub(window_ms), from_ms, household)
            .await?;
        let chunk_ms = buckets::bucket_ms(self.settings.chunk).max(1);
        let chunk_hours = chunk_ms.saturating_add(HOUR_MS - 1) / HOUR_MS;
        let mut start = from_ms;
        while start < to_ms {
            let end = start.saturating_add(chunk_hours * HOUR_MS).min(to_ms);
            let chunk = self.chunk(start, end, household, &mut previous).await?;
            stats.add(&chunk);
            start = end;
        }
        Ok(stats)
    }

    /// Each socket's last reading in `[from_ms, to_ms)`.
    async fn previous_readings(
        &self,
        from_ms: i64,
        to_ms: i64,
        household: Option<&str>,
    ) -> Result<HashMap<SeriesKey, Reading>, RollupError> {
        let query = range_query(
            PREVIOUS_QUERY,
            PREVIOUS_QUERY_HOUSEHOLD,
            from_ms,
            to_ms,
            household,
        );
        let mut stream = self.query.chunked::<RawRow>(&query).await?;
        let mut previous = HashMap::new();
        while let Some(series) = stream.next_series().await? {
            let (key, readings) = socket_readings(series);
            if let Some(last) = readings.iter().max_by_key(|r| r.time_ms) {
                previous.insert(key, *last);
            }
        }
        Ok(previous)
    }

    /// Recomputes the whole hours `[from_ms, to_ms)`.
    async fn chunk(
        &self,
        from_ms: i64,
        to_ms: i64,
        household: Option<&str>,
        previous: &mut HashMap<SeriesKey, Reading>,
    ) -> Result<RecomputeStats, RollupError> {
        let minute_ms = buckets::bucket_ms(MINUTE.bucket);
        let hour_ms = buckets::bucket_ms(HOUR.bucket);
        let mut stats = RecomputeStats::default();
        let mut out = Output::new(self, self.settings.batch_points);
        // By household id, so household points are written in a fixed order.
        let mut households: BTreeMap<String, [HouseholdTotals; 2]> = BTreeMap::new();
        let query = range_query(RAW_QUERY, RAW_QUERY_HOUSEHOLD, from_ms, to_ms, household);
        let mut stream = self.query.chunked::<RawRow>(&query).await?;
        while let Some(series) = stream.next_series().await? {
            let (key, mut readings) = socket_readings(series);
            stats.series += 1;
            stats.readings += readings.len() as u64;
            if let Err(error) = key.check() {
                stats.skipped_series += 1;
                tracing::warn!(%error, household = key.household, device = key.device,
                    socket = key.socket, "series skipped: its tags cannot be written back");
                continue;
            }
            let minutes = buckets::socket_buckets(
                previous.get(&key),
                &mut readings,
                minute_ms,
                self.settings.rules,
            );
            let hours = buckets::merge_buckets(&minutes, hour_ms);
            let totals = households.entry(key.household.clone()).or_default();
            totals[0].add(&minutes);
            totals[1].add(&hours);
            out.minute.push_socket(&key, &minutes);
            out.hour.push_socket(&key, &hours);
            if let Some(last) = readings.last() {
                previous.insert(key, *last);
            }
            out.flush_full(&mut stats).await?;
        }
        for (household, [minutes, hours]) in &households {
            for (start, total) in minutes.buckets() {
                out.minute.push_household(household, start, total);
            }
            for (start, total) in hours.buckets() {
                out.hour.push_household(household, start, total);
            }
            out.flush_full(&mut stats).await?;
        }
        out.flush_all(&mut stats).await?;
        tracing::debug!(
            from_ms,
            to_ms,
            readings = stats.readings,
            series = stats.series,
            points = stats.points_written,
            "chunk recomputed"
        );
        Ok(stats)
    }
}

/// The query for a range, for every household or one, with its parameters
/// bound (times as ns integers).
fn range_query(
    all: &'static str,
    one: &'static str,
    from_ms: i64,
    to_ms: i64,
    household: Option<&str>,
) -> Query {
    let ns = |ms: i64| ms.saturating_mul(1_000_000);
    let query = |text| {
        Query::new(text)
            .bind("from", ns(from_ms))
            .bind("to", ns(to_ms))
    };
    match household {
        None => query(all),
        Some(h) => query(one).bind("household", h),
    }
}

/// A row of the raw queries: `SELECT watts, energy_wh` with `epoch=ms`.
type RawRow = (i64, Option<f64>, Option<f64>);

/// A socket's key (from the series' tags) and readings. A row without power
/// (only other fields written) is no reading.
fn socket_readings(series: Series<RawRow>) -> (SeriesKey, Vec<Reading>) {
    let key = SeriesKey {
        household: series.tag("household").to_owned(),
        device: series.tag("device").to_owned(),
        socket: series.tag("socket").to_owned(),
    };
    let readings = series
        .values
        .into_iter()
        .filter_map(|(time_ms, watts, energy_wh)| {
            Some(Reading {
                time_ms,
                watts: watts?,
                energy_wh,
            })
        })
        .collect();
    (key, readings)
}

/// The two bodies being filled and the writers they go to.
struct Output<'a> {
    rollup: &'a Rollup,
    batch_points: usize,
    minute: RollupLines,
    hour: RollupLines,
}

impl<'a> Output<'a> {
    fn new(rollup: &'a Rollup, batch_points: usize) -> Self {
        Self {
            rollup,
            batch_points: batch_points.max(1),
            minute: RollupLines::default(),
            hour: RollupLines::default(),
        }
    }

    /// Writes each body that reached the batch size.
    async fn flush_full(&mut self, stats: &mut RecomputeStats) -> Result<(), RollupError> {
        if self.minute.point_count() >= self.batch_points {
            write(&self.rollup.minute, MINUTE, &mut self.minute, stats).await?;
        }
        if self.hour.point_count() >= self.batch_points {
            write(&self.rollup.hour, HOUR, &mut self.hour, stats).await?;
        }
        Ok(())
    }

    /// Writes whatever is left.
    async fn flush_all(&mut self, stats: &mut RecomputeStats) -> Result<(), RollupError> {
        write(&self.rollup.minute, MINUTE, &mut self.minute, stats).await?;
        write(&self.rollup.hour, HOUR, &mut self.hour, stats).await
    }
}

async fn write(
    writer: &InfluxWriter,
    resolution: Resolution,
    lines: &mut RollupLines,
    stats: &mut RecomputeStats,
) -> Result<(), RollupError> {
    if lines.point_count() == 0 {
        return Ok(());
    }
    let outcome = writer
        .write(lines.as_bytes())
        .await
        .map_err(|source| RollupError::Write {
            retention_policy: resolution.retention_policy,
            source,
        })?;
    let points = lines.point_count() as u64;
    match outcome {
        WriteOutcome::Written => stats.points_written += points,
        WriteOutcome::PartiallyDropped { dropped, message } => {
            // Buckets older than the rollup retention: nothing to keep them in.
            tracing::warn!(
                dropped,
                message,
                retention_policy = resolution.retention_policy,
                "InfluxDB dropped rollup points beyond the retention policy"
            );
            stats.points_dropped += dropped;
            stats.points_written += points.saturating_sub(dropped);
        }
    }
    lines.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_series_becomes_a_socket_and_its_readings_with_power() {
        let series: Series<RawRow> = serde_json::from_str(
            r#"{"name":"power","tags":{"device":"d","household":"h","socket":"s"},"columns":["time","watts","energy_wh"],"values":[[1,2.5,null],[2,null,3],[3,4,5.5]]}"#,
        )
        .expect("parses");
        let (key, readings) = socket_readings(series);
        assert_eq!(
            (
                key.household.as_str(),
                key.device.as_str(),
                key.socket.as_str()
            ),
            ("h", "d", "s")
        );
        assert_eq!(
            readings,
            vec![
                Reading {
                    time_ms: 1,
                    watts: 2.5,
                    energy_wh: None
                },
                Reading {
                    time_ms: 3,
                    watts: 4.0,
                    energy_wh: Some(5.5)
                }
            ]
        );
    }
}
