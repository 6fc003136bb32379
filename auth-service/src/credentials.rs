//! Random ids, random secrets, and how the high-entropy ones are stored.
//!
//! Device secrets, refresh tokens and invite tokens are 256 random bits, so
//! a plain SHA-256 of them is as good as a slow hash (nobody can guess a
//! preimage) and cheap enough to check on every broker login. Passwords,
//! which people choose, go through argon2id instead (see `passwords`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Lower-case Crockford base32: no i, l, o, u to misread on a Pi's label.
const ID_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A new id: `prefix` and 16 random base32 characters (80 bits), e.g.
/// `d-4k7x0m2q9v1c8e5z`. Ids fit the shared id rule (`wattline_proto::ids`)
/// and need no escaping anywhere (URLs, AMQP user names, line protocol).
pub fn new_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let mut id = String::with_capacity(prefix.len() + 17);
    id.push_str(prefix);
    id.push('-');
    for _ in 0..16 {
        id.push(char::from(ID_ALPHABET[rng.random_range(0..32)]));
    }
    id
}

/// A new secret token: 32 random bytes, base64url without padding (43 chars).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
    }
    hex
}

/// Whether `presented` is the token whose hash is `stored_hash`, compared in
/// constant time.
pub fn token_matches(presented: &str, stored_hash: &str) -> bool {
    token_hash(presented)
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_random_and_valid_ids() {
        let a = new_id("d");
        let b = new_id("d");
        assert_ne!(a, b);
        assert_eq!(a.len(), 18);
        assert!(a.starts_with("d-"));
        wattline_proto::ids::check_id(&a).unwrap();
        assert!(a[2..].bytes().all(|c| ID_ALPHABET.contains(&c)));
    }

    #[test]
    fn tokens_are_long_url_safe_and_distinct() {
        let token = new_token();
        assert_eq!(token.len(), 43);
        assert!(token
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(token, new_token());
    }

    #[test]
    fn hashes_are_sha256_hex_and_match_only_their_token() {
        // SHA-256("abc"), from FIPS 180-2.
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let token = new_token();
        let stored = token_hash(&token);
        assert!(token_matches(&token, &stored));
        assert!(!token_matches("abc", &stored));
        assert!(!token_matches(&token, ""));
    }
}
