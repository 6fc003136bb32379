//! The real binary: `--help`, and a graceful stop on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use crate::support::World;

#[test]
fn help_documents_every_option() {
    let output = std::process::Command::new(testkit::binary("read-service"))
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--listen",
        "--influx-url",
        "--influx-db",
        "--influx-token",
        "--auth-url",
        "--auth-internal-url",
        "--jwt-issuer",
        "--jwt-audience",
        "--settings-cache-ttl",
        "--live-interval",
        "--reporting-window",
        "--socket-horizon",
        "--header-read-timeout",
        "--request-timeout",
        "--log-format",
        "[env: INFLUX_TOKEN",
        "[env: AUTH_INTERNAL_URL",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[tokio::test]
async fn sigterm_stops_it_gracefully_even_with_a_live_feed_open() {
    // A World for a database, auth-service and a token.
    let world = World::start(&[]).await;
    let a = world
        .household("a@example.com", "UTC", serde_json::Value::Null)
        .await;
    let port = testkit::free_port().expect("free port");
    let mut child = tokio::process::Command::new(testkit::binary("read-service"))
        .args([
            &format!("--listen=127.0.0.1:{port}"),
            &format!("--influx-url={}", world.db.url),
            &format!("--influx-db={}", world.db.name),
            &format!("--auth-url={}", world.auth_base),
            &format!("--auth-internal-url={}", world.auth_internal),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn read-service");
    let base = format!("http://127.0.0.1:{port}");
    testkit::eventually(Duration::from_secs(20), "read-service healthy", || {
        let http = world.http.clone();
        let url = format!("{base}/healthz");
        async move {
            Ok(http
                .get(url)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success()))
        }
    })
    .await
    .expect("healthy");
    let live = world
        .http
        .get(format!("{base}/api/live"))
        .bearer_auth(&a.token)
        .send()
        .await
        .expect("live");
    assert_eq!(live.status(), reqwest::StatusCode::OK);

    testkit::sigterm(&child);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("stopped within 10 s")
        .expect("wait");
    assert!(status.success(), "{status}");
    drop(live);
}
