//! The `auth-service` binary as an operator runs it: `--help`, start on a
//! fresh SQLite file with a generated key, serve, stop on SIGTERM with exit
//! code 0, and never write a password, secret or token to its log.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::process::Command;

use crate::support::{expect_json, PASSWORD};

const PATIENCE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn help_names_every_environment_variable() {
    let output = Command::new(testkit::binary("auth-service"))
        .arg("--help")
        .output()
        .await
        .expect("run --help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for env in [
        "DATABASE_URL",
        "JWT_SIGNING_KEY_FILE",
        "LISTEN",
        "INTERNAL_LISTEN",
        "LOGIN_LIMIT_PER_ACCOUNT",
        "HEADER_READ_TIMEOUT",
        "REQUEST_TIMEOUT",
    ] {
        assert!(help.contains(env), "--help does not mention {env}:\n{help}");
    }
}

#[tokio::test]
async fn serves_until_sigterm_then_exits_0_and_logs_no_secret() {
    testkit::init_crypto();
    let dir = tempfile::tempdir().unwrap();
    let (public, internal) = (testkit::free_port().unwrap(), testkit::free_port().unwrap());
    let log_path = dir.path().join("auth.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(testkit::binary("auth-service"))
        .current_dir(dir.path())
        .env("RUST_LOG", "debug")
        .env("LISTEN", format!("127.0.0.1:{public}"))
        .env("INTERNAL_LISTEN", format!("127.0.0.1:{internal}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn auth-service");
    let base = format!("http://127.0.0.1:{public}");
    let http = reqwest::Client::new();
    testkit::eventually(PATIENCE, "auth-service healthy", || async {
        Ok(http
            .get(format!("{base}/healthz"))
            .send()
            .await?
            .status()
            .is_success()
            .then_some(()))
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e:#}\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        )
    });
    assert!(
        dir.path().join("wattline-auth.db").exists(),
        "the default SQLite file"
    );
    assert!(
        dir.path().join("wattline-auth-signing-key.pem").exists(),
        "the generated key"
    );

    // Use every kind of secret once.
    let session = expect_json(
        http.post(format!("{base}/api/auth/register"))
            .json(&json!({"email": "ann@example.org", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let access = session["access_token"].as_str().unwrap().to_owned();
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();
    let device = expect_json(
        http.post(format!("{base}/api/devices"))
            .bearer_auth(&access)
            .json(&json!({"name": "Pi"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let (id, secret) = (
        device["device"]["id"].as_str().unwrap(),
        device["secret"].as_str().unwrap(),
    );
    let login = http
        .post(format!(
            "http://127.0.0.1:{internal}/internal/rabbitmq/user"
        ))
        .form(&[("username", id), ("password", secret)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(login, "allow");
    let wrong = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": "ann@example.org", "password": "a wrong guess!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    testkit::sigterm(&child);
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("exits")
        .expect("wait");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(status.success(), "exit {status:?}\n{log}");
    assert!(log.contains("auth service stopped"), "{log}");
    for (what, value) in [
        ("password", PASSWORD),
        ("wrong password", "a wrong guess!"),
        ("access token", &access),
        ("refresh token", &refresh),
        ("device secret", secret),
    ] {
        assert!(!log.contains(value), "the log holds the {what}:\n{log}");
    }
}
