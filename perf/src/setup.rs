//! What a run needs around it, created for the run and removed after it: a
//! RabbitMQ virtual host (so perf's messages never reach a real write queue),
//! an InfluxDB database, and the write-service processes under test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::process::Command;

use crate::process::{free_port, ServiceProcess};

/// A client for the RabbitMQ management API at `api`
/// (`http://user:password@host:15672`).
#[derive(Debug, Clone)]
pub struct RabbitAdmin {
    http: reqwest::Client,
    base: String,
    user: String,
    password: String,
}

impl RabbitAdmin {
    pub fn new(api: &str) -> Result<Self> {
        let url = reqwest::Url::parse(api).context("--rabbit-api is not a URL")?;
        let user = url.username().to_owned();
        let password = url.password().unwrap_or_default().to_owned();
        let base = format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().context("--rabbit-api has no host")?,
            url.port_or_known_default().unwrap_or(15672)
        );
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            base,
            user,
            password,
        })
    }

    /// Creates `vhost` and gives the API's user every permission on it.
    pub async fn create_vhost(&self, vhost: &str) -> Result<()> {
        let name = encode(vhost);
        self.put(&format!("/api/vhosts/{name}"), serde_json::json!({}))
            .await
            .context(
                "create the perf vhost: is the management API up and the user an administrator?",
            )?;
        let permissions = serde_json::json!({"configure": ".*", "write": ".*", "read": ".*"});
        self.put(
            &format!("/api/permissions/{name}/{}", encode(&self.user)),
            permissions,
        )
        .await
    }

    /// Deletes `vhost` with everything in it.
    pub async fn delete_vhost(&self, vhost: &str) -> Result<()> {
        self.http
            .delete(format!("{}/api/vhosts/{}", self.base, encode(vhost)))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// `amqp://user:password@host:port/<vhost>` for the given broker URL's host.
    pub fn amqp_url(&self, amqp_host_port: &str, vhost: &str) -> String {
        format!(
            "amqp://{}:{}@{amqp_host_port}/{}",
            encode(&self.user),
            encode(&self.password),
            encode(vhost)
        )
    }

    async fn put(&self, path: &str, body: serde_json::Value) -> Result<()> {
        self.http
            .put(format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .json(&body)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

/// Runs one InfluxQL statement (CREATE/DROP DATABASE, SELECT) and returns
/// the first result.
pub async fn influxql(
    http: &reqwest::Client,
    influx_url: &str,
    db: &str,
    q: &str,
) -> Result<serde_json::Value> {
    let response = http
        .post(format!("{influx_url}/query"))
        .form(&[("db", db), ("q", q), ("epoch", "ms")])
        .send()
        .await
        .with_context(|| format!("InfluxDB at {influx_url}"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    if !status.is_success() || body["results"][0].get("error").is_some() {
        bail!("InfluxQL {q:?}: HTTP {status}: {body}");
    }
    Ok(body["results"][0].clone())
}

/// Creates the database `db` (nothing happens if it exists).
pub async fn create_database(http: &reqwest::Client, influx_url: &str, db: &str) -> Result<()> {
    influxql(http, influx_url, db, &format!("CREATE DATABASE \"{db}\"")).await?;
    Ok(())
}

/// Drops the database `db` with everything in it.
pub async fn drop_database(http: &reqwest::Client, influx_url: &str, db: &str) -> Result<()> {
    influxql(http, influx_url, db, &format!("DROP DATABASE \"{db}\"")).await?;
    Ok(())
}

/// Percent-encodes everything but unreserved characters.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One write-service process under test.
#[derive(Debug)]
pub struct Replica {
    process: ServiceProcess,
    pub metrics_url: String,
}

impl Replica {
    /// Starts `binary` consuming from `amqp_url`, writing to `db`, with the
    /// device → household map in `households_file`, serving /metrics on a
    /// free port.
    pub async fn start(
        binary: &Path,
        amqp_url: &str,
        influx_url: &str,
        db: &str,
        households_file: &Path,
        log: PathBuf,
        extra_env: &[(&str, String)],
    ) -> Result<Self> {
        let port = free_port()?;
        let mut command = Command::new(binary);
        command
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--households-file")
            .arg(households_file)
            .env("AMQP_URL", amqp_url)
            .env("INFLUX_URL", influx_url)
            .env("INFLUX_DB", db)
            .envs(extra_env.iter().map(|(name, value)| (name, value)));
        let base = format!("http://127.0.0.1:{port}");
        Ok(Self {
            metrics_url: format!("{base}/metrics"),
            process: ServiceProcess::spawn("write-service", command, base, log)?,
        })
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Waits until /healthz answers 200 (consuming), up to `patience`.
    pub async fn wait_ready(&mut self, patience: Duration) -> Result<()> {
        self.process.wait_healthy(patience).await
    }

    /// SIGTERM, then waits (it drains what it holds) up to 60 s.
    pub async fn stop(self) -> Result<()> {
        self.process.stop(Duration::from_secs(60)).await
    }

    /// SIGKILL: whatever it had not acknowledged goes back to the queue.
    pub async fn kill(self) -> Result<()> {
        self.process.kill().await
    }
}

/// The write-service binary: `--write-service-bin`, else next to this
/// executable (cargo puts workspace binaries side by side).
pub fn write_service_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    sibling_binary("write-service", explicit)
}

/// The workspace binary `name`: `explicit` if given, else next to this
/// executable (cargo puts workspace binaries side by side).
pub fn sibling_binary(name: &str, explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    let me = std::env::current_exe()?;
    let sibling = me.with_file_name(name);
    if sibling.exists() {
        Ok(sibling)
    } else {
        bail!(
            "no {name} next to {} (build the workspace, or pass --{name}-bin)",
            me.display()
        )
    }
}
