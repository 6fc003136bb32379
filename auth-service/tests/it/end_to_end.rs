//! The production identity path end to end: two households register a
//! device each through auth-service; their agents (the real `device-agent`
//! binary) log in to a real RabbitMQ with the device credentials (checked by
//! the HTTP auth backend against auth-service); the real `write-service`
//! learns each device's household from auth-service's registry; and InfluxDB
//! ends up with every reading tagged with its own household.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use testkit::{InfluxDatabase, PrivateRabbit};
use tokio::process::{Child, Command};

use crate::support::{Auth, Db};

const PATIENCE: Duration = Duration::from_secs(90);
const SOCKETS: usize = 3;
const READINGS_PER_SOCKET: usize = 10;

/// A CSV of `SOCKETS` × `READINGS_PER_SOCKET` readings from the last minute.
fn readings_csv(path: &Path) {
    let now = wattline_proto::now_ms();
    let mut csv = String::from("socket,timestamp_ms,watts,energy_wh\n");
    for socket in 0..SOCKETS {
        for i in 0..READINGS_PER_SOCKET {
            let at = now - 60_000 + (i as i64) * 1000;
            csv.push_str(&format!("s{socket},{at},{}.5,{}\n", 100 + i, 1000 + i));
        }
    }
    std::fs::write(path, csv).expect("csv");
}

fn spawn(mut command: Command, log: &Path) -> Child {
    let file = std::fs::File::create(log).expect("log");
    command
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log"))
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn")
}

fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test]
async fn two_households_agents_publish_with_their_own_credentials_and_land_in_their_household() {
    testkit::init_crypto();
    let dir = tempfile::tempdir().unwrap();
    let auth = Auth::start(Db::Sqlite, &[]).await;
    let rabbit = PrivateRabbit::start_with_http_auth(&auth.internal)
        .await
        .expect("rabbit");
    let db = InfluxDatabase::create().await.expect("influx database");

    let ann = auth.register("ann@example.org").await;
    let bob = auth.register("bob@example.org").await;
    let (ann_device, ann_secret) = auth.create_device(&ann, "Ann's Pi").await;
    let (bob_device, bob_secret) = auth.create_device(&bob, "Bob's Pi").await;

    // The write service is a broker service account (guest, an internal user
    // on this node) and asks auth-service for households.
    let write_log = dir.path().join("write-service.log");
    let mut write_service = Command::new(testkit::binary("write-service"));
    write_service
        .args(["--listen", "127.0.0.1:0", "--batch-age-ms", "50"])
        .args(["--auth-url", &auth.internal])
        .env("AMQP_URL", rabbit.amqp_url())
        .env("INFLUX_URL", &db.url)
        .env("INFLUX_DB", &db.name);
    let mut write_service = spawn(write_service, &write_log);

    // The URL's credentials are wrong on purpose: an agent gets in only if
    // it logs in as its device with its secret. Agents retry until the write
    // service has declared the exchange.
    let no_credentials = format!("amqp://nobody:nothing@127.0.0.1:{}/%2f", rabbit.amqp_port());
    let mut agents = Vec::new();
    for (device, secret) in [(&ann_device, &ann_secret), (&bob_device, &bob_secret)] {
        let csv = dir.path().join(format!("{device}.csv"));
        readings_csv(&csv);
        let mut agent = Command::new(testkit::binary("device-agent"));
        agent
            .args(["--device-id", device, "--amqp-url", &no_credentials])
            .args(["--source", "csv", "--input"])
            .arg(&csv)
            .arg("--spool-dir")
            .arg(dir.path().join(format!("spool-{device}")))
            .args(["--max-backoff", "1s"])
            .env("DEVICE_SECRET", secret);
        let log = dir.path().join(format!("agent-{device}.log"));
        agents.push((spawn(agent, &log), log));
    }
    for (agent, log) in &mut agents {
        let status = tokio::time::timeout(PATIENCE, agent.wait()).await;
        assert!(
            matches!(status, Ok(Ok(status)) if status.success()),
            "agent failed: {status:?}\n{}\nwrite service:\n{}",
            log_of(log),
            log_of(&write_log)
        );
    }

    let expected: BTreeMap<(String, String), u64> = [
        (
            (ann.household.clone(), ann_device.clone()),
            (SOCKETS * READINGS_PER_SOCKET) as u64,
        ),
        (
            (bob.household.clone(), bob_device.clone()),
            (SOCKETS * READINGS_PER_SOCKET) as u64,
        ),
    ]
    .into();
    let stored = testkit::eventually(
        PATIENCE,
        "every reading stored under its household",
        || async {
            let rows = db
                .query("SELECT count(watts) FROM power GROUP BY household, device")
                .await?;
            let mut stored = BTreeMap::new();
            for series in rows["series"].as_array().cloned().unwrap_or_default() {
                let tag = |name: &str| series["tags"][name].as_str().unwrap_or_default().to_owned();
                let count = series["values"][0][1].as_u64().unwrap_or_default();
                stored.insert((tag("household"), tag("device")), count);
            }
            // An error is retried, and the last one reported on timeout.
            anyhow::ensure!(stored == expected, "stored so far: {stored:?} ({rows})");
            Ok(Some(stored))
        },
    )
    .await;
    let _ = write_service.start_kill();
    let _ = write_service.wait().await;
    if let Err(error) = stored {
        let agent_logs: Vec<String> = agents.iter().map(|(_, log)| log_of(log)).collect();
        panic!(
            "{error:#}\nwrite service:\n{}\nagents:\n{}",
            log_of(&write_log),
            agent_logs.join("\n")
        );
    }
}
