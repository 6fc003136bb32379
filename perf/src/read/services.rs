//! The services `perf read` runs as real processes: auth-service (SQLite in
//! the run's temporary directory, logins unthrottled so the households can
//! register at once) and read-service, on free loopback ports.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;
use tokio::process::{Child, Command};

/// One service process, killed if dropped before [`Service::stop`].
#[derive(Debug)]
pub struct Service {
    name: &'static str,
    child: Child,
    /// `http://127.0.0.1:<port>` of its (public) listener.
    pub base: String,
    log: PathBuf,
}

/// A free loopback port (bound and released: the service binds it next).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Service {
    /// Starts `binary` with `args`, its output in `log`, and waits until
    /// `<base>/healthz` answers 200.
    pub async fn start(
        name: &'static str,
        binary: &Path,
        args: &[String],
        base: String,
        log: PathBuf,
    ) -> Result<Self> {
        let file = std::fs::File::create(&log).with_context(|| format!("{}", log.display()))?;
        let child = Command::new(binary)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let mut service = Self {
            name,
            child,
            base,
            log,
        };
        service.wait_healthy(Duration::from_secs(60)).await?;
        Ok(service)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    async fn wait_healthy(&mut self, patience: Duration) -> Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + patience;
        loop {
            if let Ok(response) = http.get(format!("{}/healthz", self.base)).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}); see {}",
                    self.name,
                    self.log.display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} not healthy after {patience:?}; see {}",
                    self.name,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then up to 30 s for a graceful exit (killed after that).
    pub async fn stop(mut self) -> Result<()> {
        if let Some(pid) = self.child.id() {
            // kill(1): libc's kill would need unsafe, which the workspace forbids.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    bail!(
                        "{} exited with {status}; see {}",
                        self.name,
                        self.log.display()
                    );
                }
                Ok(())
            }
            Err(_) => {
                let _ = self.child.start_kill();
                bail!("{} did not stop within 30 s", self.name)
            }
        }
    }
}

/// auth-service's two listeners.
#[derive(Debug)]
pub struct Auth {
    pub service: Service,
    pub internal: String,
}

/// Starts auth-service on SQLite in `dir`, access tokens valid `token_ttl`.
pub async fn start_auth(binary: &Path, dir: &Path, token_ttl: Duration) -> Result<Auth> {
    let (public, internal) = (free_port()?, free_port()?);
    let args = vec![
        format!("--listen=127.0.0.1:{public}"),
        format!("--internal-listen=127.0.0.1:{internal}"),
        format!("--database-url=sqlite://{}", dir.join("auth.db").display()),
        format!(
            "--signing-key-file={}",
            dir.join("signing-key.pem").display()
        ),
        format!("--access-token-ttl={}s", token_ttl.as_secs().max(60)),
        // Every household registers from this one address within seconds.
        "--login-limit-per-client=100000/1s".into(),
        "--login-limit-per-account=100000/1s".into(),
    ];
    let service = Service::start(
        "auth-service",
        binary,
        &args,
        format!("http://127.0.0.1:{public}"),
        dir.join("auth-service.log"),
    )
    .await?;
    Ok(Auth {
        service,
        internal: format!("http://127.0.0.1:{internal}"),
    })
}

/// Starts read-service against `influx_url`/`db`, verifying tokens with `auth`.
pub async fn start_read(
    binary: &Path,
    auth: &Auth,
    influx_url: &str,
    db: &str,
    log: PathBuf,
) -> Result<Service> {
    let port = free_port()?;
    let args = vec![
        format!("--listen=127.0.0.1:{port}"),
        format!("--influx-url={influx_url}"),
        format!("--influx-db={db}"),
        format!("--auth-url={}", auth.service.base),
        format!("--auth-internal-url={}", auth.internal),
    ];
    Service::start(
        "read-service",
        binary,
        &args,
        format!("http://127.0.0.1:{port}"),
        log,
    )
    .await
}

/// A registered household: its id and an owner's access token.
#[derive(Debug, Clone)]
pub struct Login {
    pub household: String,
    pub token: String,
}

/// Registers a household owner `email` and returns its session.
pub async fn register(http: &reqwest::Client, auth_base: &str, email: &str) -> Result<Login> {
    let response = http
        .post(format!("{auth_base}/api/auth/register"))
        .json(&json!({"email": email, "password": "perf-read-password-0"}))
        .send()
        .await
        .context("auth-service register")?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.context("register answer")?;
    if !status.is_success() {
        bail!("register {email}: HTTP {status}: {body}");
    }
    let field = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    Ok(Login {
        household: field(&body["user"]["household_id"]).context("no household_id")?,
        token: field(&body["access_token"]).context("no access_token")?,
    })
}
