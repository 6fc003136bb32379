//! Messages in, points out: exactly once, with the right tags and values.

use std::collections::BTreeMap;

use serde_json::Value;
use write_service::households::HouseholdMapping;
use write_service::topology::{QueueType, DEAD_LETTER_QUEUE};

use crate::helpers::*;

fn mapping(device: &str, household: &str) -> HouseholdMapping {
    format!("{device}={household}").parse().expect("mapping")
}

#[tokio::test]
async fn every_reading_of_three_devices_is_stored_once_with_its_tags_and_values() {
    let env = Env::new().await.unwrap();
    let mut config = env.config();
    config.households = vec![
        mapping("dev-a", "home-1"),
        mapping("dev-b", "home-1"),
        mapping("dev-c", "home-2"),
    ];
    let service = Running::start(config).await.unwrap();
    let publisher = Publisher::connect(&env.vhost.amqp_url).await.unwrap();

    // 3 devices × 10 messages × 3 sockets × 10 readings = 900 points.
    let start = now_ms() - 600_000;
    for message in 0..10 {
        for device in ["dev-a", "dev-b", "dev-c"] {
            let b = batch(
                device,
                &["fridge", "tv", "kettle"],
                10,
                start + message * 10_000,
                1_000,
            );
            publisher
                .publish(&format!("readings.{device}"), &b.encode())
                .await
                .unwrap();
        }
    }
    env.wait_points(900).await.unwrap();
    env.wait_queue_empty(WRITE_QUEUE).await.unwrap();

    let counts = counts_per_series(&env.db).await.unwrap();
    assert_eq!(counts.len(), 9, "{counts:?}");
    for ((device, household, _socket), count) in &counts {
        let expected_household = if device == "dev-c" {
            "home-2"
        } else {
            "home-1"
        };
        assert_eq!(household, expected_household);
        assert_eq!(*count, 100);
    }
    // A few exact values: socket index 1 ("tv"), reading 3 of message 2.
    let ts = start + 2 * 10_000 + 3 * 1_000;
    let rows = env
        .db
        .rows(&format!(
            "SELECT watts, energy_wh FROM power WHERE device = 'dev-b' AND socket = 'tv' AND time = {ts}ms"
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["watts"].as_f64(), Some(103.5));
    assert_eq!(rows[0]["energy_wh"].as_f64(), Some(1003.0));

    let (status, health) = service.healthz().await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(health["amqp_connected"], Value::Bool(true));
    assert_eq!(health["influx_reachable"], Value::Bool(true));
    let metrics = service.metrics().await.unwrap();
    assert!(
        testkit::metric(&metrics, "wattline_write_points_written_total")
            .is_some_and(|written| written >= 900.0),
        "{metrics}"
    );
    assert!(
        metrics.contains("wattline_write_end_to_end_lag_seconds_bucket"),
        "{metrics}"
    );
    assert!(take_dead_letters(&publisher).await.unwrap().is_empty());
    service.stop().await.unwrap();
}

#[tokio::test]
async fn awkward_ids_are_stored_as_identical_tag_values() {
    let env = Env::new().await.unwrap();
    // A households file, so the device id may contain `=` and commas.
    let devices = ["dev, with=comma and \"quotes\"", "Gerät Küche"];
    let households = ["Familie Müller, Haus 2", "h=1 \"x\""];
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let csv = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let text: String = devices
        .iter()
        .zip(households)
        .map(|(d, h)| format!("{},{}\n", csv(d), csv(h)))
        .collect();
    std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
    let mut config = env.config();
    config.households_file = Some(file.path().to_owned());
    let service = Running::start(config).await.unwrap();
    let publisher = Publisher::connect(&env.vhost.amqp_url).await.unwrap();

    let sockets = [
        "living room, left",
        "a=b",
        "\"plug\"",
        "Küche ☕",
        "C:\\back\\slash",
    ];
    for device in devices {
        let b = batch(device, &sockets, 2, now_ms() - 60_000, 1_000);
        publisher
            .publish(&format!("readings.{device}"), &b.encode())
            .await
            .unwrap();
    }
    env.wait_points(20).await.unwrap();

    let counts = counts_per_series(&env.db).await.unwrap();
    let mut expected = BTreeMap::new();
    for (device, household) in devices.iter().zip(households) {
        for socket in sockets {
            expected.insert(
                (
                    device.to_string(),
                    household.to_string(),
                    socket.to_string(),
                ),
                2,
            );
        }
    }
    assert_eq!(counts, expected);
    service.stop().await.unwrap();
}

#[tokio::test]
async fn week_old_and_year_old_readings_are_stored() {
    let env = Env::new().await.unwrap();
    let mut config = env.config();
    config.households = vec![mapping("d", "h")];
    let service = Running::start(config).await.unwrap();
    let publisher = Publisher::connect(&env.vhost.amqp_url).await.unwrap();
    let day = 24 * 3_600_000;
    for age in [7 * day, 365 * day] {
        let b = batch("d", &["s"], 5, now_ms() - age, 1_000);
        publisher.publish("readings.d", &b.encode()).await.unwrap();
    }
    env.wait_points(10).await.unwrap();
    env.wait_queue_empty(WRITE_QUEUE).await.unwrap();
    assert!(take_dead_letters(&publisher).await.unwrap().is_empty());
    service.stop().await.unwrap();
}

#[tokio::test]
async fn points_beyond_the_retention_policy_are_counted_as_dropped_and_acked() {
    let env = Env::new().await.unwrap();
    env.db
        .query(&format!(
            "CREATE RETENTION POLICY \"short\" ON \"{}\" DURATION 1h REPLICATION 1 DEFAULT",
            env.db.name
        ))
        .await
        .unwrap();
    let mut config = env.config();
    config.households = vec![mapping("d", "h")];
    let service = Running::start(config).await.unwrap();
    let publisher = Publisher::connect(&env.vhost.amqp_url).await.unwrap();
    let dropped_before = service
        .counter("wattline_write_points_dropped_total")
        .await
        .unwrap();

    // One message: a fresh reading and a two-hour-old one.
    let mut b = batch("d", &["s"], 1, now_ms() - 1_000, 0);
    let mut old = b.sockets[0].readings[0];
    old.timestamp_ms = now_ms() - 2 * 3_600_000;
    b.sockets[0].readings.insert(0, old);
    publisher.publish("readings.d", &b.encode()).await.unwrap();

    // Wait on the service first: the management API's queue counters lag, so
    // right after the publish they may still show the queue empty.
    service
        .wait_counter_above("wattline_write_points_dropped_total", dropped_before)
        .await
        .expect("the dropped point counted");
    env.wait_queue_empty(WRITE_QUEUE).await.unwrap();
    assert_eq!(
        env.db.count_points("power").await.unwrap(),
        1,
        "the fresh point is stored"
    );
    assert!(
        take_dead_letters(&publisher).await.unwrap().is_empty(),
        "a retention drop is not poison"
    );
    service.stop().await.unwrap();
}

#[tokio::test]
async fn quorum_queues_work_end_to_end() {
    let env = Env::new().await.unwrap();
    let mut config = env.config();
    config.queue_type = QueueType::Quorum;
    config.households = vec![mapping("d", "h")];
    let service = Running::start(config).await.unwrap();
    let info = env.vhost.queue_info(WRITE_QUEUE).await.unwrap();
    assert_eq!(info["type"], "quorum", "{info}");
    let dead = env.vhost.queue_info(DEAD_LETTER_QUEUE).await.unwrap();
    assert_eq!(dead["type"], "quorum", "{dead}");

    let publisher = Publisher::connect(&env.vhost.amqp_url).await.unwrap();
    for i in 0..5 {
        let b = batch("d", &["s1", "s2"], 3, now_ms() - 60_000 + i * 10_000, 1_000);
        publisher.publish("readings.d", &b.encode()).await.unwrap();
    }
    env.wait_points(30).await.unwrap();
    env.wait_queue_empty(WRITE_QUEUE).await.unwrap();
    service.stop().await.unwrap();
}
