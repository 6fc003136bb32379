//! What the service does when its neighbours fail: hold, retry, recover.

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;
use write_service::topology::DEAD_LETTER_QUEUE;
use write_service::{RunError, WriteService};

use crate::helpers::*;

/// The scenario: InfluxDB stopped, then started again. Nothing is
/// acked while it is down; everything lands after, exactly once per series.
/// A private InfluxDB, since stopping the shared one would fail every other
/// test running alongside.
#[tokio::test]
async fn while_influxdb_is_down_messages_stay_unacked_then_are_stored_once() {
    let mut influx = testkit::PrivateInflux::start().await.unwrap();
    let env = Env::with_influx(&influx.url()).await.unwrap();
    let mut config = env.config();
    config.influx_timeout = Duration::from_secs(2);
    config.households = vec!["d=h".parse().unwrap()];
    // A prefetch below the number of messages: a stopped InfluxDB must stop
    // deliveries, leaving the rest ready in the queue.
    config.prefetch = 8;
    config.batch_points = 20;
    let service = Running::start(config).await.unwrap();
    let publisher = Publisher::connect(&env.vhost.amqp_url).await.unwrap();

    influx.stop().await.unwrap();
    let start = now_ms() - 600_000;
    for i in 0..30 {
        let b = batch("d", &["a", "b"], 5, start + i * 10_000, 1_000);
        publisher.publish("readings.d", &b.encode()).await.unwrap();
    }
    let (ready, unacked) = testkit::eventually(PATIENCE, "deliveries held unacked", || async {
        let (ready, unacked) = env.queue_counts(WRITE_QUEUE).await?;
        Ok((ready + unacked == 30 && unacked > 0).then_some((ready, unacked)))
    })
    .await
    .unwrap();
    assert!(unacked <= 8, "the prefetch bounds what is held: {unacked}");
    assert!(ready >= 22, "the rest waits in the queue: {ready}");
    let (status, _) = service.healthz().await.unwrap();
    assert_eq!(status, 200, "still consuming");
    testkit::eventually(PATIENCE, "influx_reachable false", || async {
        Ok((service.healthz().await?.1["influx_reachable"] == false).then_some(()))
    })
    .await
    .unwrap();
    // Retried, not given up on: several attempts fail while it is down...
    service
        .wait_counter_above("wattline_write_retries_total", 1.0)
        .await
        .expect("writes retried");
    // ...and still nothing is acked: every message is in the queue.
    let (ready, unacked) = env.queue_counts(WRITE_QUEUE).await.unwrap();
    assert_eq!(ready + unacked, 30, "nothing acked while InfluxDB is down");
    assert!(unacked > 0);
    assert!(
        take_dead_letters(&publisher).await.unwrap().is_empty(),
        "an outage is not poison"
    );

    influx.restart().await.unwrap();
    // Backoff caps at 10 s: allow for a full retry interval after the restart.
    env.wait_points_within(300, Duration::from_secs(40))
        .await
        .unwrap();
    env.wait_queue_empty(WRITE_QUEUE).await.unwrap();
    let counts = counts_per_series(&env.db).await.unwrap();
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(counts.values().all(|c| *c == 150), "{counts:?}");
    assert!(
        take_dead_letters(&publisher).await.unwrap().is_empty(),
        "nothing dead-lettered after the restart either"
    );
    let (_, dead_unacked) = env.queue_counts(DEAD_LETTER_QUEUE).await.unwrap();
    assert_eq!(dead_unacked, 0);
    assert_eq!(service.healthz().await.unwrap().0, 200);
    service.stop().await.unwrap();
}

#[tokio::test]
async fn unreachable_rabbitmq_means_not_ready_and_shutdown_still_works() {
    let env = Env::new().await.unwrap();
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = env.config();
    config.amqp_url = format!("amqp://guest:guest@{closed}/%2f").as_str().into();
    let service = WriteService::bind(config).await.unwrap();
    let addr = service.local_addr();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(service.run(shutdown.clone()));
    let health = testkit::eventually(PATIENCE, "healthz answers", || async {
        let response = reqwest::get(format!("http://{addr}/healthz")).await?;
        let status = response.status().as_u16();
        let body: serde_json::Value = serde_json::from_str(&response.text().await?)?;
        Ok(Some((status, body)))
    })
    .await
    .unwrap();
    assert_eq!(health.0, 503);
    assert_eq!(health.1["amqp_connected"], false);
    shutdown.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_queue_declared_with_other_settings_is_a_clear_startup_error() {
    let env = Env::new().await.unwrap();
    // Someone declared the write queue without our arguments.
    let publisher = Publisher::connect(&env.vhost.amqp_url).await.unwrap();
    publisher
        .channel()
        .queue_declare(
            WRITE_QUEUE.into(),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let service = WriteService::bind(env.config()).await.unwrap();
    let result = tokio::time::timeout(PATIENCE, service.run(CancellationToken::new()))
        .await
        .expect("a conflict ends the service instead of retrying");
    let error = result.unwrap_err();
    assert!(matches!(error, RunError::Topology(_)), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains(WRITE_QUEUE) && text.contains("different settings"),
        "{text}"
    );
}

/// Closes the service's AMQP connection from the broker side (as a broker
/// restart or a network cut would).
async fn close_service_connections(env: &Env) -> anyhow::Result<usize> {
    let client = reqwest::Client::new();
    let api = testkit::rabbit_api();
    let vhost: String = env.vhost.name.clone();
    let connections: serde_json::Value = client
        .get(format!("{api}/api/connections"))
        .basic_auth("guest", Some("guest"))
        .send()
        .await?
        .json()
        .await?;
    let mut closed = 0;
    for connection in connections.as_array().into_iter().flatten() {
        let ours = connection["vhost"] == vhost.as_str()
            && connection["client_properties"]["connection_name"] == "write-service";
        if let (true, Some(name)) = (ours, connection["name"].as_str()) {
            let url = reqwest::Url::parse(&format!("{api}/api/connections/"))?
                .join(&name.replace(' ', "%20"))?;
            client
                .delete(url)
                .basic_auth("guest", Some("guest"))
                .send()
                .await?
                .error_for_status()?;
            closed += 1;
        }
    }
    Ok(closed)
}

#[tokio::test]
async fn a_dropped_amqp_connection_is_reestablished_and_nothing_is_lost() {
    let env = Env::new().await.unwrap();
    let mut config = env.config();
    config.households = vec!["d=h".parse().unwrap()];
    let service = Running::start(config).await.unwrap();
    let publisher = Publisher::connect(&env.vhost.amqp_url).await.unwrap();
    let reconnects_before = service
        .counter("wattline_write_reconnects_total")
        .await
        .unwrap();
    let start = now_ms() - 600_000;
    for i in 0..10 {
        let b = batch("d", &["a"], 10, start + i * 10_000, 1_000);
        publisher.publish("readings.d", &b.encode()).await.unwrap();
    }
    env.wait_points(100).await.unwrap();

    // The management API lists a connection a few seconds after it opens.
    testkit::eventually(PATIENCE, "the service's connection closed", || async {
        Ok((close_service_connections(&env).await? > 0).then_some(()))
    })
    .await
    .unwrap();
    service
        .wait_counter_above("wattline_write_reconnects_total", reconnects_before)
        .await
        .expect("a reconnect counted");
    for i in 10..20 {
        let b = batch("d", &["a"], 10, start + i * 10_000, 1_000);
        publisher.publish("readings.d", &b.encode()).await.unwrap();
    }
    env.wait_points(200).await.unwrap();
    env.wait_queue_empty(WRITE_QUEUE).await.unwrap();
    assert_eq!(service.healthz().await.unwrap().0, 200, "consuming again");
    service.stop().await.unwrap();
}
