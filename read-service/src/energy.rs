//! Energy and cost per calendar period from rollup increases.
//!
//! Rollups hold each bucket's energy *increase* (the rollup job already
//! turned the cumulative counter into increases, resets included), so a
//! period's energy is the sum of the increases of the rollup buckets that
//! start in it. Each rollup bucket is priced at the tariff's price for its
//! local start time; a period's fixed cost is the daily charge times the
//! local days starting in it (none for hour periods).

use jiff::tz::TimeZone;
use jiff::Timestamp;
use wattline_tariff::Tariff;

use crate::periods::{days_starting_in, Bucket, Period};

/// One rollup bucket's energy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// Bucket start, Unix ms.
    pub start_ms: i64,
    pub energy_wh: f64,
}

/// A period's totals.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodTotal {
    pub period: Period,
    pub energy_kwh: f64,
    /// `None` without a tariff.
    pub energy_cost: Option<f64>,
    pub fixed_cost: Option<f64>,
}

impl PeriodTotal {
    pub fn cost(&self) -> Option<f64> {
        Some(self.energy_cost? + self.fixed_cost?)
    }
}

/// Prices energy by local time.
#[derive(Debug, Clone, Copy)]
pub struct Pricing<'a> {
    pub tariff: Option<&'a Tariff>,
    pub tz: &'a TimeZone,
}

impl Pricing<'_> {
    /// Cost of `usage` (`None` without a tariff).
    pub fn cost(&self, usage: Usage) -> Option<f64> {
        Some(usage.energy_wh / 1000.0 * self.price_per_kwh(usage.start_ms)?)
    }

    /// The price per kWh at `start_ms` (its local time of day).
    pub fn price_per_kwh(&self, start_ms: i64) -> Option<f64> {
        let tariff = self.tariff?;
        let start = Timestamp::from_millisecond(start_ms).ok()?;
        let local = start.to_zoned_datetime(self.tz.clone()).time();
        Some(tariff.price_at(local))
    }
}

/// Sums `usage` (in any order) into `periods` (sorted, contiguous); usage
/// outside them is ignored.
pub fn sum_periods(
    periods: &[Period],
    bucket: Bucket,
    usage: impl IntoIterator<Item = Usage>,
    pricing: Pricing<'_>,
) -> Vec<PeriodTotal> {
    let starts: Vec<i64> = periods
        .iter()
        .map(|p| p.start.timestamp().as_millisecond())
        .collect();
    let end = periods
        .last()
        .map_or(i64::MIN, |p| p.end.timestamp().as_millisecond());
    let mut totals: Vec<PeriodTotal> = periods
        .iter()
        .map(|period| PeriodTotal {
            period: period.clone(),
            energy_kwh: 0.0,
            energy_cost: pricing.tariff.map(|_| 0.0),
            fixed_cost: pricing.tariff.map(|tariff| {
                if bucket == Bucket::Hour {
                    0.0
                } else {
                    tariff.daily_charge * days_starting_in(period) as f64
                }
            }),
        })
        .collect();
    for usage in usage {
        if usage.start_ms >= end {
            continue;
        }
        // The last period starting at or before the usage's start.
        let Some(index) = starts
            .partition_point(|&s| s <= usage.start_ms)
            .checked_sub(1)
        else {
            continue;
        };
        let total = &mut totals[index];
        total.energy_kwh += usage.energy_wh / 1000.0;
        if let (Some(sum), Some(cost)) = (total.energy_cost.as_mut(), pricing.cost(usage)) {
            *sum += cost;
        }
    }
    totals
}

/// Rounds money and energy for display (micro-units: no float noise like
/// 0.30000000000000004, nothing anyone would miss).
pub fn round6(value: f64) -> f64 {
    // + 0.0 turns -0.0 (an empty sum, a tiny negative rounded) into 0.
    (value * 1e6).round() / 1e6 + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::periods::periods;

    fn tariff() -> Tariff {
        serde_json::from_str(
            r#"{"currency":"EUR","price_per_kwh":0.30,"daily_charge":0.25,
                "bands":[{"from":"07:00","to":"23:00","price_per_kwh":0.35}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn rounding_never_gives_negative_zero() {
        let empty: f64 = std::iter::empty::<f64>().sum();
        assert!(empty.is_sign_negative(), "the case this guards against");
        assert!(round6(empty).is_sign_positive());
        assert!(round6(-1e-9).is_sign_positive());
        assert_eq!(round6(0.1 + 0.2), 0.3);
    }

    #[test]
    fn a_dst_day_sums_its_23_hours_and_prices_them_by_local_time() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let from: Timestamp = "2026-03-29T00:00:00+01:00".parse().unwrap();
        let to: Timestamp = "2026-03-30T00:00:00+02:00".parse().unwrap();
        let days = periods(&tz, from, to, Bucket::Day).unwrap();
        // 100 Wh in every hour of the day: 23 hours.
        let usage: Vec<Usage> = (0..23)
            .map(|h| Usage {
                start_ms: from.as_millisecond() + h * 3_600_000,
                energy_wh: 100.0,
            })
            .collect();
        let tariff = tariff();
        let totals = sum_periods(
            &days,
            Bucket::Day,
            usage,
            Pricing {
                tariff: Some(&tariff),
                tz: &tz,
            },
        );
        assert_eq!(totals.len(), 1);
        assert!((totals[0].energy_kwh - 2.3).abs() < 1e-9);
        // Local hours 00,01,03..06 (6 h, 02:00 does not exist) and 23 (1 h) at 0.30;
        // 07..22 (16 h) at 0.35.
        let expected = 0.1 * (7.0 * 0.30 + 16.0 * 0.35);
        assert!((totals[0].energy_cost.unwrap() - expected).abs() < 1e-9);
        assert_eq!(totals[0].fixed_cost, Some(0.25));
        assert!((totals[0].cost().unwrap() - expected - 0.25).abs() < 1e-9);
    }

    #[test]
    fn without_a_tariff_there_is_no_cost() {
        let tz = TimeZone::UTC;
        let from: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let hours = periods(
            &tz,
            from,
            "2026-01-01T02:00:00Z".parse().unwrap(),
            Bucket::Hour,
        )
        .unwrap();
        let usage = [Usage {
            start_ms: from.as_millisecond() + 60_000,
            energy_wh: 5.0,
        }];
        let totals = sum_periods(
            &hours,
            Bucket::Hour,
            usage,
            Pricing {
                tariff: None,
                tz: &tz,
            },
        );
        assert_eq!(totals[0].energy_kwh, 0.005);
        assert_eq!(totals[1].energy_kwh, 0.0);
        assert_eq!(totals[0].cost(), None);
    }
}
