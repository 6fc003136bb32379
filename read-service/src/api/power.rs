//! `GET /api/power?from&to[&device&socket]`: a power chart as columns for
//! uPlot, from raw readings or rollups as [`crate::resolution`] plans it.
//!
//! One socket: the mean and the highest power per step. The household
//! total: the sum of the sockets' means per step; its `watts_max` is the
//! highest total the source holds within the step (1-minute or 1-hour
//! totals from the household rollup), and null at raw resolution, where no
//! total series exists to take a maximum of.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wattline_influx::query::Query;

use super::{ApiError, ApiQuery, AppState, Household, Range, SocketRef, MAX_RANGE};
use crate::resolution::{plan, Plan, Source};
use crate::schema;
use crate::telemetry;

/// Query parameters of `/api/power` and `/api/export.csv`.
#[derive(Debug, Deserialize, IntoParams)]
// Unknown parameters are refused: a typo (`devcie=`) would otherwise
// silently answer for the whole household.
#[serde(deny_unknown_fields)]
pub struct RangeParams {
    /// Start, RFC 3339 (e.g. `2026-03-29T00:00:00+01:00`).
    // Required: Option only so that a missing one gets our 400 `invalid_time`.
    #[param(required = true, value_type = String, format = DateTime)]
    pub from: Option<String>,
    /// End (exclusive), RFC 3339.
    #[param(required = true, value_type = String, format = DateTime)]
    pub to: Option<String>,
    /// Device id (with `socket`); neither = the household total.
    pub device: Option<String>,
    /// Socket id on the device (with `device`).
    pub socket: Option<String>,
}

/// A power chart, columnar.
#[derive(Debug, Serialize, ToSchema)]
pub struct PowerSeries {
    /// Start of the first step, RFC 3339 UTC.
    pub from: String,
    /// End of the last step.
    pub to: String,
    pub step_s: i64,
    /// `raw`, `1m` or `1h`.
    #[schema(example = "1m")]
    pub resolution: &'static str,
    /// Step starts, Unix seconds.
    pub t: Vec<i64>,
    /// Mean power per step, W (null: no data).
    pub watts: Vec<Option<f64>>,
    /// Highest power per step, W.
    pub watts_max: Vec<Option<f64>>,
}

#[utoipa::path(get, path = "/api/power", tag = "power", params(RangeParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "Power per step", body = PowerSeries),
        (status = 400, description = "Bad time, range or socket", body = super::error::ErrorBody),
        (status = 401, description = "No valid access token", body = super::error::ErrorBody),
        (status = 429, description = "Too many requests are reading data (see --max-concurrent-queries): try again after Retry-After", body = super::error::ErrorBody),
    ))]
pub async fn power(
    State(state): State<AppState>,
    household: Household,
    ApiQuery(params): ApiQuery<RangeParams>,
) -> Result<impl IntoResponse, ApiError> {
    let range = Range::parse(params.from.as_deref(), params.to.as_deref(), MAX_RANGE)?;
    let socket = SocketRef::parse(params.device.as_deref(), params.socket.as_deref())?;
    let plan = plan(range.from, range.to);
    let query = query(&plan, socket.as_ref())
        .bind("household", household.id())
        .bind("from", ts(plan.from_s).to_string())
        .bind("to", ts(plan.to_s).to_string());
    let query = match &socket {
        Some(socket) => socket.bind(query),
        None => query,
    };
    let _slot = state.admission.enter("/api/power").await?;
    let series = telemetry::timed_query(&state.influx, &query).await?;
    let points = plan.points();
    let t: Vec<i64> = (0..points)
        .map(|i| plan.from_s + plan.step_s * i as i64)
        .collect();
    let mut watts = vec![None; points];
    let mut watts_max = vec![None; points];
    for row in series.iter().flat_map(|s| s.rows()) {
        let Some(time) = row.time_ms() else { continue };
        let index = (time / 1000 - plan.from_s).div_euclid(plan.step_s);
        if let Some(index) = usize::try_from(index).ok().filter(|&i| i < points) {
            watts[index] = row.f64("watts");
            watts_max[index] = row.f64("watts_max");
        }
    }
    Ok((
        [(header::CACHE_CONTROL, range.cache_control())],
        Json(PowerSeries {
            from: ts(plan.from_s).to_string(),
            to: ts(plan.to_s).to_string(),
            step_s: plan.step_s,
            resolution: plan.source.as_str(),
            t,
            watts,
            watts_max,
        }),
    ))
}

fn ts(second: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(second).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// The statement for `plan`; binds `$household`, `$from`, `$to` (and
/// `$device`, `$socket` for one socket). Only computed integers and our own
/// names are formatted into it.
fn query(plan: &Plan, socket: Option<&SocketRef>) -> Query {
    let step = plan.step_s;
    let range = "\"household\" = $household AND time >= $from AND time < $to";
    let text = match (plan.source, socket) {
        (Source::Raw, Some(_)) => format!(
            "SELECT mean(\"watts\") AS \"watts\", max(\"watts\") AS \"watts_max\" FROM \"{m}\" \
             WHERE {range}{cond} GROUP BY time({step}s) fill(none)",
            m = schema::RAW_MEASUREMENT,
            cond = SocketRef::CONDITION,
        ),
        (Source::Raw, None) => format!(
            "SELECT sum(\"watts\") AS \"watts\" FROM (SELECT mean(\"watts\") AS \"watts\" FROM \"{m}\" \
             WHERE {range} GROUP BY time({step}s), \"device\", \"socket\" fill(none)) \
             WHERE time >= $from AND time < $to GROUP BY time({step}s) fill(none)",
            m = schema::RAW_MEASUREMENT,
        ),
        (rollup, Some(_)) => format!(
            "SELECT mean(\"{w}\") AS \"watts\", max(\"{wm}\") AS \"watts_max\" FROM \"{rp}\".\"{m}\" \
             WHERE {range}{cond} GROUP BY time({step}s) fill(none)",
            w = schema::field::WATTS,
            wm = schema::field::WATTS_MAX,
            rp = retention_policy(rollup),
            m = schema::SOCKET_MEASUREMENT,
            cond = SocketRef::CONDITION,
        ),
        (rollup, None) => format!(
            "SELECT mean(\"{w}\") AS \"watts\", max(\"{w}\") AS \"watts_max\" FROM \"{rp}\".\"{m}\" \
             WHERE {range} GROUP BY time({step}s) fill(none)",
            w = schema::field::WATTS,
            rp = retention_policy(rollup),
            m = schema::HOUSEHOLD_MEASUREMENT,
        ),
    };
    Query::new(text)
}

/// The retention policy of a rollup source.
pub fn retention_policy(source: Source) -> &'static str {
    match source {
        Source::Hour => schema::HOUR.retention_policy,
        _ => schema::MINUTE.retention_policy,
    }
}
