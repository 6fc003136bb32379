//! [`CachedDirectory`]: answers household lookups from memory, asks the
//! directory behind it (auth-service) only when an answer is missing or
//! expired, and keeps known devices flowing while that directory is down.
//!
//! - A household is kept for `positive_ttl` (`--auth-cache-ttl`, 5 min), an
//!   "unknown device" for `negative_ttl` (`--auth-negative-ttl`, 10 s), so a
//!   device registered a moment ago is picked up soon.
//! - The directory unavailable and the device's household cached but
//!   expired: the stale household is served (one WARN per outage, each
//!   counted as `stale_served`). While the outage lasts, the directory is
//!   asked again for such devices at most every `outage_probe_interval`,
//!   so a hung auth-service does not cost a timeout per delivery.
//! - The directory unavailable and nothing to serve (an uncached device, or
//!   an expired "unknown"): `Err`, and the consumer holds the message and
//!   retries. A stale "unknown" is not served: the device may have been
//!   registered meanwhile, and dead-lettering its readings because
//!   auth-service is down would be wrong.
//! - At most `max_entries` devices are held. Inserting beyond that first
//!   drops the expired entries and, if none were, clears the cache: simple,
//!   and a full cache at the default (1 000 000) means the setting is too
//!   small for the fleet, not that eviction order matters.
//!
//! The consumer looks up every delivery, so a fresh hit takes one read of a
//! `std::sync::RwLock` and nothing else; the write lock is taken only to
//! store an answer, and the outage state only when an entry is missing or
//! expired. Two lookups of the same uncached device may both ask the
//! directory; they store the same answer.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use metrics::{counter, gauge, Counter, Gauge};

use super::{DirectoryError, HouseholdDirectory};
use crate::ids::{DeviceId, HouseholdId};
use crate::telemetry::names;

/// Default bound on cached devices (some 150 MB at the id length limit).
pub const DEFAULT_MAX_ENTRIES: usize = 1_000_000;
/// Default pause between asking a down directory again for devices that can
/// be served stale meanwhile.
pub const DEFAULT_OUTAGE_PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// How long answers are kept, and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// How long a device's household is served from memory.
    pub positive_ttl: Duration,
    /// How long "unknown device" is served from memory.
    pub negative_ttl: Duration,
    /// Most devices held (see the module docs for what happens beyond).
    pub max_entries: usize,
    /// While the directory is down, how often a lookup that could be served
    /// stale asks it again instead.
    pub outage_probe_interval: Duration,
}

impl CacheSettings {
    /// These TTLs, with the default size bound and probe interval.
    pub fn new(positive_ttl: Duration, negative_ttl: Duration) -> Self {
        Self {
            positive_ttl,
            negative_ttl,
            max_entries: DEFAULT_MAX_ENTRIES,
            outage_probe_interval: DEFAULT_OUTAGE_PROBE_INTERVAL,
        }
    }
}

/// How one lookup was answered: the `outcome` label of
/// `wattline_write_household_lookups_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// From a fresh cache entry (a household or "unknown").
    Hit,
    /// The directory was asked and answered.
    Miss,
    /// The directory failed; an expired household was served.
    StaleServed,
    /// The directory failed and nothing could be served: `Err`.
    Unavailable,
}

impl Outcome {
    /// Every outcome, for registering the counters at zero.
    pub const ALL: [Outcome; 4] = [
        Outcome::Hit,
        Outcome::Miss,
        Outcome::StaleServed,
        Outcome::Unavailable,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::StaleServed => "stale_served",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// A [`HouseholdDirectory`] in front of another (see the module docs).
pub struct CachedDirectory<D> {
    inner: D,
    settings: CacheSettings,
    entries: RwLock<HashMap<DeviceId, Entry>>,
    outage: Mutex<Outage>,
    /// Created on first use: the metrics recorder is installed when the
    /// service runs, after the directory is built.
    metrics: OnceLock<Metrics>,
}

impl<D: fmt::Debug> fmt::Debug for CachedDirectory<D> {
    // Not the entries: a million of them would flood whatever prints this.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("CachedDirectory")
            .field("inner", &self.inner)
            .field("settings", &self.settings)
            .field("entries", &entries.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
struct Entry {
    /// `None`: the directory said the device is unknown.
    household: Option<HouseholdId>,
    /// When the lookup that produced it started.
    fetched: Instant,
}

/// The directory's state as this cache saw it.
#[derive(Debug, Default)]
struct Outage {
    /// Since the first failed lookup after the last answer.
    down: bool,
    /// During an outage: devices with a stale household are served it without
    /// asking the directory until then.
    next_probe: Option<Instant>,
    last_error: String,
    stale_served: u64,
    /// Whether this outage's WARN line has been logged.
    warned: bool,
}

#[derive(Debug)]
struct Metrics {
    lookups: [Counter; 4],
    entries: Gauge,
}

impl<D: HouseholdDirectory> CachedDirectory<D> {
    /// An empty cache in front of `inner`.
    pub fn new(inner: D, settings: CacheSettings) -> Self {
        Self {
            inner,
            settings,
            entries: RwLock::new(HashMap::new()),
            outage: Mutex::new(Outage::default()),
            metrics: OnceLock::new(),
        }
    }

    /// The directory behind the cache.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// Devices held (fresh or expired).
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no device is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lookup at time `now` (a parameter, so tests need no clock).
    async fn lookup_at(
        &self,
        device: &DeviceId,
        now: Instant,
    ) -> (Outcome, Result<Option<HouseholdId>, DirectoryError>) {
        // The guard lives in this block only: never held across the await.
        let stale = {
            let entries = self.read();
            match entries.get(device) {
                Some(entry) if self.is_fresh(entry, now) => {
                    return (Outcome::Hit, Ok(entry.household.clone()));
                }
                Some(entry) => entry.household.clone(),
                None => None,
            }
        };
        if let Some(household) = &stale {
            if self.quiet_outage(now) {
                self.served_stale();
                return (Outcome::StaleServed, Ok(Some(household.clone())));
            }
        }
        match self.inner.household_of(device).await {
            Ok(answer) => {
                self.directory_answered();
                self.store(device, answer.clone(), now);
                (Outcome::Miss, Ok(answer))
            }
            Err(error) => {
                self.directory_failed(&error, now);
                match stale {
                    Some(household) => {
                        self.served_stale();
                        (Outcome::StaleServed, Ok(Some(household)))
                    }
                    None => (Outcome::Unavailable, Err(error)),
                }
            }
        }
    }

    fn is_fresh(&self, entry: &Entry, now: Instant) -> bool {
        let ttl = match entry.household {
            Some(_) => self.settings.positive_ttl,
            None => self.settings.negative_ttl,
        };
        now.saturating_duration_since(entry.fetched) < ttl
    }

    fn store(&self, device: &DeviceId, household: Option<HouseholdId>, now: Instant) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.settings.max_entries && !entries.contains_key(device) {
            let before = entries.len();
            entries.retain(|_, entry| self.is_fresh(entry, now));
            if entries.len() >= self.settings.max_entries {
                entries.clear();
            }
            tracing::warn!(
                evicted = before - entries.len(),
                max_entries = self.settings.max_entries,
                "household cache full: dropped expired entries, or all if none were"
            );
        }
        entries.insert(
            device.clone(),
            Entry {
                household,
                fetched: now,
            },
        );
        self.metrics().entries.set(entries.len() as f64);
    }

    /// Whether a stale household may be served without asking the directory.
    fn quiet_outage(&self, now: Instant) -> bool {
        let outage = self.outage();
        outage.down && outage.next_probe.is_some_and(|probe| now < probe)
    }

    fn directory_failed(&self, error: &DirectoryError, now: Instant) {
        let mut outage = self.outage();
        outage.down = true;
        outage.next_probe = Some(now + self.settings.outage_probe_interval);
        outage.last_error = error.to_string();
    }

    fn directory_answered(&self) {
        let mut outage = self.outage();
        if outage.down {
            if outage.warned {
                tracing::info!(
                    stale_served = outage.stale_served,
                    "household directory answering again; cached households refresh as they expire"
                );
            }
            *outage = Outage::default();
        }
    }

    /// Logs (once per outage) and counts a stale household served.
    fn served_stale(&self) {
        let mut outage = self.outage();
        outage.stale_served += 1;
        if !outage.warned {
            outage.warned = true;
            tracing::warn!(
                error = %outage.last_error,
                "household directory unavailable; serving expired cached households to known \
                 devices until it answers again (unknown devices wait)"
            );
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<DeviceId, Entry>> {
        // A panic elsewhere while writing leaves a consistent map (inserts
        // and clears are single calls): keep using it.
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn outage(&self) -> std::sync::MutexGuard<'_, Outage> {
        self.outage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn metrics(&self) -> &Metrics {
        self.metrics.get_or_init(|| Metrics {
            lookups: Outcome::ALL
                .map(|o| counter!(names::HOUSEHOLD_LOOKUPS, "outcome" => o.as_str())),
            entries: gauge!(names::HOUSEHOLD_CACHE_ENTRIES),
        })
    }
}

impl<D: HouseholdDirectory> HouseholdDirectory for CachedDirectory<D> {
    fn household_of<'a>(
        &'a self,
        device: &'a DeviceId,
    ) -> BoxFuture<'a, Result<Option<HouseholdId>, DirectoryError>> {
        Box::pin(async move {
            let (outcome, answer) = self.lookup_at(device, Instant::now()).await;
            // `Outcome::ALL` lists the variants in declaration order.
            self.metrics().lookups[outcome as usize].increment(1);
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// A directory whose registrations and availability the test sets, and
    /// which counts how often it was asked.
    #[derive(Debug, Default)]
    struct Fake {
        households: Mutex<HashMap<String, String>>,
        down: AtomicBool,
        calls: AtomicUsize,
    }

    impl Fake {
        fn register(&self, device: &str, household: &str) {
            self.households
                .lock()
                .unwrap()
                .insert(device.into(), household.into());
        }
        fn set_down(&self, down: bool) {
            self.down.store(down, Ordering::SeqCst);
        }
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    impl HouseholdDirectory for Fake {
        fn household_of<'a>(
            &'a self,
            device: &'a DeviceId,
        ) -> BoxFuture<'a, Result<Option<HouseholdId>, DirectoryError>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let answer = if self.down.load(Ordering::SeqCst) {
                Err(DirectoryError("auth-service down".into()))
            } else {
                let households = self.households.lock().unwrap();
                Ok(households
                    .get(device.as_str())
                    .map(|h| HouseholdId::parse(h.as_str()).unwrap()))
            };
            Box::pin(std::future::ready(answer))
        }
    }

    const TTL: Duration = Duration::from_secs(300);
    const NEGATIVE_TTL: Duration = Duration::from_secs(10);

    fn cache() -> CachedDirectory<Fake> {
        CachedDirectory::new(Fake::default(), CacheSettings::new(TTL, NEGATIVE_TTL))
    }

    /// One lookup at `now`: its outcome and the household as text (`Err(())`
    /// when unavailable).
    fn at(
        cache: &CachedDirectory<Fake>,
        device: &str,
        now: Instant,
    ) -> (Outcome, Result<Option<String>, ()>) {
        let device = DeviceId::parse(device).unwrap();
        let (outcome, answer) = cache
            .lookup_at(&device, now)
            .now_or_never()
            .expect("the fake answers at once");
        let answer = answer
            .map(|h| h.map(|h| h.as_str().to_owned()))
            .map_err(|_| ());
        (outcome, answer)
    }

    fn some(household: &str) -> Result<Option<String>, ()> {
        Ok(Some(household.to_owned()))
    }

    #[test]
    fn a_hit_within_the_ttl_does_not_ask_the_directory() {
        let cache = cache();
        cache.inner().register("d 1", "home, 1");
        let t0 = Instant::now();
        assert_eq!(at(&cache, "d 1", t0), (Outcome::Miss, some("home, 1")));
        let just_before = t0 + TTL - Duration::from_millis(1);
        assert_eq!(
            at(&cache, "d 1", just_before),
            (Outcome::Hit, some("home, 1"))
        );
        assert_eq!(cache.inner().calls(), 1);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn an_expired_household_is_asked_for_again() {
        let cache = cache();
        cache.inner().register("d", "old home");
        let t0 = Instant::now();
        assert_eq!(at(&cache, "d", t0), (Outcome::Miss, some("old home")));
        // The device moved; the cache learns it once the entry expires.
        cache.inner().register("d", "new home");
        assert_eq!(at(&cache, "d", t0 + TTL), (Outcome::Miss, some("new home")));
        assert_eq!(cache.inner().calls(), 2);
        assert_eq!(
            at(&cache, "d", t0 + TTL + Duration::from_secs(1)),
            (Outcome::Hit, some("new home"))
        );
        assert_eq!(cache.inner().calls(), 2);
    }

    #[test]
    fn unknown_devices_are_remembered_for_the_negative_ttl_only() {
        let cache = cache();
        let t0 = Instant::now();
        assert_eq!(at(&cache, "new", t0), (Outcome::Miss, Ok(None)));
        cache.inner().register("new", "h");
        let within = t0 + NEGATIVE_TTL - Duration::from_millis(1);
        assert_eq!(at(&cache, "new", within), (Outcome::Hit, Ok(None)));
        assert_eq!(cache.inner().calls(), 1);
        // Registered meanwhile: picked up after the short negative TTL, not
        // after the positive one.
        assert_eq!(
            at(&cache, "new", t0 + NEGATIVE_TTL),
            (Outcome::Miss, some("h"))
        );
        assert_eq!(cache.inner().calls(), 2);
    }

    #[test]
    fn a_known_device_is_served_stale_while_the_directory_is_down() {
        let cache = cache();
        cache.inner().register("d", "h");
        let t0 = Instant::now();
        assert_eq!(at(&cache, "d", t0), (Outcome::Miss, some("h")));
        cache.inner().set_down(true);

        let expired = t0 + TTL + Duration::from_secs(1);
        assert_eq!(at(&cache, "d", expired), (Outcome::StaleServed, some("h")));
        assert_eq!(cache.inner().calls(), 2, "the directory was asked first");
        // Within the probe interval the stale household is served unasked.
        let soon = expired + Duration::from_secs(1);
        assert_eq!(at(&cache, "d", soon), (Outcome::StaleServed, some("h")));
        assert_eq!(cache.inner().calls(), 2);
        // Then the directory is probed again.
        let later = expired + DEFAULT_OUTAGE_PROBE_INTERVAL;
        assert_eq!(at(&cache, "d", later), (Outcome::StaleServed, some("h")));
        assert_eq!(cache.inner().calls(), 3);

        // Back: the next probe refreshes the entry and the outage ends.
        cache.inner().set_down(false);
        let back = later + DEFAULT_OUTAGE_PROBE_INTERVAL;
        assert_eq!(at(&cache, "d", back), (Outcome::Miss, some("h")));
        assert_eq!(cache.inner().calls(), 4);
        assert_eq!(at(&cache, "d", back), (Outcome::Hit, some("h")));
        assert!(!cache.outage().down);
    }

    #[test]
    fn an_uncached_or_stale_unknown_device_is_unavailable_while_the_directory_is_down() {
        let cache = cache();
        cache.inner().register("d", "h");
        let t0 = Instant::now();
        assert_eq!(at(&cache, "ghost", t0), (Outcome::Miss, Ok(None)));
        cache.inner().set_down(true);
        assert_eq!(at(&cache, "d", t0), (Outcome::Unavailable, Err(())));
        // A fresh "unknown" is still a hit...
        assert_eq!(at(&cache, "ghost", t0), (Outcome::Hit, Ok(None)));
        // ...an expired one is not served: the device may be registered now.
        let expired = t0 + NEGATIVE_TTL;
        assert_eq!(
            at(&cache, "ghost", expired),
            (Outcome::Unavailable, Err(()))
        );
        // Uncached devices ask every time (the consumer paces its retries).
        let calls = cache.inner().calls();
        assert_eq!(at(&cache, "d", expired), (Outcome::Unavailable, Err(())));
        assert_eq!(cache.inner().calls(), calls + 1);
    }

    #[test]
    fn a_full_cache_drops_expired_entries_first_then_everything() {
        let settings = CacheSettings {
            max_entries: 2,
            ..CacheSettings::new(TTL, NEGATIVE_TTL)
        };
        let cache = CachedDirectory::new(Fake::default(), settings);
        for device in ["a", "b", "c", "d"] {
            cache.inner().register(device, "h");
        }
        let t0 = Instant::now();
        let held = |device: &str| cache.read().contains_key(&DeviceId::parse(device).unwrap());
        assert_eq!(at(&cache, "a", t0), (Outcome::Miss, some("h")));
        assert_eq!(at(&cache, "b", t0 + TTL), (Outcome::Miss, some("h")));
        assert_eq!(cache.len(), 2);
        // Full: "a" has expired and goes, "b" stays.
        assert_eq!(at(&cache, "c", t0 + TTL), (Outcome::Miss, some("h")));
        assert!(!held("a") && held("b") && held("c"));
        // Full of fresh entries: cleared, then "d" stored.
        assert_eq!(at(&cache, "d", t0 + TTL), (Outcome::Miss, some("h")));
        assert!(held("d"));
        assert_eq!(cache.len(), 1);
        // Refreshing a held device's entry never evicts.
        assert_eq!(at(&cache, "c", t0 + TTL), (Outcome::Miss, some("h")));
        assert_eq!(at(&cache, "c", t0 + 3 * TTL).0, Outcome::Miss);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_zero_ttl_asks_every_time_but_still_serves_stale() {
        let cache = CachedDirectory::new(
            Fake::default(),
            CacheSettings::new(Duration::ZERO, Duration::ZERO),
        );
        cache.inner().register("d", "h");
        let t0 = Instant::now();
        assert_eq!(at(&cache, "d", t0), (Outcome::Miss, some("h")));
        assert_eq!(at(&cache, "d", t0), (Outcome::Miss, some("h")));
        assert_eq!(cache.inner().calls(), 2);
        cache.inner().set_down(true);
        assert_eq!(at(&cache, "d", t0), (Outcome::StaleServed, some("h")));
    }
}
