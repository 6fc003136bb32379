//! What other programs read: the OpenAPI document and `/healthz` (`/metrics`
//! and the JSON answers for unknown routes and methods are
//! `wattline_ops`'s).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use wattline_ops::http::BearerAuth;

use super::error::ErrorBody;
use super::{energy, export, live, power, sockets, AppState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Wattline read-service",
        description = "A household's power, energy and cost. Every data route needs `Authorization: Bearer <access token>`; the household is the token's. Times are RFC 3339. Errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    paths(sockets::sockets, power::power, energy::energy, export::export, live::live, healthz),
    // The live feed's event data: its response schema is the event's frame.
    components(schemas(ErrorBody, live::LiveEvent, live::LiveSocket)),
    modifiers(&BearerAuth),
    tags(
        (name = "sockets", description = "Sockets and their latest readings"),
        (name = "power", description = "Power charts"),
        (name = "energy", description = "Energy and cost by calendar period"),
        (name = "export", description = "Raw readings as CSV"),
        (name = "live", description = "Server-sent events"),
        (name = "meta", description = "Health"),
    )
)]
struct ApiDoc;

/// The OpenAPI document.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Service health.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// Whether InfluxDB answered.
    pub influxdb: bool,
}

#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses(
        (status = 200, description = "Serving", body = Health),
        (status = 503, description = "InfluxDB does not answer", body = Health),
    ))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    // Liveness is whether InfluxDB can be reached, not whether it has time for
    // us: the ping never takes an admission slot (it would queue behind the
    // very load it should not judge, and a busy service would look dead to
    // the load balancer, which would then pile its traffic on the other
    // replicas). InfluxDB's /ping skips its query engine, and admission keeps
    // the engine below saturation, so the ping answers within its 3 s even
    // while requests are being shed.
    match state.influx.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                influxdb: true,
            }),
        ),
        Err(error) => {
            tracing::warn!(%error, "health check: InfluxDB unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "unavailable",
                    influxdb: false,
                }),
            )
        }
    }
}
