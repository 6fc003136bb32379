//! The fixed directory of demo and test set-ups: a [`StaticDirectory`]
//! loaded from `--households-file` (CSV) and `--household DEVICE=HOUSEHOLD`
//! flags, held in memory.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use futures_util::future::BoxFuture;

use super::{DirectoryError, HouseholdDirectory};
use crate::ids::{DeviceId, HouseholdId, IdError};

/// A fixed device → household map held in memory.
#[derive(Debug, Clone, Default)]
pub struct StaticDirectory {
    map: HashMap<DeviceId, HouseholdId>,
}

impl StaticDirectory {
    /// An empty directory (every device unknown).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces one mapping.
    pub fn insert(&mut self, device: DeviceId, household: HouseholdId) {
        self.map.insert(device, household);
    }

    /// Number of known devices.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no device is known.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Parses a households file: one `device_id,household_id` record a
    /// line, RFC 4180 quoting (so ids with commas or quotes are written
    /// `"a,b"` / `"say ""hi"""`), an optional `device_id,household_id`
    /// header, blank lines ignored. Fields are taken exactly, not trimmed:
    /// spaces are legal in ids.
    pub fn parse_csv(text: &str) -> Result<Self, HouseholdsFileError> {
        let mut directory = Self::new();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        for (index, record) in reader.records().enumerate() {
            let record = record.map_err(|e| HouseholdsFileError::Csv(e.to_string()))?;
            let line = record.position().map_or(index as u64 + 1, |p| p.line());
            if record.len() != 2 {
                return Err(HouseholdsFileError::Record {
                    line,
                    message: format!(
                        "expected 2 fields (device_id,household_id), got {}",
                        record.len()
                    ),
                });
            }
            if index == 0 && &record[0] == "device_id" && &record[1] == "household_id" {
                continue;
            }
            let id_error = |what: &str, value: &str, e: IdError| HouseholdsFileError::Record {
                line,
                message: format!("{what} {value:?}: {e}"),
            };
            let device =
                DeviceId::parse(&record[0]).map_err(|e| id_error("device id", &record[0], e))?;
            let household = HouseholdId::parse(&record[1])
                .map_err(|e| id_error("household id", &record[1], e))?;
            directory.insert(device, household);
        }
        Ok(directory)
    }

    /// Reads and parses a households file (see [`StaticDirectory::parse_csv`]).
    pub fn load(path: &Path) -> Result<Self, HouseholdsFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| HouseholdsFileError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse_csv(&text)
    }
}

impl HouseholdDirectory for StaticDirectory {
    fn household_of<'a>(
        &'a self,
        device: &'a DeviceId,
    ) -> BoxFuture<'a, Result<Option<HouseholdId>, DirectoryError>> {
        Box::pin(std::future::ready(Ok(self.map.get(device).cloned())))
    }
}

/// Why a households file could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HouseholdsFileError {
    #[error("cannot read households file {path}: {message}")]
    Read { path: String, message: String },
    #[error("households file is not valid CSV: {0}")]
    Csv(String),
    #[error("households file line {line}: {message}")]
    Record { line: u64, message: String },
}

/// One `--household DEVICE=HOUSEHOLD` flag.
///
/// Split at the first `=`, so household ids may contain `=`; a device id
/// containing `=` has to go into the households file instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdMapping {
    pub device: DeviceId,
    pub household: HouseholdId,
}

impl FromStr for HouseholdMapping {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (device, household) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not DEVICE=HOUSEHOLD"))?;
        Ok(Self {
            device: DeviceId::parse(device).map_err(|e| format!("device id {device:?}: {e}"))?,
            household: HouseholdId::parse(household)
                .map_err(|e| format!("household id {household:?}: {e}"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(directory: &StaticDirectory, device: &str) -> Option<String> {
        let device = DeviceId::parse(device).unwrap();
        futures_util::FutureExt::now_or_never(directory.household_of(&device))
            .unwrap()
            .unwrap()
            .map(|h| h.as_str().to_owned())
    }

    #[test]
    fn parses_quoted_awkward_ids_with_optional_header() {
        let text = "device_id,household_id\n\
                    dev-1,home-1\n\
                    \n\
                    \"dev,2\",\"the \"\"big\"\" house\"\n\
                    Gerät 3, with space \n";
        let directory = StaticDirectory::parse_csv(text).unwrap();
        assert_eq!(directory.len(), 3);
        assert_eq!(lookup(&directory, "dev-1").as_deref(), Some("home-1"));
        assert_eq!(
            lookup(&directory, "dev,2").as_deref(),
            Some("the \"big\" house")
        );
        // Not trimmed: spaces are part of ids.
        assert_eq!(
            lookup(&directory, "Gerät 3").as_deref(),
            Some(" with space ")
        );
        assert_eq!(lookup(&directory, "unknown"), None);
    }

    #[test]
    fn bad_records_name_their_line() {
        let err = StaticDirectory::parse_csv("a,b\nc\n").unwrap_err();
        assert!(
            matches!(err, HouseholdsFileError::Record { line: 2, .. }),
            "{err:?}"
        );
        let err = StaticDirectory::parse_csv("a,b\nc,d,e\n").unwrap_err();
        assert!(
            matches!(err, HouseholdsFileError::Record { line: 2, .. }),
            "{err:?}"
        );
        let long = "x".repeat(65);
        let err = StaticDirectory::parse_csv(&format!("a,{long}\n")).unwrap_err();
        assert!(err.to_string().contains("household id"), "{err}");
        assert!(StaticDirectory::parse_csv("\"unterminated,x\n").is_err());
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = StaticDirectory::load(Path::new("/nonexistent/households.csv")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/households.csv"),
            "{err}"
        );
    }

    #[test]
    fn household_flags_split_at_the_first_equals_sign() {
        let m: HouseholdMapping = "dev 1=home=a".parse().unwrap();
        assert_eq!(m.device.as_str(), "dev 1");
        assert_eq!(m.household.as_str(), "home=a");
        assert!("no-separator".parse::<HouseholdMapping>().is_err());
        assert!("=home".parse::<HouseholdMapping>().is_err());
        assert!("dev=".parse::<HouseholdMapping>().is_err());
    }
}
