//! What other programs read: the JWKS (read-service verifies tokens with
//! it), the OpenAPI document and `/healthz` (`/metrics` and the JSON answers
//! for unknown routes and methods are `wattline_ops`'s).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use wattline_ops::http::BearerAuth;

use super::error::ErrorBody;
use super::{accounts, devices, household, settings, AppState};
use crate::keys::Jwks;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Wattline auth-service",
        description = "Accounts, households, devices and tokens. Errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    paths(
        accounts::register, accounts::login, accounts::refresh, accounts::logout,
        accounts::me, accounts::change_password, accounts::delete_account,
        settings::get, settings::put,
        household::members, household::invite, household::remove_member,
        devices::list, devices::create, devices::get, devices::rename,
        devices::rotate_secret, devices::delete, devices::name_socket,
        jwks, healthz,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Register, log in, sessions, password, deletion"),
        (name = "household", description = "Settings (time zone, tariff), members and invitations"),
        (name = "devices", description = "Agents, their secrets, socket names"),
        (name = "meta", description = "Keys and health"),
    )
)]
struct ApiDoc;

/// The OpenAPI document (built per request: it is small and rarely asked for).
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "meta",
    responses((status = 200, description = "The public keys that verify access tokens", body = Jwks)))]
pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        // Verifiers cache it; a new key is published before it signs.
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.tokens.keys().jwks()),
    )
}

/// Service health.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// Whether the database answered.
    pub database: bool,
}

#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses(
        (status = 200, description = "Serving", body = Health),
        (status = 503, description = "The database does not answer", body = Health),
    ))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                database: true,
            }),
        ),
        Err(error) => {
            tracing::warn!(%error, "health check: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "unavailable",
                    database: false,
                }),
            )
        }
    }
}
