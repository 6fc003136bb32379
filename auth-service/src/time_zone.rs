//! [`TimeZoneName`]: a household's time zone, an IANA name that jiff's
//! bundled time zone database knows, so that read-service (which counts the
//! household's days and hours with the same database) can always use it.

use std::fmt;
use std::str::FromStr;

/// An IANA time zone name known to jiff, in the database's spelling
/// (`europe/berlin` is stored as `Europe/Berlin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZoneName(String);

/// A name that is not a time zone jiff knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IANA time zone name (such as \"Europe/Berlin\" or \"UTC\")")]
pub struct UnknownTimeZone(String);

/// Longer than any IANA name (the longest is about 32 characters): refused
/// before the lookup, and keeps an error message short.
const MAX_LEN: usize = 64;

impl TimeZoneName {
    /// The default for new households.
    pub fn utc() -> Self {
        Self("UTC".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TimeZoneName {
    type Err = UnknownTimeZone;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownTimeZone(name.chars().take(MAX_LEN).collect());
        if name.is_empty() || name.len() > MAX_LEN {
            return Err(unknown());
        }
        let zone = jiff::tz::db().get(name).map_err(|_| unknown())?;
        // Only real IANA entries: jiff also answers for names it cannot
        // resolve with an "unknown" zone that has no IANA name.
        let canonical = zone.iana_name().ok_or_else(unknown)?;
        Ok(Self(canonical.to_owned()))
    }
}

impl fmt::Display for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_are_accepted_in_the_databases_spelling() {
        for name in [
            "UTC",
            "Europe/Berlin",
            "America/Argentina/Buenos_Aires",
            "Asia/Kolkata",
        ] {
            assert_eq!(name.parse::<TimeZoneName>().expect(name).as_str(), name);
        }
        let lower: TimeZoneName = "europe/berlin".parse().expect("case-insensitive");
        assert_eq!(lower.as_str(), "Europe/Berlin");
    }

    #[test]
    fn anything_else_is_refused() {
        for name in [
            "",
            "Mars/Olympus_Mons",
            "Europe/Berlin ",
            "+01:00",
            "../../etc/passwd",
            "Etc/Unknown",
            &"Europe/".repeat(20),
        ] {
            let error = name.parse::<TimeZoneName>().expect_err(name);
            assert!(error.to_string().contains("IANA"), "{error}");
        }
    }
}
