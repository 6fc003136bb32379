//! What a run needs around it, created for the run and removed after it: a
//! RabbitMQ virtual host (so perf's messages never reach a real write queue),
//! an InfluxDB database, and the write-service processes under test.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::process::{Child, Command};

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
    pub child: Child,
    pub metrics_url: String,
    pub log: PathBuf,
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
    ) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let file = std::fs::File::create(&log)?;
        let child = Command::new(binary)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--households-file")
            .arg(households_file)
            .env("AMQP_URL", amqp_url)
            .env("INFLUX_URL", influx_url)
            .env("INFLUX_DB", db)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        Ok(Self {
            child,
            metrics_url: format!("http://127.0.0.1:{port}/metrics"),
            log,
        })
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits until /healthz answers 200 (consuming), up to `patience`.
    pub async fn wait_ready(&mut self, http: &reqwest::Client, patience: Duration) -> Result<()> {
        let health = self.metrics_url.replace("/metrics", "/healthz");
        let deadline = Instant::now() + patience;
        loop {
            if let Ok(response) = http.get(&health).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "write-service exited ({status}); see {}",
                    self.log.display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "write-service not ready after {patience:?}; see {}",
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then waits (it drains what it holds) up to 60 s.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(pid) = self.child.id() {
            // kill(1): libc's kill would need unsafe, which the workspace forbids.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        match tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    bail!(
                        "write-service exited with {status}; see {}",
                        self.log.display()
                    );
                }
                Ok(())
            }
            Err(_) => {
                let _ = self.child.start_kill();
                bail!(
                    "write-service did not stop within 60 s; see {}",
                    self.log.display()
                )
            }
        }
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
