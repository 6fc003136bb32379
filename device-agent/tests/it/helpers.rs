//! Starting the real programs and reading back what landed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use testkit::{InfluxDatabase, RabbitVhost};
use tokio::process::{Child, Command};
pub use wattline_proto::now_ms;

/// Long enough for a loaded 2-core CI machine; conditions are polled.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// What a test runs against: its own vhost, database and temp directory.
pub struct Stack {
    pub vhost: RabbitVhost,
    pub db: InfluxDatabase,
    pub dir: tempfile::TempDir,
}

impl Stack {
    pub async fn new() -> Self {
        Self {
            vhost: RabbitVhost::create().await.expect("vhost"),
            db: InfluxDatabase::create().await.expect("database"),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Starts a write service on this stack's vhost and database.
    pub fn write_service(&self, households: &[(&str, &str)]) -> WriteService {
        WriteService::start(
            &self.vhost.amqp_url,
            &self.db,
            households,
            &self.dir.path().join("write.log"),
        )
    }

    /// Starts an agent on this stack's vhost.
    pub fn agent(&self, device_id: &str, args: &[&str]) -> Agent {
        Agent::start(device_id, &self.vhost.amqp_url, self.dir.path(), args)
    }
}

/// A running `write-service`, killed when dropped.
pub struct WriteService {
    child: Child,
    log: PathBuf,
}

impl WriteService {
    /// Starts the write service on `amqp_url`, writing to `db`, with the
    /// device → household map `households` (as a CSV file, so ids may hold
    /// any character).
    pub fn start(
        amqp_url: &str,
        db: &InfluxDatabase,
        households: &[(&str, &str)],
        log: &Path,
    ) -> Self {
        let quote = |id: &str| format!("\"{}\"", id.replace('"', "\"\""));
        let map: String = households
            .iter()
            .map(|(device, household)| format!("{},{}\n", quote(device), quote(household)))
            .collect();
        let map_file = log.with_extension("households.csv");
        std::fs::write(&map_file, map).expect("households file");
        let mut command = Command::new(testkit::binary("write-service"));
        command
            .stdin(Stdio::null())
            .args(["--listen", "127.0.0.1:0", "--batch-age-ms", "50"])
            .arg("--households-file")
            .arg(&map_file)
            .env("AMQP_URL", amqp_url)
            .env("INFLUX_URL", &db.url)
            .env("INFLUX_DB", &db.name);
        Self {
            child: spawn_logged(command, log),
            log: log.to_owned(),
        }
    }
}

impl Drop for WriteService {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        // A failed test says what the agent saw; the service's side of the
        // story is often the other half.
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("write-service log ({}):\n{log}", self.log.display());
        }
    }
}

fn spawn_logged(mut command: Command, log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    command
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn")
}

/// A `device-agent` run: its arguments, spool and log.
pub struct Agent {
    pub device_id: String,
    pub spool: PathBuf,
    pub log: PathBuf,
    pub child: Child,
}

impl Agent {
    /// Starts `device-agent --device-id <id> --spool-dir <dir>/spool-<id> <args>`.
    pub fn start(device_id: &str, amqp_url: &str, dir: &Path, args: &[&str]) -> Self {
        Self::start_with_spool(device_id, amqp_url, &spool_dir(dir, device_id), args)
    }

    /// Starts an agent reading the CSV file `input`, with `args` added.
    pub fn start_csv(
        device_id: &str,
        amqp_url: &str,
        dir: &Path,
        input: &str,
        args: &[&str],
    ) -> Self {
        let mut all = vec!["--source", "csv", "--input", input];
        all.extend_from_slice(args);
        Self::start(device_id, amqp_url, dir, &all)
    }

    pub fn start_with_spool(device_id: &str, amqp_url: &str, spool: &Path, args: &[&str]) -> Self {
        Self::spawn(device_id, amqp_url, spool, args, None)
    }

    /// Starts an agent reading CSV from its standard input, fed `input`.
    pub fn start_piped(device_id: &str, amqp_url: &str, dir: &Path, input: String) -> Self {
        Self::spawn(
            device_id,
            amqp_url,
            &spool_dir(dir, device_id),
            &["--source", "csv", "--input", "-"],
            Some(input),
        )
    }

    fn spawn(
        device_id: &str,
        amqp_url: &str,
        spool: &Path,
        args: &[&str],
        stdin: Option<String>,
    ) -> Self {
        let log = spool.with_extension(format!("{}.log", rand::random::<u32>()));
        let mut command = Command::new(testkit::binary("device-agent"));
        command
            .args(["--device-id", device_id, "--amqp-url", amqp_url])
            .arg("--spool-dir")
            .arg(spool)
            .args(["--max-backoff", "1s", "--status-interval", "1s"])
            .args(args);
        command.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = spawn_logged(command, &log);
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("piped stdin");
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                pipe.write_all(input.as_bytes()).await.expect("feed stdin");
                // Dropping the pipe closes it: the end of the input.
            });
        }
        Self {
            device_id: device_id.to_owned(),
            spool: spool.to_owned(),
            log,
            child,
        }
    }

    /// Waits for the agent to exit on its own.
    pub async fn wait(&mut self) -> ExitStatus {
        match tokio::time::timeout(PATIENCE, self.child.wait()).await {
            Ok(status) => status.expect("wait for agent"),
            Err(_) => panic!(
                "agent {} did not finish; log:\n{}",
                self.device_id,
                self.log_text()
            ),
        }
    }

    pub async fn wait_success(&mut self) {
        let status = self.wait().await;
        assert!(
            status.success(),
            "agent {} exited with {status}; log:\n{}",
            self.device_id,
            self.log_text()
        );
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A counter from the agent's final status line (`done … name=N …`).
    pub fn final_count(&self, name: &str) -> u64 {
        let log = self.log_text();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains(" done "))
            .unwrap_or_else(|| panic!("no final status line in:\n{log}"));
        field(line, name).unwrap_or_else(|| panic!("no {name} in {line}"))
    }

    /// Batch files waiting in the spool directory.
    pub fn spooled_files(&self) -> usize {
        std::fs::read_dir(&self.spool)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "batch"))
                    .count()
            })
            .unwrap_or(0)
    }

    pub fn sigterm(&self) {
        testkit::sigterm(&self.child);
    }
}

fn field(line: &str, name: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
        .and_then(|value| value.parse().ok())
}

/// An agent's default spool directory under `dir`: `spool-<id>`, with every
/// character but ASCII letters and digits as `_`.
fn spool_dir(dir: &Path, device_id: &str) -> PathBuf {
    let id: String = device_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    dir.join(format!("spool-{id}"))
}

/// One stored or expected point: (household, device, socket, time, watts,
/// energy), numbers in Rust's shortest round-trip form so equal floats
/// compare equal.
pub type Point = (String, String, String, i64, String, Option<String>);

/// Every point of `device` in the database.
pub async fn stored_points(db: &InfluxDatabase, device: &str) -> BTreeSet<Point> {
    let escaped = device.replace('\\', "\\\\").replace('\'', "\\'");
    let rows = db
        .rows(&format!(
            "SELECT watts, energy_wh, household, socket FROM power WHERE device = '{escaped}'"
        ))
        .await
        .expect("query");
    rows.into_iter()
        .map(|row| {
            let text = |key: &str| {
                row.get(key)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            let number = |key: &str| {
                row.get(key)
                    .and_then(serde_json::Value::as_f64)
                    .map(|v| v.to_string())
            };
            (
                text("household"),
                device.to_owned(),
                text("socket"),
                row.get("time")
                    .and_then(serde_json::Value::as_i64)
                    .unwrap_or_default(),
                number("watts").unwrap_or_default(),
                number("energy_wh"),
            )
        })
        .collect()
}

/// Number of points of `device` (0 before the first one).
pub async fn count_for(db: &InfluxDatabase, device: &str) -> anyhow::Result<u64> {
    let escaped = device.replace('\\', "\\\\").replace('\'', "\\'");
    let rows = db
        .rows(&format!(
            "SELECT count(watts) FROM power WHERE device = '{escaped}'"
        ))
        .await?;
    Ok(rows
        .first()
        .and_then(|r| r.get("count"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0))
}

/// Waits until InfluxDB holds `expected` points of `device`, then checks
/// the count stays put (nothing arrives twice as an extra point).
pub async fn wait_count(db: &InfluxDatabase, device: &str, expected: u64) {
    testkit::eventually(
        PATIENCE,
        &format!("{expected} points of {device}"),
        || async {
            let count = count_for(db, device).await?;
            assert!(
                count <= expected,
                "{device}: {count} points, more than the {expected} read"
            );
            Ok((count == expected).then_some(()))
        },
    )
    .await
    .expect("every reading stored");
}
