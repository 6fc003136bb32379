//! The token signing key and the public keys published as a JWKS.
//!
//! One Ed25519 key signs (EdDSA, RFC 8037); its public key and those of
//! earlier keys (`--verify-key-file`) are served at `/.well-known/jwks.json`,
//! each with a key id (`kid`) that is its RFC 7638 thumbprint, so verifiers
//! pick the right key and keys can rotate: publish the new key's public half
//! first, then switch signing, then drop the old one once its tokens expired.

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::spki::DecodePublicKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rand::Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::config::Secret;

/// Why the keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write a new signing key to {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{what} is not an Ed25519 key in PEM: {message}")]
    Parse { what: String, message: String },
}

/// A public key that verifies tokens.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub kid: String,
    /// The raw public key, base64url (the JWK's `x`).
    x: String,
    pub decoding: DecodingKey,
}

impl PublicKey {
    /// The key and its thumbprint id.
    pub fn new(key: &VerifyingKey) -> Self {
        let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
        // RFC 7638: SHA-256 of the required members, in lexicographic order, no spaces.
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Self {
            kid,
            decoding: DecodingKey::from_ed_der(key.as_bytes()),
            x,
        }
    }

    fn jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP",
            crv: "Ed25519",
            alg: "EdDSA",
            key_use: "sig",
            kid: self.kid.clone(),
            x: self.x.clone(),
        }
    }
}

/// The signing key and every key that verifies.
#[derive(Clone)]
pub struct Keys {
    signing: EncodingKey,
    signing_kid: String,
    /// The signing key's public half first, then earlier keys.
    verifying: Vec<PublicKey>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("signing_kid", &self.signing_kid)
            .field("verifying", &self.verifying.len())
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// Loads the signing key from `pem` if given, else from `file`,
    /// generating and writing a new one there (mode 600) if it does not
    /// exist; adds the public keys in `verify_files`.
    pub fn load(
        pem: Option<&Secret>,
        file: &Path,
        verify_files: &[impl AsRef<Path>],
    ) -> Result<Self, KeyError> {
        let signing = match pem {
            Some(pem) => parse_signing_key(pem.expose(), "--signing-key")?,
            None => load_or_generate(file)?,
        };
        let mut keys = Self::from_signing_key(&signing);
        for path in verify_files {
            let path = path.as_ref();
            let pem = read(path)?;
            let key = VerifyingKey::from_public_key_pem(&pem).map_err(|e| KeyError::Parse {
                what: path.display().to_string(),
                message: e.to_string(),
            })?;
            keys.verifying.push(PublicKey::new(&key));
        }
        Ok(keys)
    }

    /// Keys around one signing key (also for tests).
    pub fn from_signing_key(key: &SigningKey) -> Self {
        let public = PublicKey::new(&key.verifying_key());
        let der = key
            .to_pkcs8_der()
            .expect("an Ed25519 key always encodes as PKCS#8");
        Self {
            signing: EncodingKey::from_ed_der(der.as_bytes()),
            signing_kid: public.kid.clone(),
            verifying: vec![public],
        }
    }

    /// The key that signs, and its id.
    pub fn signing(&self) -> (&EncodingKey, &str) {
        (&self.signing, &self.signing_kid)
    }

    /// The verifying key with id `kid`.
    pub fn verifying(&self, kid: &str) -> Option<&PublicKey> {
        self.verifying.iter().find(|key| key.kid == kid)
    }

    /// The JWKS document.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self.verifying.iter().map(PublicKey::jwk).collect(),
        }
    }
}

/// A new random Ed25519 key.
pub fn generate() -> SigningKey {
    SigningKey::from_bytes(&rand::rng().random())
}

fn load_or_generate(path: &Path) -> Result<SigningKey, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(pem) => parse_signing_key(&pem, &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = generate();
            write_new(path, &key)?;
            tracing::warn!(path = %path.display(), kid = %PublicKey::new(&key.verifying_key()).kid,
                "no signing key found: generated a new one (fine for a demo; in production provide one)");
            Ok(key)
        }
        Err(source) => Err(KeyError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Writes a new key file that only its owner can read; never overwrites.
fn write_new(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let error = |source| KeyError::Write {
        path: path.display().to_string(),
        source,
    };
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .expect("an Ed25519 key always encodes as PKCS#8");
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(error)?;
    file.write_all(pem.as_bytes()).map_err(error)?;
    file.sync_all().map_err(error)
}

fn parse_signing_key(pem: &str, what: &str) -> Result<SigningKey, KeyError> {
    SigningKey::from_pkcs8_pem(pem).map_err(|e| KeyError::Parse {
        what: what.to_owned(),
        message: e.to_string(),
    })
}

fn read(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// A JSON Web Key Set (RFC 7517).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// One Ed25519 public key as a JWK (RFC 8037).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Jwk {
    /// Always `OKP`.
    pub kty: &'static str,
    /// Always `Ed25519`.
    pub crv: &'static str,
    /// Always `EdDSA`.
    pub alg: &'static str,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub key_use: &'static str,
    /// The key id: its RFC 7638 thumbprint.
    pub kid: String,
    /// The public key, base64url.
    pub x: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::EncodePublicKey;

    #[test]
    fn a_missing_key_file_is_generated_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/signing.pem");
        let none: [&Path; 0] = [];
        let first = Keys::load(None, &path, &none).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let second = Keys::load(None, &path, &none).unwrap();
        assert_eq!(first.signing().1, second.signing().1);
        assert_eq!(second.jwks().keys.len(), 1);
    }

    #[test]
    fn earlier_public_keys_are_published_beside_the_signing_key() {
        let dir = tempfile::tempdir().unwrap();
        let old = generate();
        let old_path = dir.path().join("old.pub.pem");
        std::fs::write(
            &old_path,
            old.verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap(),
        )
        .unwrap();
        let current = generate();
        let pem = Secret::from(current.to_pkcs8_pem(LineEnding::LF).unwrap().as_str());
        let keys = Keys::load(Some(&pem), &dir.path().join("unused.pem"), &[&old_path]).unwrap();
        let kids: Vec<_> = keys.jwks().keys.into_iter().map(|k| k.kid).collect();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0], keys.signing().1);
        assert!(keys.verifying(&kids[1]).is_some());
        assert!(!dir.path().join("unused.pem").exists());
    }

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint() {
        // RFC 8037, appendix A.3: the thumbprint of its example Ed25519 key.
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        let key = VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap();
        assert_eq!(
            PublicKey::new(&key).kid,
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn a_bad_key_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let none: [&Path; 0] = [];
        let err =
            Keys::load(Some(&Secret::from("nope")), &dir.path().join("k"), &none).unwrap_err();
        assert!(err.to_string().contains("--signing-key"), "{err}");
    }
}
