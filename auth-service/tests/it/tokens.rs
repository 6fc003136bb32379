//! Access tokens as an attacker would try them against a real service:
//! expired, wrong issuer or audience, tampered, `alg: none`, HMAC signed
//! with the public key, a key the JWKS does not list: all refused with 401.

use auth_service::access_token::{AccessClaims, Role};
use auth_service::keys::Keys;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{expect_error, expect_json, Auth, Db};

/// Signs `claims` with `key`, under the key id `kid`.
fn sign(key: &SigningKey, kid: &str, claims: &AccessClaims) -> String {
    let der = key.to_pkcs8_der().unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused() {
    let auth = Auth::start(Db::Sqlite, &[]).await;
    let session = auth.register("ann@example.org").await;
    let pem = std::fs::read_to_string(auth.key_file()).unwrap();
    let key = <SigningKey as ed25519_dalek::pkcs8::DecodePrivateKey>::from_pkcs8_pem(&pem).unwrap();
    let keys = Keys::from_signing_key(&key);
    let kid = keys.signing().1.to_owned();

    let now = auth_service::unix_now() as u64;
    let valid = AccessClaims {
        sub: session.user_id.clone(),
        household: session.household.clone(),
        role: Role::Owner,
        iss: "wattline-auth".into(),
        aud: "wattline".into(),
        iat: now,
        exp: now + 600,
    };
    // The control: a token we sign like the service does is accepted.
    let ok = sign(&key, &kid, &valid);
    let me = expect_json(auth.get("/api/auth/me", Some(&ok)).await, StatusCode::OK).await;
    assert_eq!(me["user_id"], session.user_id.as_str());

    let expired = AccessClaims {
        iat: now - 3600,
        exp: now - 60,
        ..valid.clone()
    };
    let wrong_issuer = AccessClaims {
        iss: "someone-else".into(),
        ..valid.clone()
    };
    let wrong_audience = AccessClaims {
        aud: "another-app".into(),
        ..valid.clone()
    };
    let other_key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let other_kid = Keys::from_signing_key(&other_key).signing().1.to_owned();

    let parts: Vec<String> = ok.split('.').map(str::to_owned).collect();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    let tampered_payload = URL_SAFE_NO_PAD.encode(payload.replace("\"owner\"", "\"viewer\""));
    let none_header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": kid}).to_string());
    // HS256 "signed" with the public key the JWKS publishes: the classic
    // algorithm-confusion attack.
    let jwks = expect_json(
        auth.get("/.well-known/jwks.json", None).await,
        StatusCode::OK,
    )
    .await;
    let public_x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some(kid.clone());
    let hmac = jsonwebtoken::encode(
        &hs_header,
        &valid,
        &EncodingKey::from_secret(public_x.as_bytes()),
    )
    .unwrap();

    let forgeries = [
        ("expired", sign(&key, &kid, &expired)),
        ("wrong issuer", sign(&key, &kid, &wrong_issuer)),
        ("wrong audience", sign(&key, &kid, &wrong_audience)),
        ("key not in the JWKS", sign(&other_key, &other_kid, &valid)),
        ("foreign key under our kid", sign(&other_key, &kid, &valid)),
        (
            "tampered payload",
            format!("{}.{}.{}", parts[0], tampered_payload, parts[2]),
        ),
        ("alg none", format!("{none_header}.{}.", parts[1])),
        (
            "alg none with our signature",
            format!("{none_header}.{}.{}", parts[1], parts[2]),
        ),
        ("HS256 with the public key", hmac),
        ("garbage", "not-a-token".to_owned()),
    ];
    for (what, token) in forgeries {
        let response = auth.get("/api/auth/me", Some(&token)).await;
        assert_eq!(
            expect_error(response, StatusCode::UNAUTHORIZED).await,
            "invalid_token",
            "{what} must be refused"
        );
    }
}

/// A token of a deleted account changes nothing, although it has not expired.
#[tokio::test]
async fn a_deleted_accounts_token_changes_nothing() {
    let auth = Auth::start(Db::Sqlite, &[]).await;
    let session = auth.register("ann@example.org").await;
    let deleted = auth
        .send(
            reqwest::Method::DELETE,
            "/api/auth/me",
            &session.access,
            Some(json!({"password": crate::support::PASSWORD})),
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let create = auth
        .post("/api/devices", Some(&session.access), json!({"name": "x"}))
        .await;
    assert_eq!(create.status(), StatusCode::UNAUTHORIZED);
}

/// Tokens signed by a retired key stay valid while its public key is still
/// published (`--verify-key-file`), and the JWKS lists both.
#[tokio::test]
async fn a_retired_key_still_verifies_while_published() {
    use ed25519_dalek::pkcs8::EncodePublicKey;
    let old = Auth::start(Db::Sqlite, &[]).await;
    let session = old.register("ann@example.org").await;
    let pem = std::fs::read_to_string(old.key_file()).unwrap();
    let old_key =
        <SigningKey as ed25519_dalek::pkcs8::DecodePrivateKey>::from_pkcs8_pem(&pem).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("old.pub.pem");
    std::fs::write(
        &public,
        old_key
            .verifying_key()
            .to_public_key_pem(Default::default())
            .unwrap(),
    )
    .unwrap();
    let new_key_file = dir.path().join("new.pem");
    let rotated = Auth::start(
        Db::Sqlite,
        &[
            &format!("--signing-key-file={}", new_key_file.display()),
            &format!("--verify-key-file={}", public.display()),
        ],
    )
    .await;
    let jwks = expect_json(
        rotated.get("/.well-known/jwks.json", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    // The old token's signature verifies (the account lives in the old
    // service's database, hence 401 "no longer exists" rather than a
    // signature failure): check the code is not invalid-signature by
    // comparing with a service that does not publish the old key.
    let with_old = rotated.get("/api/auth/me", Some(&session.access)).await;
    let body = expect_json(with_old, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["error"]["message"], "the account no longer exists");
    let without = Auth::start(Db::Sqlite, &[]).await;
    let body = expect_json(
        without.get("/api/auth/me", Some(&session.access)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        body["error"]["message"],
        "the access token is invalid or expired"
    );
}
