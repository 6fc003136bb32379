//! Access tokens: short-lived EdDSA JWTs whose claims say who the user is,
//! which household they see and what they may do there.
//!
//! Verification accepts only EdDSA, only a key id the JWKS lists, only our
//! issuer and audience, and only unexpired tokens: `alg: none`, HMAC tricks
//! with the public key, tampered payloads and foreign keys all fail.

use std::time::Duration;

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::keys::Keys;

/// What a member may do in their household.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Registered the household: manages devices, members and settings.
    Owner,
    /// Invited by the owner: reads everything, changes nothing.
    Viewer,
}

impl Role {
    /// The name stored in the database and the token.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Viewer => "viewer",
        }
    }

    /// The role stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "owner" => Some(Role::Owner),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id.
    pub sub: String,
    /// The household the token gives access to.
    pub household: String,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
}

/// Issues and verifies access tokens.
#[derive(Debug, Clone)]
pub struct AccessTokens {
    keys: Keys,
    issuer: String,
    audience: String,
    ttl: Duration,
}

/// Why a token was refused. The API answers 401 for all of them alike; the
/// variants are for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("the token is not signed with EdDSA")]
    WrongAlgorithm,
    #[error("the token's key id is not one of ours")]
    UnknownKey,
    #[error("the token was refused: {0}")]
    Invalid(String),
}

impl AccessTokens {
    pub fn new(keys: Keys, issuer: String, audience: String, ttl: Duration) -> Self {
        Self {
            keys,
            issuer,
            audience,
            ttl,
        }
    }

    /// The keys (for the JWKS).
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// How long issued tokens live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A signed token for `user` in `household`, issued now.
    pub fn issue(&self, user: &str, household: &str, role: Role) -> String {
        let now = u64::try_from(crate::unix_now()).unwrap_or(0);
        let claims = AccessClaims {
            sub: user.to_owned(),
            household: household.to_owned(),
            role,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        let (key, kid) = self.keys.signing();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, key).expect("EdDSA signing does not fail")
    }

    /// The claims of `token` if it is ours, intact and unexpired.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::WrongAlgorithm);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.verifying(kid))
            .ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Seconds of clock difference tolerated between issuer and verifier.
        validation.leeway = 5;
        jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn tokens(keys: Keys) -> AccessTokens {
        AccessTokens::new(
            keys,
            "wattline-auth".into(),
            "wattline".into(),
            Duration::from_secs(900),
        )
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let tokens = tokens(Keys::from_signing_key(&generate()));
        let token = tokens.issue("u-1", "h-1", Role::Viewer);
        let claims = tokens.verify(&token).unwrap();
        assert_eq!(claims.sub, "u-1");
        assert_eq!(claims.household, "h-1");
        assert_eq!(claims.role, Role::Viewer);
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn a_token_from_another_key_or_with_another_payload_is_refused() {
        let ours = tokens(Keys::from_signing_key(&generate()));
        let theirs = tokens(Keys::from_signing_key(&generate()));
        let foreign = theirs.issue("u-1", "h-1", Role::Owner);
        assert_eq!(ours.verify(&foreign), Err(TokenError::UnknownKey));

        let token = ours.issue("u-1", "h-1", Role::Viewer);
        let parts: Vec<&str> = token.split('.').collect();
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let forged = URL_SAFE_NO_PAD.encode(payload.replace("h-1", "h-2"));
        let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert!(matches!(
            ours.verify(&tampered),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn alg_none_and_garbage_are_refused() {
        let tokens = tokens(Keys::from_signing_key(&generate()));
        let token = tokens.issue("u-1", "h-1", Role::Owner);
        let payload = token.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{header}.{payload}.");
        assert!(tokens.verify(&unsigned).is_err());
        assert!(matches!(
            tokens.verify("not.a.jwt"),
            Err(TokenError::Malformed(_))
        ));
    }
}
