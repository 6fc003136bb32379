//! A household's electricity tariff: prices per kWh by local time of day and a fixed daily charge.
//!
//! auth-service stores a [`Tariff`] as JSON with the household's settings and
//! checks it with [`Tariff::validate`] before saving; read-service prices
//! energy with [`Tariff::price_at`] at each reading's *local* time (the
//! household's time zone is applied by the caller, with jiff). Times of day
//! are [`LocalTime`]s, "HH:MM" on the wire.
//!
//! ```json
//! {"currency":"EUR","price_per_kwh":0.30,"daily_charge":0.25,
//!  "bands":[{"from":"07:00","to":"23:00","price_per_kwh":0.35}]}
//! ```

mod local_time;

use serde::{Deserialize, Serialize};

pub use local_time::{LocalTime, LocalTimeError};

/// Most time-of-use bands a tariff may have; real tariffs have two or three.
pub const MAX_BANDS: usize = 12;
/// Highest price (per kWh or per day) accepted: far above any real one, low
/// enough that a typo in the decimal point is caught.
pub const MAX_PRICE: f64 = 100.0;

/// What a household pays for electricity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Tariff {
    /// ISO 4217 code, three uppercase letters.
    #[cfg_attr(feature = "utoipa", schema(example = "EUR", pattern = "^[A-Z]{3}$"))]
    pub currency: String,
    /// Price per kWh outside every band.
    #[cfg_attr(feature = "utoipa", schema(example = 0.30, minimum = 0, maximum = 100))]
    pub price_per_kwh: f64,
    /// Fixed charge per local calendar day.
    #[cfg_attr(feature = "utoipa", schema(example = 0.25, minimum = 0, maximum = 100))]
    pub daily_charge: f64,
    /// Time-of-use prices; the first band containing a time wins.
    #[serde(default)]
    #[cfg_attr(feature = "utoipa", schema(max_items = 12))]
    pub bands: Vec<Band>,
}

/// A price for the local times `from <= t < to`. A band whose `to` is not
/// after its `from` runs past midnight: 22:00–06:00 is 22:00 to 06:00 the
/// next morning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Band {
    #[cfg_attr(feature = "utoipa", schema(example = "07:00"))]
    pub from: LocalTime,
    #[cfg_attr(feature = "utoipa", schema(example = "23:00"))]
    pub to: LocalTime,
    #[cfg_attr(feature = "utoipa", schema(example = 0.35, minimum = 0, maximum = 100))]
    pub price_per_kwh: f64,
}

/// Why a tariff was refused; the message names the field, e.g.
/// `bands[1].price_per_kwh must be …`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TariffError {
    #[error("currency must be three uppercase letters (ISO 4217, e.g. \"EUR\"), got {0:?}")]
    Currency(String),
    #[error("{field} must be a number from 0 to {MAX_PRICE}, got {value}")]
    Price { field: String, value: f64 },
    #[error("a tariff has at most {MAX_BANDS} bands, got {0}")]
    TooManyBands(usize),
    #[error("bands[{index}] starts and ends at {time}: from and to must differ")]
    EmptyBand { index: usize, time: LocalTime },
}

impl Tariff {
    /// Checks the rules the JSON types cannot express: the currency code,
    /// prices finite and within 0..=[`MAX_PRICE`], at most [`MAX_BANDS`]
    /// bands, and no band that starts where it ends (it would be unclear
    /// whether it means no time or the whole day). Overlapping bands are
    /// allowed: the first one wins.
    pub fn validate(&self) -> Result<(), TariffError> {
        let is_code =
            self.currency.len() == 3 && self.currency.bytes().all(|byte| byte.is_ascii_uppercase());
        if !is_code {
            return Err(TariffError::Currency(self.currency.clone()));
        }
        check_price("price_per_kwh", self.price_per_kwh)?;
        check_price("daily_charge", self.daily_charge)?;
        if self.bands.len() > MAX_BANDS {
            return Err(TariffError::TooManyBands(self.bands.len()));
        }
        for (index, band) in self.bands.iter().enumerate() {
            if band.from == band.to {
                return Err(TariffError::EmptyBand {
                    index,
                    time: band.from,
                });
            }
            check_price_with(band.price_per_kwh, || {
                format!("bands[{index}].price_per_kwh")
            })?;
        }
        Ok(())
    }

    /// The price per kWh of energy used at local time `time`: the first
    /// band containing it, else the base price.
    pub fn price_at(&self, time: jiff::civil::Time) -> f64 {
        self.bands
            .iter()
            .find(|band| band.contains(time))
            .map_or(self.price_per_kwh, |band| band.price_per_kwh)
    }
}

impl Band {
    /// Whether local time `time` falls in `from <= time < to`, wrapping past
    /// midnight when `to <= from`.
    pub fn contains(&self, time: jiff::civil::Time) -> bool {
        let (from, to) = (self.from.to_civil(), self.to.to_civil());
        if from < to {
            from <= time && time < to
        } else {
            // Wraps: the evening part or the morning part.
            time >= from || time < to
        }
    }
}

fn check_price(field: &str, value: f64) -> Result<(), TariffError> {
    check_price_with(value, || field.to_owned())
}

/// The field's name is only built when the price is wrong.
fn check_price_with(value: f64, field: impl FnOnce() -> String) -> Result<(), TariffError> {
    // `contains` is false for NaN, and the range excludes the infinities.
    if (0.0..=MAX_PRICE).contains(&value) {
        Ok(())
    } else {
        Err(TariffError::Price {
            field: field(),
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::time;

    use super::*;

    fn at(text: &str) -> LocalTime {
        text.parse().expect("valid time")
    }

    fn band(from: &str, to: &str, price_per_kwh: f64) -> Band {
        Band {
            from: at(from),
            to: at(to),
            price_per_kwh,
        }
    }

    fn tariff(bands: Vec<Band>) -> Tariff {
        Tariff {
            currency: "EUR".to_owned(),
            price_per_kwh: 0.30,
            daily_charge: 0.25,
            bands,
        }
    }

    #[test]
    fn without_bands_every_time_costs_the_base_price() {
        let tariff = tariff(vec![]);
        for t in [
            time(0, 0, 0, 0),
            time(12, 0, 0, 0),
            time(23, 59, 59, 999_999_999),
        ] {
            assert_eq!(tariff.price_at(t), 0.30);
        }
    }

    #[test]
    fn a_band_includes_its_start_and_excludes_its_end() {
        let tariff = tariff(vec![band("07:00", "23:00", 0.35)]);
        assert_eq!(tariff.price_at(time(6, 59, 59, 999_999_999)), 0.30);
        assert_eq!(tariff.price_at(time(7, 0, 0, 0)), 0.35);
        assert_eq!(tariff.price_at(time(22, 59, 59, 0)), 0.35);
        assert_eq!(tariff.price_at(time(23, 0, 0, 0)), 0.30);
    }

    #[test]
    fn a_band_ending_before_it_starts_wraps_past_midnight() {
        let tariff = tariff(vec![band("22:00", "06:00", 0.12)]);
        assert_eq!(tariff.price_at(time(21, 59, 0, 0)), 0.30);
        assert_eq!(tariff.price_at(time(22, 0, 0, 0)), 0.12);
        assert_eq!(tariff.price_at(time(23, 30, 0, 0)), 0.12);
        assert_eq!(tariff.price_at(time(0, 0, 0, 0)), 0.12);
        assert_eq!(tariff.price_at(time(5, 59, 0, 0)), 0.12);
        assert_eq!(tariff.price_at(time(6, 0, 0, 0)), 0.30);
        assert_eq!(tariff.price_at(time(12, 0, 0, 0)), 0.30);
    }

    #[test]
    fn a_band_ending_at_midnight_runs_to_the_end_of_the_day() {
        let tariff = tariff(vec![band("18:00", "00:00", 0.40)]);
        assert_eq!(tariff.price_at(time(17, 59, 0, 0)), 0.30);
        assert_eq!(tariff.price_at(time(23, 59, 59, 0)), 0.40);
        assert_eq!(tariff.price_at(time(0, 0, 0, 0)), 0.30);
    }

    #[test]
    fn the_first_band_containing_a_time_wins() {
        let tariff = tariff(vec![
            band("17:00", "20:00", 0.50),
            band("07:00", "23:00", 0.35),
        ]);
        assert_eq!(tariff.price_at(time(18, 0, 0, 0)), 0.50);
        assert_eq!(tariff.price_at(time(20, 0, 0, 0)), 0.35);
        assert_eq!(tariff.price_at(time(3, 0, 0, 0)), 0.30);
    }

    #[test]
    fn a_sensible_tariff_is_valid() {
        let mut tariff = tariff(vec![band("22:00", "06:00", 0.12)]);
        assert_eq!(tariff.validate(), Ok(()));
        tariff.price_per_kwh = 0.0;
        tariff.daily_charge = MAX_PRICE;
        assert_eq!(tariff.validate(), Ok(()));
        tariff.bands = (0..MAX_BANDS)
            .map(|_| band("01:00", "02:00", 1.0))
            .collect();
        assert_eq!(tariff.validate(), Ok(()));
    }

    #[test]
    fn the_currency_must_be_three_uppercase_letters() {
        for currency in ["eur", "EU", "EURO", "E1R", "ÉUR", ""] {
            let mut tariff = tariff(vec![]);
            tariff.currency = currency.to_owned();
            let error = tariff.validate().expect_err(currency);
            assert_eq!(error, TariffError::Currency(currency.to_owned()));
            assert!(error.to_string().starts_with("currency must be"), "{error}");
        }
    }

    #[test]
    fn prices_must_be_finite_and_between_0_and_100() {
        for bad in [-0.01, 100.01, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut base = tariff(vec![]);
            base.price_per_kwh = bad;
            let error = base.validate().expect_err("bad base price");
            assert!(
                error.to_string().starts_with("price_per_kwh must be"),
                "{error}"
            );

            let mut daily = tariff(vec![]);
            daily.daily_charge = bad;
            let error = daily.validate().expect_err("bad daily charge");
            assert!(
                error.to_string().starts_with("daily_charge must be"),
                "{error}"
            );

            let banded = tariff(vec![
                band("07:00", "08:00", 0.2),
                band("08:00", "09:00", bad),
            ]);
            let error = banded.validate().expect_err("bad band price");
            assert!(
                error
                    .to_string()
                    .starts_with("bands[1].price_per_kwh must be"),
                "{error}"
            );
        }
    }

    #[test]
    fn at_most_twelve_bands() {
        let tariff = tariff(
            (0..=MAX_BANDS)
                .map(|_| band("01:00", "02:00", 1.0))
                .collect(),
        );
        assert_eq!(tariff.validate(), Err(TariffError::TooManyBands(13)));
    }

    #[test]
    fn a_band_must_not_start_where_it_ends() {
        let tariff = tariff(vec![
            band("07:00", "08:00", 0.2),
            band("09:00", "09:00", 0.2),
        ]);
        let error = tariff.validate().expect_err("empty band");
        assert_eq!(
            error.to_string(),
            "bands[1] starts and ends at 09:00: from and to must differ"
        );
    }

    #[test]
    fn json_round_trips_in_the_documented_shape() {
        let text = r#"{"currency":"EUR","price_per_kwh":0.3,"daily_charge":0.25,"bands":[{"from":"07:00","to":"23:00","price_per_kwh":0.35}]}"#;
        let parsed: Tariff = serde_json::from_str(text).expect("valid JSON");
        assert_eq!(parsed, tariff(vec![band("07:00", "23:00", 0.35)]));
        assert_eq!(serde_json::to_string(&parsed).expect("serialises"), text);
    }

    #[test]
    fn bands_may_be_left_out() {
        let parsed: Tariff =
            serde_json::from_str(r#"{"currency":"EUR","price_per_kwh":0.3,"daily_charge":0.25}"#)
                .expect("valid JSON");
        assert!(parsed.bands.is_empty());
    }

    #[test]
    fn json_with_unknown_fields_or_bad_times_is_refused() {
        let unknown = r#"{"currency":"EUR","price_per_kwh":0.3,"daily_charge":0.25,"vat":0.19}"#;
        let error = serde_json::from_str::<Tariff>(unknown).expect_err("unknown field");
        assert!(error.to_string().contains("unknown field `vat`"), "{error}");

        let unknown_in_band = r#"{"currency":"EUR","price_per_kwh":0.3,"daily_charge":0.25,
            "bands":[{"from":"07:00","to":"23:00","price_per_kwh":0.35,"days":"weekdays"}]}"#;
        let error = serde_json::from_str::<Tariff>(unknown_in_band).expect_err("unknown field");
        assert!(
            error.to_string().contains("unknown field `days`"),
            "{error}"
        );

        let bad_time = r#"{"currency":"EUR","price_per_kwh":0.3,"daily_charge":0.25,
            "bands":[{"from":"7:00","to":"23:00","price_per_kwh":0.35}]}"#;
        let error = serde_json::from_str::<Tariff>(bad_time).expect_err("bad time");
        assert!(error.to_string().contains("HH:MM"), "{error}");
    }
}
