//! Access-token verification with auth-service's public keys.
//!
//! The JWKS is fetched from `{AUTH_URL}/.well-known/jwks.json` and cached for
//! `--jwks-cache-ttl`. A token whose `kid` is not in the cache triggers a
//! fetch (a key rotated in since), but at most one every
//! `--jwks-refetch-interval`, so garbage tokens cannot turn us into a load
//! generator against auth-service. Only EdDSA (Ed25519) is accepted: the
//! `alg` in the header is checked before any key is looked at, so `none`
//! and HMAC-with-the-public-key tricks fail early.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

/// The claims read-service relies on (auth-service issues more; unknown
/// ones are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// The household the token gives access to: the only source of it.
    pub household: String,
    /// `owner` or `viewer`; both may read everything of their household.
    pub role: String,
    pub exp: u64,
}

/// Why a token was refused. The API answers 401 `invalid_token` for all of
/// them; the variants are for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("not signed with EdDSA")]
    WrongAlgorithm,
    #[error("no key with this kid")]
    UnknownKey,
    #[error("refused: {0}")]
    Invalid(String),
    #[error("the JWKS could not be fetched: {0}")]
    Jwks(String),
}

#[derive(Debug, Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Debug, Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    crv: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    x: Option<String>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
    /// Last fetch attempt, successful or not (for the rate limit).
    attempted: Option<Instant>,
}

/// Verifies access tokens.
pub struct Verifier {
    http: reqwest::Client,
    jwks_url: String,
    validation: Validation,
    ttl: Duration,
    refetch_interval: Duration,
    cache: RwLock<Cache>,
    /// One fetch at a time; the others wait for its result.
    fetching: Mutex<()>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("jwks_url", &self.jwks_url)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn new(
        auth_url: &str,
        issuer: &str,
        audience: &str,
        ttl: Duration,
        refetch_interval: Duration,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Seconds of clock difference tolerated between issuer and verifier.
        validation.leeway = 5;
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            jwks_url: format!("{}/.well-known/jwks.json", auth_url.trim_end_matches('/')),
            validation,
            ttl,
            refetch_interval,
            cache: RwLock::new(Cache::default()),
            fetching: Mutex::new(()),
        }
    }

    /// The claims of `token` if auth-service signed it, it is for us, and
    /// it has not expired.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::WrongAlgorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.key(&kid).await?;
        jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, TokenError> {
        {
            let cache = self.cache.read().await;
            let fresh = cache.fetched.is_some_and(|at| at.elapsed() < self.ttl);
            if let (Some(key), true) = (cache.keys.get(kid), fresh) {
                return Ok(key.clone());
            }
        }
        let _one_at_a_time = self.fetching.lock().await;
        let stale_key = {
            let cache = self.cache.read().await;
            // Someone may have fetched while we waited for the lock.
            let fresh = cache.fetched.is_some_and(|at| at.elapsed() < self.ttl);
            if let (Some(key), true) = (cache.keys.get(kid), fresh) {
                return Ok(key.clone());
            }
            let recently = cache
                .attempted
                .is_some_and(|at| at.elapsed() < self.refetch_interval);
            if recently {
                // Rate-limited: answer from what we have.
                return cache.keys.get(kid).cloned().ok_or(TokenError::UnknownKey);
            }
            cache.keys.get(kid).cloned()
        };
        let fetched = self.fetch().await;
        let mut cache = self.cache.write().await;
        cache.attempted = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                tracing::debug!(keys = keys.len(), "JWKS fetched");
                cache.keys = keys;
                cache.fetched = Some(Instant::now());
                cache.keys.get(kid).cloned().ok_or(TokenError::UnknownKey)
            }
            Err(error) => {
                tracing::warn!(%error, url = %self.jwks_url, "JWKS fetch failed");
                // A key we had stays usable while auth-service is away.
                stale_key.ok_or(TokenError::Jwks(error))
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let set: JwkSet = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        Ok(set
            .keys
            .into_iter()
            .filter(|jwk| jwk.kty == "OKP" && jwk.crv == "Ed25519")
            .filter_map(|jwk| {
                let key = DecodingKey::from_ed_components(jwk.x.as_deref()?).ok()?;
                Some((jwk.kid?, key))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex as StdMutex};

    use auth_service::access_token::{AccessTokens, Role};
    use auth_service::keys::{generate, Keys};

    use super::*;

    /// A JWKS endpoint whose keys the test changes (a key rotation on
    /// demand, which auth-service does not do), counting fetches.
    async fn jwks_server(jwks: Arc<StdMutex<serde_json::Value>>, hits: Arc<AtomicUsize>) -> String {
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                hits.fetch_add(1, Ordering::SeqCst);
                let body = jwks.lock().map(|j| j.clone()).unwrap_or_default();
                async move { axum::Json(body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    fn issuer(keys: Keys, audience: &str) -> AccessTokens {
        AccessTokens::new(
            keys,
            "wattline-auth".into(),
            audience.into(),
            Duration::from_secs(60),
        )
    }

    #[tokio::test]
    async fn unknown_key_ids_refetch_the_jwks_at_most_once_per_interval() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (old, new) = (
            Keys::from_signing_key(&generate()),
            Keys::from_signing_key(&generate()),
        );
        let jwks = Arc::new(StdMutex::new(serde_json::to_value(old.jwks()).unwrap()));
        let hits = Arc::new(AtomicUsize::new(0));
        let url = jwks_server(jwks.clone(), hits.clone()).await;
        let verifier = Verifier::new(
            &url,
            "wattline-auth",
            "wattline",
            Duration::from_secs(300),
            Duration::from_millis(300),
        );

        let token = issuer(old.clone(), "wattline").issue("u-1", "h-1", Role::Viewer);
        for _ in 0..5 {
            let claims = verifier.verify(&token).await.unwrap();
            assert_eq!(
                (claims.household.as_str(), claims.role.as_str()),
                ("h-1", "viewer")
            );
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        // A key not yet published: refused, and 50 such tokens in a row
        // fetch nothing more within the interval.
        let rotated = issuer(new.clone(), "wattline").issue("u-1", "h-1", Role::Owner);
        tokio::time::sleep(Duration::from_millis(350)).await;
        for _ in 0..50 {
            assert_eq!(verifier.verify(&rotated).await, Err(TokenError::UnknownKey));
        }
        assert_eq!(hits.load(Ordering::SeqCst), 2);

        // Published now: picked up once the interval has passed.
        *jwks.lock().unwrap() = serde_json::json!({"keys": [
            serde_json::to_value(new.jwks()).unwrap()["keys"][0].clone(),
            serde_json::to_value(old.jwks()).unwrap()["keys"][0].clone(),
        ]});
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(verifier.verify(&rotated).await.unwrap().role, "owner");
        assert_eq!(hits.load(Ordering::SeqCst), 3);
        assert!(verifier.verify(&token).await.is_ok());

        // Our keys, but for another audience; and not EdDSA at all.
        let foreign = issuer(old, "someone-else").issue("u-1", "h-1", Role::Owner);
        assert!(matches!(
            verifier.verify(&foreign).await,
            Err(TokenError::Invalid(_))
        ));
        let hmac = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "u", "household": "h-1", "role": "owner", "exp": 4_000_000_000u64}),
            &jsonwebtoken::EncodingKey::from_secret(b"public key bytes"),
        )
        .unwrap();
        assert_eq!(
            verifier.verify(&hmac).await,
            Err(TokenError::WrongAlgorithm)
        );
    }
}
