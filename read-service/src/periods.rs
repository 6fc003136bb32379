//! Calendar periods in a household's time zone: hours, days, weeks (from
//! Monday) and months, with `from` snapped down and `to` snapped up to whole
//! periods. All arithmetic is jiff's, so a DST day is 23 or 25 hours long and
//! a month is a calendar month.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};

/// A period length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
    Week,
    Month,
}

impl std::str::FromStr for Bucket {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "hour" => Ok(Bucket::Hour),
            "day" => Ok(Bucket::Day),
            "week" => Ok(Bucket::Week),
            "month" => Ok(Bucket::Month),
            _ => Err(()),
        }
    }
}

impl Bucket {
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
            Bucket::Week => "week",
            Bucket::Month => "month",
        }
    }
}

/// One period: `[start, end)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub start: ZonedDateTime,
    pub end: ZonedDateTime,
}

/// Why periods could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("the range holds more than {0} periods; use a longer bucket")]
    TooMany(usize),
    #[error("the range is outside the calendar: {0}")]
    Calendar(String),
}

/// Most periods one answer may hold (a year of hours fits).
pub const MAX_PERIODS: usize = 10_000;

/// The periods covering `[from, to)`: the first starts at or before `from`,
/// the last ends at or after `to`.
pub fn periods(
    tz: &TimeZone,
    from: Timestamp,
    to: Timestamp,
    bucket: Bucket,
) -> Result<Vec<Period>, PeriodError> {
    let calendar = |e: jiff::Error| PeriodError::Calendar(e.to_string());
    let mut start = snap_down(&from.to_zoned_datetime(tz.clone()), bucket).map_err(calendar)?;
    let mut out = Vec::new();
    while start.timestamp() < to {
        if out.len() == MAX_PERIODS {
            return Err(PeriodError::TooMany(MAX_PERIODS));
        }
        let end = next(&start, bucket).map_err(calendar)?;
        out.push(Period {
            start: start.clone(),
            end: end.clone(),
        });
        start = end;
    }
    Ok(out)
}

/// Start of the period holding `at`.
fn snap_down(at: &ZonedDateTime, bucket: Bucket) -> Result<ZonedDateTime, jiff::Error> {
    match bucket {
        // On the timeline, not via the civil hour: in the repeated hour of
        // a fall-back night the civil time is ambiguous.
        Bucket::Hour => {
            let into_hour = i64::from(at.minute()) * 60 + i64::from(at.second());
            let start = Timestamp::from_second(at.timestamp().as_second() - into_hour)?;
            Ok(start.to_zoned_datetime(at.time_zone().clone()))
        }
        Bucket::Day => at.start_of_day(),
        Bucket::Week => {
            let monday = at.date().checked_sub(
                jiff::Span::new().days(i64::from(at.weekday().to_monday_zero_offset())),
            )?;
            midnight(monday, at.time_zone())
        }
        Bucket::Month => midnight(at.date().first_of_month(), at.time_zone()),
    }
}

/// Start of the period after the one starting at `start`.
fn next(start: &ZonedDateTime, bucket: Bucket) -> Result<ZonedDateTime, jiff::Error> {
    let tz = start.time_zone();
    match bucket {
        Bucket::Hour => Ok(start
            .timestamp()
            .checked_add(jiff::SignedDuration::from_hours(1))?
            .to_zoned_datetime(tz.clone())),
        Bucket::Day => midnight(start.date().tomorrow()?, tz),
        Bucket::Week => midnight(start.date().checked_add(jiff::Span::new().days(7))?, tz),
        Bucket::Month => midnight(
            start
                .date()
                .first_of_month()
                .checked_add(jiff::Span::new().months(1))?,
            tz,
        ),
    }
}

/// The first instant of `date` in `tz` (midnight, or later where a
/// transition skips midnight).
fn midnight(date: Date, tz: &TimeZone) -> Result<ZonedDateTime, jiff::Error> {
    date.to_zoned_datetime(tz.clone())?.start_of_day()
}

/// Local calendar days starting in `[start, end)` (each pays one daily charge).
pub fn days_starting_in(period: &Period) -> i64 {
    let first = if period.start.time() == jiff::civil::Time::midnight() {
        period.start.date()
    } else {
        match period.start.date().tomorrow() {
            Ok(date) => date,
            Err(_) => return 0,
        }
    };
    let mut days = 0;
    let mut date = first;
    while let Ok(day_start) = midnight(date, period.start.time_zone()) {
        if day_start.timestamp() >= period.end.timestamp() {
            break;
        }
        days += 1;
        match date.tomorrow() {
            Ok(next) => date = next,
            Err(_) => break,
        }
    }
    days
}

/// Whether every UTC offset `tz` uses in `[from, to)` is a whole number of
/// hours (then hourly rollups, which start at UTC hours, start at local
/// hours too).
pub fn whole_hour_offsets(tz: &TimeZone, from: Timestamp, to: Timestamp) -> bool {
    if tz.to_offset(from).seconds() % 3600 != 0 {
        return false;
    }
    tz.following(from)
        .take_while(|transition| transition.timestamp() < to)
        .take(1000)
        .all(|transition| transition.offset().seconds() % 3600 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn hours(p: &Period) -> i64 {
        (p.end.timestamp().as_second() - p.start.timestamp().as_second()) / 3600
    }

    #[test]
    fn dst_days_in_berlin_are_23_and_25_hours() {
        let spring = periods(
            &berlin(),
            ts("2026-03-28T12:00:00Z"),
            ts("2026-03-30T12:00:00Z"),
            Bucket::Day,
        )
        .unwrap();
        assert_eq!(spring.len(), 3);
        assert_eq!(
            spring[1].start.to_string(),
            "2026-03-29T00:00:00+01:00[Europe/Berlin]"
        );
        assert_eq!(spring.iter().map(hours).collect::<Vec<_>>(), [24, 23, 24]);
        let autumn = periods(
            &berlin(),
            ts("2026-10-25T00:00:00+02:00"),
            ts("2026-10-26T00:00:00+01:00"),
            Bucket::Day,
        )
        .unwrap();
        assert_eq!(autumn.iter().map(hours).collect::<Vec<_>>(), [25]);
        let hourly = periods(
            &berlin(),
            ts("2026-10-25T00:00:00+02:00"),
            ts("2026-10-26T00:00:00+01:00"),
            Bucket::Hour,
        )
        .unwrap();
        assert_eq!(hourly.len(), 25);
        assert_eq!(
            hourly[2].start.to_string(),
            "2026-10-25T02:00:00+02:00[Europe/Berlin]"
        );
        assert_eq!(
            hourly[3].start.to_string(),
            "2026-10-25T02:00:00+01:00[Europe/Berlin]"
        );
    }

    #[test]
    fn weeks_start_monday_and_months_are_calendar_months() {
        // 2026-03-25 is a Wednesday.
        let weeks = periods(
            &berlin(),
            ts("2026-03-25T10:00:00Z"),
            ts("2026-04-01T00:00:00Z"),
            Bucket::Week,
        )
        .unwrap();
        assert_eq!(
            weeks[0].start.to_string(),
            "2026-03-23T00:00:00+01:00[Europe/Berlin]"
        );
        assert_eq!(
            weeks[0].end.to_string(),
            "2026-03-30T00:00:00+02:00[Europe/Berlin]"
        );
        assert_eq!(hours(&weeks[0]), 7 * 24 - 1);
        assert_eq!(weeks.len(), 2);
        let months = periods(
            &berlin(),
            ts("2026-02-10T00:00:00Z"),
            ts("2026-03-31T23:00:00Z"),
            Bucket::Month,
        )
        .unwrap();
        assert_eq!(months.len(), 3);
        assert_eq!(
            months[1].start.to_string(),
            "2026-03-01T00:00:00+01:00[Europe/Berlin]"
        );
        assert_eq!(days_starting_in(&months[0]), 28);
        assert_eq!(days_starting_in(&weeks[0]), 7);
        let hour = periods(
            &berlin(),
            ts("2026-03-01T10:00:00Z"),
            ts("2026-03-01T11:00:00Z"),
            Bucket::Hour,
        )
        .unwrap();
        assert_eq!(days_starting_in(&hour[0]), 0);
    }

    #[test]
    fn half_hour_zones_are_not_whole_hours() {
        let (from, to) = (ts("2026-01-01T00:00:00Z"), ts("2027-01-01T00:00:00Z"));
        assert!(whole_hour_offsets(&berlin(), from, to));
        assert!(!whole_hour_offsets(
            &TimeZone::get("Asia/Kolkata").unwrap(),
            from,
            to
        ));
        assert!(!whole_hour_offsets(
            &TimeZone::get("Australia/Adelaide").unwrap(),
            from,
            to
        ));
    }
}
