//! The public HTTP API: accounts ([`accounts`], with the browser's
//! [`session_cookie`]), the household's members ([`household`]) and
//! settings ([`settings`]: time zone, tariff), devices and socket names
//! ([`devices`]), and the documents others read ([`meta`]: JWKS, OpenAPI,
//! health; `wattline_ops`: metrics).
//!
//! Every handler gets the shared [`AppState`]; who is calling comes from the
//! [`Caller`] extractor (a verified access token), and every change checks
//! the role with [`Caller::owner`], which also re-reads the user, so a
//! deleted login's unexpired token changes nothing.

pub mod accounts;
pub mod devices;
pub mod error;
pub mod household;
pub mod meta;
pub mod session_cookie;
pub mod settings;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Request};
use axum::middleware;
use axum::routing::{get, post, put};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::set_header::SetResponseHeaderLayer;
use wattline_ops::http::RequestLimits;
use wattline_ops::{http, prometheus};

use crate::access_token::{AccessClaims, AccessTokens, Role};
use crate::passwords::Passwords;
use crate::rate_limit::Limits;
use crate::store::{Store, User};
use crate::telemetry;
pub use error::ApiError;

/// Largest request body accepted, on every route: every request here is a
/// few short fields.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub passwords: Arc<Passwords>,
    pub tokens: Arc<AccessTokens>,
    pub limits: Arc<Limits>,
    pub settings: Arc<Settings>,
    pub metrics: PrometheusHandle,
}

/// The configuration the handlers need.
#[derive(Debug, Clone)]
pub struct Settings {
    pub refresh_token_ttl: Duration,
    /// See `Config::refresh_reuse_grace`.
    pub refresh_reuse_grace: Duration,
    pub invite_ttl: Duration,
    pub trust_forwarded_for: bool,
    /// Whether the session cookie carries `Secure` (off only for plain-http demos).
    pub secure_cookies: bool,
    pub amqp_vhost: String,
    /// See `Config::request_timeout`.
    pub request_timeout: Duration,
}

/// A secret in a request or response body (password, token, device
/// secret): a JSON string on the wire, never printed (`Debug` shows `***`).
#[derive(Clone, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, format = Password)]
pub struct SecretField(String);

impl std::fmt::Debug for SecretField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for SecretField {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl SecretField {
    /// The secret as the rest of the code passes it around.
    pub fn secret(&self) -> crate::config::Secret {
        crate::config::Secret::from(self.0.as_str())
    }

    /// The secret itself, for the one place that hashes or compares it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The public router.
pub fn router(state: AppState) -> Router {
    let limits = RequestLimits {
        max_body_bytes: MAX_BODY_BYTES,
        timeout: state.settings.request_timeout,
    };
    Router::new()
        .route("/api/auth/register", post(accounts::register))
        .route("/api/auth/login", post(accounts::login))
        .route("/api/auth/refresh", post(accounts::refresh))
        .route("/api/auth/logout", post(accounts::logout))
        .route(
            "/api/auth/me",
            get(accounts::me).delete(accounts::delete_account),
        )
        .route("/api/auth/password", post(accounts::change_password))
        .route("/api/household", get(settings::get))
        .route("/api/household/settings", put(settings::put))
        .route("/api/household/members", get(household::members))
        .route(
            "/api/household/members/{user_id}",
            axum::routing::delete(household::remove_member),
        )
        .route("/api/household/invites", post(household::invite))
        .route("/api/devices", get(devices::list).post(devices::create))
        .route(
            "/api/devices/{id}",
            get(devices::get)
                .patch(devices::rename)
                .delete(devices::delete),
        )
        .route("/api/devices/{id}/secret", post(devices::rotate_secret))
        .route(
            "/api/devices/{id}/sockets/{socket_id}",
            put(devices::name_socket),
        )
        .route("/.well-known/jwks.json", get(meta::jwks))
        .route("/api/openapi.json", get(meta::openapi))
        .route("/healthz", get(meta::healthz))
        .route("/metrics", prometheus::route(state.metrics.clone()))
        .fallback(http::route_not_found::<ApiError>)
        .method_not_allowed_fallback(http::method_not_allowed::<ApiError>)
        .layer(middleware::from_fn_with_state(
            telemetry::HTTP_METRICS,
            prometheus::count_requests,
        ))
        .layer(middleware::from_fn_with_state(
            limits,
            http::enforce_limits::<ApiError>,
        ))
        // Answers here are one user's (their devices, members, tokens,
        // secrets): no cache keeps them unless a route says otherwise
        // (the JWKS and the OpenAPI document do).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(state)
}

/// A JSON body; refusals are [`ApiError`]s (JSON bodies too).
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// A JSON body that may be left out: `None` when the request has no
/// `Content-Type` (a browser's bodiless POST) or the body is JSON `null`
/// (which the OpenAPI document allows); otherwise it must be JSON, with the
/// same refusals as [`ApiJson`].
#[derive(Debug)]
pub struct OptionalApiJson<T>(pub Option<T>);

impl<T, S> FromRequest<S> for OptionalApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request<axum::body::Body>, state: &S) -> Result<Self, ApiError> {
        let body = <axum::Json<Option<T>> as axum::extract::OptionalFromRequest<S>>::from_request(
            request, state,
        )
        .await?;
        Ok(Self(body.and_then(|axum::Json(body)| body)))
    }
}

/// Path parameters; refusals are [`ApiError`]s.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// The caller, from a valid `Authorization: Bearer` access token.
#[derive(Debug, Clone)]
pub struct Caller(pub AccessClaims);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "missing_token",
                    "this needs an Authorization: Bearer access token",
                )
            })?;
        state
            .tokens
            .verify(token.trim())
            .map(Caller)
            .map_err(|error| {
                tracing::debug!(%error, "access token refused");
                ApiError::unauthorized("invalid_token", "the access token is invalid or expired")
            })
    }
}

impl Caller {
    /// The household the token is for.
    pub fn household(&self) -> &str {
        &self.0.household
    }

    /// The caller's current account, if they are (still) the owner of the
    /// token's household: 403 for viewers, 401 for deleted logins.
    pub async fn owner(&self, store: &Store) -> Result<User, ApiError> {
        if self.0.role != Role::Owner {
            return Err(ApiError::forbidden());
        }
        let user = self.current(store).await?;
        if user.role != Role::Owner {
            return Err(ApiError::forbidden());
        }
        Ok(user)
    }

    /// The caller's current account; 401 if it was deleted or moved.
    pub async fn current(&self, store: &Store) -> Result<User, ApiError> {
        match store.user_by_id(&self.0.sub).await? {
            Some((user, _)) if user.household_id == self.0.household => Ok(user),
            _ => Err(ApiError::unauthorized(
                "invalid_token",
                "the account no longer exists",
            )),
        }
    }
}

/// The client's address, for rate limits: the TCP peer, or the last
/// `X-Forwarded-For` entry (the one our proxy appended) when configured to
/// trust it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.settings.trust_forwarded_for {
            // Only the last entry: the proxy appended it; earlier ones are
            // whatever the client claimed.
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .next_back()
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.rsplit(',').next())
                .and_then(|entry| entry.trim().parse::<IpAddr>().ok());
            if let Some(addr) = forwarded {
                return Ok(Self(addr));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        Ok(Self(peer))
    }
}

/// A normalised email: trimmed, lower case, checked for shape. Not proof
/// that it exists (there is no mail here), just that it can be one.
pub fn normalise_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    let well_formed = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if well_formed {
        Ok(email)
    } else {
        Err(ApiError::invalid(
            "invalid_email",
            "that is not an email address",
        ))
    }
}

/// A display name (device, socket): 1–100 characters, no control characters.
pub fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "invalid_name",
            "a name has 1 to 100 characters and no control characters",
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalise_email("  Ann@Example.ORG ").unwrap(),
            "ann@example.org"
        );
        for bad in [
            "",
            "ann",
            "@example.org",
            "ann@",
            "ann@example",
            "a b@example.org",
            "ann@.org",
            "ann@x@y.org",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_name(" Kitchen Pi ").unwrap(), "Kitchen Pi");
        assert!(check_name("  ").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"é".repeat(100)).is_ok());
        assert!(check_name(&"é".repeat(101)).is_err());
    }
}
