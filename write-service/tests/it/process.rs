//! The real binary, stopped the polite way (SIGTERM) and the hard way
//! (kill -9), while messages keep arriving: nothing is lost, nothing is
//! stored twice.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::helpers::*;

const SOCKETS: [&str; 3] = ["fridge", "tv", "washer"];
const READINGS: usize = 10;

fn spawn_service(env: &Env, port: u16, log: &std::path::Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_write-service"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--household",
            "d=h",
            "--batch-points",
            "200",
            "--batch-age-ms",
            "50",
        ])
        .env("AMQP_URL", &env.vhost.amqp_url)
        .env("INFLUX_URL", &env.db.url)
        .env("INFLUX_DB", &env.db.name)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn write-service")
}

async fn wait_healthy(port: u16) {
    // Connection refused until the binary listens: an error eventually retries.
    testkit::eventually(PATIENCE, "binary healthz 200", || async {
        let response = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await?;
        Ok(response.status().is_success().then_some(()))
    })
    .await
    .expect("the binary became healthy");
}

/// Publishes 30-point messages with unique timestamps until stopped;
/// returns how many were confirmed.
fn publish_until(amqp_url: String, stop: CancellationToken) -> JoinHandle<u64> {
    tokio::spawn(async move {
        let publisher = Publisher::connect(&amqp_url).await.expect("publisher");
        let start = now_ms() - 3_600_000;
        let mut sent = 0u64;
        while !stop.is_cancelled() {
            let b = batch("d", &SOCKETS, READINGS, start + sent as i64 * 100, 10);
            publisher
                .publish("readings.d", &b.encode())
                .await
                .expect("publish");
            sent += 1;
        }
        sent
    })
}

async fn wait_some_points(env: &Env) {
    testkit::eventually(PATIENCE, "some points written", || async {
        Ok((env.db.count_points("power").await? > 0).then_some(()))
    })
    .await
    .expect("some points written");
}

/// The binary on a free port with messages streaming in and some of them
/// already written: what both stop tests start from.
struct MidStream {
    child: Child,
    port: u16,
    stop_publishing: CancellationToken,
    publishing: JoinHandle<u64>,
}

async fn start_mid_stream(env: &Env, log: &std::path::Path) -> MidStream {
    let port = testkit::free_port().expect("a free port");
    let child = spawn_service(env, port, log);
    wait_healthy(port).await;
    let stop_publishing = CancellationToken::new();
    let publishing = publish_until(env.vhost.amqp_url.clone(), stop_publishing.clone());
    wait_some_points(env).await;
    MidStream {
        child,
        port,
        stop_publishing,
        publishing,
    }
}

/// SIGTERM, then the exit status (within 20 s).
async fn sigterm_and_wait(child: &mut Child) -> std::process::ExitStatus {
    testkit::sigterm(child);
    tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("wait for the service")
}

async fn assert_each_series_has(env: &Env, messages: u64) {
    env.wait_points(messages * (SOCKETS.len() * READINGS) as u64)
        .await
        .expect("every point stored");
    let counts = counts_per_series(&env.db).await.expect("series counts");
    assert_eq!(counts.len(), SOCKETS.len());
    for (series, count) in counts {
        assert_eq!(count, messages * READINGS as u64, "{series:?}");
    }
}

#[tokio::test]
async fn sigterm_mid_stream_exits_0_having_acked_exactly_what_it_wrote() {
    let env = Env::new().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut running = start_mid_stream(&env, &dir.path().join("first.log")).await;

    let status = sigterm_and_wait(&mut running.child).await;
    running.stop_publishing.cancel();
    let published = running.publishing.await.unwrap();
    let log = std::fs::read_to_string(dir.path().join("first.log")).unwrap_or_default();
    assert!(status.success(), "exit status {status:?}; log:\n{log}");

    // Whatever it wrote it acked, the rest is ready in the queue: nothing
    // lost, nothing unacked.
    let per_message = (SOCKETS.len() * READINGS) as u64;
    testkit::eventually(
        Duration::from_secs(20),
        "stored + ready = published",
        || async {
            let stored = env.db.count_points("power").await?;
            let (ready, unacked) = env.queue_counts(WRITE_QUEUE).await?;
            Ok((unacked == 0
                && stored % per_message == 0
                && stored / per_message + ready == published)
                .then_some(()))
        },
    )
    .await
    .unwrap();

    // A fresh instance drains the rest: every reading stored exactly once.
    let mut config = env.config();
    config.households = vec!["d=h".parse().unwrap()];
    let service = Running::start(config).await.unwrap();
    assert_each_series_has(&env, published).await;
    env.wait_queue_empty(WRITE_QUEUE).await.unwrap();
    service.stop().await.unwrap();
}

#[tokio::test]
async fn kill_9_mid_stream_then_restart_stores_every_reading_exactly_once() {
    let env = Env::new().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut running = start_mid_stream(&env, &dir.path().join("first.log")).await;

    // SIGKILL: no chance to flush or ack.
    running.child.kill().await.unwrap();
    // Messages keep arriving while it is down.
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.stop_publishing.cancel();
    let published = running.publishing.await.unwrap();

    let port = running.port;
    let mut restarted = spawn_service(&env, port, &dir.path().join("second.log"));
    wait_healthy(port).await;
    assert_each_series_has(&env, published).await;
    env.wait_queue_empty(WRITE_QUEUE).await.unwrap();
    let status = sigterm_and_wait(&mut restarted).await;
    assert!(status.success());
}
