//! The dashboard in a real browser against the whole system: this test
//! starts every part for real (auth-service in this process; a RabbitMQ node
//! of its own that asks auth-service about device logins; write-service into
//! a fresh InfluxDB database; `rollup run`; read-service; the `web` gateway
//! serving the built dashboard), then runs `web/e2e/dashboard.test.mjs`
//! under node, which drives Debian's Chromium with playwright-core and
//! starts the household's `device-agent` itself.
//!
//! Needs the built dashboard and its node modules (`npm ci && npm run build`
//! in web/; `deploy/test.sh` does it) and Chromium (`CHROMIUM`, default
//! /usr/bin/chromium). Screenshots of every page go to `SCREENSHOT_DIR`
//! (default target/screenshots).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use auth_service::{AuthService, Config as AuthConfig};
use clap::Parser;
use testkit::{free_port, InfluxDatabase, PrivateRabbit};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// How long the browser script may take (it waits for rollups and live data).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(12 * 60);
/// How long a service may take to become healthy.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// web/ (this crate's directory).
fn web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// target/<profile>, where this test runs from.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps")
        .to_path_buf()
}

/// Fails with what to do unless the dashboard is built and Chromium, node
/// and playwright-core are there; returns Chromium's path.
fn prerequisites() -> PathBuf {
    let web = web_dir();
    let missing_build = [
        (
            web.join("dist/index.html"),
            "the built dashboard (web/dist)",
        ),
        (
            web.join("node_modules/playwright-core/package.json"),
            "playwright-core (web/node_modules)",
        ),
    ];
    for (path, what) in missing_build {
        assert!(
            path.exists(),
            "{what} is missing ({}): run `npm ci && npm run build` in web/ \
             (deploy/test.sh does it before the tests)",
            path.display()
        );
    }
    let chromium =
        PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()));
    assert!(
        chromium.exists(),
        "no Chromium at {}: `apt-get install -y chromium` (deploy/test.sh does it) or set CHROMIUM",
        chromium.display()
    );
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|out| out.status.success()),
        "node is not installed: `apt-get install -y nodejs npm` (deploy/stack.sh does it)"
    );
    chromium
}

/// Builds the other workspace binaries the system needs (a no-op when they
/// are current: a stale binary from an earlier build would test old code)
/// and returns the directory holding them.
fn build_binaries() -> PathBuf {
    let dir = profile_dir();
    let mut cargo = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
    cargo.args(["build", "--quiet"]);
    for (package, bin) in [
        ("device-agent", "device-agent"),
        ("write-service", "write-service"),
        ("read-service", "read-service"),
        ("wattline-rollup", "rollup"),
    ] {
        cargo.args(["-p", package, "--bin", bin]);
    }
    if dir.ends_with("release") {
        cargo.arg("--release");
    }
    let status = cargo.status().expect("run cargo build");
    assert!(
        status.success(),
        "cargo build of the system's binaries failed"
    );
    dir
}

/// Runs `"$@"` (the program and its arguments follow) in place of the shell,
/// with a watchdog that kills it once its standard input (a pipe from this
/// test) closes: so a test killed outright (SIGKILL, Ctrl-C), which runs no
/// `Drop`, leaves no service behind.
/// (A background job's stdin is /dev/null, hence the pipe's copy on fd 3;
/// the watchdog holds none of the service's output pipes open.)
const WATCHDOG: &str = r#"exec 3<&0
( cat <&3; kill -KILL $$ ) >/dev/null 2>&1 &
exec "$@" 3<&- </dev/null"#;

/// A command for `program` under [`WATCHDOG`]; add its arguments as usual.
fn watched(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", WATCHDOG, "watchdog"])
        .arg(program)
        .stdin(Stdio::piped());
    command
}

/// A service process with its log file; killed on drop.
struct Service {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Service {
    fn spawn(name: &'static str, mut command: Command, logs: &Path) -> Self {
        let log = logs.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = command
            .env("RUST_LOG", "info")
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Self { name, child, log }
    }

    /// The last lines of its log.
    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Waits until `url` answers 200; fails with the log if it does not, or
    /// if the process exits.
    async fn healthy(&mut self, url: &str) {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}):\n{}", self.name, self.tail());
            }
            let answer = http.get(url).timeout(Duration::from_secs(2)).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} not healthy at {url} after {START_TIMEOUT:?}:\n{}",
                self.name,
                self.tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// auth-service in this process, as deployed behind the gateway.
struct Auth {
    public: String,
    internal: String,
    stop: CancellationToken,
}

impl Auth {
    async fn start(dir: &Path) -> Self {
        let config = AuthConfig::try_parse_from([
            "auth-service".to_owned(),
            "--listen=127.0.0.1:0".into(),
            "--internal-listen=127.0.0.1:0".into(),
            format!("--database-url=sqlite://{}", dir.join("auth.db").display()),
            format!("--signing-key-file={}", dir.join("signing.pem").display()),
            "--trust-forwarded-for".into(),
            "--insecure-cookies".into(),
        ])
        .unwrap_or_else(|e| panic!("auth-service flags: {e}"));
        let service = AuthService::bind(config).await.expect("auth service binds");
        let public = format!("http://{}", service.local_addr());
        let internal = format!("http://{}", service.internal_addr());
        let stop = CancellationToken::new();
        tokio::spawn({
            let stop = stop.clone();
            async move { service.run(stop).await.expect("auth service runs") }
        });
        Self {
            public,
            internal,
            stop,
        }
    }
}

impl Drop for Auth {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// With `WATTLINE_E2E_HOLD=<seconds>`, a failed run keeps the system up
/// that long (its addresses printed) so a person can look around.
async fn hold_for_debugging(base_url: &str, read_url: &str, auth: &Auth, db: &InfluxDatabase) {
    let Some(seconds) = std::env::var("WATTLINE_E2E_HOLD")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return;
    };
    eprintln!(
        "holding the system for {seconds} s: web {base_url}, read-service {read_url}, \
         auth-service {} (internal {}), InfluxDB {} db {}",
        auth.public, auth.internal, db.url, db.name
    );
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_household_uses_the_dashboard_in_a_browser_against_the_whole_system() {
    let chromium = prerequisites();
    let bin = build_binaries();
    testkit::init_crypto();
    let work = tempfile::tempdir().expect("tempdir");
    let logs = work.path().join("logs");
    std::fs::create_dir(&logs).expect("logs dir");

    let auth = Auth::start(work.path()).await;
    let rabbit = PrivateRabbit::start_with_http_auth(&auth.internal)
        .await
        .expect("rabbit");
    let db = InfluxDatabase::create().await.expect("influx database");
    let influx = [
        "--influx-url",
        db.url.as_str(),
        "--influx-db",
        db.name.as_str(),
    ];

    let setup = std::process::Command::new(bin.join("rollup"))
        .arg("setup")
        .args(influx)
        .output()
        .expect("run rollup setup");
    assert!(
        setup.status.success(),
        "rollup setup failed:\n{}{}",
        String::from_utf8_lossy(&setup.stdout),
        String::from_utf8_lossy(&setup.stderr)
    );

    let mut services = Vec::new();
    let mut command = watched(bin.join("write-service"));
    command
        .args(["--listen", "127.0.0.1:0", "--batch-age-ms", "50"])
        .args(["--auth-url", &auth.internal])
        .args(["--amqp-url", &rabbit.amqp_url()])
        .args(influx);
    services.push(Service::spawn("write-service", command, &logs));

    // The history is three hours old: the lookback covers it, and a short
    // period makes live minutes visible in rollups within seconds.
    let mut command = watched(bin.join("rollup"));
    command.arg("run").args(influx).args([
        "--every",
        "5s",
        "--lookback",
        "4h",
        "--listen",
        "127.0.0.1:0",
    ]);
    services.push(Service::spawn("rollup", command, &logs));

    let read_port = free_port().expect("port");
    let read_url = format!("http://127.0.0.1:{read_port}");
    let mut command = watched(bin.join("read-service"));
    command
        .args(["--listen", &format!("127.0.0.1:{read_port}")])
        .args(influx)
        .args(["--auth-url", &auth.public])
        .args(["--auth-internal-url", &auth.internal]);
    let mut read = Service::spawn("read-service", command, &logs);
    read.healthy(&format!("{read_url}/healthz")).await;
    services.push(read);

    let web_port = free_port().expect("port");
    let base_url = format!("http://127.0.0.1:{web_port}");
    let mut command = watched(env!("CARGO_BIN_EXE_web"));
    command
        .args(["--listen", &format!("127.0.0.1:{web_port}")])
        .args(["--auth-url", &auth.public, "--read-url", &read_url])
        .arg("--assets-dir")
        .arg(web_dir().join("dist"));
    let mut web = Service::spawn("web", command, &logs);
    web.healthy(&format!("{base_url}/healthz")).await;
    services.push(web);

    let screenshots = std::env::var_os("SCREENSHOT_DIR").map_or_else(
        || profile_dir().with_file_name("screenshots"),
        PathBuf::from,
    );
    let script = web_dir().join("e2e/dashboard.test.mjs");
    let run = watched("node")
        .arg(&script)
        .current_dir(web_dir())
        .env("BASE_URL", &base_url)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOT_DIR", &screenshots)
        .env("AGENT_BIN", bin.join("device-agent"))
        .env("AMQP_PORT", rabbit.amqp_port().to_string())
        .env("WORK_DIR", work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map(|mut child| {
            // The watchdog's pipe stays open while we wait (waiting with
            // output would close it).
            let lifeline = child.stdin.take();
            async move {
                let output = child.wait_with_output().await;
                drop(lifeline);
                output
            }
        });
    let output = match run {
        Ok(run) => tokio::time::timeout(SCRIPT_TIMEOUT, run).await,
        Err(e) => Ok(Err(e)),
    };
    let (success, text) = match output {
        Ok(Ok(output)) => (
            output.status.success(),
            format!(
                "exit: {}\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        ),
        Ok(Err(e)) => (false, format!("cannot run node: {e}")),
        Err(_) => (
            false,
            format!(
                "{} did not finish within {SCRIPT_TIMEOUT:?}",
                script.display()
            ),
        ),
    };
    if !success {
        hold_for_debugging(&base_url, &read_url, &auth, &db).await;
        let service_logs: Vec<String> = services
            .iter()
            .map(|s| format!("--- {} (last lines) ---\n{}", s.name, s.tail()))
            .collect();
        panic!(
            "the browser test failed; screenshots in {}\n{text}\n{}",
            screenshots.display(),
            service_logs.join("\n")
        );
    }
    println!("{text}\nscreenshots in {}", screenshots.display());
}
