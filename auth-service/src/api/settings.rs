//! The household's settings: its time zone (read-service counts days, weeks
//! and months in it) and its tariff (read-service prices energy with it).
//! Every member may read them; only the owner changes them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use wattline_tariff::Tariff;

use super::error::ErrorBody;
use super::{ApiError, ApiJson, AppState, Caller};
use crate::access_token::Role;
use crate::store::Household;
use crate::time_zone::TimeZoneName;

/// The caller's household and their role in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HouseholdView {
    #[schema(example = "h-4k7x0m2q9v1c8e5z")]
    pub id: String,
    /// IANA time zone name.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    /// `null` when no tariff is set (no costs are shown).
    pub tariff: Option<Tariff>,
    pub role: Role,
}

/// New settings; both fields are required (`"tariff": null` removes the
/// tariff), so a client that knows only one cannot erase the other.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsRequest {
    /// IANA time zone name.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    #[serde(deserialize_with = "present")]
    #[schema(required = true)]
    pub tariff: Option<Tariff>,
}

/// An `Option` field that must be in the JSON, as a value or `null`: with
/// `deserialize_with`, serde no longer treats a missing `Option` as `None`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Option::deserialize(deserializer)
}

/// A time zone from a request: 422 `invalid_time_zone` unless jiff knows it.
pub fn time_zone(name: &str) -> Result<TimeZoneName, ApiError> {
    name.parse()
        .map_err(|error: crate::time_zone::UnknownTimeZone| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_time_zone",
                error.to_string(),
            )
        })
}

#[utoipa::path(get, path = "/api/household", tag = "household",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's household: time zone, tariff, and the caller's role", body = HouseholdView),
        (status = 401, description = "No valid access token", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<HouseholdView>, ApiError> {
    let user = caller.current(&state.store).await?;
    let household = load(&state, &user.household_id).await?;
    Ok(Json(view(household, user.role)))
}

#[utoipa::path(put, path = "/api/household/settings", tag = "household",
    security(("bearer" = [])),
    request_body = SettingsRequest,
    responses(
        (status = 200, description = "Saved; the household as GET /api/household shows it", body = HouseholdView),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Only the owner changes the settings", body = ErrorBody),
        (status = 422, description = "Unknown time zone (`invalid_time_zone`), a tariff breaking a rule (`invalid_tariff`, the message names the field), or a malformed body (`invalid_body`)", body = ErrorBody),
    ))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<SettingsRequest>,
) -> Result<Json<HouseholdView>, ApiError> {
    let owner = caller.owner(&state.store).await?;
    let time_zone = time_zone(&request.time_zone)?;
    if let Some(tariff) = &request.tariff {
        tariff.validate().map_err(|error| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_tariff",
                error.to_string(),
            )
        })?;
    }
    let saved = state
        .store
        .set_household_settings(&owner.household_id, &time_zone, request.tariff.as_ref())
        .await?;
    if !saved {
        // The owner's row exists but the household does not: the owner
        // was deleted with it between the check and the update.
        return Err(ApiError::unauthorized(
            "invalid_token",
            "the account no longer exists",
        ));
    }
    tracing::info!(household = %owner.household_id, time_zone = %time_zone,
        tariff = request.tariff.is_some(), "household settings changed");
    Ok(Json(view(
        Household {
            id: owner.household_id,
            time_zone: time_zone.to_string(),
            tariff: request.tariff,
        },
        owner.role,
    )))
}

/// The household a verified member belongs to (it exists while they do).
async fn load(state: &AppState, household_id: &str) -> Result<Household, ApiError> {
    state
        .store
        .household(household_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "the account no longer exists"))
}

fn view(household: Household, role: Role) -> HouseholdView {
    HouseholdView {
        id: household.id,
        time_zone: household.time_zone,
        tariff: household.tariff,
        role,
    }
}
