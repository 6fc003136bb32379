//! What agents read is what InfluxDB stores: every reading, with its exact
//! value, timestamp and tags, once.

use std::collections::BTreeSet;
use std::fmt::Write;

use rand::{Rng, SeedableRng};

use crate::helpers::*;

/// Ids with every character DESIGN.md says must survive: spaces, commas,
/// `=`, quotes, non-ASCII.
const SOCKETS: [&str; 4] = ["Küche, links", "a=b \"quoted\"", "plain", "tv 📺"];

/// A CSV file of `per_socket` readings for each socket, and the points it
/// must become.
fn meter_csv(
    device: &str,
    household: &str,
    per_socket: i64,
    seed: u64,
) -> (String, BTreeSet<Point>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let start = now_ms() - 3_600_000;
    let mut csv = String::from("socket,timestamp_ms,watts,energy_wh\n");
    let mut expected = BTreeSet::new();
    for (s, socket) in SOCKETS.iter().enumerate() {
        let mut energy = rng.random_range(0..1_000_000) as f64 / 1000.0;
        for i in 0..per_socket {
            let timestamp = start + i * 1000 + s as i64;
            let watts = rng.random_range(0..30_000) as f64 / 10.0;
            energy += watts / 3600.0;
            energy = (energy * 1000.0).round() / 1000.0;
            let quoted = socket.replace('"', "\"\"");
            writeln!(csv, "\"{quoted}\",{timestamp},{watts},{energy}").expect("write");
            expected.insert((
                household.to_owned(),
                device.to_owned(),
                (*socket).to_owned(),
                timestamp,
                watts.to_string(),
                Some(energy.to_string()),
            ));
        }
    }
    (csv, expected)
}

#[tokio::test]
async fn csv_readings_of_three_agents_are_stored_exactly_once_with_their_tags() {
    let stack = Stack::new().await;
    let households = [
        ("pi, one", "house A"),
        ("pi=two", "Haus \"B\""),
        ("pi drei ü", "maison C"),
    ];
    let _service = stack.write_service(&households);

    let mut agents = Vec::new();
    let mut expected = Vec::new();
    for (i, (device, household)) in households.iter().enumerate() {
        let (csv, points) = meter_csv(device, household, 150, i as u64);
        expected.push(points);
        agents.push(if i == 0 {
            // One agent as a meter would feed it: through standard input.
            Agent::start_piped(device, &stack.vhost.amqp_url, stack.dir.path(), csv)
        } else {
            let input = stack.dir.path().join(format!("meter-{i}.csv"));
            std::fs::write(&input, csv).expect("write csv");
            let input = input.to_string_lossy().into_owned();
            Agent::start_csv(
                device,
                &stack.vhost.amqp_url,
                stack.dir.path(),
                &input,
                &["--max-batch-readings", "70"],
            )
        });
    }
    for agent in &mut agents {
        agent.wait_success().await;
        assert_eq!(
            agent.final_count("readings_confirmed"),
            600,
            "{}",
            agent.log_text()
        );
        assert_eq!(
            agent.spooled_files(),
            0,
            "a confirmed batch leaves the spool"
        );
    }
    for ((device, _), points) in households.iter().zip(&expected) {
        wait_count(&stack.db, device, points.len() as u64).await;
        assert_eq!(&stored_points(&stack.db, device).await, points, "{device}");
    }
}

#[tokio::test]
async fn a_simulated_household_is_stored_reading_for_reading() {
    let stack = Stack::new().await;
    let _service = stack.write_service(&[("sim", "home")]);

    let args = [
        "--sockets",
        "8",
        "--seed",
        "5",
        "--interval",
        "300ms",
        "--sample-interval",
        "100ms",
        "--count",
        "5",
    ];
    let mut agent = stack.agent("sim", &args);
    agent.wait_success().await;
    let read = agent.final_count("readings_read");
    assert_eq!(agent.final_count("readings_confirmed"), read);
    assert!(read >= 5 * 8, "five batches of eight sockets, read {read}");
    wait_count(&stack.db, "sim", read).await;

    let points = stored_points(&stack.db, "sim").await;
    let sockets: BTreeSet<_> = points.iter().map(|p| p.2.clone()).collect();
    assert_eq!(sockets.len(), 8, "{sockets:?}");
    assert!(points.iter().all(|p| p.0 == "home"));
    // Each socket's energy counter only grows.
    for socket in &sockets {
        let energies: Vec<f64> = points
            .iter()
            .filter(|p| &p.2 == socket)
            .filter_map(|p| p.5.as_ref()?.parse().ok())
            .collect();
        assert!(
            energies.windows(2).all(|w| w[1] >= w[0]),
            "{socket}: {energies:?}"
        );
    }
}

#[tokio::test]
async fn the_agent_serves_its_health_and_metrics_while_running() {
    testkit::init_crypto();
    let stack = Stack::new().await;
    let _service = stack.write_service(&[("ops", "h")]);
    let port = testkit::free_port().expect("a free port");
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "--interval",
        "200ms",
        "--sample-interval",
        "100ms",
        "--duration",
        "60s",
        "--listen",
        &listen,
    ];
    let mut agent = stack.agent("ops", &args);

    let health = testkit::eventually(PATIENCE, "a connected agent's healthz", || async {
        // Connection refused until the agent listens: an error eventually retries.
        let response = reqwest::get(format!("http://{listen}/healthz")).await?;
        let health: serde_json::Value = response.json().await?;
        Ok((health["connected"] == true).then_some(health))
    })
    .await
    .expect("healthz reports the broker connection");
    assert_eq!(health["status"], "ok");
    let confirmed = testkit::eventually(PATIENCE, "confirmed readings in /metrics", || async {
        let text = reqwest::get(format!("http://{listen}/metrics"))
            .await?
            .text()
            .await?;
        let confirmed = testkit::metric(&text, "wattline_agent_readings_confirmed_total");
        Ok(confirmed.filter(|v| *v > 0.0))
    })
    .await
    .expect("metrics count confirmed readings");
    assert!(confirmed >= 1.0);

    agent.sigterm();
    let status = agent.wait().await;
    assert!(
        status.success(),
        "SIGTERM with the broker up drains and exits 0:\n{}",
        agent.log_text()
    );
    let read = agent.final_count("readings_read");
    assert_eq!(agent.final_count("readings_confirmed"), read);
    wait_count(&stack.db, "ops", read).await;
}
