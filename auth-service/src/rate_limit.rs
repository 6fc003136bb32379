//! Login throttling, per account and per client address (GCRA buckets from
//! `governor`, in memory): guessing passwords costs an attacker time, and a
//! flood from one address cannot lock everybody out.
//!
//! In memory means per process: with several replicas each keeps its own
//! count, so the effective limit is COUNT × replicas. Fine for the sizes
//! this service runs at; a shared store would be the next step.

use std::net::IpAddr;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::RateLimit;

/// The limiters the login and registration handlers consult.
#[derive(Debug)]
pub struct Limits {
    per_account: DefaultKeyedRateLimiter<String>,
    per_client: DefaultKeyedRateLimiter<IpAddr>,
}

/// Over the limit: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for the `Retry-After` header, at least 1.
    pub fn seconds(self) -> u64 {
        self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0)
    }
}

impl Limits {
    pub fn new(per_account: RateLimit, per_client: RateLimit) -> Self {
        Self {
            per_account: DefaultKeyedRateLimiter::keyed(quota(per_account)),
            per_client: DefaultKeyedRateLimiter::keyed(quota(per_client)),
        }
    }

    /// Counts an attempt from `client`.
    pub fn check_client(&self, client: IpAddr) -> Result<(), RetryAfter> {
        self.per_client.check_key(&client).map_err(retry_after)
    }

    /// Counts an attempt on `account` (a normalised email or a user id).
    pub fn check_account(&self, account: &str) -> Result<(), RetryAfter> {
        self.per_account
            .check_key(&account.to_owned())
            .map_err(retry_after)
    }

    /// Forgets keys whose buckets are full again, so memory stays bounded by
    /// the recently active keys. Call it now and then.
    pub fn forget_idle(&self) {
        self.per_account.retain_recent();
        self.per_client.retain_recent();
        self.per_account.shrink_to_fit();
        self.per_client.shrink_to_fit();
    }
}

fn quota(limit: RateLimit) -> Quota {
    let refill = limit.period / limit.count.get();
    Quota::with_period(refill.max(Duration::from_nanos(1)))
        .expect("the period is longer than zero")
        .allow_burst(limit.count)
}

fn retry_after(not_until: governor::NotUntil<<DefaultClock as Clock>::Instant>) -> RetryAfter {
    RetryAfter(not_until.wait_time_from(DefaultClock::default().now()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    fn one_per(period: Duration) -> RateLimit {
        limit(1, period)
    }

    fn limit(count: u32, period: Duration) -> RateLimit {
        RateLimit {
            count: NonZeroU32::new(count).unwrap(),
            period,
        }
    }

    #[test]
    fn an_account_gets_its_burst_then_waits() {
        let limits = Limits::new(
            limit(3, Duration::from_secs(60)),
            limit(100, Duration::from_secs(1)),
        );
        for _ in 0..3 {
            limits.check_account("a@example.com").unwrap();
        }
        let wait = limits.check_account("a@example.com").unwrap_err();
        // One attempt comes back every 60 s / 3.
        assert!(wait.0 > Duration::from_secs(15) && wait.0 <= Duration::from_secs(20));
        assert!((16..=20).contains(&wait.seconds()));
        // Other accounts are not affected.
        limits.check_account("b@example.com").unwrap();
    }

    #[test]
    fn clients_are_limited_separately_from_accounts() {
        let limits = Limits::new(
            limit(100, Duration::from_secs(1)),
            one_per(Duration::from_secs(60)),
        );
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        limits.check_client(client).unwrap();
        assert!(limits.check_client(client).is_err());
        limits.check_client("192.0.2.8".parse().unwrap()).unwrap();
        limits.forget_idle();
        assert!(limits.check_client(client).is_err(), "not idle yet");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(RetryAfter(Duration::from_millis(1)).seconds(), 1);
        assert_eq!(RetryAfter(Duration::from_secs(2)).seconds(), 2);
        assert_eq!(RetryAfter(Duration::from_millis(2001)).seconds(), 3);
    }
}
