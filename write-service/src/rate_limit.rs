//! A per-device limit on readings, so that one device (broken, or with
//! stolen credentials) flooding far above any real household's rate cannot
//! take InfluxDB's capacity from everyone else. Its excess is dead-lettered
//! as `rate_limited` (kept, not dropped: an operator can move it back).
//!
//! The hard part is what it must never refuse: an agent back after days
//! offline replays its spool as fast as the broker confirms, and demo.sh's
//! agent sends three weeks of history at once. Those are bursts of millions
//! of readings; a flood is the same thing that does not stop. So the limit is
//! a token bucket (in its GCRA form: one timestamp a device) with a sustained
//! rate `R` and a burst measured in time, the *backlog window* `W`: a device
//! may get at most `W` ahead of `R`. A device that never produces more than
//! `R` readings a second loses nothing as long as it was never offline for
//! longer than `W`, however fast it replays: while it was away, its credit
//! grew by `R` a second, at least as fast as its backlog. A flood gets
//! `R × W` readings through, then `R` a second.
//!
//! Memory: a device is tracked only while it is ahead of its rate (its bucket
//! not full). A full bucket is the same as no entry, so such entries are
//! removed by a clock sweep that looks at two entries per check: O(1) work per
//! message, no pause, and the table holds about the devices that burst
//! recently, not every device ever seen.
//!
//! Per process: with N write-service replicas sharing the queue each sees
//! about 1/N of a device's messages, so the fleet lets N times more through;
//! never less (each replica's burst covers a whole backlog alone).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The limit's settings (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Sustained readings a second per device; 0 turns the limit off.
    pub readings_per_s: u32,
    /// How far ahead of that rate a device may get (the burst, in time).
    pub backlog_window: Duration,
}

impl RateLimitSettings {
    /// The burst, in readings: what a device may send at once after being
    /// quiet for at least the backlog window.
    pub fn burst_readings(&self) -> u64 {
        (u128::from(self.readings_per_s) * self.backlog_window.as_millis() / 1000) as u64
    }
}

/// A message the limit refused, with what a reader of the dead letter needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverLimit {
    pub readings: u64,
    pub settings: RateLimitSettings,
}

impl fmt::Display for OverLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} readings would put the device more than {} ahead of its limit of {} \
             readings/s (a burst of {} readings); see --device-rate-limit",
            self.readings,
            humantime::format_duration(self.settings.backlog_window),
            self.settings.readings_per_s,
            self.settings.burst_readings(),
        )
    }
}

/// The limit's state: per device, when its bucket will be full again.
#[derive(Debug)]
pub struct DeviceRateLimiter {
    settings: RateLimitSettings,
    /// Cost of one reading at the sustained rate, in ns.
    ns_per_reading: u64,
    /// The backlog window in ns.
    window_ns: u64,
    /// Times below are ns since this instant.
    epoch: Instant,
    /// Device → the time its bucket is full again (GCRA's "theoretical
    /// arrival time"); only devices ahead of their rate.
    ahead: HashMap<Arc<str>, u64>,
    /// Every key of `ahead`, once, in the order the sweep visits them.
    sweep: VecDeque<Arc<str>>,
}

/// Entries the sweep looks at per check: more than the one a check may add,
/// so the table shrinks back once bursts end.
const SWEEP_PER_CHECK: usize = 2;

impl DeviceRateLimiter {
    pub fn new(settings: RateLimitSettings) -> Self {
        let ns_per_reading = match settings.readings_per_s {
            0 => 0,
            rate => 1_000_000_000 / u64::from(rate),
        };
        Self {
            settings,
            ns_per_reading,
            window_ns: u64::try_from(settings.backlog_window.as_nanos()).unwrap_or(u64::MAX),
            epoch: Instant::now(),
            ahead: HashMap::new(),
            sweep: VecDeque::new(),
        }
    }

    /// Whether the limit is on.
    pub fn enabled(&self) -> bool {
        self.settings.readings_per_s > 0
    }

    /// Charges `readings` to `device` at `now` if its credit allows, else
    /// refuses the whole message and charges nothing.
    pub fn check(&mut self, device: &str, readings: u64, now: Instant) -> Result<(), OverLimit> {
        if !self.enabled() || readings == 0 {
            return Ok(());
        }
        let now_ns =
            u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        self.sweep_some(now_ns);
        let full_at = self
            .ahead
            .get(device)
            .copied()
            .unwrap_or(now_ns)
            .max(now_ns);
        let next = full_at.saturating_add(readings.saturating_mul(self.ns_per_reading));
        if next - now_ns > self.window_ns {
            return Err(OverLimit {
                readings,
                settings: self.settings,
            });
        }
        match self.ahead.get_mut(device) {
            Some(entry) => *entry = next,
            None => {
                let key: Arc<str> = device.into();
                self.ahead.insert(key.clone(), next);
                self.sweep.push_back(key);
            }
        }
        Ok(())
    }

    /// Devices tracked (ahead of their rate, or not yet swept).
    pub fn tracked(&self) -> usize {
        self.ahead.len()
    }

    /// Removes the next entries whose bucket is full by now; the others go
    /// to the back of the sweep.
    fn sweep_some(&mut self, now_ns: u64) {
        for _ in 0..SWEEP_PER_CHECK {
            let Some(key) = self.sweep.pop_front() else {
                return;
            };
            match self.ahead.get(&key) {
                Some(&full_at) if full_at > now_ns => self.sweep.push_back(key),
                _ => {
                    self.ahead.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);
    const DAY: Duration = Duration::from_secs(86_400);

    fn limiter(readings_per_s: u32, backlog_window: Duration) -> DeviceRateLimiter {
        DeviceRateLimiter::new(RateLimitSettings {
            readings_per_s,
            backlog_window,
        })
    }

    #[test]
    fn a_flood_gets_its_burst_then_the_sustained_rate_and_others_are_untouched() {
        let mut limit = limiter(10, 10 * SECOND);
        let t0 = Instant::now();
        // The burst: 100 readings at once.
        for _ in 0..10 {
            limit.check("flood", 10, t0).unwrap();
        }
        let refused = limit.check("flood", 10, t0).unwrap_err();
        assert_eq!(refused.readings, 10);
        assert!(refused.to_string().contains("10 readings/s"), "{refused}");
        // A refusal charges nothing: one second later, exactly 10 more fit.
        limit.check("flood", 10, t0 + SECOND).unwrap();
        assert!(limit.check("flood", 1, t0 + SECOND).is_err());
        // Another device has its own bucket.
        limit.check("calm", 100, t0 + SECOND).unwrap();
    }

    #[test]
    fn a_device_within_its_rate_replays_a_backlog_of_its_whole_window_at_full_speed() {
        // The defaults, and a 30-socket agent at 1 Hz (30 readings/s, under
        // 100) that was offline for 6 days: 15.6 M readings, sent in batches
        // of 5,000 as fast as they go, while it keeps reading live.
        let mut limit = limiter(100, 7 * DAY);
        let t0 = Instant::now();
        limit.check("pi", 30, t0).unwrap();
        let back = t0 + 6 * DAY;
        let backlog: u64 = 30 * 6 * 86_400;
        let mut sent = 0;
        let mut at = back;
        while sent < backlog {
            let batch = (backlog - sent).min(5_000);
            limit.check("pi", batch, at).unwrap();
            sent += batch;
            at += Duration::from_millis(1);
        }
        // Then live again, every minute, for a day.
        for minute in 1..=1_440 {
            limit
                .check("pi", 30 * 60, at + minute * 60 * SECOND)
                .unwrap();
        }
    }

    #[test]
    fn demo_history_and_a_full_default_spool_fit_the_default_burst() {
        let settings = RateLimitSettings {
            readings_per_s: 100,
            backlog_window: 7 * DAY,
        };
        assert_eq!(settings.burst_readings(), 60_480_000);
        let mut limit = DeviceRateLimiter::new(settings);
        let now = Instant::now();
        // deploy/demo.sh: 3 weeks of 8 sockets every 10 s, in batches of 3,000,
        // at once and from a device never seen before.
        let history: u64 = 21 * 86_400 / 10 * 8;
        assert_eq!(history, 1_451_520);
        for _ in 0..history.div_ceil(3_000) {
            limit.check("demo", 3_000, now).unwrap();
        }
        // The agent's default 64 MiB spool at 2 bytes a reading (the wire
        // format's least: a timestamp and a power delta of one byte each).
        let spool: u64 = 64 * 1024 * 1024 / 2;
        for _ in 0..spool.div_ceil(5_000) {
            limit.check("replay", 5_000, now).unwrap();
        }
    }

    #[test]
    fn zero_turns_it_off() {
        let mut limit = limiter(0, 7 * DAY);
        assert!(!limit.enabled());
        limit.check("d", u64::MAX, Instant::now()).unwrap();
        assert_eq!(limit.tracked(), 0);
    }

    #[test]
    fn devices_back_under_their_rate_are_forgotten_and_memory_stays_bounded() {
        let mut limit = limiter(10, 10 * SECOND);
        let t0 = Instant::now();
        // A million devices send one message each over 10 s: each is then
        // ahead of its rate for 1 s, and forgotten soon after.
        for i in 0..1_000_000u32 {
            let at = t0 + Duration::from_micros(10 * u64::from(i));
            limit.check(&format!("d{i}"), 10, at).unwrap();
        }
        assert!(limit.tracked() < 300_000, "{}", limit.tracked());
        // Later, one device at its rate sweeps the rest away.
        let later = t0 + 100 * SECOND;
        for i in 0..600_000 {
            limit
                .check("busy", 1, later + Duration::from_millis(100 * i))
                .unwrap();
        }
        assert!(limit.tracked() <= 2, "{}", limit.tracked());
        // A forgotten device starts again with its whole burst.
        let end = later + 60_000 * SECOND;
        for _ in 0..10 {
            limit.check("d7", 10, end).unwrap();
        }
        assert!(limit.check("d7", 1, end).is_err());
    }
}
