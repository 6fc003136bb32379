//! The households' history, synthetic but shaped as the real thing: per
//! socket and per household, a year of hour rollups and `--minute-days` of
//! minute rollups in the rollup retention policies (the points
//! `wattline_rollup` writes, built with its own line builder), and a day of
//! raw 10-second readings in the default policy (`wattline_influx`'s
//! builder, as the write service stores them). The same idea as
//! read-service's `latency` example, for many households.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::task::JoinSet;
use wattline_influx::{
    InfluxApi, InfluxWriter, LineProtocolBuilder, SeriesTags, WriteError, WriteOutcome,
    WriterConfig,
};
use wattline_proto::Reading;
use wattline_rollup::buckets::{Bucket, HouseholdBucket};
use wattline_rollup::points::{RollupLines, SeriesKey};
use wattline_rollup::schema::{HOUR, MINUTE};

const HOUR_MS: i64 = 3_600_000;
const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
/// Raw readings every 10 s, as agents sample by default.
pub const RAW_EVERY_MS: i64 = 10_000;
/// A write body is sent once it holds this much.
const BODY_BYTES: usize = 2_000_000;
/// Writes in flight at once.
const WRITERS: usize = 4;
/// Sockets per simulated device (as the demo's agents have).
const SOCKETS_PER_DEVICE: u32 = 8;

/// One household's sockets, as `(device, socket)` ids.
#[derive(Debug, Clone)]
pub struct Layout {
    pub household: String,
    pub sockets: Vec<(String, String)>,
}

impl Layout {
    /// `sockets` sockets on devices of 8; device ids carry the household's
    /// index, so no two households share a (device, socket) pair and a
    /// request for another household's socket must find nothing.
    pub fn new(index: usize, household: String, sockets: u32) -> Self {
        let sockets = (0..sockets)
            .map(|s| {
                (
                    format!("d{index}-{}", s / SOCKETS_PER_DEVICE),
                    format!("s{s}"),
                )
            })
            .collect();
        Self { household, sockets }
    }
}

/// What to write, ending at `now_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Extent {
    pub now_ms: i64,
    pub minute_days: u32,
}

impl Extent {
    fn hours(&self) -> (i64, i64) {
        (floor(self.now_ms - 365 * DAY_MS, HOUR_MS), self.now_ms)
    }
    fn minutes(&self) -> (i64, i64) {
        (
            floor(
                self.now_ms - i64::from(self.minute_days) * DAY_MS,
                MINUTE_MS,
            ),
            self.now_ms,
        )
    }
    fn raw(&self) -> (i64, i64) {
        (floor(self.now_ms - DAY_MS, RAW_EVERY_MS), self.now_ms)
    }

    /// Points one household of `sockets` sockets gets.
    pub fn points_per_household(&self, sockets: u32) -> u64 {
        let count = |(from, to): (i64, i64), every: i64| ((to - from + every - 1) / every) as u64;
        let s = u64::from(sockets);
        (s + 1) * (count(self.hours(), HOUR_MS) + count(self.minutes(), MINUTE_MS))
            + s * count(self.raw(), RAW_EVERY_MS)
    }
}

fn floor(ms: i64, step: i64) -> i64 {
    ms.div_euclid(step) * step
}

/// A socket's power at `t`: a base load by socket plus a slow wave.
pub fn watts(socket: usize, t_ms: i64) -> f64 {
    let base = 20.0 + (socket % 10) as f64 * 15.0;
    base + 0.4 * base * ((t_ms / MINUTE_MS) as f64 / 97.0 + socket as f64).sin()
}

/// Its cumulative counter at `t`, Wh (grows with the base load).
pub fn energy_wh(socket: usize, t_ms: i64) -> f64 {
    let base = 20.0 + (socket % 10) as f64 * 15.0;
    base * t_ms.max(0) as f64 / HOUR_MS as f64
}

/// Writes every household's history; `progress` counts points written.
pub async fn write(
    influx_url: &str,
    db: &str,
    households: &[Layout],
    extent: Extent,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<u64> {
    let writer = |rp: Option<&str>| {
        InfluxWriter::new(WriterConfig {
            url: influx_url.to_owned(),
            api: InfluxApi::V1 {
                database: db.to_owned(),
                retention_policy: rp.map(str::to_owned),
                username: None,
                password: None,
            },
            gzip: false,
            timeout: Duration::from_secs(120),
        })
        .context("InfluxDB writer")
    };
    let hour_writer = writer(Some(HOUR.retention_policy))?;
    let minute_writer = writer(Some(MINUTE.retention_policy))?;
    let raw_writer = writer(None)?;
    let mut sender = Sender {
        in_flight: JoinSet::new(),
        written: 0,
        progress,
    };
    for layout in households {
        for (writer, resolution, (from, to)) in [
            (&hour_writer, HOUR_MS, extent.hours()),
            (&minute_writer, MINUTE_MS, extent.minutes()),
        ] {
            let mut lines = RollupLines::default();
            let mut totals: Vec<HouseholdBucket> = Vec::new();
            for (index, (device, socket)) in layout.sockets.iter().enumerate() {
                let buckets = rollup_buckets(index, from, to, resolution);
                if totals.is_empty() {
                    totals = vec![HouseholdBucket::default(); buckets.len()];
                }
                for (total, bucket) in totals.iter_mut().zip(&buckets) {
                    total.watts += bucket.watts_mean();
                    total.energy_wh += bucket.energy_wh;
                }
                let key = SeriesKey {
                    household: layout.household.clone(),
                    device: device.clone(),
                    socket: socket.clone(),
                };
                key.check()?;
                lines.push_socket(&key, &buckets);
                if lines.as_bytes().len() >= BODY_BYTES {
                    sender
                        .send(writer, lines.as_bytes().to_vec(), lines.point_count())
                        .await?;
                    lines.clear();
                }
            }
            for (i, total) in totals.iter().enumerate() {
                lines.push_household(&layout.household, from + i as i64 * resolution, total);
            }
            sender
                .send(writer, lines.as_bytes().to_vec(), lines.point_count())
                .await?;
        }
        let (from, to) = extent.raw();
        let mut lines = LineProtocolBuilder::new();
        for (index, (device, socket)) in layout.sockets.iter().enumerate() {
            let readings: Vec<Reading> = (0..)
                .map(|i| from + i * RAW_EVERY_MS)
                .take_while(|t| *t < to)
                .map(|t| reading(index, t))
                .collect();
            let tags = SeriesTags {
                household: &layout.household,
                device,
                socket,
            };
            lines.push_series(tags, &readings)?;
            if lines.len_bytes() >= BODY_BYTES {
                sender
                    .send(&raw_writer, lines.as_bytes().to_vec(), lines.point_count())
                    .await?;
                lines.clear();
            }
        }
        sender
            .send(&raw_writer, lines.as_bytes().to_vec(), lines.point_count())
            .await?;
    }
    sender.finish().await
}

/// Bodies on their way to InfluxDB, at most [`WRITERS`] at once.
struct Sender<'a> {
    in_flight: JoinSet<Result<u64>>,
    written: u64,
    progress: Option<&'a indicatif::ProgressBar>,
}

impl Sender<'_> {
    async fn send(&mut self, writer: &InfluxWriter, body: Vec<u8>, points: usize) -> Result<()> {
        while self.in_flight.len() >= WRITERS {
            self.join_one().await?;
        }
        let writer = writer.clone();
        self.in_flight.spawn(async move {
            // InfluxDB may refuse for a moment while it snapshots a full
            // cache under this write rate: wait and send again.
            let mut backoff = Duration::from_millis(500);
            loop {
                match writer.write(&body).await {
                    Ok(WriteOutcome::Written) => return Ok(points as u64),
                    Ok(other) => bail!("InfluxDB dropped points: {other:?}"),
                    Err(e @ WriteError::Unavailable(_)) if backoff < Duration::from_secs(30) => {
                        tracing::warn!(error = %e, "perf read: writing the dataset, retrying");
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                    }
                    Err(e) => return Err(e).context("write the dataset"),
                }
            }
        });
        Ok(())
    }

    async fn join_one(&mut self) -> Result<()> {
        if let Some(result) = self.in_flight.join_next().await {
            let points = result.context("write task")??;
            self.written += points;
            if let Some(bar) = self.progress {
                bar.inc(points);
            }
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<u64> {
        while !self.in_flight.is_empty() {
            self.join_one().await?;
        }
        Ok(self.written)
    }
}

/// One socket's raw reading at `t`.
pub fn reading(socket: usize, t_ms: i64) -> Reading {
    Reading {
        timestamp_ms: t_ms,
        watts: watts(socket, t_ms),
        energy_wh: Some(energy_wh(socket, t_ms)),
        voltage_v: None,
        current_a: None,
    }
}

/// A socket's buckets of `resolution` ms from `from` to `to`, as the rollup
/// job would compute them from readings every 10 s.
fn rollup_buckets(socket: usize, from: i64, to: i64, resolution: i64) -> Vec<Bucket> {
    let samples = (resolution / RAW_EVERY_MS) as u64;
    (0..)
        .map(|i| from + i * resolution)
        .take_while(|t| *t < to)
        .map(|start_ms| {
            let w = watts(socket, start_ms);
            Bucket {
                start_ms,
                watts_sum: w * samples as f64,
                watts_max: w * 1.1,
                samples,
                energy_wh: w * resolution as f64 / HOUR_MS as f64,
                energy_total_wh: Some(energy_wh(socket, start_ms + resolution)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_household_gets_its_own_devices() {
        let a = Layout::new(0, "h-a".into(), 10);
        let b = Layout::new(1, "h-b".into(), 10);
        assert_eq!(a.sockets[9], ("d0-1".to_owned(), "s9".to_owned()));
        assert!(a.sockets.iter().all(|s| !b.sockets.contains(s)));
    }

    #[test]
    fn the_extent_counts_its_points() {
        let extent = Extent {
            now_ms: 1_795_392_000_000,
            minute_days: 2,
        };
        // 2 sockets + the household: a year of hours, 2 days of minutes;
        // 2 sockets: a day of 10-second readings.
        assert_eq!(
            extent.points_per_household(2),
            3 * (365 * 24 + 2 * 1440) + 2 * 8640
        );
        let buckets = rollup_buckets(3, 0, 2 * HOUR_MS, HOUR_MS);
        assert_eq!(buckets.len(), 2);
        assert_eq!(buckets[1].samples, 360);
        assert!((buckets[0].watts_mean() - watts(3, 0)).abs() < 1e-9);
    }
}
