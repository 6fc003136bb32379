//! The services `perf read` runs as real processes: auth-service (SQLite in
//! the run's temporary directory, logins unthrottled so the households can
//! register at once) and read-service, on free loopback ports.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;
use tokio::process::Command;

pub use crate::process::free_port;
use crate::process::ServiceProcess;

/// One service process.
pub type Service = ServiceProcess;

/// Starts `binary` with `args`, its output in `log`, and waits until
/// `<base>/healthz` answers 200.
async fn start(
    name: &'static str,
    binary: &Path,
    args: &[String],
    base: String,
    log: PathBuf,
) -> Result<Service> {
    let mut command = Command::new(binary);
    command.args(args);
    let mut service = ServiceProcess::spawn(name, command, base, log)?;
    service.wait_healthy(Duration::from_secs(60)).await?;
    Ok(service)
}

/// auth-service's two listeners.
#[derive(Debug)]
pub struct Auth {
    pub service: Service,
    pub internal: String,
}

/// How auth-service throttles logins and registrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logins {
    /// Not at all: every household registers from this one address within
    /// seconds.
    Unthrottled,
    /// The service's defaults (`perf http` measures them).
    Defaults,
}

/// Starts auth-service on SQLite in `dir`, access tokens valid `token_ttl`.
pub async fn start_auth(
    binary: &Path,
    dir: &Path,
    token_ttl: Duration,
    logins: Logins,
) -> Result<Auth> {
    let (public, internal) = (free_port()?, free_port()?);
    let mut args = vec![
        format!("--listen=127.0.0.1:{public}"),
        format!("--internal-listen=127.0.0.1:{internal}"),
        format!("--database-url=sqlite://{}", dir.join("auth.db").display()),
        format!(
            "--signing-key-file={}",
            dir.join("signing-key.pem").display()
        ),
        format!("--access-token-ttl={}s", token_ttl.as_secs().max(60)),
    ];
    if logins == Logins::Unthrottled {
        args.push("--login-limit-per-client=100000/1s".into());
        args.push("--login-limit-per-account=100000/1s".into());
    }
    let service = start(
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
    start(
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
    let (login, _) = register_with(http, auth_base, email, "perf-read-password-0").await?;
    Ok(login)
}

/// Registers a household owner `email` with `password`; returns its
/// session and refresh token.
pub async fn register_with(
    http: &reqwest::Client,
    auth_base: &str,
    email: &str,
    password: &str,
) -> Result<(Login, String)> {
    let response = http
        .post(format!("{auth_base}/api/auth/register"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .context("auth-service register")?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.context("register answer")?;
    if !status.is_success() {
        bail!("register {email}: HTTP {status}: {body}");
    }
    let field = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let login = Login {
        household: field(&body["user"]["household_id"]).context("no household_id")?,
        token: field(&body["access_token"]).context("no access_token")?,
    };
    Ok((
        login,
        field(&body["refresh_token"]).context("no refresh_token")?,
    ))
}
