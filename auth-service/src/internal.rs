//! The internal API, on its own listener (`--internal-listen`), for other
//! services only:
//! - RabbitMQ's `rabbitmq_auth_backend_http` asks here whether a device may
//!   log in and what it may touch (`/internal/rabbitmq/{user,vhost,resource,topic}`,
//!   form fields in, `allow`/`deny` out);
//! - the write service asks which household a device belongs to
//!   (`/internal/devices/{id}`);
//! - read-service asks for a household's time zone and tariff
//!   (`/internal/households/{id}`).
//!
//! The broker's own service accounts (the write service, perf, guest in
//! tests) are RabbitMQ internal users, tried before this backend
//! (`auth_backends.1 = internal`); everything that reaches here is a device.
//! The rule for devices ([`may_access`], [`may_publish`]): write to the
//! exchange `wattline.readings` with routing key `readings.<own id>`,
//! nothing else: no reading, no consuming, no declaring.

use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use wattline_proto::{routing_key, EXCHANGE};

use crate::api::{ApiError, ApiPath, SecretField};
use crate::credentials::token_matches;
use crate::store::Store;
use crate::telemetry;
use wattline_tariff::Tariff;

/// What the internal handlers share.
#[derive(Debug, Clone)]
pub struct InternalState {
    pub store: Store,
    /// The one virtual host devices may use.
    pub vhost: Arc<str>,
}

/// The internal router.
pub fn router(state: InternalState) -> Router {
    // Form reads POST bodies and GET query strings alike, so the broker may
    // use either `auth_http.http_method`.
    Router::new()
        .route("/internal/rabbitmq/user", post(user).get(user))
        .route("/internal/rabbitmq/vhost", post(vhost).get(vhost))
        .route("/internal/rabbitmq/resource", post(resource).get(resource))
        .route("/internal/rabbitmq/topic", post(topic).get(topic))
        .route("/internal/devices/{id}", get(device))
        .route("/internal/households/{id}", get(household))
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// `user_path`: may this user log in with this password?
#[derive(Debug, Deserialize)]
struct UserCheck {
    username: String,
    password: SecretField,
}

/// `vhost_path`.
#[derive(Debug, Deserialize)]
struct VhostCheck {
    username: String,
    vhost: String,
}

/// `resource_path`: `resource` is exchange, queue or topic; `permission` is
/// configure, write or read.
#[derive(Debug, Deserialize)]
pub struct ResourceCheck {
    pub username: String,
    pub vhost: String,
    pub resource: String,
    pub name: String,
    pub permission: String,
}

/// `topic_path`: publishing (write) or binding/consuming (read) with a routing key.
#[derive(Debug, Deserialize)]
pub struct TopicCheck {
    pub username: String,
    pub vhost: String,
    pub resource: String,
    pub name: String,
    pub permission: String,
    pub routing_key: String,
}

/// The broker's answer format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    fn from_bool(allowed: bool) -> Self {
        if allowed {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }
}

/// The one exchange permission a device has: write to `wattline.readings`.
pub fn may_access(check: &ResourceCheck, vhost: &str) -> bool {
    check.vhost == vhost
        && check.resource == "exchange"
        && check.name == EXCHANGE
        && check.permission == "write"
}

/// Topic permission: write to `wattline.readings` with its own routing key.
pub fn may_publish(check: &TopicCheck, vhost: &str) -> bool {
    check.vhost == vhost
        && check.resource == "topic"
        && check.name == EXCHANGE
        && check.permission == "write"
        && check.routing_key == routing_key(&check.username)
}

async fn user(
    State(state): State<InternalState>,
    Form(check): Form<UserCheck>,
) -> impl IntoResponse {
    let allowed = match state.store.device_credentials(&check.username).await {
        Ok(Some((_, secret_hash))) => token_matches(check.password.expose(), &secret_hash),
        Ok(None) => false,
        Err(error) => {
            // The broker refuses the login; the device retries.
            tracing::error!(%error, "device login check failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "deny");
        }
    };
    if !allowed {
        tracing::info!(device = %check.username, "broker login refused");
    }
    answer("user", Decision::from_bool(allowed))
}

async fn vhost(
    State(state): State<InternalState>,
    Form(check): Form<VhostCheck>,
) -> impl IntoResponse {
    let allowed = check.vhost == *state.vhost
        && match state.store.device_credentials(&check.username).await {
            Ok(found) => found.is_some(),
            Err(error) => {
                // Denied like an unknown device, but an operator must hear of it.
                tracing::error!(%error, "device vhost check failed");
                false
            }
        };
    answer("vhost", Decision::from_bool(allowed))
}

async fn resource(
    State(state): State<InternalState>,
    Form(check): Form<ResourceCheck>,
) -> impl IntoResponse {
    let decision = Decision::from_bool(may_access(&check, &state.vhost));
    if decision == Decision::Deny {
        tracing::info!(device = %check.username, resource = %check.resource, name = %check.name,
            permission = %check.permission, "broker refused a device's access");
    }
    answer("resource", decision)
}

async fn topic(
    State(state): State<InternalState>,
    Form(check): Form<TopicCheck>,
) -> impl IntoResponse {
    let decision = Decision::from_bool(may_publish(&check, &state.vhost));
    if decision == Decision::Deny {
        tracing::info!(device = %check.username, routing_key = %check.routing_key,
            permission = %check.permission, "broker refused a device's routing key");
    }
    answer("topic", decision)
}

fn answer(check: &'static str, decision: Decision) -> (StatusCode, &'static str) {
    telemetry::broker_decision(check, decision.as_str());
    (StatusCode::OK, decision.as_str())
}

/// A device's household, for the write service.
#[derive(Debug, Serialize)]
struct DeviceHousehold {
    device_id: String,
    household_id: String,
}

async fn device(
    State(state): State<InternalState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeviceHousehold>, ApiError> {
    match state.store.device_credentials(&id).await? {
        Some((household_id, _)) => Ok(Json(DeviceHousehold {
            device_id: id,
            household_id,
        })),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_device",
            "no such device",
        )),
    }
}

/// A household's settings, for read-service.
#[derive(Debug, Serialize)]
struct HouseholdSettings {
    id: String,
    time_zone: String,
    tariff: Option<Tariff>,
}

async fn household(
    State(state): State<InternalState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<HouseholdSettings>, ApiError> {
    match state.store.household(&id).await? {
        Some(household) => Ok(Json(HouseholdSettings {
            id: household.id,
            time_zone: household.time_zone,
            tariff: household.tariff,
        })),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_household",
            "no such household",
        )),
    }
}

async fn healthz(State(state): State<InternalState>) -> StatusCode {
    match state.store.ping().await {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(resource: &str, name: &str, permission: &str) -> ResourceCheck {
        ResourceCheck {
            username: "d-1".into(),
            vhost: "/".into(),
            resource: resource.into(),
            name: name.into(),
            permission: permission.into(),
        }
    }

    fn topic(routing_key: &str, permission: &str) -> TopicCheck {
        TopicCheck {
            username: "d 1/x".into(),
            vhost: "/".into(),
            resource: "topic".into(),
            name: EXCHANGE.into(),
            permission: permission.into(),
            routing_key: routing_key.into(),
        }
    }

    #[test]
    fn a_device_may_only_write_to_the_readings_exchange() {
        assert!(may_access(&resource("exchange", EXCHANGE, "write"), "/"));
        for (kind, name, permission) in [
            ("exchange", EXCHANGE, "read"),
            ("exchange", EXCHANGE, "configure"),
            ("exchange", "amq.topic", "write"),
            ("exchange", "wattline.readings.dead", "write"),
            ("queue", "wattline.readings.write", "read"),
            ("queue", "mine", "configure"),
            ("queue", "mine", "write"),
        ] {
            assert!(
                !may_access(&resource(kind, name, permission), "/"),
                "{kind} {name} {permission}"
            );
        }
        assert!(!may_access(
            &resource("exchange", EXCHANGE, "write"),
            "/other"
        ));
    }

    #[test]
    fn a_device_may_only_publish_with_its_own_routing_key() {
        assert!(may_publish(&topic("readings.d 1/x", "write"), "/"));
        assert!(!may_publish(&topic("readings.d 1/x", "read"), "/"));
        assert!(!may_publish(&topic("readings.d-2", "write"), "/"));
        assert!(!may_publish(&topic("readings.#", "write"), "/"));
        assert!(!may_publish(&topic("readings.d 1/x.more", "write"), "/"));
        assert!(!may_publish(&topic("readings.d 1/x", "write"), "/other"));
    }
}
