//! Messages that can never be written go to `wattline.readings.dead` with
//! their reason, and never hold up the good ones around them.

use prost::Message;
use wattline_proto::{v1, Batch};
use write_service::households::HouseholdMapping;

use crate::helpers::*;

fn households() -> Vec<HouseholdMapping> {
    vec!["d=h".parse().expect("mapping")]
}

#[tokio::test]
async fn each_poison_message_is_dead_lettered_with_its_reason_and_good_ones_are_stored() {
    let env = Env::new().await.unwrap();
    let mut config = env.config();
    config.households = households();
    let service = Running::start(config).await.unwrap();
    let publisher = Publisher::connect(&env.vhost.amqp_url).await.unwrap();
    let now = now_ms();

    let mut negative = batch("d", &["s"], 3, now - 5_000, 1_000);
    negative.sockets[0].readings[1].watts = -12.0;
    // NaN cannot travel: the wire carries integer deciwatts. The closest
    // broken payload is a column of the wrong length.
    let ragged = v1::ReadingBatch {
        device_id: "d".into(),
        sequence: 9,
        base_timestamp_ms: now,
        sockets: vec![v1::SocketReadings {
            socket_id: "s".into(),
            timestamp_delta_ms: vec![0, 1_000, 1_000],
            power_delta_dw: vec![10, 10],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    let future = batch("d", &["s"], 1, now + 3_600_000, 0);
    const YEAR_MS: i64 = 365 * 24 * 3_600_000;
    let years_ahead = batch("d", &["s"], 1, now + 5 * YEAR_MS, 0);
    // A Raspberry Pi has no real-time clock: before NTP answers, it is 1970.
    let clock_unset = batch("d", &["s"], 1, 42_000, 0);
    let stranger = batch("stranger", &["s"], 1, now - 7_000, 0);
    let control_char = batch("d", &["bad\u{7}socket"], 1, now - 8_000, 0);
    let poison: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "readings.d",
            b"\xff\xfe garbage, not protobuf".to_vec(),
            "undecodable",
        ),
        ("readings.d", negative.encode(), "invalid_value"),
        ("readings.d", ragged, "undecodable"),
        ("readings.d", future.encode(), "timestamp_out_of_range"),
        ("readings.d", years_ahead.encode(), "timestamp_out_of_range"),
        ("readings.d", clock_unset.encode(), "timestamp_out_of_range"),
        ("readings.stranger", stranger.encode(), "unknown_device"),
        (
            "readings",
            batch("d", &["s"], 1, now - 9_000, 0).encode(),
            "invalid_routing_key",
        ),
        ("readings.d", control_char.encode(), "invalid_id"),
    ];
    let empty = Batch {
        device_id: "d".into(),
        sequence: 3,
        sockets: vec![],
    }
    .encode();

    // Good messages (10 points each) interleaved with the poison and an empty batch.
    let mut good = 0;
    for (i, (key, body, _)) in poison.iter().enumerate() {
        let b = batch(
            "d",
            &["a", "b"],
            5,
            now - 600_000 + i as i64 * 10_000,
            1_000,
        );
        publisher.publish("readings.d", &b.encode()).await.unwrap();
        good += 1;
        publisher.publish(key, body).await.unwrap();
    }
    publisher.publish("readings.d", &empty).await.unwrap();
    let last = batch("d", &["a", "b"], 5, now - 100_000, 1_000);
    publisher
        .publish("readings.d", &last.encode())
        .await
        .unwrap();
    good += 1;

    env.wait_points(good * 10).await.unwrap();
    let dead = wait_dead_letters(&publisher, poison.len()).await.unwrap();
    env.wait_queue_empty(WRITE_QUEUE).await.unwrap();

    assert_eq!(dead.len(), poison.len(), "{dead:?}");
    for (key, body, reason) in &poison {
        let found = dead
            .iter()
            .find(|d| &d.body == body)
            .unwrap_or_else(|| panic!("no dead letter for the {reason} message"));
        assert_eq!(found.reason(), *reason, "{found:?}");
        assert_eq!(found.headers["x-wattline-routing-key"], *key);
        assert!(!found.headers["x-wattline-error"].is_empty());
    }
    assert!(
        !dead.iter().any(|d| d.body == empty),
        "an empty batch is acked, not dead-lettered"
    );
    let metrics = service.metrics().await.unwrap();
    assert!(
        testkit::metric(
            &metrics,
            "wattline_write_dead_lettered_total{reason=\"unknown_device\"}"
        )
        .is_some_and(|dead| dead >= 1.0),
        "{metrics}"
    );
    assert!(
        testkit::metric(&metrics, "wattline_write_empty_batches_total")
            .is_some_and(|empty| empty >= 1.0),
        "{metrics}"
    );
    service.stop().await.unwrap();
}

#[tokio::test]
async fn a_batch_influxdb_rejects_is_bisected_down_to_the_offending_message() {
    let env = Env::new().await.unwrap();
    // Make `watts` a string field in the shard of a week long ago: any float
    // `watts` written into that shard is then a field type conflict.
    let long_ago = now_ms() - 400 * 24 * 3_600_000;
    let response = reqwest::Client::new()
        .post(format!("{}/write", env.db.url))
        .query(&[("db", env.db.name.as_str()), ("precision", "ms")])
        .body(format!(
            "power,device=d,household=h,socket=s watts=\"text\" {long_ago}"
        ))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );

    let mut config = env.config();
    config.households = households();
    // One big batch, so the offender shares it with the good messages.
    config.batch_points = 10_000;
    config.batch_age_ms = 1_000;
    let service = Running::start(config).await.unwrap();
    let publisher = Publisher::connect(&env.vhost.amqp_url).await.unwrap();

    let offending = batch("d", &["s"], 2, long_ago + 1_000, 1_000).encode();
    let start = now_ms() - 600_000;
    for i in 0..20 {
        if i == 13 {
            publisher.publish("readings.d", &offending).await.unwrap();
        }
        let b = batch("d", &["a", "b"], 5, start + i * 10_000, 1_000);
        publisher.publish("readings.d", &b.encode()).await.unwrap();
    }

    let dead = wait_dead_letters(&publisher, 1).await.unwrap();
    env.wait_queue_empty(WRITE_QUEUE).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].body, offending);
    assert_eq!(dead[0].reason(), "rejected_by_influxdb");
    assert!(
        dead[0].headers["x-wattline-error"].contains("conflict"),
        "{:?}",
        dead[0].headers
    );
    // count(watts) counts float points only: the 200 good ones.
    env.wait_points(200).await.unwrap();
    let counts = counts_per_series(&env.db).await.unwrap();
    assert_eq!(counts[&("d".into(), "h".into(), "a".into())], 100);
    assert_eq!(counts[&("d".into(), "h".into(), "b".into())], 100);
    assert_eq!(
        counts.len(),
        2,
        "no float point of the offending series: {counts:?}"
    );
    service.stop().await.unwrap();
}
