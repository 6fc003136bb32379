//! The services perf runs as real processes (write-service replicas,
//! auth-service, read-service): started with their output in a log file,
//! ready once `/healthz` answers 200, stopped with SIGTERM.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::process::{Child, Command};

/// One service process, killed if dropped before [`ServiceProcess::stop`].
#[derive(Debug)]
pub struct ServiceProcess {
    name: &'static str,
    child: Child,
    /// `http://127.0.0.1:<port>` of the listener that serves `/healthz`.
    pub base: String,
    log: PathBuf,
}

/// A free loopback port (bound and released: the service binds it next).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl ServiceProcess {
    /// Starts `command` (warnings and errors logged only) with its output in
    /// `log`; `base` is where it will serve `/healthz`.
    pub fn spawn(
        name: &'static str,
        mut command: Command,
        base: String,
        log: PathBuf,
    ) -> Result<Self> {
        // Appended to: a restarted process (perf chaos) keeps its earlier lines.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("{}", log.display()))?;
        let child = command
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {name}"))?;
        Ok(Self {
            name,
            child,
            base,
            log,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits until `/healthz` answers 200, up to `patience`; fails at once
    /// if the process exits.
    pub async fn wait_healthy(&mut self, patience: Duration) -> Result<()> {
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

    /// SIGKILL: a crash, with no chance to flush or acknowledge anything.
    /// Returns once the process is gone.
    pub async fn kill(mut self) -> Result<()> {
        self.child
            .kill()
            .await
            .with_context(|| format!("kill {}", self.name))
    }

    /// SIGTERM, then up to `grace` for a graceful exit (killed after that).
    pub async fn stop(mut self, grace: Duration) -> Result<()> {
        if let Some(pid) = self.child.id() {
            // kill(1): libc's kill would need unsafe, which the workspace forbids.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
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
                bail!(
                    "{} did not stop within {grace:?}; see {}",
                    self.name,
                    self.log.display()
                )
            }
        }
    }
}
