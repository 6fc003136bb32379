//! `GET /api/energy?from&to&bucket[&device&socket]`: energy and cost per
//! calendar period in the household's time zone, totals, and the split by
//! socket.
//!
//! Source: 1-minute rollups for hour periods and for zones whose offset is
//! not a whole number of hours (their local hours start mid-UTC-hour);
//! 1-hour rollups otherwise. Totals read the household rollup (one point per
//! bucket, not one per socket). The split by socket needs each socket's
//! buckets only when the tariff has time-of-use bands; with one price, the
//! sum per socket is done by InfluxDB.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use jiff::ZonedDateTime;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wattline_influx::query::{Query, Series};

use super::{ApiError, ApiQuery, AppState, Household, Range, SocketRef, MAX_RANGE};
use crate::energy::{round6, sum_periods, Pricing, Usage};
use crate::periods::{periods, whole_hour_offsets, Bucket, PeriodError};
use crate::schema;
use crate::telemetry;

/// Query parameters of `/api/energy`.
#[derive(Debug, Deserialize, IntoParams)]
// Unknown parameters are refused: a typo (`devcie=`) would otherwise
// silently answer for the whole household.
#[serde(deny_unknown_fields)]
pub struct EnergyParams {
    /// Start, RFC 3339; snapped down to the start of its period.
    // Required: Option only so that a missing one gets our 400.
    #[param(required = true, value_type = String, format = DateTime)]
    pub from: Option<String>,
    /// End, RFC 3339; snapped up to the end of its period.
    #[param(required = true, value_type = String, format = DateTime)]
    pub to: Option<String>,
    /// `hour`, `day`, `week` (from Monday) or `month`, in the household's time zone.
    #[param(required = true, value_type = String, example = "day")]
    pub bucket: Option<String>,
    /// Device id (with `socket`); neither = the whole household.
    pub device: Option<String>,
    /// Socket id on the device (with `device`).
    pub socket: Option<String>,
}

/// Energy by period.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnergyReport {
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    /// The tariff's currency; null without a tariff (and then every cost is null).
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    #[schema(example = "day")]
    pub bucket: &'static str,
    pub buckets: Vec<EnergyBucket>,
    pub total_kwh: f64,
    pub total_cost: Option<f64>,
    pub by_socket: Vec<SocketEnergy>,
}

/// One period.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnergyBucket {
    /// Local start, RFC 3339 with the offset then in force.
    #[schema(example = "2026-03-29T00:00:00+01:00")]
    pub start: String,
    #[schema(example = "2026-03-30T00:00:00+02:00")]
    pub end: String,
    pub energy_kwh: f64,
    /// Energy priced by the tariff at each rollup bucket's local start.
    pub energy_cost: Option<f64>,
    /// Daily charge × local days starting in the period (0 for hours).
    pub fixed_cost: Option<f64>,
    pub cost: Option<f64>,
}

/// One socket's share of the whole range.
#[derive(Debug, Serialize, ToSchema)]
pub struct SocketEnergy {
    pub device: String,
    pub socket: String,
    pub energy_kwh: f64,
    /// Energy cost only (the daily charge belongs to the household).
    pub cost: Option<f64>,
}

fn local(at: &ZonedDateTime) -> String {
    at.timestamp().display_with_offset(at.offset()).to_string()
}

#[utoipa::path(get, path = "/api/energy", tag = "energy", params(EnergyParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "Energy and cost per period", body = EnergyReport),
        (status = 400, description = "Bad time, range, bucket or socket", body = super::error::ErrorBody),
        (status = 401, description = "No valid access token", body = super::error::ErrorBody),
        (status = 429, description = "Too many requests are reading data (see --max-concurrent-queries): try again after Retry-After", body = super::error::ErrorBody),
    ))]
pub async fn energy(
    State(state): State<AppState>,
    household: Household,
    ApiQuery(params): ApiQuery<EnergyParams>,
) -> Result<impl IntoResponse, ApiError> {
    let range = Range::parse(params.from.as_deref(), params.to.as_deref(), MAX_RANGE)?;
    let bucket: Bucket = params
        .bucket
        .as_deref()
        .ok_or(())
        .and_then(str::parse)
        .map_err(|()| {
            ApiError::invalid(
                "invalid_bucket",
                "`bucket` is one of hour, day, week, month",
            )
        })?;
    let socket = SocketRef::parse(params.device.as_deref(), params.socket.as_deref())?;
    let settings = state.settings.get(household.id()).await?;
    let tz = &settings.time_zone;
    let periods = periods(tz, range.from, range.to, bucket).map_err(|e| match e {
        PeriodError::TooMany(_) => ApiError::invalid("invalid_range", e.to_string()),
        PeriodError::Calendar(_) => ApiError::invalid("invalid_range", e.to_string()),
    })?;
    let (Some(first), Some(last)) = (periods.first(), periods.last()) else {
        return Err(ApiError::invalid("invalid_range", "the range is empty"));
    };
    let (from, to) = (first.start.timestamp(), last.end.timestamp());
    let rollup = if bucket == Bucket::Hour || !whole_hour_offsets(tz, from, to) {
        schema::MINUTE
    } else {
        schema::HOUR
    };
    let tariff = settings.tariff.as_ref();
    let pricing = Pricing { tariff, tz };
    let bind = |query: Query| {
        let query = query
            .bind("household", household.id())
            .bind("from", from.to_string())
            .bind("to", to.to_string());
        match &socket {
            Some(socket) => socket.bind(query),
            None => query,
        }
    };
    let range_condition = "\"household\" = $household AND time >= $from AND time < $to";
    let rp = rollup.retention_policy;
    let e = schema::field::ENERGY_WH;

    let totals_query = bind(Query::new(match &socket {
        Some(_) => format!(
            "SELECT \"{e}\" FROM \"{rp}\".\"{m}\" WHERE {range_condition}{cond}",
            m = schema::SOCKET_MEASUREMENT,
            cond = SocketRef::CONDITION,
        ),
        None => format!(
            "SELECT \"{e}\" FROM \"{rp}\".\"{m}\" WHERE {range_condition}",
            m = schema::HOUSEHOLD_MEASUREMENT,
        ),
    }));
    let banded = tariff.is_some_and(|t| !t.bands.is_empty());
    // The split by socket: each socket's buckets when prices vary by time
    // of day, else one sum per socket.
    let split_query = bind(Query::new(if banded {
        format!(
            "SELECT \"{e}\" FROM \"{rp}\".\"{m}\" WHERE {range_condition}{cond} GROUP BY \"device\", \"socket\"",
            m = schema::SOCKET_MEASUREMENT,
            cond = socket.as_ref().map_or("", |_| SocketRef::CONDITION),
        )
    } else {
        format!(
            "SELECT sum(\"{e}\") AS \"{e}\" FROM \"{rp}\".\"{m}\" WHERE {range_condition}{cond} GROUP BY \"device\", \"socket\"",
            m = schema::SOCKET_MEASUREMENT,
            cond = socket.as_ref().map_or("", |_| SocketRef::CONDITION),
        )
    }));
    let _slot = state.admission.enter("/api/energy").await?;
    let (totals, split) = tokio::join!(
        telemetry::timed_query(&state.influx, &totals_query),
        telemetry::timed_query(&state.influx, &split_query)
    );
    let (totals, split) = (totals?, split?);

    let sums = sum_periods(&periods, bucket, usage(&totals), pricing);
    let buckets: Vec<EnergyBucket> = sums
        .iter()
        .map(|total| EnergyBucket {
            start: local(&total.period.start),
            end: local(&total.period.end),
            energy_kwh: round6(total.energy_kwh),
            energy_cost: total.energy_cost.map(round6),
            fixed_cost: total.fixed_cost.map(round6),
            cost: total.cost().map(round6),
        })
        .collect();
    let total_kwh = round6(sums.iter().map(|t| t.energy_kwh).sum());
    let total_cost = tariff.map(|_| round6(sums.iter().filter_map(|t| t.cost()).sum()));

    let mut by_socket: BTreeMap<(String, String), (f64, Option<f64>)> = BTreeMap::new();
    // Every socket has the same bucket starts: each is priced (a time-zone
    // conversion) once, not once per socket.
    let mut prices: HashMap<i64, Option<f64>> = HashMap::new();
    for series in &split {
        let entry = by_socket
            .entry((
                series.tag("device").to_owned(),
                series.tag("socket").to_owned(),
            ))
            .or_insert((0.0, tariff.map(|_| 0.0)));
        for usage in usage(std::slice::from_ref(series)) {
            entry.0 += usage.energy_wh / 1000.0;
            let cost = if banded {
                let price = *prices
                    .entry(usage.start_ms)
                    .or_insert_with(|| pricing.price_per_kwh(usage.start_ms));
                price.map(|p| usage.energy_wh / 1000.0 * p)
            } else {
                tariff.map(|t| usage.energy_wh / 1000.0 * t.price_per_kwh)
            };
            if let (Some(sum), Some(cost)) = (entry.1.as_mut(), cost) {
                *sum += cost;
            }
        }
    }
    let by_socket = by_socket
        .into_iter()
        .map(|((device, socket), (kwh, cost))| SocketEnergy {
            device,
            socket,
            energy_kwh: round6(kwh),
            cost: cost.map(round6),
        })
        .collect();

    Ok((
        [(header::CACHE_CONTROL, Range { from, to }.cache_control())],
        Json(EnergyReport {
            time_zone: settings.time_zone_name.clone(),
            currency: tariff.map(|t| t.currency.clone()),
            bucket: bucket.as_str(),
            buckets,
            total_kwh,
            total_cost,
            by_socket,
        }),
    ))
}

/// The rows of `series` as usage (rows without energy are skipped).
fn usage(series: &[Series]) -> impl Iterator<Item = Usage> + '_ {
    series.iter().flat_map(|s| {
        s.rows().filter_map(|row| {
            Some(Usage {
                start_ms: row.time_ms()?,
                energy_wh: row.f64(schema::field::ENERGY_WH)?,
            })
        })
    })
}
