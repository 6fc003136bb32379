//! Password hashing: argon2id (OWASP's parameters: 19 MiB, 2 passes, 1 lane,
//! the `argon2` crate's defaults) on tokio's blocking pool, so a login never
//! stalls the async workers.
//!
//! A login for an unknown email verifies against a dummy hash made with the
//! same parameters, so "no such account" and "wrong password" take the same
//! time and give the same answer.
//!
//! At most one hash per core runs at a time; the rest wait their turn. Each
//! takes 19 MiB, and the blocking pool would otherwise run hundreds at once
//! under a burst of logins: `perf http --target auth --rate 500` took the
//! service from 165 MB to 740 MB (the allocator keeps what a burst used)
//! without answering any faster, since the cores were the limit anyway.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::config::Secret;

/// Longest password accepted, in bytes: argon2 takes any length, but hashing
/// a megabyte per request would be a cheap way to burn our CPU.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes and verifies passwords.
#[derive(Debug, Clone)]
pub struct Passwords {
    min_length: usize,
    dummy_hash: String,
    /// One permit per core: hashes running at once.
    hashing: Arc<Semaphore>,
}

/// Why a new password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("the password must have at least {0} characters")]
    TooShort(usize),
    #[error("the password must have at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
}

impl Passwords {
    /// Hashes the dummy password once (the only blocking hash outside the pool).
    pub fn new(min_length: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            min_length,
            dummy_hash: hash_blocking("not anybody's password"),
            hashing: Arc::new(Semaphore::new(cores)),
        }
    }

    /// Runs `work` (a hash or a verification) on the blocking pool once a
    /// core is free for it.
    async fn on_a_free_core<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let _turn = self
            .hashing
            .acquire()
            .await
            .expect("the hashing semaphore is never closed");
        tokio::task::spawn_blocking(work)
            .await
            .expect("password hashing does not panic")
    }

    /// Checks a new password against the policy (length only: NIST 800-63B
    /// advises against composition rules).
    pub fn check_policy(&self, password: &Secret) -> Result<(), WeakPassword> {
        let password = password.expose();
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(WeakPassword::TooLong);
        }
        if password.chars().count() < self.min_length {
            return Err(WeakPassword::TooShort(self.min_length));
        }
        Ok(())
    }

    /// The argon2id PHC string of `password`, with a fresh salt.
    pub async fn hash(&self, password: Secret) -> String {
        self.on_a_free_core(move || hash_blocking(password.expose()))
            .await
    }

    /// Whether `password` matches `stored` (a PHC string); with `None` (no
    /// such account) it checks against the dummy hash and answers `false`,
    /// in the same time.
    pub async fn verify(&self, password: Secret, stored: Option<String>) -> bool {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let matches = self
            .on_a_free_core(move || {
                PasswordHash::new(&hash).is_ok_and(|parsed| {
                    Argon2::default()
                        .verify_password(password.expose().as_bytes(), &parsed)
                        .is_ok()
                })
            })
            .await;
        known && matches
    }
}

fn hash_blocking(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 accepts any password with the default parameters")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let passwords = Passwords::new(10);
        let a = passwords.hash("correct horse".into()).await;
        let b = passwords.hash("correct horse".into()).await;
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(
            passwords
                .verify("correct horse".into(), Some(a.clone()))
                .await
        );
        assert!(!passwords.verify("wrong horse".into(), Some(a)).await);
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies_even_with_the_dummy_password() {
        let passwords = Passwords::new(10);
        assert!(
            !passwords
                .verify("not anybody's password".into(), None)
                .await
        );
        assert!(!passwords.verify("x".into(), Some("garbage".into())).await);
    }

    #[test]
    fn policy_counts_characters_and_caps_bytes() {
        let passwords = Passwords::new(10);
        assert_eq!(
            passwords.check_policy(&"short".into()),
            Err(WeakPassword::TooShort(10))
        );
        // Ten characters, more bytes: counted as characters.
        assert!(passwords.check_policy(&"äääääääääa".into()).is_ok());
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(
            passwords.check_policy(&long.as_str().into()),
            Err(WeakPassword::TooLong)
        );
    }
}
