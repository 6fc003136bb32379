//! Capped exponential backoff with jitter, for every retry in Wattline:
//! InfluxDB writes, AMQP reconnects of the write service and the device agent,
//! household-directory lookups.
//!
//! "Equal jitter": each delay is half the exponential ceiling plus a random
//! part of up to the other half. Many clients retrying against the same
//! recovering server (write-service replicas, a fleet of agents after a broker
//! restart) then spread out instead of arriving in lockstep, and no delay is
//! ever shorter than half its ceiling.

use std::time::Duration;

/// The shape of a backoff sequence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// Ceiling of the first delay.
    pub initial: Duration,
    /// Largest ceiling; reached after a few doublings and kept.
    pub max: Duration,
}

impl BackoffPolicy {
    /// The delay ceiling of attempt `n` (0-based): `initial * 2^n`, capped.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(31));
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The delay of attempt `n` for a random `unit` in `[0, 1)`.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        half + half.mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// A running backoff sequence: call [`Backoff::next_delay`] after each
/// failure, [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
}

impl Backoff {
    /// A fresh sequence.
    pub fn new(policy: BackoffPolicy) -> Self {
        Self { policy, attempt: 0 }
    }

    /// The next delay, with jitter; advances the sequence.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.policy.delay(self.attempt, rand::random::<f64>());
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// Failures so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Back to the first delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BackoffPolicy = BackoffPolicy {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(10),
    };

    #[test]
    fn ceilings_double_then_cap() {
        let p = POLICY;
        let ms: Vec<u128> = (0..10).map(|n| p.ceiling(n).as_millis()).collect();
        assert_eq!(
            ms,
            [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]
        );
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_between_half_and_the_whole_ceiling() {
        let p = POLICY;
        assert_eq!(p.delay(3, 0.0), Duration::from_millis(400));
        assert_eq!(p.delay(3, 1.0), Duration::from_millis(800));
        assert_eq!(p.delay(3, 7.0), Duration::from_millis(800));
        let mut backoff = Backoff::new(p);
        for n in 0..20 {
            let d = backoff.next_delay();
            assert!(
                d >= p.ceiling(n) / 2 && d <= p.ceiling(n),
                "attempt {n}: {d:?}"
            );
        }
        assert_eq!(backoff.attempts(), 20);
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
