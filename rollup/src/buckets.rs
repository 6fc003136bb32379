//! The arithmetic of rollups, free of I/O: one socket's readings → minute
//! buckets, minute buckets → hour buckets, sockets → household totals.
//!
//! Energy comes from the socket's cumulative counter: the increase between
//! two consecutive readings belongs to the bucket of the later one. Where the
//! counter cannot be trusted for an interval, power × time stands in (see
//! [`interval_energy_wh`]).

use std::collections::BTreeMap;
use std::time::Duration;

/// One raw reading of a socket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Unix time, ms.
    pub time_ms: i64,
    /// Power, W.
    pub watts: f64,
    /// The cumulative energy counter, Wh, when the socket reports one.
    pub energy_wh: Option<f64>,
}

/// How energy is derived where the counter alone does not tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnergyRules {
    /// Longest interval between two readings over which power × time is a
    /// fair estimate of the energy used. Longer intervals (an agent offline
    /// for hours) trust the counter only.
    pub max_gap: Duration,
}

impl Default for EnergyRules {
    fn default() -> Self {
        Self {
            max_gap: Duration::from_secs(3600),
        }
    }
}

/// The rollup of one socket (or of the minute buckets below it) over one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Bucket start, Unix ms (UTC-aligned to the bucket length).
    pub start_ms: i64,
    /// Sum of the readings' power, W: the mean is this over `samples`. Kept
    /// as a sum so hour means are computed from the readings, not from
    /// rounded minute means.
    pub watts_sum: f64,
    /// Highest reading, W.
    pub watts_max: f64,
    /// Number of readings.
    pub samples: u64,
    /// Energy used in the bucket, Wh.
    pub energy_wh: f64,
    /// The counter's last value in the bucket, Wh.
    pub energy_total_wh: Option<f64>,
}

impl Bucket {
    /// Mean power over the bucket's readings, W.
    pub fn watts_mean(&self) -> f64 {
        self.watts_sum / self.samples as f64
    }

    fn empty(start_ms: i64) -> Self {
        Self {
            start_ms,
            watts_sum: 0.0,
            watts_max: f64::NEG_INFINITY,
            samples: 0,
            energy_wh: 0.0,
            energy_total_wh: None,
        }
    }
}

/// Start of the bucket of length `bucket_ms` holding `time_ms` (UTC-aligned;
/// correct for times before 1970 too).
pub fn bucket_start(time_ms: i64, bucket_ms: i64) -> i64 {
    time_ms - time_ms.rem_euclid(bucket_ms)
}

/// Bucket length in ms.
pub fn bucket_ms(bucket: Duration) -> i64 {
    i64::try_from(bucket.as_millis()).unwrap_or(i64::MAX)
}

/// Energy used between two consecutive readings, Wh.
///
/// - Counter on both and not decreasing: its increase, however long the
///   interval (the counter counted while we heard nothing).
/// - Counter went down (the socket restarted and its counter with it): the
///   counter's increase is meaningless, so over a short interval (≤
///   `max_gap`) the mean of both powers × time; over a longer one the new
///   counter value, which is what it counted since it restarted (power ×
///   hours of silence would be a guess).
/// - Counter missing on either side: power × time over a short interval,
///   nothing over a longer one.
pub fn interval_energy_wh(previous: &Reading, current: &Reading, rules: EnergyRules) -> f64 {
    let elapsed_ms = current.time_ms - previous.time_ms;
    let short = elapsed_ms <= bucket_ms(rules.max_gap);
    let by_power = || (previous.watts + current.watts) / 2.0 * elapsed_ms as f64 / 3_600_000.0;
    match (previous.energy_wh, current.energy_wh) {
        (Some(before), Some(after)) if after >= before => after - before,
        (Some(_), Some(_)) if short => by_power(),
        (Some(_), Some(after)) => after,
        _ if short => by_power(),
        _ => 0.0,
    }
}

/// Sorts readings by time and keeps one per timestamp (the last given, as
/// InfluxDB keeps the last write of a point).
pub fn sort_readings(readings: &mut Vec<Reading>) {
    // Stable: equal timestamps keep their input order, so `dedup` below can
    // keep the last of them.
    readings.sort_by_key(|r| r.time_ms);
    readings.reverse();
    readings.dedup_by_key(|r| r.time_ms);
    readings.reverse();
}

/// One socket's buckets of length `bucket_ms` from its readings (sorted
/// here), with `previous` the socket's last reading before them (if any)
/// so the first interval's energy is counted too.
pub fn socket_buckets(
    previous: Option<&Reading>,
    readings: &mut Vec<Reading>,
    bucket_ms: i64,
    rules: EnergyRules,
) -> Vec<Bucket> {
    sort_readings(readings);
    let mut buckets: Vec<Bucket> = Vec::new();
    let mut last = previous
        .filter(|p| {
            readings
                .first()
                .is_some_and(|first| p.time_ms < first.time_ms)
        })
        .copied();
    for reading in readings.iter() {
        let start = bucket_start(reading.time_ms, bucket_ms);
        if buckets.last().is_none_or(|b| b.start_ms != start) {
            buckets.push(Bucket::empty(start));
        }
        let bucket = buckets.last_mut().expect("pushed above");
        bucket.watts_sum += reading.watts;
        bucket.watts_max = bucket.watts_max.max(reading.watts);
        bucket.samples += 1;
        if let Some(previous) = &last {
            bucket.energy_wh += interval_energy_wh(previous, reading, rules);
        }
        if reading.energy_wh.is_some() {
            bucket.energy_total_wh = reading.energy_wh;
        }
        last = Some(*reading);
    }
    buckets
}

/// Longer buckets (of length `bucket_ms`) from sorted shorter ones of one
/// socket: readings summed and counted, the highest maximum, energy summed,
/// the last counter value.
pub fn merge_buckets(shorter: &[Bucket], bucket_ms: i64) -> Vec<Bucket> {
    let mut merged: Vec<Bucket> = Vec::new();
    for b in shorter {
        let start = bucket_start(b.start_ms, bucket_ms);
        if merged.last().is_none_or(|m| m.start_ms != start) {
            merged.push(Bucket::empty(start));
        }
        let m = merged.last_mut().expect("pushed above");
        m.watts_sum += b.watts_sum;
        m.watts_max = m.watts_max.max(b.watts_max);
        m.samples += b.samples;
        m.energy_wh += b.energy_wh;
        if b.energy_total_wh.is_some() {
            m.energy_total_wh = b.energy_total_wh;
        }
    }
    merged
}

/// A household's rollup over one bucket: all its sockets together.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HouseholdBucket {
    /// Sum of the sockets' mean power, W.
    pub watts: f64,
    /// Sum of the sockets' energy, Wh.
    pub energy_wh: f64,
}

/// Household totals per bucket start, built socket by socket.
///
/// Sums are added in the order sockets are given; callers give them in a
/// fixed order (InfluxDB's series order) so a recomputation writes
/// bit-identical points.
#[derive(Debug, Default, Clone)]
pub struct HouseholdTotals {
    buckets: BTreeMap<i64, HouseholdBucket>,
}

impl HouseholdTotals {
    /// Adds one socket's buckets.
    pub fn add(&mut self, socket: &[Bucket]) {
        for b in socket {
            let total = self.buckets.entry(b.start_ms).or_default();
            total.watts += b.watts_mean();
            total.energy_wh += b.energy_wh;
        }
    }

    /// The totals, by bucket start.
    pub fn buckets(&self) -> impl Iterator<Item = (i64, &HouseholdBucket)> {
        self.buckets.iter().map(|(start, b)| (*start, b))
    }

    /// Number of buckets.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// True when no socket added a bucket.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 3_600_000;
    /// 2026-11-23T00:00:00Z.
    const T0: i64 = 1_795_392_000_000;

    fn r(time_ms: i64, watts: f64, energy_wh: Option<f64>) -> Reading {
        Reading {
            time_ms,
            watts,
            energy_wh,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    fn rules() -> EnergyRules {
        EnergyRules::default()
    }

    #[test]
    fn bucket_edges_belong_to_the_bucket_they_start() {
        assert_eq!(bucket_start(T0, MIN), T0);
        assert_eq!(bucket_start(T0 + MIN - 1, MIN), T0);
        assert_eq!(bucket_start(T0 + MIN, MIN), T0 + MIN);
        assert_eq!(bucket_start(T0 + 59 * MIN + 59_999, HOUR), T0);
        assert_eq!(bucket_start(-1, MIN), -MIN);
        assert_eq!(bucket_start(0, HOUR), 0);
    }

    #[test]
    fn no_readings_no_buckets() {
        let previous = r(T0 - 10_000, 5.0, Some(1.0));
        assert!(socket_buckets(Some(&previous), &mut Vec::new(), MIN, rules()).is_empty());
        assert!(merge_buckets(&[], HOUR).is_empty());
        let mut totals = HouseholdTotals::default();
        totals.add(&[]);
        assert!(totals.is_empty());
    }

    #[test]
    fn minute_statistics_and_counter_increase() {
        // 59:50 of the previous minute, then 00, 10, ... 50, then 1:00.
        let previous = r(T0 - 10_000, 90.0, Some(100.0));
        let mut readings: Vec<Reading> = (0..7)
            .map(|i| r(T0 + i * 10_000, 100.0 + i as f64, Some(100.5 + i as f64)))
            .collect();
        let buckets = socket_buckets(Some(&previous), &mut readings, MIN, rules());
        assert_eq!(buckets.len(), 2);
        let first = buckets[0];
        assert_eq!(first.start_ms, T0);
        assert_eq!(first.samples, 6);
        assert!(close(first.watts_mean(), 102.5));
        assert_eq!(first.watts_max, 105.0);
        // 100 → 100.5 (from the previous reading), then +1 five times.
        assert!(close(first.energy_wh, 5.5));
        assert_eq!(first.energy_total_wh, Some(105.5));
        let second = buckets[1];
        assert_eq!(second.start_ms, T0 + MIN);
        assert_eq!(second.samples, 1);
        assert!(close(second.energy_wh, 1.0));
    }

    #[test]
    fn without_a_previous_reading_the_first_interval_is_unknown() {
        let mut readings = vec![r(T0, 10.0, Some(5.0)), r(T0 + 10_000, 10.0, Some(6.0))];
        let buckets = socket_buckets(None, &mut readings, MIN, rules());
        assert!(close(buckets[0].energy_wh, 1.0));
    }

    #[test]
    fn a_counter_reset_is_bridged_by_power_times_time() {
        let mut readings = vec![
            r(T0, 100.0, Some(1000.0)),
            r(T0 + 36_000, 300.0, Some(0.5)),
            r(T0 + 72_000, 300.0, Some(3.5)),
        ];
        let buckets = socket_buckets(None, &mut readings, MIN, rules());
        // Reset: (100 + 300) / 2 W × 36 s = 2 Wh; then the counter again.
        assert!(close(buckets[0].energy_wh, 2.0));
        assert_eq!(buckets[0].energy_total_wh, Some(0.5));
        assert!(close(buckets[1].energy_wh, 3.0));
    }

    #[test]
    fn a_long_gap_trusts_the_counter() {
        let mut readings = vec![
            r(T0, 100.0, Some(10.0)),
            r(T0 + 5 * HOUR, 100.0, Some(510.0)),
        ];
        let buckets = socket_buckets(None, &mut readings, MIN, rules());
        assert_eq!(buckets.len(), 2);
        // Everything the counter saw goes to the bucket of the later reading.
        assert!(close(buckets[1].energy_wh, 500.0));
        assert_eq!(buckets[1].start_ms, T0 + 5 * HOUR);
    }

    #[test]
    fn a_reset_across_a_long_gap_counts_what_the_new_counter_counted() {
        let long = r(T0 + 2 * HOUR, 100.0, Some(7.0));
        let e = interval_energy_wh(&r(T0, 100.0, Some(900.0)), &long, rules());
        assert!(close(e, 7.0));
        // The same interval just under the gap limit: power × time.
        let rules = EnergyRules {
            max_gap: Duration::from_secs(3 * 3600),
        };
        let e = interval_energy_wh(&r(T0, 100.0, Some(900.0)), &long, rules);
        assert!(close(e, 200.0));
    }

    #[test]
    fn without_a_counter_power_times_time_up_to_the_gap_limit() {
        let a = r(T0, 60.0, None);
        assert!(close(
            interval_energy_wh(&a, &r(T0 + MIN, 120.0, None), rules()),
            1.5
        ));
        assert!(close(
            interval_energy_wh(&a, &r(T0 + MIN, 120.0, Some(3.0)), rules()),
            1.5
        ));
        assert_eq!(
            interval_energy_wh(&a, &r(T0 + 2 * HOUR, 120.0, None), rules()),
            0.0
        );
        let mut readings = vec![a, r(T0 + 10_000, 60.0, None)];
        let buckets = socket_buckets(None, &mut readings, MIN, rules());
        assert_eq!(buckets[0].energy_total_wh, None);
    }

    #[test]
    fn out_of_order_input_is_sorted_and_duplicates_keep_the_last() {
        let mut readings = vec![
            r(T0 + 20_000, 30.0, Some(3.0)),
            r(T0, 10.0, Some(1.0)),
            r(T0 + 10_000, 99.0, Some(9.0)),
            r(T0 + 10_000, 20.0, Some(2.0)),
        ];
        let buckets = socket_buckets(None, &mut readings, MIN, rules());
        assert_eq!(readings.len(), 3);
        assert_eq!(buckets[0].samples, 3);
        assert!(close(buckets[0].watts_mean(), 20.0));
        assert!(close(buckets[0].energy_wh, 2.0));
        assert_eq!(buckets[0].energy_total_wh, Some(3.0));
    }

    #[test]
    fn a_previous_reading_not_before_the_first_is_ignored() {
        let previous = r(T0, 1.0, Some(0.0));
        let mut readings = vec![r(T0, 10.0, Some(5.0))];
        let buckets = socket_buckets(Some(&previous), &mut readings, MIN, rules());
        assert_eq!(buckets[0].energy_wh, 0.0);
    }

    #[test]
    fn hours_weigh_minutes_by_their_samples() {
        let minute = |start_ms, watts_sum, samples, energy_wh, total| Bucket {
            start_ms,
            watts_sum,
            watts_max: watts_sum,
            samples,
            energy_wh,
            energy_total_wh: total,
        };
        let minutes = [
            minute(T0, 600.0, 6, 1.0, Some(10.0)),
            minute(T0 + 59 * MIN, 100.0, 1, 2.0, None),
            minute(T0 + HOUR, 50.0, 1, 0.5, Some(12.5)),
        ];
        let hours = merge_buckets(&minutes, HOUR);
        assert_eq!(hours.len(), 2);
        assert_eq!(hours[0].start_ms, T0);
        assert_eq!(hours[0].samples, 7);
        assert!(close(hours[0].watts_mean(), 100.0));
        assert_eq!(hours[0].watts_max, 600.0);
        assert!(close(hours[0].energy_wh, 3.0));
        assert_eq!(hours[0].energy_total_wh, Some(10.0));
        assert_eq!(hours[1].energy_total_wh, Some(12.5));
    }

    #[test]
    fn household_totals_sum_socket_means_and_energy() {
        let socket = |watts_sum, samples, energy_wh| Bucket {
            start_ms: T0,
            watts_sum,
            watts_max: 0.0,
            samples,
            energy_wh,
            energy_total_wh: None,
        };
        let mut totals = HouseholdTotals::default();
        totals.add(&[socket(60.0, 6, 1.0)]);
        totals.add(&[socket(40.0, 2, 0.25)]);
        let buckets: Vec<_> = totals.buckets().collect();
        assert_eq!(buckets.len(), 1);
        assert_eq!(buckets[0].0, T0);
        assert!(close(buckets[0].1.watts, 30.0));
        assert!(close(buckets[0].1.energy_wh, 1.25));
    }
}
