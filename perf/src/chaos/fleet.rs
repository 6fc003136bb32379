//! Everything a chaos run starts and breaks: a private RabbitMQ node and a
//! private InfluxDB (testkit's, on free ports, so no fault touches anything
//! else on the machine), write-service replicas and device agents, each a
//! real process with its log in the run's directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use testkit::{PrivateInflux, PrivateRabbit};
use tokio::process::Command;

use crate::process::{free_port, ServiceProcess};
use crate::setup::{create_database, sibling_binary, Replica};

/// The database the run writes to, in its private InfluxDB.
pub const DATABASE: &str = "wattline";

/// How the fleet is made.
#[derive(Debug, Clone)]
pub struct FleetSettings {
    pub agents: usize,
    pub sockets: u16,
    pub sample_interval: Duration,
    pub write_replicas: usize,
    /// The write service's InfluxDB timeout: a frozen InfluxDB outlasts it.
    pub write_timeout: Duration,
    /// The spool quota of agent 0, the one whose spool the faults fill;
    /// every other agent keeps the default.
    pub small_spool_bytes: u64,
    pub work_dir: PathBuf,
    pub write_service_bin: Option<PathBuf>,
    pub agent_bin: Option<PathBuf>,
}

/// One device agent: its spool survives its restarts.
#[derive(Debug)]
struct Agent {
    device: String,
    spool_dir: PathBuf,
    log: PathBuf,
    spool_bytes: Option<u64>,
    process: Option<ServiceProcess>,
}

/// The servers and processes of one run.
#[derive(Debug)]
pub struct Fleet {
    pub rabbit: PrivateRabbit,
    pub influx: PrivateInflux,
    settings: FleetSettings,
    write_service_bin: PathBuf,
    agent_bin: PathBuf,
    households_file: PathBuf,
    writers: Vec<Option<Replica>>,
    agents: Vec<Agent>,
}

/// The device id of agent `i`.
pub fn device_id(i: usize) -> String {
    format!("chaos-d{i:03}")
}

/// The household id of agent `i`'s device.
pub fn household_id(i: usize) -> String {
    format!("chaos-h{i:03}")
}

impl Fleet {
    /// Starts the private servers; no service yet.
    pub async fn start_servers(settings: FleetSettings) -> Result<Self> {
        let write_service_bin =
            sibling_binary("write-service", settings.write_service_bin.as_deref())?;
        let agent_bin = sibling_binary("device-agent", settings.agent_bin.as_deref())?;
        std::fs::create_dir_all(&settings.work_dir)
            .with_context(|| format!("create {}", settings.work_dir.display()))?;
        let (rabbit, influx) = tokio::try_join!(PrivateRabbit::start(), PrivateInflux::start())?;
        create_database(&reqwest::Client::new(), &influx.url(), DATABASE).await?;
        let households_file = settings.work_dir.join("households.csv");
        let map: String = (0..settings.agents)
            .map(|i| format!("{},{}\n", device_id(i), household_id(i)))
            .collect();
        std::fs::write(&households_file, map)?;
        let agents = (0..settings.agents)
            .map(|i| Agent {
                device: device_id(i),
                spool_dir: settings.work_dir.join(format!("spool-{i}")),
                log: settings.work_dir.join(format!("agent-{i}.log")),
                spool_bytes: (i == 0).then_some(settings.small_spool_bytes),
                process: None,
            })
            .collect();
        Ok(Self {
            rabbit,
            influx,
            writers: (0..settings.write_replicas).map(|_| None).collect(),
            settings,
            write_service_bin,
            agent_bin,
            households_file,
            agents,
        })
    }

    pub fn writer_count(&self) -> usize {
        self.writers.len()
    }

    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    /// Starts write-service replica `i` and waits until it consumes.
    pub async fn start_writer(&mut self, i: usize) -> Result<()> {
        let log = self
            .settings
            .work_dir
            .join(format!("write-service-{i}.log"));
        let timeout = format!("{}ms", self.settings.write_timeout.as_millis());
        let mut replica = Replica::start(
            &self.write_service_bin,
            &self.rabbit.amqp_url(),
            &self.influx.url(),
            DATABASE,
            &self.households_file,
            log,
            &[("INFLUX_TIMEOUT", timeout)],
        )
        .await?;
        replica.wait_ready(Duration::from_secs(60)).await?;
        self.writers[i] = Some(replica);
        Ok(())
    }

    /// kill -9 of replica `i`.
    pub async fn kill_writer(&mut self, i: usize) -> Result<()> {
        match self.writers[i].take() {
            Some(replica) => replica.kill().await,
            None => Ok(()),
        }
    }

    /// SIGTERM to replica `i`, waiting for its graceful exit.
    pub async fn stop_writer(&mut self, i: usize) -> Result<()> {
        match self.writers[i].take() {
            Some(replica) => replica.stop().await,
            None => Ok(()),
        }
    }

    /// Starts agent `i` publishing to the run's broker.
    pub fn start_agent(&mut self, i: usize) -> Result<()> {
        let url = self.rabbit.amqp_url();
        self.start_agent_with(i, &url)
    }

    /// Starts agent `i` cut off from the broker (a port nothing listens on):
    /// its spool fills.
    pub fn start_agent_offline(&mut self, i: usize) -> Result<()> {
        let url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", free_port()?);
        self.start_agent_with(i, &url)
    }

    fn start_agent_with(&mut self, i: usize, amqp_url: &str) -> Result<()> {
        let settings = &self.settings;
        let agent = &mut self.agents[i];
        let port = free_port()?;
        let mut command = Command::new(&self.agent_bin);
        command
            .args(["--device-id", &agent.device])
            .args(["--amqp-url", amqp_url])
            .args(["--sockets", &settings.sockets.to_string()])
            .args(["--seed", &i.to_string()])
            .args([
                "--sample-interval",
                &format!("{}ms", settings.sample_interval.as_millis()),
            ])
            .args(["--interval", "1s"])
            .arg("--spool-dir")
            .arg(&agent.spool_dir)
            .args(["--max-backoff", "1s"])
            .args(["--shutdown-grace", "20s"])
            .args(["--log-format", "json"])
            .args(["--listen", &format!("127.0.0.1:{port}")]);
        if let Some(bytes) = agent.spool_bytes {
            command.args(["--spool-max-bytes", &bytes.to_string()]);
        }
        agent.process = Some(ServiceProcess::spawn(
            "device-agent",
            command,
            format!("http://127.0.0.1:{port}"),
            agent.log.clone(),
        )?);
        Ok(())
    }

    /// kill -9 of agent `i` (whatever it was doing, a spool write included).
    pub async fn kill_agent(&mut self, i: usize) -> Result<()> {
        match self.agents[i].process.take() {
            Some(process) => process.kill().await,
            None => Ok(()),
        }
    }

    /// SIGTERM to agent `i`: it spools what it read, publishes for its
    /// shutdown grace and leaves the rest in its spool.
    pub async fn stop_agent(&mut self, i: usize) -> Result<()> {
        match self.agents[i].process.take() {
            Some(process) => process.stop(Duration::from_secs(40)).await,
            None => Ok(()),
        }
    }

    /// Batches waiting in agent `i`'s spool.
    pub fn spooled_batches(&self, i: usize) -> u64 {
        batch_files(&self.agents[i].spool_dir)
    }

    /// Batches waiting in every spool.
    pub fn all_spooled_batches(&self) -> u64 {
        (0..self.agents.len())
            .map(|i| self.spooled_batches(i))
            .sum()
    }

    /// Spooled batches set aside as corrupt, in every spool.
    pub fn corrupt_batches(&self) -> u64 {
        self.agents
            .iter()
            .map(|agent| batch_files(&agent.spool_dir.join("corrupt")))
            .sum()
    }

    /// Readings the agents dropped on purpose because their spool was full,
    /// from their logs (every run of every agent: a log is appended to).
    pub fn dropped_by_full_spools(&self) -> Result<u64> {
        let mut dropped = 0;
        for agent in &self.agents {
            let Ok(log) = std::fs::read_to_string(&agent.log) else {
                continue;
            };
            for line in log.lines() {
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(line) {
                    dropped += event["dropped_readings"].as_u64().unwrap_or(0);
                }
            }
        }
        Ok(dropped)
    }

    /// Stops every agent and replica gracefully, agents first.
    pub async fn stop_services(&mut self) -> Result<()> {
        for i in 0..self.agents.len() {
            self.stop_agent(i).await?;
        }
        for i in 0..self.writers.len() {
            self.stop_writer(i).await?;
        }
        Ok(())
    }
}

fn batch_files(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "batch"))
                .count() as u64
        })
        .unwrap_or(0)
}
