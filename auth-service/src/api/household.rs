//! The household's members: the owner invites read-only viewers (family,
//! the installer) and may remove them; everyone may see who is in.
//!
//! An invite is a token the owner passes on; whoever registers with it and
//! the invited email joins as a viewer. There is no mail here: the owner
//! sends the token themselves.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ErrorBody;
use super::{normalise_email, ApiError, ApiJson, ApiPath, AppState, Caller, SecretField};
use crate::access_token::Role;
use crate::credentials::{new_token, token_hash};
use crate::unix_now;

/// A member of the household.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    /// Unix seconds.
    pub created_at: i64,
}

/// Whom to invite.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    #[schema(example = "bob@example.org")]
    pub email: String,
}

/// An invitation, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invite {
    pub email: String,
    /// Pass it to the invitee: they register with it as `invite_token`.
    pub invite_token: SecretField,
    pub role: Role,
    /// Unix seconds.
    pub expires_at: i64,
}

#[utoipa::path(get, path = "/api/household/members", tag = "household",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The household's members", body = [Member]),
        (status = 401, description = "No valid access token", body = ErrorBody),
    ))]
pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Member>>, ApiError> {
    let members = state.store.members(caller.household()).await?;
    Ok(Json(
        members
            .into_iter()
            .map(|user| Member {
                user_id: user.id,
                email: user.email,
                role: user.role,
                created_at: user.created_at,
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/household/invites", tag = "household",
    security(("bearer" = [])),
    request_body = InviteRequest,
    responses(
        (status = 201, description = "Invitation created; its token is shown only now", body = Invite),
        (status = 400, description = "Not an email address", body = ErrorBody),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Only the owner invites", body = ErrorBody),
    ))]
pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<InviteRequest>,
) -> Result<(StatusCode, Json<Invite>), ApiError> {
    let owner = caller.owner(&state.store).await?;
    let email = normalise_email(&request.email)?;
    let token = new_token();
    let ttl = i64::try_from(state.settings.invite_ttl.as_secs()).unwrap_or(i64::MAX);
    let expires_at = unix_now().saturating_add(ttl);
    state
        .store
        .create_invite(&owner.household_id, &email, &token_hash(&token), expires_at)
        .await?;
    tracing::info!(household = %owner.household_id, "invitation created");
    Ok((
        StatusCode::CREATED,
        Json(Invite {
            email,
            invite_token: SecretField::from(token),
            role: Role::Viewer,
            expires_at,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/household/members/{user_id}", tag = "household",
    security(("bearer" = [])),
    params(("user_id" = String, Path, description = "The viewer to remove")),
    responses(
        (status = 204, description = "Removed, with their sessions"),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Only the owner removes members", body = ErrorBody),
        (status = 404, description = "No such viewer in this household", body = ErrorBody),
    ))]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let owner = caller.owner(&state.store).await?;
    if state
        .store
        .delete_viewer(&owner.household_id, &user_id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("viewer"))
    }
}
