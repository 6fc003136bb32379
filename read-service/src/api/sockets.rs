//! `GET /api/sockets`: every socket of the household seen within
//! `--socket-horizon`, with its latest reading and whether it is reporting.
//!
//! The latest raw reading per socket comes from one `ORDER BY time DESC
//! LIMIT 1` query grouped by socket (InfluxDB reads each series backwards
//! and stops at its first point). Sockets whose raw readings have expired
//! but whose hourly rollups remain are listed from their last rollup bucket:
//! its mean power, counter value, and start as `last_seen`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;
use wattline_influx::query::{Query, QueryClient, QueryError};

use super::{ApiError, AppState, Household};
use crate::schema;
use crate::telemetry;

/// A socket's latest state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SocketState {
    #[schema(example = "d-4f2a")]
    pub device: String,
    #[schema(example = "fridge")]
    pub socket: String,
    /// Latest power, W.
    pub watts: Option<f64>,
    /// Latest cumulative counter, Wh.
    pub energy_wh: Option<f64>,
    /// Time of the latest reading (RFC 3339, UTC).
    pub last_seen: String,
    /// Whether the latest reading is within the reporting window.
    pub reporting: bool,
}

/// The household's sockets.
#[derive(Debug, Serialize, ToSchema)]
pub struct Sockets {
    pub sockets: Vec<SocketState>,
    /// Sum of the reporting sockets' latest power, W.
    pub total_watts: f64,
}

/// A socket's latest raw reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    pub device: String,
    pub socket: String,
    pub t_ms: i64,
    pub watts: Option<f64>,
    pub energy_wh: Option<f64>,
}

/// The latest reading of every socket of `household` since `since`.
pub async fn latest_raw(
    influx: &QueryClient,
    household: &str,
    since: Timestamp,
) -> Result<Vec<Latest>, QueryError> {
    let query = Query::new(format!(
        "SELECT \"watts\", \"energy_wh\" FROM \"{}\" WHERE \"household\" = $household \
         AND time >= $since GROUP BY \"device\", \"socket\" ORDER BY time DESC LIMIT 1",
        schema::RAW_MEASUREMENT
    ))
    .bind("household", household)
    .bind("since", since.to_string());
    latest(influx, &query, "watts", "energy_wh").await
}

async fn latest(
    influx: &QueryClient,
    query: &Query,
    watts: &str,
    energy: &str,
) -> Result<Vec<Latest>, QueryError> {
    let series = telemetry::timed_query(influx, query).await?;
    Ok(series
        .iter()
        .filter_map(|s| {
            let row = s.rows().next()?;
            Some(Latest {
                device: s.tag("device").to_owned(),
                socket: s.tag("socket").to_owned(),
                t_ms: row.time_ms()?,
                watts: row.f64(watts),
                energy_wh: row.f64(energy),
            })
        })
        .collect())
}

#[utoipa::path(get, path = "/api/sockets", tag = "sockets", security(("bearer" = [])),
    responses(
        (status = 200, description = "The household's sockets", body = Sockets),
        (status = 401, description = "No valid access token", body = super::error::ErrorBody),
        (status = 429, description = "Too many requests are reading data (see --max-concurrent-queries): try again after Retry-After", body = super::error::ErrorBody),
    ))]
pub async fn sockets(
    State(state): State<AppState>,
    household: Household,
) -> Result<impl IntoResponse, ApiError> {
    let now = Timestamp::now();
    let horizon = jiff::SignedDuration::try_from(state.limits.socket_horizon)
        .unwrap_or(jiff::SignedDuration::MAX);
    let since = now.checked_sub(horizon).unwrap_or(Timestamp::MIN);
    let rollup_query = Query::new(format!(
        "SELECT \"{w}\", \"{e}\" FROM \"{rp}\".\"{m}\" WHERE \"household\" = $household \
         AND time >= $since GROUP BY \"device\", \"socket\" ORDER BY time DESC LIMIT 1",
        w = schema::field::WATTS,
        e = schema::field::ENERGY_TOTAL_WH,
        rp = schema::HOUR.retention_policy,
        m = schema::SOCKET_MEASUREMENT,
    ))
    .bind("household", household.id())
    .bind("since", since.to_string());
    let _slot = state.admission.enter("/api/sockets").await?;
    let (raw, rolled) = tokio::join!(
        latest_raw(&state.influx, household.id(), since),
        latest(
            &state.influx,
            &rollup_query,
            schema::field::WATTS,
            schema::field::ENERGY_TOTAL_WH
        ),
    );
    let mut by_socket: BTreeMap<(String, String), Latest> = BTreeMap::new();
    // Rollups first, raw over them: a raw reading is always the newer truth.
    for latest in rolled?.into_iter().chain(raw?) {
        by_socket.insert((latest.device.clone(), latest.socket.clone()), latest);
    }
    let reporting_since = now.as_millisecond()
        - i64::try_from(state.limits.reporting_window.as_millis()).unwrap_or(i64::MAX);
    let sockets: Vec<SocketState> = by_socket
        .into_values()
        .map(|latest| SocketState {
            reporting: latest.t_ms >= reporting_since,
            last_seen: super::rfc3339_ms(latest.t_ms),
            device: latest.device,
            socket: latest.socket,
            watts: latest.watts,
            energy_wh: latest.energy_wh,
        })
        .collect();
    let total_watts = sockets
        .iter()
        .filter(|s| s.reporting)
        .filter_map(|s| s.watts)
        // Not sum(): an empty f64 sum is -0.0, which shows as "-0 W".
        .fold(0.0, |total, watts| total + watts);
    Ok((
        [(header::CACHE_CONTROL, "private, no-cache")],
        Json(Sockets {
            sockets,
            total_watts,
        }),
    ))
}
