//! `rollup backfill`: a past range recomputed one UTC day at a time, with a
//! progress line per day and a retry while InfluxDB is unavailable.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use wattline_ops::retry::{Backoff, BackoffPolicy};

use crate::buckets::bucket_start;
use crate::rollup::{RecomputeStats, Rollup, RollupError};
use crate::telemetry::ms_text;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// What a backfill did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BackfillSummary {
    /// Days (or parts of days) recomputed.
    pub days: u64,
    /// Totals over all days (`from_ms`/`to_ms`: the whole range).
    pub stats: RecomputeStats,
    /// Wall time.
    pub elapsed: Duration,
}

impl BackfillSummary {
    /// Raw readings processed per second.
    pub fn readings_per_second(&self) -> f64 {
        self.stats.readings as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The UTC days (as `[start, end)` ms, the range widened to whole hours)
/// that `[from, to)` covers.
pub fn days(from: Timestamp, to: Timestamp) -> Vec<(i64, i64)> {
    let from_ms = bucket_start(from.as_millisecond(), HOUR_MS);
    let to_ms = -bucket_start(-to.as_millisecond(), HOUR_MS);
    let mut days = Vec::new();
    let mut start = from_ms;
    while start < to_ms {
        let end = (bucket_start(start, DAY_MS) + DAY_MS).min(to_ms);
        days.push((start, end));
        start = end;
    }
    days
}

/// Recomputes `[from, to)` day by day, writing a progress line per day to
/// `progress` and retrying a day up to `attempts` times while InfluxDB is
/// unavailable.
pub async fn backfill(
    rollup: &Rollup,
    from: Timestamp,
    to: Timestamp,
    household: Option<&str>,
    attempts: u32,
    progress: &mut (dyn std::io::Write + Send),
) -> Result<BackfillSummary, RollupError> {
    let started = Instant::now();
    let days = days(from, to);
    let mut summary = BackfillSummary::default();
    summary.stats.from_ms = days.first().map_or(0, |d| d.0);
    summary.stats.to_ms = days.last().map_or(0, |d| d.1);
    for (index, &(start, end)) in days.iter().enumerate() {
        let day_started = Instant::now();
        let stats = recompute_with_retry(rollup, start, end, household, attempts).await?;
        summary.days += 1;
        summary.stats.readings += stats.readings;
        summary.stats.series += stats.series;
        summary.stats.skipped_series += stats.skipped_series;
        summary.stats.points_written += stats.points_written;
        summary.stats.points_dropped += stats.points_dropped;
        // Progress is best effort: a closed stderr must not stop the work.
        let _ = writeln!(
            progress,
            "backfill {}/{} {}: {} readings, {} points in {:.1} s",
            index + 1,
            days.len(),
            ms_text(start),
            stats.readings,
            stats.points_written,
            day_started.elapsed().as_secs_f64()
        );
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

async fn recompute_with_retry(
    rollup: &Rollup,
    start_ms: i64,
    end_ms: i64,
    household: Option<&str>,
    attempts: u32,
) -> Result<RecomputeStats, RollupError> {
    let (Ok(from), Ok(to)) = (
        Timestamp::from_millisecond(start_ms),
        Timestamp::from_millisecond(end_ms),
    ) else {
        return Err(RollupError::Config(
            "range outside the supported years".into(),
        ));
    };
    let mut backoff = Backoff::new(BackoffPolicy {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(30),
    });
    loop {
        match rollup.recompute(from, to, household).await {
            Ok(stats) => return Ok(stats),
            Err(error) if error.is_retryable() && backoff.attempts() + 1 < attempts => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, delay_ms = delay.as_millis() as u64,
                    day = %ms_text(start_ms), "recompute failed; retrying");
                tokio::time::sleep(delay).await;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    #[test]
    fn days_split_at_utc_midnight_and_widen_to_hours() {
        let d = days(t("2026-11-20T22:30:00Z"), t("2026-11-22T01:10:00Z"));
        let ms = |text| t(text).as_millisecond();
        assert_eq!(
            d,
            vec![
                (ms("2026-11-20T22:00:00Z"), ms("2026-11-21T00:00:00Z")),
                (ms("2026-11-21T00:00:00Z"), ms("2026-11-22T00:00:00Z")),
                (ms("2026-11-22T00:00:00Z"), ms("2026-11-22T02:00:00Z")),
            ]
        );
        assert!(days(t("2026-11-20T00:00:00Z"), t("2026-11-20T00:00:00Z")).is_empty());
        assert!(days(t("2026-11-21T00:00:00Z"), t("2026-11-20T00:00:00Z")).is_empty());
    }
}
