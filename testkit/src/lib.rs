//! Real servers for Wattline's integration tests.
//!
//! Tests talk to the shared local RabbitMQ and InfluxDB that `deploy/stack.sh`
//! starts, each inside its own scope so tests run in parallel without seeing
//! each other's data:
//! - [`RabbitVhost`]: a fresh RabbitMQ virtual host (created through the
//!   management API, deleted on drop), with its `amqp_url`;
//! - [`InfluxDatabase`]: a fresh InfluxDB database (dropped on drop), with a
//!   small InfluxQL query helper;
//! - [`PostgresDatabase`]: a fresh PostgreSQL database (dropped on drop), with
//!   its `url`;
//! - [`PrivateRabbit`], [`PrivateInflux`] (module `private`): servers of a
//!   test's own on free ports, for fault tests that stop and restart them;
//! - [`binary`]: the path of a workspace binary, for tests that run the real
//!   programs as separate processes;
//! - [`schemathesis`]: schemathesis against a service's OpenAPI document.
//!
//! Addresses come from `TESTKIT_AMQP`, `TESTKIT_RABBIT_API`, `TESTKIT_INFLUX`
//! and `WATTLINE_TEST_POSTGRES_URL`, defaulting to the local stack's.

mod private;
pub mod schemathesis;

pub use private::{free_port, PrivateInflux, PrivateRabbit};

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

const RABBIT_USER: &str = "guest";
const RABBIT_PASSWORD: &str = "guest";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// `host:port` of the shared RabbitMQ node's AMQP listener.
pub fn amqp_host() -> String {
    env_or("TESTKIT_AMQP", "127.0.0.1:5672")
}

/// Base URL of the shared RabbitMQ node's management API.
pub fn rabbit_api() -> String {
    env_or("TESTKIT_RABBIT_API", "http://127.0.0.1:15672")
}

/// Base URL of the shared InfluxDB.
pub fn influx_url() -> String {
    env_or("TESTKIT_INFLUX", "http://127.0.0.1:8086")
}

/// URL of a database on the shared PostgreSQL as a role that may create
/// databases (the local stack's `wattline`, a dev/test-only role).
pub fn postgres_url() -> String {
    env_or(
        "WATTLINE_TEST_POSTGRES_URL",
        "postgres://wattline:wattline@127.0.0.1:5432/postgres",
    )
}

/// A name no other test (or earlier run) uses: `prefix-<pid>-<random>`.
pub fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Installs rustls' ring provider once, as the Wattline binaries do, so
/// reqwest clients (which are built without a default provider) work.
pub fn init_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn blocking_client() -> reqwest::blocking::Client {
    init_crypto();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client builds")
}

fn async_client() -> reqwest::Client {
    init_crypto();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client builds")
}

/// Runs blocking HTTP on a plain thread: safe to call from `Drop` inside a
/// tokio runtime, where reqwest's blocking client would panic.
fn off_runtime<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(job)
        .join()
        .expect("helper thread panicked")
}

/// Percent-encodes everything but unreserved characters (for URL path
/// segments and form values).
pub fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A RabbitMQ virtual host of its own on the shared node; guest has full
/// permissions on it. Deleted (with its queues) on drop.
#[derive(Debug)]
pub struct RabbitVhost {
    pub name: String,
    /// `amqp://guest:guest@host:port/<vhost>`.
    pub amqp_url: String,
    /// For the management API; reused by every query (they are polled).
    client: reqwest::Client,
}

impl RabbitVhost {
    pub async fn create() -> Result<Self> {
        let name = unique_name("wattline-test");
        let vhost = percent_encode(&name);
        let api = rabbit_api();
        let client = async_client();
        client
            .put(format!("{api}/api/vhosts/{vhost}"))
            .basic_auth(RABBIT_USER, Some(RABBIT_PASSWORD))
            .send()
            .await
            .context("create vhost: is RabbitMQ running? (deploy/stack.sh)")?
            .error_for_status()?;
        client
            .put(format!("{api}/api/permissions/{vhost}/{RABBIT_USER}"))
            .basic_auth(RABBIT_USER, Some(RABBIT_PASSWORD))
            .json(&serde_json::json!({"configure": ".*", "write": ".*", "read": ".*"}))
            .send()
            .await?
            .error_for_status()?;
        let amqp_url = format!(
            "amqp://{RABBIT_USER}:{RABBIT_PASSWORD}@{}/{vhost}",
            amqp_host()
        );
        Ok(Self {
            name,
            amqp_url,
            client,
        })
    }

    /// The management API's view of a queue in this vhost (`messages`,
    /// `messages_ready`, `messages_unacknowledged`, `consumers`, ...).
    /// Those counters refresh every few seconds; poll, don't assume.
    pub async fn queue_info(&self, queue: &str) -> Result<Value> {
        let url = format!(
            "{}/api/queues/{}/{}",
            rabbit_api(),
            percent_encode(&self.name),
            percent_encode(queue)
        );
        let response = self
            .client
            .get(url)
            .basic_auth(RABBIT_USER, Some(RABBIT_PASSWORD))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("queue {queue}: HTTP {}", response.status());
        }
        Ok(response.json().await?)
    }
}

impl Drop for RabbitVhost {
    fn drop(&mut self) {
        let url = format!("{}/api/vhosts/{}", rabbit_api(), percent_encode(&self.name));
        off_runtime(move || {
            let _ = blocking_client()
                .delete(url)
                .basic_auth(RABBIT_USER, Some(RABBIT_PASSWORD))
                .send();
        });
    }
}

/// An InfluxDB database of its own on the shared server, dropped on drop.
#[derive(Debug)]
pub struct InfluxDatabase {
    pub url: String,
    pub name: String,
    /// Reused by every query (they are polled).
    client: reqwest::Client,
}

impl InfluxDatabase {
    /// A database on the shared InfluxDB.
    pub async fn create() -> Result<Self> {
        Self::create_on(&influx_url()).await
    }

    /// A database on the InfluxDB at `url` (e.g. a [`PrivateInflux`]).
    pub async fn create_on(url: &str) -> Result<Self> {
        let db = Self {
            url: url.to_owned(),
            name: unique_name("wattline_test").replace('-', "_"),
            client: async_client(),
        };
        db.query(&format!("CREATE DATABASE \"{}\"", db.name))
            .await
            .context("create database: is InfluxDB running? (deploy/stack.sh)")?;
        Ok(db)
    }

    /// Runs InfluxQL against this database and returns the first statement's
    /// result (`{"series": [...]}` or `{}`), failing on an InfluxDB error.
    pub async fn query(&self, influxql: &str) -> Result<Value> {
        let response = self
            .client
            .post(format!("{}/query", self.url))
            .query(&[("db", self.name.as_str()), ("q", influxql), ("epoch", "ms")])
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.context("query response is JSON")?;
        let result = body["results"][0].clone();
        if !status.is_success() || result.get("error").is_some() || body.get("error").is_some() {
            bail!("InfluxQL {influxql:?} failed ({status}): {body}");
        }
        Ok(result)
    }

    /// Rows of a query, one per value row of every series (so `GROUP BY`
    /// results come out flat): the series' tags plus column → value. Empty if
    /// the query returned no series.
    pub async fn rows(&self, influxql: &str) -> Result<Vec<serde_json::Map<String, Value>>> {
        let result = self.query(influxql).await?;
        let mut rows = Vec::new();
        for series in result["series"].as_array().into_iter().flatten() {
            let columns: Vec<String> = series["columns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect();
            for values in series["values"].as_array().into_iter().flatten() {
                let mut row = serde_json::Map::new();
                if let Some(tags) = series["tags"].as_object() {
                    row.extend(tags.clone());
                }
                for (column, value) in columns.iter().zip(values.as_array().into_iter().flatten()) {
                    row.insert(column.clone(), value.clone());
                }
                rows.push(row);
            }
        }
        Ok(rows)
    }

    /// Number of points in `measurement` (counted on the `watts` field).
    pub async fn count_points(&self, measurement: &str) -> Result<u64> {
        let rows = self
            .rows(&format!("SELECT count(\"watts\") FROM \"{measurement}\""))
            .await?;
        Ok(rows
            .first()
            .and_then(|r| r.get("count"))
            .and_then(Value::as_u64)
            .unwrap_or(0))
    }
}

impl Drop for InfluxDatabase {
    fn drop(&mut self) {
        let (url, q) = (
            format!("{}/query", self.url),
            format!("DROP DATABASE \"{}\"", self.name),
        );
        off_runtime(move || {
            let _ = blocking_client().post(url).query(&[("q", q)]).send();
        });
    }
}

/// A PostgreSQL database of its own on the shared server (see
/// [`postgres_url`]), owned by that URL's role, empty (a copy of
/// `template1`), and dropped on drop, with any connection still open to it.
pub struct PostgresDatabase {
    /// `wattline_test_<pid>_<random>`: only `[a-z0-9_]`, so it needs no
    /// quoting anywhere.
    pub name: String,
    /// The server's URL with our database in place of its own.
    url: String,
    /// How to reach the server as the creating role, to drop the database.
    admin: PgConnectOptions,
}

impl fmt::Debug for PostgresDatabase {
    // Not the URLs: they carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresDatabase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PostgresDatabase {
    /// Creates a database on the shared PostgreSQL.
    pub async fn create() -> Result<Self> {
        let server = postgres_url();
        let admin: PgConnectOptions = server
            .parse()
            .context("WATTLINE_TEST_POSTGRES_URL is not a postgres:// URL")?;
        let name = unique_name("wattline_test").replace('-', "_");
        let mut connection = admin
            .connect()
            .await
            .context("connect to PostgreSQL: is it running? (deploy/stack.sh)")?;
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await
            .with_context(|| format!("create database {name}"))?;
        let _ = connection.close().await;
        Ok(Self {
            url: with_database(&server, &name)?,
            name,
            admin,
        })
    }

    /// `postgres://user:password@host:port/<this database>`, with the shared
    /// server's query parameters (such as `sslmode`) kept.
    pub fn url(&self) -> String {
        self.url.clone()
    }
}

impl Drop for PostgresDatabase {
    /// Best effort, like the other scopes: a test killed outright (SIGKILL)
    /// leaves its database behind. The drop runs on a thread of its own with
    /// a runtime of its own, since `Drop` cannot await and may run inside or
    /// outside a runtime; that costs a few milliseconds and finishes before
    /// the test does. (Sweeping leftovers of dead test processes at the next
    /// `create` would cover SIGKILL too, but judging "dead" by pid is only
    /// sound when every client of the server shares our pid namespace.)
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        off_runtime(move || {
            let drop_database = async {
                let mut connection = admin.connect().await?;
                // FORCE: the code under test may still hold a pool on it.
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut connection)
                    .await?;
                connection.close().await
            };
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| {
                    runtime.block_on(async {
                        tokio::time::timeout(Duration::from_secs(10), drop_database)
                            .await
                            .context("timed out")?
                            .map_err(anyhow::Error::from)
                    })
                });
            if let Err(e) = result {
                eprintln!("testkit: could not drop PostgreSQL database {name}: {e:#}");
            }
        });
    }
}

/// `url` with its database (the path) replaced by `database`, the rest (user,
/// password, host, query) kept as written.
fn with_database(url: &str, database: &str) -> Result<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        bail!("not a URL: expected postgres://user:password@host:port/database");
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find(['?', '#']).map_or("", |at| &tail[at..]);
    Ok(format!("{scheme}://{authority}/{database}{query}"))
}

/// Path of a binary of this workspace (`device-agent`, `write-service`, ...)
/// in the same target directory as the running test, built if missing.
pub fn binary(name: &str) -> PathBuf {
    // A test runs from target/<profile>/deps/<test>-<hash>.
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf();
    let path = profile_dir.join(name);
    if !path.exists() {
        let release = profile_dir.ends_with("release");
        let mut cargo = std::process::Command::new(env_or("CARGO", "cargo"));
        // Each of our binaries is its package's namesake; -p finds it from
        // any member's directory.
        cargo.args(["build", "-p", name, "--bin", name]);
        if release {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("run cargo build");
        assert!(status.success(), "cargo build --bin {name} failed");
    }
    path
}

/// Sends SIGTERM to a child process (a service under test), as an operator's
/// `kill` or a container runtime would.
pub fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().expect("the child is running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {pid} failed");
}

/// Polls `check` every 100 ms until it returns `Some`, or fails after `timeout`
/// with `what` in the message. For conditions that become true eventually
/// (a queue drained, points visible), never for timing assertions.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if tokio::time::Instant::now() > deadline {
            match last_error {
                Some(e) => {
                    bail!("timed out after {timeout:?} waiting for {what}; last error: {e:#}")
                }
                None => bail!("timed out after {timeout:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of a series in Prometheus' text format, `None` when no sample
/// matches. `series` is a metric name, summing all its label sets, or
/// `name{label="value",...}`, summing those that carry every given label
/// (values without commas).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    let (name, wanted) = match series.split_once('{') {
        Some((name, labels)) => (name, labels.trim_end_matches('}')),
        None => (series, ""),
    };
    let wanted: Vec<&str> = wanted.split(',').filter(|l| !l.is_empty()).collect();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(rest) => rest.rsplit_once('}')?,
                None if rest.starts_with(' ') => ("", rest),
                None => return None,
            };
            if !wanted.iter().all(|w| labels.contains(w)) {
                return None;
            }
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .reduce(|sum, value| sum + value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names of all databases on the shared InfluxDB.
    async fn database_names() -> Result<Vec<String>> {
        let body: Value = async_client()
            .get(format!("{}/query", influx_url()))
            .query(&[("q", "SHOW DATABASES")])
            .send()
            .await?
            .json()
            .await?;
        Ok(body["results"][0]["series"][0]["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|row| row[0].as_str().map(str::to_owned))
            .collect())
    }

    /// Whether the shared PostgreSQL has a database called `name`.
    async fn postgres_has_database(name: &str) -> Result<bool> {
        let mut connection = sqlx::PgConnection::connect(&postgres_url()).await?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
            .bind(name)
            .fetch_one(&mut connection)
            .await?;
        connection.close().await?;
        Ok(count == 1)
    }

    #[test]
    fn the_database_of_a_postgres_url_is_replaced_and_the_rest_kept() {
        let cases = [
            ("postgres://u:p@h:5432/postgres", "postgres://u:p@h:5432/db"),
            ("postgres://u:p@h:5432", "postgres://u:p@h:5432/db"),
            (
                "postgres://u:p@h/x?sslmode=disable",
                "postgres://u:p@h/db?sslmode=disable",
            ),
            (
                "postgresql://h?sslmode=require",
                "postgresql://h/db?sslmode=require",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(with_database(url, "db").expect(url), expected);
        }
        assert!(with_database("host=h dbname=x", "db").is_err());
    }

    #[tokio::test]
    async fn a_postgres_database_can_be_created_used_and_dropped() {
        let db = PostgresDatabase::create().await.expect("database");
        assert!(db.name.starts_with("wattline_test_"));
        assert!(db
            .name
            .chars()
            .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_')));
        let mut connection = sqlx::PgConnection::connect(&db.url())
            .await
            .expect("connect to the new database");
        let database: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut connection)
            .await
            .expect("query");
        assert_eq!(database, db.name);
        sqlx::raw_sql(
            "CREATE TABLE device (id text PRIMARY KEY); INSERT INTO device VALUES ('dev-1')",
        )
        .execute(&mut connection)
        .await
        .expect("create a table");
        let devices: i64 = sqlx::query_scalar("SELECT count(*) FROM device")
            .fetch_one(&mut connection)
            .await
            .expect("count");
        assert_eq!(devices, 1);

        // Dropped with the connection above still open: FORCE ends it.
        let name = db.name.clone();
        assert!(postgres_has_database(&name).await.expect("list"));
        drop(db);
        assert!(!postgres_has_database(&name).await.expect("list"));
        assert!(sqlx::query("SELECT 1")
            .execute(&mut connection)
            .await
            .is_err());
    }

    #[test]
    fn percent_encoding_keeps_unreserved_and_escapes_the_rest() {
        assert_eq!(percent_encode("a-b_c.d~9"), "a-b_c.d~9");
        assert_eq!(percent_encode("/ x"), "%2F%20x");
    }

    #[tokio::test]
    async fn a_vhost_and_a_database_can_be_created_used_and_dropped() {
        let vhost = RabbitVhost::create().await.expect("vhost");
        let db = InfluxDatabase::create().await.expect("database");
        assert!(vhost.amqp_url.ends_with(&percent_encode(&vhost.name)));
        assert_eq!(db.count_points("power").await.expect("count"), 0);
        let name = db.name.clone();
        assert!(database_names().await.expect("list").contains(&name));
        drop(db);
        assert!(!database_names().await.expect("list").contains(&name));
    }
}

#[cfg(test)]
mod metric_tests {
    use super::metric;

    const TEXT: &str = "# TYPE a_total counter\n\
                        a_total 3\n\
                        a_total_more 100\n\
                        b_total{reason=\"x\",k=\"1\"} 2\n\
                        b_total{reason=\"y\"} 5 1700000000000\n";

    #[test]
    fn sums_the_matching_samples_of_a_metric() {
        assert_eq!(metric(TEXT, "a_total"), Some(3.0));
        assert_eq!(metric(TEXT, "b_total"), Some(7.0));
        assert_eq!(metric(TEXT, "b_total{reason=\"y\"}"), Some(5.0));
        assert_eq!(metric(TEXT, "b_total{k=\"1\",reason=\"x\"}"), Some(2.0));
        assert_eq!(metric(TEXT, "b_total{reason=\"z\"}"), None);
        assert_eq!(metric(TEXT, "c_total"), None);
    }
}
