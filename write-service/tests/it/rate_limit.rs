//! The per-device rate limit: a flooding device's excess is dead-lettered as
//! `rate_limited` and counted while another household's readings are all
//! stored; a device that replays a backlog within its limit loses nothing.
//! The limits here are tiny so that a few messages show it; the default
//! sizes are checked in `write_service::rate_limit`'s unit tests.

use std::time::{Duration, Instant};

use write_service::households::HouseholdMapping;
use write_service::Config;

use crate::helpers::*;

fn limited(env: &Env, readings_per_s: u32, backlog_window: Duration) -> Config {
    let mut config = env.config();
    config.households = ["flood=h-flood", "calm=h-calm", "pi=h-pi"]
        .iter()
        .map(|m| m.parse::<HouseholdMapping>().expect("mapping"))
        .collect();
    config.device_rate_limit = readings_per_s;
    config.device_backlog_window = backlog_window;
    config
}

const RATE_LIMITED: &str = "wattline_write_dead_lettered_total{reason=\"rate_limited\"}";
const RATE_LIMITED_READINGS: &str = "wattline_write_rate_limited_readings_total";

#[tokio::test]
async fn a_flooding_devices_excess_is_dead_lettered_and_counted_while_another_household_is_stored()
{
    let env = Env::new().await.unwrap();
    // 1 reading a second, 30 s ahead at most: a burst of 30 readings.
    let service = Running::start(limited(&env, 1, Duration::from_secs(30)))
        .await
        .unwrap();
    let publisher = Publisher::connect(&env.vhost.amqp_url).await.unwrap();
    let before = (
        service.counter(RATE_LIMITED).await.unwrap(),
        service.counter(RATE_LIMITED_READINGS).await.unwrap(),
    );
    let started = Instant::now();
    let start = now_ms() - 3_600_000;

    // The flood: 40 messages of 3 sockets × 10 readings, as fast as the
    // broker confirms, with the calm household's 6 messages of 5 readings
    // (its whole burst, 30) in between.
    const FLOOD_MESSAGES: usize = 40;
    let mut calm_sent: u64 = 0;
    for i in 0..FLOOD_MESSAGES {
        let flood = batch(
            "flood",
            &["a", "b", "c"],
            10,
            start + i as i64 * 10_000,
            1_000,
        );
        publisher
            .publish("readings.flood", &flood.encode())
            .await
            .unwrap();
        if i % 7 == 0 {
            let calm = batch("calm", &["kettle"], 5, start + i as i64 * 10_000, 1_000);
            publisher
                .publish("readings.calm", &calm.encode())
                .await
                .unwrap();
            calm_sent += 5;
        }
    }
    assert_eq!(calm_sent, 30);

    // Done once every message of either device is stored or dead-lettered
    // (flood messages hold 30 readings, calm ones 5).
    let dead = std::cell::RefCell::new(Vec::new());
    let counts = testkit::eventually(
        PATIENCE,
        "every message stored or dead-lettered",
        || async {
            let taken = take_dead_letters(&publisher).await?;
            dead.borrow_mut().extend(taken);
            let counts = counts_per_series(&env.db).await?;
            let accounted = |device: &str, readings_per_message: u64| {
                let key = format!("readings.{device}");
                let stored: u64 = counts
                    .iter()
                    .filter(|((d, ..), _)| d == device)
                    .map(|(_, n)| n)
                    .sum();
                let dead = dead
                    .borrow()
                    .iter()
                    .filter(|d| d.headers["x-wattline-routing-key"] == key)
                    .count() as u64;
                stored + dead * readings_per_message
            };
            let settled = accounted("flood", 30) == FLOOD_MESSAGES as u64 * 30
                && accounted("calm", 5) == calm_sent;
            Ok(settled.then_some(counts))
        },
    )
    .await
    .unwrap();
    let elapsed = started.elapsed();
    env.wait_queue_empty(WRITE_QUEUE).await.unwrap();
    let dead = dead.into_inner();
    let stored = |device: &str| -> u64 {
        counts
            .iter()
            .filter(|((d, ..), _)| d == device)
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(
        stored("calm"),
        30,
        "the calm household lost readings: {counts:?}"
    );
    // The flood got its burst (one whole message of 30) plus at most what
    // 1 reading a second refilled meanwhile, in whole messages.
    let flood_stored = stored("flood");
    let refilled = elapsed.as_secs() / 30 * 30;
    assert!(
        flood_stored >= 30 && flood_stored <= 30 + refilled,
        "flood stored {flood_stored} in {elapsed:?}"
    );
    let dead_messages = (FLOOD_MESSAGES as u64 * 30 - flood_stored) / 30;
    assert_eq!(dead.len() as u64, dead_messages, "{dead:?}");
    for letter in &dead {
        assert_eq!(letter.reason(), "rate_limited", "{letter:?}");
        assert_eq!(letter.headers["x-wattline-routing-key"], "readings.flood");
        assert!(
            letter.headers["x-wattline-error"].contains("1 readings/s"),
            "{letter:?}"
        );
    }
    let after = (
        service.counter(RATE_LIMITED).await.unwrap(),
        service.counter(RATE_LIMITED_READINGS).await.unwrap(),
    );
    assert_eq!(after.0 - before.0, dead_messages as f64);
    assert_eq!(after.1 - before.1, (dead_messages * 30) as f64);
    service.stop().await.unwrap();
}

#[tokio::test]
async fn a_device_replaying_a_backlog_within_its_limit_loses_nothing() {
    let env = Env::new().await.unwrap();
    // 10 readings a second, 60 s ahead at most: a burst of 600 readings.
    let service = Running::start(limited(&env, 10, Duration::from_secs(60)))
        .await
        .unwrap();
    let publisher = Publisher::connect(&env.vhost.amqp_url).await.unwrap();

    // An agent with 2 sockets at 5 Hz (its limit) back after a minute
    // offline: its spool of 600 readings in batches of 2 × 30, at once.
    let start = now_ms() - 60_000;
    for i in 0..10 {
        let backlog = batch("pi", &["fridge", "tv"], 30, start + i * 6_000, 200);
        publisher
            .publish("readings.pi", &backlog.encode())
            .await
            .unwrap();
    }
    env.wait_points(600).await.unwrap();
    env.wait_queue_empty(WRITE_QUEUE).await.unwrap();
    // (Not the global counters: the flood test runs beside this one.)
    let dead = take_dead_letters(&publisher).await.unwrap();
    assert!(
        dead.is_empty(),
        "a device within its limit lost messages: {dead:?}"
    );
    service.stop().await.unwrap();
}
