//! Accounts: register, log in, refresh, log out, who am I, change password,
//! delete the account.
//!
//! A session is an access token (15 minutes by default) and a refresh
//! token. Refresh tokens rotate: each use spends the token and returns the
//! next one of the same family; presenting a spent token again means it was
//! copied, so the whole family is revoked and both holders must log in again.
//!
//! Every new session also sets the refresh token as the browser's
//! [`session_cookie`]; refresh and logout take the token from the JSON body
//! if it has one, else from that cookie.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ErrorBody;
use super::{
    normalise_email, session_cookie, settings, ApiError, ApiJson, AppState, Caller, ClientAddr,
    OptionalApiJson, SecretField,
};
use crate::access_token::Role;
use crate::credentials::{new_id, new_token, token_hash};
use crate::store::{NewRefreshToken, RefreshToken, User};
use crate::telemetry;
use crate::time_zone::TimeZoneName;
use crate::unix_now;

/// Registration: a new household with you as its owner, or, with an
/// invite token, a read-only login in the household that invited you.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(example = "ann@example.org")]
    pub email: String,
    pub password: SecretField,
    /// The token from an invitation (POST /api/household/invites).
    #[serde(default)]
    pub invite_token: Option<SecretField>,
    /// The new household's IANA time zone (default `UTC`); ignored with an
    /// invite, as the household already has one.
    #[serde(default)]
    #[schema(example = "Europe/Berlin")]
    pub time_zone: Option<String>,
}

/// Login with email and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "ann@example.org")]
    pub email: String,
    pub password: SecretField,
}

/// A refresh token (to refresh, or to revoke at logout). Browsers leave it
/// out (or send no body at all): then the `wattline_refresh` cookie is used.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[serde(default)]
    pub refresh_token: Option<SecretField>,
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: SecretField,
    pub new_password: SecretField,
}

/// Confirmation of an account deletion.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    pub password: SecretField,
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// EdDSA JWT for `Authorization: Bearer`.
    pub access_token: SecretField,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token is valid.
    pub expires_in: u64,
    /// Single use: exchange it at /api/auth/refresh for the next session.
    /// Also set as the HttpOnly cookie `wattline_refresh` (Path=/api/auth).
    pub refresh_token: SecretField,
    /// Seconds the refresh token is valid.
    pub refresh_expires_in: u64,
    pub user: Me,
}

/// The logged-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user_id: String,
    pub email: String,
    pub household_id: String,
    pub role: Role,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<&User> for Me {
    fn from(user: &User) -> Self {
        Self {
            user_id: user.id.clone(),
            email: user.email.clone(),
            household_id: user.household_id.clone(),
            role: user.role,
            created_at: user.created_at,
        }
    }
}

/// The one answer to every failed login, whatever was wrong.
fn bad_credentials() -> ApiError {
    ApiError::unauthorized("invalid_credentials", "wrong email or password")
}

#[utoipa::path(post, path = "/api/auth/register", tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered and logged in; sets the `wattline_refresh` cookie", body = TokenResponse),
        (status = 400, description = "Bad email, weak password or invalid invite", body = ErrorBody),
        (status = 409, description = "Email already registered", body = ErrorBody),
        (status = 422, description = "Unknown time zone (`invalid_time_zone`) or a malformed body", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address", body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .limits
        .check_client(client)
        .map_err(ApiError::rate_limited)?;
    let email = normalise_email(&request.email)?;
    let time_zone = match (&request.time_zone, &request.invite_token) {
        (Some(name), None) => settings::time_zone(name)?,
        _ => TimeZoneName::utc(),
    };
    let password = request.password.secret();
    state
        .passwords
        .check_policy(&password)
        .map_err(|e| ApiError::invalid("weak_password", e.to_string()))?;
    let password_hash = state.passwords.hash(password).await;
    let user = User {
        id: new_id("u"),
        email,
        household_id: new_id("h"),
        role: Role::Owner,
        created_at: unix_now(),
    };
    let user = match request.invite_token {
        None => {
            state
                .store
                .create_owner(&user, &password_hash, &time_zone)
                .await?;
            user
        }
        Some(invite) => state
            .store
            .accept_invite(&token_hash(invite.expose()), user, &password_hash)
            .await?
            .ok_or_else(|| {
                ApiError::invalid(
                    "invalid_invite",
                    "the invitation is unknown, expired, used, or for another email",
                )
            })?,
    };
    telemetry::registered(user.role);
    tracing::info!(user = %user.id, household = %user.household_id, role = user.role.as_str(), "registered");
    let session = start_session(&state, &user).await?;
    Ok((StatusCode::CREATED, session))
}

#[utoipa::path(post, path = "/api/auth/login", tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; sets the `wattline_refresh` cookie", body = TokenResponse),
        (status = 401, description = "Wrong email or password (one answer for both)", body = ErrorBody),
        (status = 429, description = "Too many attempts for this account or from this address", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    // Not normalise_email: a malformed email is just an unknown account.
    let email = request.email.trim().to_lowercase();
    let limited = state
        .limits
        .check_client(client)
        .and_then(|()| state.limits.check_account(&email));
    if let Err(retry_after) = limited {
        telemetry::login("rate_limited");
        return Err(ApiError::rate_limited(retry_after));
    }
    let found = state.store.user_by_email(&email).await?;
    let (user, hash) = found.map_or((None, None), |(user, hash)| (Some(user), Some(hash)));
    // Unknown email: verify against a dummy hash, same time, same answer.
    let verified = state
        .passwords
        .verify(request.password.secret(), hash)
        .await;
    let Some(user) = user.filter(|_| verified) else {
        telemetry::login("invalid_credentials");
        return Err(bad_credentials());
    };
    telemetry::login("ok");
    start_session(&state, &user).await
}

#[utoipa::path(post, path = "/api/auth/refresh", tag = "accounts",
    request_body(content = Option<RefreshRequest>, description = "The refresh token; without it (or without a body) the `wattline_refresh` cookie"),
    params(("wattline_refresh" = Option<String>, Cookie, description = "The refresh token, for browsers")),
    responses(
        (status = 200, description = "The next session, with a new `wattline_refresh` cookie; the presented refresh token is spent", body = TokenResponse),
        (status = 401, description = "No, unknown, expired or reused refresh token (reuse revokes its family)", body = ErrorBody),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalApiJson(request): OptionalApiJson<RefreshRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let refused = |outcome: &'static str| {
        telemetry::refresh(outcome);
        ApiError::unauthorized(
            "invalid_refresh_token",
            "the refresh token is invalid, expired or already used; log in again",
        )
    };
    let Some(presented) = presented_token(request, &headers) else {
        telemetry::refresh("missing");
        return Err(missing_token());
    };
    let hash = token_hash(presented.expose());
    let Some(token) = state.store.refresh_token(&hash).await? else {
        return Err(refused("unknown"));
    };
    // A token used within the grace is exchanged again (see
    // `Config::refresh_reuse_grace`); used before it, or revoked, it is reuse.
    let used_since = unix_now() - grace_seconds(&state);
    if token.revoked || token.used_at.is_some_and(|used| used < used_since) {
        revoke_reused(&state, &token).await?;
        return Err(refused("reused"));
    }
    if token.expires_at <= unix_now() {
        return Err(refused("expired"));
    }
    let Some((user, _)) = state.store.user_by_id(&token.user_id).await? else {
        return Err(refused("unknown"));
    };
    let next = new_token();
    let rotated = state
        .store
        .rotate_refresh_token(
            &hash,
            used_since,
            &NewRefreshToken {
                token_hash: &token_hash(&next),
                family_id: &token.family_id,
                user_id: &user.id,
                expires_at: refresh_expires_at(&state),
            },
        )
        .await?;
    if !rotated {
        revoke_reused(&state, &token).await?;
        return Err(refused("reused"));
    }
    telemetry::refresh("ok");
    Ok(session(&state, &user, next))
}

/// The refresh reuse grace in whole seconds (token times are Unix seconds);
/// with no grace, -1, so that a token used this very second is reuse too.
fn grace_seconds(state: &AppState) -> i64 {
    match state.settings.refresh_reuse_grace.as_secs() {
        0 => -1,
        seconds => i64::try_from(seconds).unwrap_or(i64::MAX / 2),
    }
}

/// Revokes the family of a token presented after it was spent, or spent by
/// a concurrent request just now: either way two parties hold it, so neither
/// may keep the session.
async fn revoke_reused(state: &AppState, token: &RefreshToken) -> Result<(), ApiError> {
    state.store.revoke_family(&token.family_id).await?;
    tracing::warn!(user = %token.user_id, family = %token.family_id,
        "refresh token reused: its family is revoked");
    Ok(())
}

#[utoipa::path(post, path = "/api/auth/logout", tag = "accounts",
    request_body(content = Option<RefreshRequest>, description = "The refresh token; without it (or without a body) the `wattline_refresh` cookie"),
    params(("wattline_refresh" = Option<String>, Cookie, description = "The refresh token, for browsers")),
    responses(
        (status = 204, description = "The refresh token and its family are revoked (also when unknown); the cookie is cleared"),
        (status = 401, description = "Neither a body token nor the cookie", body = ErrorBody),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalApiJson(request): OptionalApiJson<RefreshRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let presented = presented_token(request, &headers).ok_or_else(missing_token)?;
    let hash = token_hash(presented.expose());
    if let Some(token) = state.store.refresh_token(&hash).await? {
        state.store.revoke_family(&token.family_id).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            session_cookie::clear(state.settings.secure_cookies),
        )],
    ))
}

/// The refresh token a request presents: the body's, else the cookie's.
fn presented_token(body: Option<RefreshRequest>, headers: &HeaderMap) -> Option<SecretField> {
    body.and_then(|body| body.refresh_token)
        .or_else(|| session_cookie::read(headers))
}

/// Refresh or logout with no token at all: the same code as a bad token.
fn missing_token() -> ApiError {
    ApiError::unauthorized(
        "invalid_refresh_token",
        "no refresh token: send refresh_token in the body or the wattline_refresh cookie",
    )
}

#[utoipa::path(get, path = "/api/auth/me", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The logged-in user", body = Me),
        (status = 401, description = "No valid access token", body = ErrorBody),
    ))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<Me>, ApiError> {
    let user = caller.current(&state.store).await?;
    Ok(Json(Me::from(&user)))
}

#[utoipa::path(post, path = "/api/auth/password", tag = "accounts",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; every refresh token of the account is revoked"),
        (status = 400, description = "Weak new password", body = ErrorBody),
        (status = 401, description = "Wrong current password or no valid access token", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let new_password = request.new_password.secret();
    state
        .passwords
        .check_policy(&new_password)
        .map_err(|e| ApiError::invalid("weak_password", e.to_string()))?;
    let user = check_password(&state, &caller, request.current_password).await?;
    let hash = state.passwords.hash(new_password).await;
    state.store.set_password(&user.id, &hash).await?;
    tracing::info!(user = %user.id, "password changed; sessions revoked");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/auth/me", tag = "accounts",
    security(("bearer" = [])),
    request_body = DeleteAccountRequest,
    responses(
        (status = 204, description = "Deleted. An owner's deletion removes the household, its devices and its members' logins; stored readings stay in InfluxDB until its retention removes them, reachable by nobody"),
        (status = 401, description = "Wrong password or no valid access token", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody),
    ))]
pub async fn delete_account(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<DeleteAccountRequest>,
) -> Result<StatusCode, ApiError> {
    let user = check_password(&state, &caller, request.password).await?;
    match user.role {
        Role::Owner => state.store.delete_household(&user.household_id).await?,
        Role::Viewer => {
            state
                .store
                .delete_viewer(&user.household_id, &user.id)
                .await?;
        }
    }
    tracing::info!(user = %user.id, household = %user.household_id, role = user.role.as_str(), "account deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account if `password` is theirs (rate-limited per account:
/// a stolen access token must not become a password oracle).
async fn check_password(
    state: &AppState,
    caller: &Caller,
    password: SecretField,
) -> Result<User, ApiError> {
    state
        .limits
        .check_account(&caller.0.sub)
        .map_err(ApiError::rate_limited)?;
    let Some((user, hash)) = state.store.user_by_id(&caller.0.sub).await? else {
        return Err(ApiError::unauthorized(
            "invalid_token",
            "the account no longer exists",
        ));
    };
    if !state.passwords.verify(password.secret(), Some(hash)).await {
        return Err(ApiError::unauthorized(
            "invalid_credentials",
            "wrong password",
        ));
    }
    Ok(user)
}

/// Starts a new refresh token family for `user` and returns the session.
async fn start_session(
    state: &AppState,
    user: &User,
) -> Result<impl IntoResponse + use<>, ApiError> {
    let refresh_token = new_token();
    state
        .store
        .insert_refresh_token(&NewRefreshToken {
            token_hash: &token_hash(&refresh_token),
            family_id: &new_id("f"),
            user_id: &user.id,
            expires_at: refresh_expires_at(state),
        })
        .await?;
    Ok(session(state, user, refresh_token))
}

/// When a refresh token issued now expires, in Unix seconds.
fn refresh_expires_at(state: &AppState) -> i64 {
    let ttl = i64::try_from(state.settings.refresh_token_ttl.as_secs()).unwrap_or(i64::MAX);
    unix_now().saturating_add(ttl)
}

/// The response carrying a new access token and the (stored) `refresh_token`,
/// in the body for API clients and in the cookie for browsers.
fn session(state: &AppState, user: &User, refresh_token: String) -> impl IntoResponse + use<> {
    let cookie = session_cookie::set(
        &refresh_token,
        state.settings.refresh_token_ttl,
        state.settings.secure_cookies,
    );
    let body = TokenResponse {
        access_token: SecretField::from(state.tokens.issue(
            &user.id,
            &user.household_id,
            user.role,
        )),
        token_type: "Bearer",
        expires_in: state.tokens.ttl().as_secs(),
        refresh_token: SecretField::from(refresh_token),
        refresh_expires_in: state.settings.refresh_token_ttl.as_secs(),
        user: Me::from(user),
    };
    // RFC 6749 5.1: responses carrying tokens must not be cached.
    (
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::SET_COOKIE, cookie),
        ],
        Json(body),
    )
}
