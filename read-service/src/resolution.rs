//! Which data a power chart reads, and at what step: a range becomes a
//! [`Plan`] of a source (raw readings, 1-minute or 1-hour rollups) and a step
//! that keeps the chart near [`TARGET_POINTS`] points.
//!
//! - up to 6 h: raw readings, step ≥ 10 s;
//! - up to 14 days: 1-minute rollups, step a multiple of 60 s;
//! - longer: 1-hour rollups, step a multiple of 3600 s.
//!
//! Steps come from a short list of round values so that the same view
//! asked twice uses the same grid, and from/to are snapped to it (InfluxDB's
//! `GROUP BY time(step)` buckets are aligned to the epoch anyway).

use jiff::Timestamp;

/// About how many points a chart should get; never more than this.
pub const TARGET_POINTS: i64 = 1000;
const RAW_MAX_SPAN_S: i64 = 6 * 3600;
const MINUTE_MAX_SPAN_S: i64 = 14 * 86_400;

/// Where the data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Raw,
    Minute,
    Hour,
}

impl Source {
    /// The name in API answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Raw => "raw",
            Source::Minute => "1m",
            Source::Hour => "1h",
        }
    }
}

/// A chart's query plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub source: Source,
    pub step_s: i64,
    /// `from` snapped down to the step.
    pub from_s: i64,
    /// `to` snapped up to the step.
    pub to_s: i64,
}

impl Plan {
    /// Number of steps in the range.
    pub fn points(&self) -> usize {
        usize::try_from((self.to_s - self.from_s) / self.step_s).unwrap_or(0)
    }
}

const RAW_STEPS: &[i64] = &[10, 15, 20, 30];
const MINUTE_STEPS: &[i64] = &[60, 120, 180, 300, 600, 900, 1200, 1800, 3600];
const HOUR_STEPS: &[i64] = &[
    3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800, 345_600, 604_800,
];

/// The plan for `[from, to)` (from < to).
pub fn plan(from: Timestamp, to: Timestamp) -> Plan {
    let (from_s, to_s) = (from.as_second(), to.as_second().max(from.as_second() + 1));
    let span = to_s - from_s;
    let (source, steps, unit) = if span <= RAW_MAX_SPAN_S {
        (Source::Raw, RAW_STEPS, 10)
    } else if span <= MINUTE_MAX_SPAN_S {
        (Source::Minute, MINUTE_STEPS, 60)
    } else {
        (Source::Hour, HOUR_STEPS, 3600)
    };
    // The smallest listed step giving at most TARGET_POINTS (+1 for the
    // snapping), else a multiple of the unit beyond the list.
    let wanted = ceil_div(span, TARGET_POINTS - 1);
    let step = steps
        .iter()
        .copied()
        .find(|&s| s >= wanted)
        .unwrap_or_else(|| ceil_div(wanted, unit) * unit);
    Plan {
        source,
        step_s: step,
        from_s: from_s.div_euclid(step) * step,
        to_s: to_s.div_euclid(step) * step + if to_s % step == 0 { 0 } else { step },
    }
}

/// `a / b` rounded up, for positive `a` and `b`.
fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1) / b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_pick_their_source_and_a_round_step() {
        let hour = plan(ts("2026-01-01T10:00:00Z"), ts("2026-01-01T11:00:00Z"));
        assert_eq!(
            (hour.source, hour.step_s, hour.points()),
            (Source::Raw, 10, 360)
        );
        let six = plan(ts("2026-01-01T00:00:00Z"), ts("2026-01-01T06:00:00Z"));
        assert_eq!((six.source, six.step_s), (Source::Raw, 30));
        let day = plan(ts("2026-01-01T00:00:00Z"), ts("2026-01-02T00:00:00Z"));
        assert_eq!(
            (day.source, day.step_s, day.points()),
            (Source::Minute, 120, 720)
        );
        let fortnight = plan(ts("2026-01-01T00:00:00Z"), ts("2026-01-15T00:00:00Z"));
        assert_eq!((fortnight.source, fortnight.step_s), (Source::Minute, 1800));
        let year = plan(ts("2026-01-01T00:00:00Z"), ts("2027-01-01T00:00:00Z"));
        assert_eq!(
            (year.source, year.step_s, year.points()),
            (Source::Hour, 43_200, 730)
        );
        let decade = plan(ts("2016-01-01T00:00:00Z"), ts("2026-01-01T00:00:00Z"));
        assert_eq!(decade.source, Source::Hour);
        assert!(decade.points() <= 1000 && decade.step_s % 3600 == 0);
    }

    #[test]
    fn from_and_to_snap_outwards_to_the_step() {
        let p = plan(ts("2026-01-01T10:00:05Z"), ts("2026-01-01T10:59:55Z"));
        assert_eq!(p.step_s, 10);
        assert_eq!(p.from_s, ts("2026-01-01T10:00:00Z").as_second());
        assert_eq!(p.to_s, ts("2026-01-01T11:00:00Z").as_second());
    }
}
