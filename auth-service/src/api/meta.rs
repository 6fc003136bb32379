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
    modifiers(&BearerAuth, &BodyRefusals),
    tags(
        (name = "accounts", description = "Register, log in, sessions, password, deletion"),
        (name = "household", description = "Settings (time zone, tariff), members and invitations"),
        (name = "devices", description = "Agents, their secrets, socket names"),
        (name = "meta", description = "Keys and health"),
    )
)]
struct ApiDoc;

/// Documents, on every operation that takes a JSON body, the refusals axum
/// makes before the handler runs (`ApiJson`'s rejections and the body
/// limit): 400 not JSON, 413 over `MAX_BODY_BYTES`, 415 not
/// `application/json`, 422 wrong or unknown fields. Written once here, not
/// on each route, so no route can forget them. A route that documents one of
/// these codes itself keeps its own description.
struct BodyRefusals;

impl utoipa::Modify for BodyRefusals {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let refusals = [
            ("400", "The body is not valid JSON"),
            ("413", "The body is larger than the limit (16 KiB)"),
            ("415", "The body is not `Content-Type: application/json`"),
            ("422", "The body has missing, unknown or mistyped fields"),
        ];
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                if operation.request_body.is_none() {
                    continue;
                }
                for (status, description) in refusals {
                    let error = ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build();
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            ResponseBuilder::new()
                                .description(description)
                                .content("application/json", error)
                                .into()
                        });
                }
            }
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_with_a_body_documents_the_body_refusals() {
        let document = serde_json::to_value(ApiDoc::openapi()).expect("JSON");
        let mut with_body = 0;
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                if operation.get("requestBody").is_none() {
                    continue;
                }
                with_body += 1;
                for status in ["400", "413", "415", "422"] {
                    let body = &operation["responses"][status]["content"]["application/json"];
                    assert!(body.is_object(), "{method} {path}: no {status}");
                }
            }
        }
        assert!(with_body >= 10, "{with_body} operations with a body");
    }
}
