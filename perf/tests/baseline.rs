//! Both baselines against the local stack (RabbitMQ and InfluxDB from `deploy/stack.sh`),
//! each in a vhost or database of its own.
//!
//! Small by default; to measure, make them bigger and look at the printed rates:
//! ```text
//! PERF_BASELINE_POINTS=500000 PERF_BASELINE_MESSAGES=50000 \
//!     cargo test --release -p perf --test baseline -- --nocapture
//! ```
//! (also `PERF_BASELINE_HOUSEHOLDS`, `PERF_BASELINE_BATCH_POINTS`, `PERF_BASELINE_WRITERS`,
//! `PERF_BASELINE_PUBLISHERS`, `PERF_BASELINE_PREFETCH`). No assertion depends on timing.

use perf::baseline::{broker_alone, broker_baseline_name, influx_alone};
use perf::workload::Workload;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

/// 10 households (`PERF_BASELINE_HOUSEHOLDS`) × 3 sockets × 10 readings: 30-reading
/// messages, as the README's numbers use.
fn workload() -> Workload {
    Workload::new(
        env_or("PERF_BASELINE_HOUSEHOLDS", 10),
        3,
        10,
        testkit::unique_name("baseline"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn influx_alone_stores_exactly_the_points_it_reports() {
    testkit::init_crypto();
    let db = testkit::InfluxDatabase::create().await.unwrap();
    let points = env_or("PERF_BASELINE_POINTS", 20_000u64);
    let batch_points = env_or("PERF_BASELINE_BATCH_POINTS", 5000usize);
    let writers = env_or("PERF_BASELINE_WRITERS", 2usize);

    let baseline = influx_alone(
        &db.url,
        &db.name,
        &workload(),
        points,
        batch_points,
        writers,
    )
    .await
    .unwrap();
    println!(
        "InfluxDB alone: {} points in {:.3} s = {:.0} points/s ({} writers, {}-point bodies)",
        baseline.points,
        baseline.elapsed_s,
        baseline.points_per_s,
        baseline.writers,
        baseline.batch_points
    );

    assert_eq!(baseline.points, points);
    assert_eq!(
        (baseline.batch_points, baseline.writers),
        (batch_points, writers)
    );
    assert!(baseline.elapsed_s > 0.0 && baseline.points_per_s > 0.0);
    assert_eq!(db.count_points("power").await.unwrap(), points);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn influx_alone_reports_influxdbs_refusal() {
    testkit::init_crypto();
    // No such database: InfluxDB answers 404 "database not found".
    let error = influx_alone(
        &testkit::influx_url(),
        &testkit::unique_name("perf_missing").replace('-', "_"),
        &workload(),
        100,
        50,
        1,
    )
    .await
    .unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("database not found"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_alone_moves_every_message_and_cleans_up() {
    let vhost = testkit::RabbitVhost::create().await.unwrap();
    let workload = workload();
    let messages = env_or("PERF_BASELINE_MESSAGES", 2000u64);
    let publishers = env_or("PERF_BASELINE_PUBLISHERS", 2usize);
    let prefetch = env_or("PERF_BASELINE_PREFETCH", 2000u16);

    let baseline = broker_alone(&vhost.amqp_url, &workload, messages, publishers, prefetch)
        .await
        .unwrap();
    println!(
        "RabbitMQ alone: {} messages in {:.3} s = {:.0} messages/s = {:.0} readings/s \
         ({publishers} publishers, prefetch {prefetch}, {:.1} B a message)",
        baseline.messages,
        baseline.elapsed_s,
        baseline.msgs_per_s,
        baseline.msgs_per_s * f64::from(workload.readings_per_message()),
        baseline.bytes_per_message
    );

    assert_eq!(baseline.messages, messages);
    assert!(baseline.elapsed_s > 0.0 && baseline.msgs_per_s > 0.0);
    // A 30-reading message costs a few bytes a reading (README: Wire format).
    assert!(
        (50.0..1000.0).contains(&baseline.bytes_per_message),
        "{}",
        baseline.bytes_per_message
    );
    let name = broker_baseline_name(&workload);
    let gone = vhost.queue_info(&name).await.unwrap_err();
    assert!(gone.to_string().contains("404"), "{gone:#}");
    assert!(!exchange_exists(&vhost.amqp_url, &name).await.unwrap());
}

/// Whether exchange `name` exists: a passive declare of a missing one fails with 404.
async fn exchange_exists(amqp_url: &str, name: &str) -> anyhow::Result<bool> {
    use lapin::options::ExchangeDeclareOptions;
    let connection =
        lapin::Connection::connect(amqp_url, lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let result = channel
        .exchange_declare(
            name.into(),
            lapin::ExchangeKind::Topic,
            ExchangeDeclareOptions {
                passive: true,
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await;
    let _ = connection.close(200, "checked".into()).await;
    match result {
        Ok(()) => Ok(true),
        Err(error) if error.to_string().contains("NOT_FOUND") => Ok(false),
        Err(error) => Err(error.into()),
    }
}
