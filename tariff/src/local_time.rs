//! [`LocalTime`]: a wall-clock time of day to the minute, written "HH:MM".

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A time of day on the household's wall clock, to the minute
/// (00:00 to 23:59). On the wire it is the string "HH:MM".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalTime {
    // Ordered hour first, so the derived `Ord` is the order of the day.
    hour: u8,
    minute: u8,
}

/// A string that is not a time of day written "HH:MM".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a time of day written HH:MM (00:00 to 23:59)")]
pub struct LocalTimeError(String);

impl LocalTime {
    /// Midnight, the start of the day.
    pub const MIDNIGHT: Self = Self { hour: 0, minute: 0 };

    /// `hour:minute`, or `None` outside 00:00 to 23:59.
    pub fn new(hour: u8, minute: u8) -> Option<Self> {
        (hour < 24 && minute < 60).then_some(Self { hour, minute })
    }

    pub fn hour(self) -> u8 {
        self.hour
    }

    pub fn minute(self) -> u8 {
        self.minute
    }

    /// The same time as jiff's civil time (seconds zero), for comparing
    /// with the local times jiff computes.
    pub fn to_civil(self) -> jiff::civil::Time {
        // Both fit i8 and are in range by construction.
        jiff::civil::time(self.hour as i8, self.minute as i8, 0, 0)
    }
}

impl From<LocalTime> for jiff::civil::Time {
    fn from(time: LocalTime) -> Self {
        time.to_civil()
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

impl FromStr for LocalTime {
    type Err = LocalTimeError;

    /// Exactly two digits, a colon, two digits: "7:00" and "07:00:00" are
    /// refused so that every stored tariff reads the same way.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || LocalTimeError(text.to_owned());
        let two_digits = |digits: &[u8]| -> Option<u8> {
            match digits {
                [tens @ b'0'..=b'9', ones @ b'0'..=b'9'] => {
                    Some((tens - b'0') * 10 + (ones - b'0'))
                }
                _ => None,
            }
        };
        match text.as_bytes() {
            [h1, h2, b':', m1, m2] => {
                let hour = two_digits(&[*h1, *h2]).ok_or_else(error)?;
                let minute = two_digits(&[*m1, *m2]).ok_or_else(error)?;
                Self::new(hour, minute).ok_or_else(error)
            }
            _ => Err(error()),
        }
    }
}

impl Serialize for LocalTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Borrowing fails for strings with escapes; a `String` always works.
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "utoipa")]
impl utoipa::PartialSchema for LocalTime {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^([01][0-9]|2[0-3]):[0-5][0-9]$"))
            .description(Some("A local time of day, HH:MM (00:00 to 23:59)"))
            .examples(["07:00"])
            .into()
    }
}

#[cfg(feature = "utoipa")]
impl utoipa::ToSchema for LocalTime {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_hh_mm() {
        for text in ["00:00", "07:05", "12:30", "23:59"] {
            let time: LocalTime = text.parse().expect(text);
            assert_eq!(time.to_string(), text);
        }
        let time: LocalTime = "22:45".parse().expect("valid");
        assert_eq!((time.hour(), time.minute()), (22, 45));
        assert_eq!(time.to_civil(), jiff::civil::time(22, 45, 0, 0));
    }

    #[test]
    fn refuses_anything_but_hh_mm_within_the_day() {
        for text in [
            "", "7:00", "07:0", "07:00:00", "24:00", "23:60", "ab:cd", "07-00", " 07:00", "+7:00",
            "０7:00",
        ] {
            let error = text.parse::<LocalTime>().expect_err(text);
            assert!(error.to_string().contains("HH:MM"), "{error}");
        }
    }

    #[test]
    fn orders_as_the_day_goes() {
        let times: Vec<LocalTime> = ["00:00", "00:59", "01:00", "23:59"]
            .iter()
            .map(|text| text.parse().expect("valid"))
            .collect();
        assert!(times.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(LocalTime::MIDNIGHT, times[0]);
    }
}
