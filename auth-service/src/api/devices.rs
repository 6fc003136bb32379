//! Devices (agents) and socket names.
//!
//! A new device gets an id and a secret; the secret is shown once (in the
//! response that creates or rotates it) and stored only as a hash. The
//! device logs in to RabbitMQ with them (see `broker`). Another household's
//! device is "not found", never "forbidden": its existence is not revealed.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wattline_proto::ids::check_id;

use super::error::ErrorBody;
use super::{check_name, ApiError, ApiJson, ApiPath, AppState, Caller, SecretField};
use crate::credentials::{new_id, new_token, token_hash};
use crate::store::{Device, SocketName};
use crate::unix_now;

/// A device and its named sockets.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    /// Also its RabbitMQ user name.
    #[schema(example = "d-4k7x0m2q9v1c8e5z")]
    pub id: String,
    #[schema(example = "Kitchen Pi")]
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
    pub sockets: Vec<SocketView>,
}

/// A socket's display name.
#[derive(Debug, Serialize, ToSchema)]
pub struct SocketView {
    /// The id the agent reports the socket under.
    pub socket_id: String,
    pub name: String,
}

/// A device's credentials, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceCredentials {
    pub device: DeviceView,
    /// The device's RabbitMQ password (`--secret` / `DEVICE_SECRET` of the agent).
    pub secret: SecretField,
    /// The routing key the device may publish with, on exchange `wattline.readings`.
    pub routing_key: String,
}

/// A name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameRequest {
    #[schema(example = "Kitchen Pi")]
    pub name: String,
}

#[utoipa::path(get, path = "/api/devices", tag = "devices",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The household's devices", body = [DeviceView]),
        (status = 401, description = "No valid access token", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<DeviceView>>, ApiError> {
    let devices = state.store.devices(caller.household()).await?;
    let mut sockets: HashMap<String, Vec<SocketView>> = HashMap::new();
    for socket in state.store.socket_names(caller.household()).await? {
        sockets
            .entry(socket.device_id.clone())
            .or_default()
            .push(socket_view(socket));
    }
    Ok(Json(
        devices
            .into_iter()
            .map(|device| {
                let sockets = sockets.remove(&device.id).unwrap_or_default();
                device_view(device, sockets)
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/devices", tag = "devices",
    security(("bearer" = [])),
    request_body = NameRequest,
    responses(
        (status = 201, description = "Registered; the secret is shown only now", body = DeviceCredentials),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Only the owner registers devices", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NameRequest>,
) -> Result<(StatusCode, Json<DeviceCredentials>), ApiError> {
    let owner = caller.owner(&state.store).await?;
    let device = Device {
        id: new_id("d"),
        household_id: owner.household_id,
        name: check_name(&request.name)?,
        created_at: unix_now(),
    };
    let secret = new_token();
    state
        .store
        .create_device(&device, &token_hash(&secret))
        .await?;
    tracing::info!(device = %device.id, household = %device.household_id, "device registered");
    Ok((
        StatusCode::CREATED,
        Json(credentials(device_view(device, Vec::new()), secret)),
    ))
}

#[utoipa::path(get, path = "/api/devices/{id}", tag = "devices",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Device id")),
    responses(
        (status = 200, description = "The device", body = DeviceView),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 404, description = "No such device in this household", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeviceView>, ApiError> {
    Ok(Json(view(&state, caller.household(), &id).await?))
}

#[utoipa::path(patch, path = "/api/devices/{id}", tag = "devices",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Device id")),
    request_body = NameRequest,
    responses(
        (status = 200, description = "Renamed", body = DeviceView),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Only the owner renames", body = ErrorBody),
        (status = 404, description = "No such device in this household", body = ErrorBody),
    ))]
pub async fn rename(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<NameRequest>,
) -> Result<Json<DeviceView>, ApiError> {
    let owner = caller.owner(&state.store).await?;
    let name = check_name(&request.name)?;
    if !state
        .store
        .rename_device(&owner.household_id, &id, &name)
        .await?
    {
        return Err(ApiError::not_found("device"));
    }
    Ok(Json(view(&state, &owner.household_id, &id).await?))
}

#[utoipa::path(post, path = "/api/devices/{id}/secret", tag = "devices",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Device id")),
    responses(
        (status = 200, description = "A new secret, shown only now; the old one no longer logs in (the broker may cache logins for up to its auth_cache TTL)", body = DeviceCredentials),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Only the owner rotates secrets", body = ErrorBody),
        (status = 404, description = "No such device in this household", body = ErrorBody),
    ))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeviceCredentials>, ApiError> {
    let owner = caller.owner(&state.store).await?;
    let secret = new_token();
    if !state
        .store
        .set_device_secret(&owner.household_id, &id, &token_hash(&secret))
        .await?
    {
        return Err(ApiError::not_found("device"));
    }
    tracing::info!(device = %id, "device secret rotated");
    let device = view(&state, &owner.household_id, &id).await?;
    Ok(Json(credentials(device, secret)))
}

#[utoipa::path(delete, path = "/api/devices/{id}", tag = "devices",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Device id")),
    responses(
        (status = 204, description = "Deleted: it can no longer log in; its stored readings stay"),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Only the owner deletes devices", body = ErrorBody),
        (status = 404, description = "No such device in this household", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let owner = caller.owner(&state.store).await?;
    if !state.store.delete_device(&owner.household_id, &id).await? {
        return Err(ApiError::not_found("device"));
    }
    tracing::info!(device = %id, "device deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/devices/{id}/sockets/{socket_id}", tag = "devices",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Device id"),
        ("socket_id" = String, Path, description = "The socket id the agent reports"),
    ),
    request_body = NameRequest,
    responses(
        (status = 200, description = "Named", body = SocketView),
        (status = 400, description = "Bad socket id or name", body = ErrorBody),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Only the owner names sockets", body = ErrorBody),
        (status = 404, description = "No such device in this household", body = ErrorBody),
    ))]
pub async fn name_socket(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, socket_id)): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<NameRequest>,
) -> Result<Json<SocketView>, ApiError> {
    let owner = caller.owner(&state.store).await?;
    check_id(&socket_id).map_err(|e| ApiError::invalid("invalid_socket_id", e.to_string()))?;
    let name = check_name(&request.name)?;
    if !state
        .store
        .name_socket(&owner.household_id, &id, &socket_id, &name)
        .await?
    {
        return Err(ApiError::not_found("device"));
    }
    Ok(Json(SocketView { socket_id, name }))
}

async fn view(state: &AppState, household: &str, id: &str) -> Result<DeviceView, ApiError> {
    let device = state
        .store
        .device(household, id)
        .await?
        .ok_or_else(|| ApiError::not_found("device"))?;
    let sockets = state
        .store
        .socket_names(household)
        .await?
        .into_iter()
        .filter(|socket| socket.device_id == device.id)
        .map(socket_view)
        .collect();
    Ok(device_view(device, sockets))
}

fn credentials(device: DeviceView, secret: String) -> DeviceCredentials {
    DeviceCredentials {
        routing_key: wattline_proto::routing_key(&device.id),
        device,
        secret: SecretField::from(secret),
    }
}

fn device_view(device: Device, sockets: Vec<SocketView>) -> DeviceView {
    DeviceView {
        id: device.id,
        name: device.name,
        created_at: device.created_at,
        sockets,
    }
}

fn socket_view(socket: SocketName) -> SocketView {
    SocketView {
        socket_id: socket.socket_id,
        name: socket.name,
    }
}
