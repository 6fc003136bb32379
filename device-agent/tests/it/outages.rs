//! A broker that is missing, unreachable or restarting, and an agent killed
//! meanwhile: every reading still arrives.

use testkit::{InfluxDatabase, PrivateRabbit};

use crate::helpers::*;

/// A CSV file of `count` readings of one socket, a second apart.
fn meter_file(dir: &std::path::Path, name: &str, count: i64) -> String {
    let start = now_ms() - 600_000;
    let csv: String = (0..count)
        .map(|i| format!("meter,{},{}\n", start + i * 1000, i % 500))
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, csv).expect("write csv");
    path.to_string_lossy().into_owned()
}

async fn wait_until_spooled(agent: &Agent) {
    testkit::eventually(PATIENCE, "batches in the spool", || async {
        Ok((agent.spooled_files() > 0).then_some(()))
    })
    .await
    .expect("the agent spools while the broker is away");
}

#[tokio::test]
async fn an_agent_started_before_the_write_service_declared_its_queue_loses_nothing() {
    let stack = Stack::new().await;
    let input = meter_file(stack.dir.path(), "early.csv", 300);

    let mut agent = Agent::start_csv(
        "early",
        &stack.vhost.amqp_url,
        stack.dir.path(),
        &input,
        &["--max-batch-readings", "50"],
    );
    testkit::eventually(PATIENCE, "a failed publish", || async {
        Ok(agent.log_text().contains("publishing failed").then_some(()))
    })
    .await
    .expect("publishing into a vhost without the exchange fails");
    assert!(agent.spooled_files() > 0);

    let _service = stack.write_service(&[("early", "h")]);
    agent.wait_success().await;
    wait_count(&stack.db, "early", 300).await;
}

#[tokio::test]
async fn sigterm_while_the_broker_is_unreachable_keeps_the_spool_for_the_next_start() {
    let stack = Stack::new().await;
    let input = meter_file(stack.dir.path(), "meter.csv", 200);
    // Nothing listens on port 1.
    let unreachable = "amqp://guest:guest@127.0.0.1:1/%2f";

    let mut agent = Agent::start_csv(
        "patient",
        unreachable,
        stack.dir.path(),
        &input,
        &["--shutdown-grace", "1s"],
    );
    wait_until_spooled(&agent).await;
    agent.sigterm();
    let status = agent.wait().await;
    assert_eq!(
        status.code(),
        Some(3),
        "unconfirmed readings mean exit code 3:\n{}",
        agent.log_text()
    );
    assert!(
        agent.spooled_files() > 0,
        "the spool keeps what was not confirmed"
    );

    let _service = stack.write_service(&[("patient", "h")]);
    let empty = meter_file(stack.dir.path(), "empty.csv", 0);
    let mut restarted = Agent::start_with_spool(
        "patient",
        &stack.vhost.amqp_url,
        &agent.spool,
        &["--source", "csv", "--input", &empty],
    );
    restarted.wait_success().await;
    assert_eq!(restarted.final_count("readings_confirmed"), 200);
    wait_count(&stack.db, "patient", 200).await;
}

#[tokio::test]
async fn a_broker_restart_and_an_agent_killed_during_it_lose_nothing() {
    let mut rabbit = PrivateRabbit::start().await.expect("private RabbitMQ");
    let url = rabbit.amqp_url();
    let db = InfluxDatabase::create().await.expect("database");
    let dir = tempfile::tempdir().expect("tempdir");
    let households = [("steady", "h1"), ("killed", "h2")];
    let _service = WriteService::start(&url, &db, &households, &dir.path().join("write.log"));

    // A simulated household that keeps reading through the outage.
    let args = [
        "--sockets",
        "4",
        "--interval",
        "200ms",
        "--sample-interval",
        "100ms",
        "--duration",
        "20s",
    ];
    let mut steady = Agent::start("steady", &url, dir.path(), &args);
    // Stored, so the whole path (and the write service's topology) is up
    // before the broker goes down.
    testkit::eventually(PATIENCE, "steady's first points stored", || async {
        Ok((count_for(&db, "steady").await? > 0).then_some(()))
    })
    .await
    .expect("steady's readings arrive");

    rabbit.stop().await.expect("stop RabbitMQ");
    // An agent that reads its whole input while the broker is down, and is
    // killed before it could send any of it.
    let input = meter_file(dir.path(), "killed.csv", 500);
    let mut killed = Agent::start_csv(
        "killed",
        &url,
        dir.path(),
        &input,
        &["--max-batch-readings", "40"],
    );
    testkit::eventually(PATIENCE, "all 13 batches spooled", || async {
        Ok((killed.spooled_files() == 13).then_some(()))
    })
    .await
    .expect("the killed agent spools everything");
    killed.child.start_kill().expect("kill -9");
    killed.wait().await;

    rabbit.restart().await.expect("restart RabbitMQ");
    let empty = meter_file(dir.path(), "empty.csv", 0);
    let mut restarted = Agent::start_with_spool(
        "killed",
        &url,
        &killed.spool,
        &["--source", "csv", "--input", &empty],
    );
    restarted.wait_success().await;
    assert_eq!(restarted.final_count("readings_confirmed"), 500);

    steady.wait_success().await;
    let read = steady.final_count("readings_read");
    assert_eq!(steady.final_count("readings_confirmed"), read);
    assert!(
        steady.log_text().contains("publishing failed"),
        "steady lived through the outage"
    );
    wait_count(&db, "steady", read).await;
    wait_count(&db, "killed", 500).await;
}
