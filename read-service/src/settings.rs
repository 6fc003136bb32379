//! A household's settings (time zone, tariff), owned by auth-service and
//! read from its internal API (`/internal/households/{id}`), cached for
//! `--settings-cache-ttl`.
//!
//! When auth-service cannot be reached, a cached answer is used even past
//! its lifetime (a stale tariff beats no page); without one the request
//! fails with 503. A household auth-service does not know (deleted since the
//! token was issued) gets the defaults of a new household: UTC, no tariff.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use serde::Deserialize;
use tokio::sync::RwLock;
use wattline_tariff::Tariff;

/// What read-service needs to know about a household.
#[derive(Debug, Clone)]
pub struct HouseholdSettings {
    /// IANA name, as auth-service stores it.
    pub time_zone_name: String,
    pub time_zone: TimeZone,
    pub tariff: Option<Tariff>,
}

impl Default for HouseholdSettings {
    fn default() -> Self {
        Self {
            time_zone_name: "UTC".into(),
            time_zone: TimeZone::UTC,
            tariff: None,
        }
    }
}

/// Why the settings are unavailable.
#[derive(Debug, thiserror::Error)]
#[error("household settings unavailable: {0}")]
pub struct SettingsError(String);

#[derive(Debug, Deserialize)]
struct Answer {
    time_zone: String,
    tariff: Option<Tariff>,
}

/// The client and its cache.
#[derive(Debug)]
pub struct Settings {
    http: reqwest::Client,
    base: String,
    ttl: Duration,
    cache: RwLock<HashMap<String, (Instant, Arc<HouseholdSettings>)>>,
}

/// Entries beyond this are dropped (oldest first) so the cache stays small.
const MAX_ENTRIES: usize = 10_000;

impl Settings {
    pub fn new(internal_url: &str, ttl: Duration) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            base: internal_url.trim_end_matches('/').to_owned(),
            ttl,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The settings of `household`, cached.
    pub async fn get(&self, household: &str) -> Result<Arc<HouseholdSettings>, SettingsError> {
        let cached = self.cache.read().await.get(household).cloned();
        if let Some((at, settings)) = &cached {
            if at.elapsed() < self.ttl {
                return Ok(settings.clone());
            }
        }
        match self.fetch(household).await {
            Ok(settings) => {
                let settings = Arc::new(settings);
                let mut cache = self.cache.write().await;
                if cache.len() >= MAX_ENTRIES {
                    if let Some(oldest) = cache
                        .iter()
                        .min_by_key(|(_, (at, _))| *at)
                        .map(|(k, _)| k.clone())
                    {
                        cache.remove(&oldest);
                    }
                }
                cache.insert(household.to_owned(), (Instant::now(), settings.clone()));
                Ok(settings)
            }
            Err(error) => match cached {
                Some((_, settings)) => {
                    tracing::warn!(%error, household, "using stale household settings");
                    Ok(settings)
                }
                None => Err(error),
            },
        }
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn fetch(&self, household: &str) -> Result<HouseholdSettings, SettingsError> {
        let url = format!("{}/internal/households/{}", self.base, encode(household));
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| SettingsError(e.to_string()))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            tracing::debug!(
                household,
                "auth-service does not know the household: defaults"
            );
            return Ok(HouseholdSettings::default());
        }
        let answer: Answer = response
            .error_for_status()
            .map_err(|e| SettingsError(e.to_string()))?
            .json()
            .await
            .map_err(|e| SettingsError(e.to_string()))?;
        let time_zone = TimeZone::get(&answer.time_zone).unwrap_or_else(|error| {
            // auth-service validates names with the same jiff; a mismatch
            // means different tz databases. UTC beats failing every page.
            tracing::warn!(%error, zone = %answer.time_zone, "unknown time zone: using UTC");
            TimeZone::UTC
        });
        Ok(HouseholdSettings {
            time_zone_name: answer.time_zone,
            time_zone,
            tariff: answer.tariff,
        })
    }
}

/// Percent-encodes a path segment (household ids are ours, but may hold anything).
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
