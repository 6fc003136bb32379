//! The real `web` binary: `--help`, and a clean exit on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::support::{assets_dir, nowhere};

const WEB: &str = env!("CARGO_BIN_EXE_web");

#[tokio::test]
async fn help_documents_every_option() {
    let output = Command::new(WEB).arg("--help").output().await.expect("run");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--listen",
        "--auth-url",
        "--read-url",
        "--assets-dir",
        "--max-body-bytes",
        "--upstream-timeout",
        "--body-timeout",
        "--header-read-timeout",
        "--log-format",
        "AUTH_URL",
        "READ_URL",
        "ASSETS_DIR",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
}

#[tokio::test]
async fn it_serves_until_sigterm_then_exits_cleanly() {
    let assets = assets_dir();
    let port = testkit::free_port().expect("port");
    let mut web = Command::new(WEB)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--auth-url", &nowhere(), "--read-url", &nowhere()])
        .arg("--assets-dir")
        .arg(assets.path())
        .args(["--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let url = format!("http://127.0.0.1:{port}/");
    testkit::eventually(Duration::from_secs(30), "web answering", || async {
        let response = reqwest::get(&url).await?;
        Ok(response.status().is_success().then_some(()))
    })
    .await
    .expect("web starts");

    testkit::sigterm(&web);
    let status = tokio::time::timeout(Duration::from_secs(10), web.wait())
        .await
        .expect("exits within 10 s")
        .expect("wait");
    assert!(status.success(), "{status}");
    let mut stdout = String::new();
    if let Some(mut out) = web.stdout.take() {
        use tokio::io::AsyncReadExt;
        out.read_to_string(&mut stdout).await.expect("read");
    }
    assert!(
        stdout
            .lines()
            .all(|line| serde_json::from_str::<serde_json::Value>(line).is_ok()),
        "JSON logs: {stdout}"
    );
    assert!(stdout.contains("web stopped"), "{stdout}");
}
