//! Which household a device belongs to: the [`HouseholdDirectory`] trait and
//! its implementations.
//!
//! - [`auth`]: [`AuthDirectory`], auth-service's device registry over HTTP
//!   (`--auth-url`), the production source (DESIGN.md, "Identity and trust");
//! - [`cache`]: [`CachedDirectory`], which wraps it: positive answers kept
//!   for `--auth-cache-ttl`, unknown devices for `--auth-negative-ttl`, and
//!   stale households served while auth-service is down;
//! - [`static_file`]: [`StaticDirectory`], a fixed map from
//!   `--households-file` and `--household` flags, for demos and tests.
//!
//! The contract every implementation keeps: `Ok(None)` means "no such
//! device" (the message is dead-lettered as `unknown_device`); `Err` means
//! "directory unavailable" (the consumer holds the message and retries,
//! never dead-letters).

pub mod auth;
pub mod cache;
pub mod static_file;

use std::fmt;

use futures_util::future::BoxFuture;

use crate::ids::{DeviceId, HouseholdId};

pub use auth::{AuthDirectory, AuthDirectoryError, AuthUrl};
pub use cache::{CacheSettings, CachedDirectory};
pub use static_file::{HouseholdMapping, HouseholdsFileError, StaticDirectory};

/// The directory could not answer (network, auth-service down). Retryable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("household directory unavailable: {0}")]
pub struct DirectoryError(pub String);

/// Looks up the household a device is registered to.
///
/// Boxed futures keep the trait object-safe, so `run` takes any
/// implementation as `Arc<dyn HouseholdDirectory>`.
pub trait HouseholdDirectory: Send + Sync + fmt::Debug {
    /// `Ok(None)` when the device is unknown; `Err` when the directory is
    /// unavailable and the caller should retry later.
    fn household_of<'a>(
        &'a self,
        device: &'a DeviceId,
    ) -> BoxFuture<'a, Result<Option<HouseholdId>, DirectoryError>>;
}
