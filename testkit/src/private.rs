//! Private servers for fault tests: a RabbitMQ node or an InfluxDB of a test's
//! own, on free ports with its data in a temp dir, that the test may stop and
//! restart (same ports, same data) without disturbing the shared stack.
//!
//! Each server runs under a small `sh` supervisor (see [`SUPERVISOR`]) in a
//! process group of its own, so that stopping it reaches every process the
//! server forked (beam's helpers, the node's private epmd) and so that a
//! test's Ctrl-C or panic does not leave half of it behind:
//! - `stop` sends SIGTERM to the group (a clean shutdown: RabbitMQ syncs its
//!   message store, InfluxDB closes its WAL), falls back to SIGKILL after a
//!   grace period, and returns only once no process of the group is left and
//!   the port is closed;
//! - `Drop` sends SIGKILL to the group and removes the temp dir, panicking or
//!   not;
//! - if the test process dies without running `Drop` (SIGKILL, abort), the
//!   supervisor sees its stdin — a pipe only the test process writes to —
//!   reach EOF and kills the group itself.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::process::{Child, ChildStdin, Command};

use crate::unique_name;

/// Runs the server ("$@") and waits for it. Started in a process group of its
/// own with a pipe from the test process on stdin:
/// - the watchdog subshell reads that pipe; EOF means the test process is gone
///   (or finished with the server), and it SIGKILLs the whole group. It ignores
///   SIGTERM so that a clean stop is not cut short by it;
/// - the server gets /dev/null as stdin and no copy of the pipe;
/// - the supervisor ignores SIGTERM/SIGINT itself (set after the server
///   started, which must keep the default dispositions) so that it exits only
///   when the server has, with the server's status.
const SUPERVISOR: &str = r#"exec 3<&0 </dev/null
( trap '' TERM INT; cat <&3 >/dev/null; kill -KILL 0 ) &
"$@" 3<&- &
server=$!
exec 3<&-
trap '' TERM INT
wait "$server"
"#;

/// How long a server may take to come up before `start`/`restart` fail.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Debian's RabbitMQ start script, without the /usr/sbin wrapper (which
/// insists on the system node's environment).
const RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// A temp dir removed on drop (by then the server is dead: see field order).
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Result<Self> {
        sweep_orphans(prefix);
        let path = std::env::temp_dir().join(unique_name(prefix));
        std::fs::create_dir(&path).with_context(|| format!("create {}", path.display()))?;
        Ok(Self(path))
    }
}

/// Removes `<prefix>-<pid>-*` dirs of test processes that no longer exist:
/// one killed outright (SIGKILL) runs no `Drop`; its watchdog killed the
/// server but could not remove the data.
fn sweep_orphans(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let pid = rest.trim_start_matches('-').split('-').next().unwrap_or("");
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free TCP port on 127.0.0.1, outside the kernel's ephemeral range
/// (32768–60999), so that outgoing connections cannot take it while a server
/// is stopped, and away from the shared stack's ports. Random, so that tests
/// running in parallel practically never pick the same one; checked by
/// binding it (then released for the server).
pub fn free_port() -> Result<u16> {
    const SHARED: [u16; 4] = [25672, 15672, 8086, 8088];
    for _ in 0..200 {
        let port = rand::random_range(20_000..32_000);
        if SHARED.contains(&port) {
            continue;
        }
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port found in 20000..32000")
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// True while nothing listens on `port` any more (connection refused).
fn port_closed(port: u16) -> bool {
    matches!(
        TcpStream::connect_timeout(&loopback(port), Duration::from_millis(500)),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

/// Whether any live (non-zombie) process belongs to process group `pgid`.
/// Read from /proc: our container's PID 1 may never reap orphans, so
/// `kill -0 -- -pgid` would see zombies as alive.
fn group_alive(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("Z");
        let pgrp = fields.nth(1).and_then(|p| p.parse::<u32>().ok());
        if pgrp != Some(pgid) {
            return false;
        }
        // A killed multi-threaded process (beam) shows its main thread as a
        // zombie while the other threads still tear down, holding its
        // sockets: dead only once no other thread is left.
        let dead = (state == "Z" || state == "X")
            && std::fs::read_dir(entry.path().join("task")).map_or(0, Iterator::count) <= 1;
        !dead
    })
}

/// Sends `signal` to every process of group `pgid` (via kill(1): this crate
/// forbids the unsafe code a libc call would need).
fn signal_group(pgid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The last lines of a server's log, for error messages.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Owner to run a server as: `(uid, gid)` of a system user, when we are root.
type RunAs = Option<(u32, u32)>;

/// The uid and gid of `user` if this process runs as root (and so may switch
/// to it), None otherwise: then servers run as ourselves.
fn run_as(user: &str) -> Result<RunAs> {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self")?.uid() != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() > 3 && fields[0] == user {
            return Ok(Some((fields[2].parse()?, fields[3].parse()?)));
        }
    }
    bail!("we run as root but there is no user {user} to run the server as")
}

/// One run of a server under [`SUPERVISOR`].
struct Supervised {
    child: Child,
    /// The supervisor's lifeline: dropping it makes the watchdog kill the group.
    lifeline: Option<ChildStdin>,
    pgid: u32,
}

impl fmt::Debug for Supervised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervised")
            .field("pgid", &self.pgid)
            .finish()
    }
}

impl Supervised {
    /// Starts `program args` with `envs`, output appended to `log`.
    fn spawn(
        program: &str,
        args: &[&str],
        envs: &[(&str, String)],
        log: &Path,
        user: RunAs,
    ) -> Result<Self> {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("open {}", log.display()))?;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(SUPERVISOR)
            .arg("supervisor")
            .arg(program)
            .args(args)
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            // Its own group: one signal reaches every process of the server,
            // and the terminal's Ctrl-C goes to the test process alone (the
            // watchdog then cleans up).
            .process_group(0)
            // Belt and braces for a Supervised dropped without `kill`.
            .kill_on_drop(true);
        if let Some((uid, gid)) = user {
            command.uid(uid).gid(gid);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("spawn {program}"))?;
        let pgid = child.id().context("supervisor pid")?;
        let lifeline = child.stdin.take();
        Ok(Self {
            child,
            lifeline,
            pgid,
        })
    }

    /// Whether the server has exited already.
    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, up to `grace` for a clean exit, then SIGKILL; returns once no
    /// process of the group is left.
    async fn stop(mut self, grace: Duration) -> Result<()> {
        signal_group(self.pgid, "TERM");
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            signal_group(self.pgid, "KILL");
        }
        // The watchdog is all that is left: closing its pipe ends it.
        self.lifeline.take();
        let deadline = Instant::now() + Duration::from_secs(10);
        while group_alive(self.pgid) {
            if Instant::now() > deadline {
                signal_group(self.pgid, "KILL");
                bail!("process group {} still alive after stop", self.pgid);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.wait().await;
        Ok(())
    }

    /// SIGKILL to the group, waiting (briefly, blocking) until it is gone: for
    /// `Drop`, where there is no runtime to await on.
    fn kill(&mut self) {
        signal_group(self.pgid, "KILL");
        self.lifeline.take();
        let deadline = Instant::now() + Duration::from_secs(5);
        while group_alive(self.pgid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.start_kill();
        let _ = self.child.try_wait();
    }
}

/// A private server's current run, if any, and the port that shows it is up:
/// what stop, launch and drop share between [`PrivateRabbit`] and
/// [`PrivateInflux`].
#[derive(Debug)]
struct Server {
    process: Option<Supervised>,
    port: u16,
    /// How long `stop` waits for a clean exit before SIGKILL.
    grace: Duration,
}

impl Server {
    fn new(port: u16, grace: Duration) -> Self {
        Self {
            process: None,
            port,
            grace,
        }
    }

    /// Stops the run (see [`Supervised::stop`]), if any, and returns once the
    /// port is closed.
    async fn stop(&mut self) -> Result<()> {
        if let Some(process) = self.process.take() {
            process.stop(self.grace).await?;
        }
        wait_port_closed(self.port).await
    }

    /// Sends `signal` (a kill(1) name) to the current run's process group.
    fn signal(&self, signal: &str) {
        if let Some(process) = &self.process {
            signal_group(process.pgid, signal);
        }
    }

    /// Makes `process` the current run and polls `ready(port)` (off the
    /// runtime: it does blocking I/O) until it holds; fails early, with the
    /// log's tail, if the server exits.
    async fn launch(
        &mut self,
        process: Supervised,
        what: &str,
        log: &Path,
        ready: fn(u16) -> bool,
    ) -> Result<()> {
        self.process = Some(process);
        let port = self.port;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if tokio::task::spawn_blocking(move || ready(port)).await? {
                return Ok(());
            }
            let exited = self.process.as_mut().is_none_or(Supervised::exited);
            if exited || Instant::now() > deadline {
                let reason = if exited { "exited" } else { "timed out" };
                if let Some(mut process) = self.process.take() {
                    process.kill();
                }
                bail!(
                    "private server {reason} before {what}; log {}:\n{}",
                    log.display(),
                    log_tail(log)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(process) = &mut self.process {
            process.kill();
            wait_port_closed_blocking(self.port);
        }
    }
}

/// A RabbitMQ node of its own (Debian's `/usr/lib/rabbitmq/bin/rabbitmq-server`,
/// run as user `rabbitmq` when the tests run as root), on free ports, with its
/// data in a temp dir; stopped and removed on drop.
///
/// The node listens on 127.0.0.1 only, lets `guest` in from loopback, and has
/// its own Erlang cookie and its own epmd on a private port, so that it
/// shares nothing with the shared node and leaves no epmd daemon behind.
/// [`start`](Self::start) gives a node without plugins (it starts in ~5 s);
/// [`start_with_http_auth`](Self::start_with_http_auth) one that asks an
/// auth-service about logins, as the local stack's node does.
#[derive(Debug)]
pub struct PrivateRabbit {
    // Field order matters: the node dies (`Server`'s Drop) before the dir goes.
    /// The node; its port is the AMQP port.
    server: Server,
    dir: TempDir,
    node: String,
    dist_port: u16,
    epmd_port: u16,
    /// The management API's port, on a node that has the plugin.
    management_port: Option<u16>,
    user: RunAs,
}

/// What a private node has beyond the basics: its configuration, written once
/// by `start_with` (a restart reuses it).
#[derive(Debug, Default)]
struct RabbitOptions {
    /// Plugins to enable.
    plugins: &'static [&'static str],
    /// Lines appended to rabbitmq.conf.
    conf: String,
    /// Enable the management plugin (on a port of its own).
    management: bool,
}

impl PrivateRabbit {
    /// How long a node of [`start_with_http_auth`](Self::start_with_http_auth)
    /// keeps an auth-service answer: a test that revokes a device waits this
    /// long before expecting the broker to notice (the local stack's node
    /// keeps answers 15 s). Refusals are not cached at all.
    pub const AUTH_CACHE_TTL: Duration = Duration::from_millis(1000);

    /// Every private node's `max_message_size`, the same as the local stack's
    /// (`deploy/stack.sh`): 16 MiB, comfortably above the agent's largest
    /// batch (`--max-batch-readings` 100,000 readings: at most 4 MB of values
    /// plus the socket ids).
    pub const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

    /// Every private node's `channel_max`, the same as the local stack's: a
    /// device needs one channel, the write service three.
    pub const CHANNEL_MAX: u16 = 16;

    /// Starts a node without plugins and waits until it answers the AMQP
    /// handshake.
    pub async fn start() -> Result<Self> {
        Self::start_with(RabbitOptions::default()).await
    }

    /// Starts a node that authenticates and authorizes as the local stack's
    /// does (`deploy/stack.sh`): internal users first (so `guest` works), then
    /// anyone else asked of an auth-service at `internal_base_url`, with
    /// `POST {internal_base_url}/internal/rabbitmq/{user,vhost,resource,topic}`
    /// (RabbitMQ's `rabbitmq_auth_backend_http`), through
    /// `rabbitmq_auth_backend_cache` with a short TTL
    /// ([`AUTH_CACHE_TTL`](Self::AUTH_CACHE_TTL)). Waits until the node
    /// answers the AMQP handshake: 5.2 s (median of 11 starts; 3.9–9.3 s
    /// with the load of other builds) on the 2-core development machine,
    /// against 4.7 s (3.5–6.2 s) for [`start`](Self::start)'s bare node.
    pub async fn start_with_http_auth(internal_base_url: &str) -> Result<Self> {
        Self::start_with(Self::http_auth(internal_base_url, false)).await
    }

    /// [`start_with_http_auth`](Self::start_with_http_auth) with the
    /// management plugin as well (see [`management_url`](Self::management_url)),
    /// as the local stack's node has it: a few seconds slower to start.
    pub async fn start_with_http_auth_and_management(internal_base_url: &str) -> Result<Self> {
        Self::start_with(Self::http_auth(internal_base_url, true)).await
    }

    fn http_auth(internal_base_url: &str, management: bool) -> RabbitOptions {
        let base = internal_base_url.trim_end_matches('/');
        let ttl = Self::AUTH_CACHE_TTL.as_millis();
        let mut conf = format!(
            "auth_backends.1 = internal\n\
             auth_backends.2 = cache\n\
             auth_cache.cached_backend = http\n\
             auth_cache.cache_ttl = {ttl}\n\
             auth_http.http_method = post\n"
        );
        for path in ["user", "vhost", "resource", "topic"] {
            conf.push_str(&format!(
                "auth_http.{path}_path = {base}/internal/rabbitmq/{path}\n"
            ));
        }
        let plugins: &'static [&'static str] = if management {
            &[
                "rabbitmq_auth_backend_http",
                "rabbitmq_auth_backend_cache",
                "rabbitmq_management",
            ]
        } else {
            &["rabbitmq_auth_backend_http", "rabbitmq_auth_backend_cache"]
        };
        RabbitOptions {
            plugins,
            conf,
            management,
        }
    }

    async fn start_with(options: RabbitOptions) -> Result<Self> {
        let user = run_as("rabbitmq")?;
        let dir = TempDir::new("wattline-rabbit")?;
        let mut rabbit = Self {
            server: Server::new(free_port()?, Duration::from_secs(30)),
            node: format!("{}@localhost", unique_name("wattline-test")),
            dist_port: free_port()?,
            epmd_port: free_port()?,
            management_port: options.management.then(free_port).transpose()?,
            user,
            dir,
        };
        rabbit.write_config(&options)?;
        rabbit.launch().await?;
        Ok(rabbit)
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`.
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.amqp_port())
    }

    /// The AMQP port.
    pub fn amqp_port(&self) -> u16 {
        self.server.port
    }

    /// `http://127.0.0.1:<port>` of the management API, on a node started
    /// with it.
    pub fn management_url(&self) -> Option<String> {
        self.management_port
            .map(|port| format!("http://127.0.0.1:{port}"))
    }

    /// Stops the node cleanly (SIGTERM; SIGKILL after 30 s) and returns once
    /// all of its processes are gone and the port is closed. Data is kept.
    pub async fn stop(&mut self) -> Result<()> {
        self.server.stop().await
    }

    /// Starts the node again on the same ports and data dir; waits until ready.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await?;
        self.launch().await
    }

    fn write_config(&self, options: &RabbitOptions) -> Result<()> {
        let dir = &self.dir.0;
        let files = [
            (
                "rabbitmq.conf",
                format!(
                    "listeners.tcp.1 = 127.0.0.1:{}\nloopback_users.guest = true\n\
                     max_message_size = {}\nchannel_max = {}\n{}{}",
                    self.amqp_port(),
                    Self::MAX_MESSAGE_SIZE,
                    Self::CHANNEL_MAX,
                    self.management_port.map_or(String::new(), |port| format!(
                        "management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {port}\n"
                    )),
                    options.conf
                ),
            ),
            (
                "enabled_plugins",
                format!("[{}].\n", options.plugins.join(",")),
            ),
            // Stands in for /etc/rabbitmq/rabbitmq-env.conf, which the start
            // script would otherwise read (the shared node's settings).
            ("rabbitmq-env.conf", String::new()),
            (".erlang.cookie", unique_name("WATTLINE").replace('-', "")),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text)?;
        }
        use std::os::unix::fs::PermissionsExt;
        // Erlang refuses a cookie others can read.
        std::fs::set_permissions(
            dir.join(".erlang.cookie"),
            std::fs::Permissions::from_mode(0o400),
        )?;
        if let Some((uid, gid)) = self.user {
            for entry in std::fs::read_dir(dir)? {
                std::os::unix::fs::chown(entry?.path(), Some(uid), Some(gid))?;
            }
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
        }
        Ok(())
    }

    async fn launch(&mut self) -> Result<()> {
        let dir = &self.dir.0;
        let path = |name: &str| dir.join(name).display().to_string();
        let envs = [
            // The cookie lives in $HOME.
            ("HOME", path("")),
            ("RABBITMQ_NODENAME", self.node.clone()),
            ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".to_owned()),
            ("RABBITMQ_NODE_PORT", self.amqp_port().to_string()),
            ("RABBITMQ_DIST_PORT", self.dist_port.to_string()),
            ("ERL_EPMD_PORT", self.epmd_port.to_string()),
            ("ERL_EPMD_ADDRESS", "127.0.0.1".to_owned()),
            ("RABBITMQ_MNESIA_BASE", path("mnesia")),
            ("RABBITMQ_LOG_BASE", path("log")),
            ("RABBITMQ_CONFIG_FILE", path("rabbitmq.conf")),
            ("RABBITMQ_ADVANCED_CONFIG_FILE", path("advanced.config")),
            ("RABBITMQ_ENABLED_PLUGINS_FILE", path("enabled_plugins")),
            ("RABBITMQ_CONF_ENV_FILE", path("rabbitmq-env.conf")),
        ];
        // The node's own epmd, in the node's process group so that a stop
        // ends it too; the node must find it up, or it would start a
        // daemonized one that escapes the group.
        let script = format!(
            "epmd -port \"$ERL_EPMD_PORT\" -address 127.0.0.1 &\n\
             until epmd -port \"$ERL_EPMD_PORT\" -names >/dev/null 2>&1; do sleep 0.05; done\n\
             exec {RABBITMQ_SERVER}\n"
        );
        let log = dir.join("server.log");
        let process = Supervised::spawn("sh", &["-c", &script], &envs, &log, self.user)?;
        self.server
            .launch(process, "an AMQP handshake", &log, amqp_answers)
            .await
    }
}

async fn wait_port_closed(port: u16) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !tokio::task::spawn_blocking(move || port_closed(port)).await? {
        if Instant::now() > deadline {
            bail!("port {port} still open after the server stopped");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// For `Drop`: waits (up to 5 s, blocking) until `port` refuses connections,
/// so that the next test may take it.
fn wait_port_closed_blocking(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !port_closed(port) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a broker answers the AMQP 0-9-1 protocol header with a method
/// frame (Connection.Start). An open TCP port alone is not enough: RabbitMQ
/// may accept before it serves.
fn amqp_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&loopback(port), Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut frame_type = [0u8; 1];
    stream.write_all(b"AMQP\x00\x00\x09\x01").is_ok()
        && stream.read_exact(&mut frame_type).is_ok()
        && frame_type[0] == 1
}

/// Whether InfluxDB answers `GET /ping` with 204 (plain HTTP/1.0 over a
/// socket: a blocking reqwest client may not be built or dropped on the
/// runtime, and this needs nothing more).
fn ping_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&loopback(port), Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut status_line = [0u8; 12];
    stream
        .write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_ok()
        && stream.read_exact(&mut status_line).is_ok()
        && status_line.ends_with(b" 204")
}

/// An InfluxDB 1.x (`/usr/bin/influxd`) of its own, on free ports, with its
/// data in a temp dir; killed and removed on drop.
///
/// It runs as the current user (a temp dir needs no other), with reporting,
/// the `_internal` monitor database and request/query logs off.
#[derive(Debug)]
pub struct PrivateInflux {
    // Field order matters: the server dies (`Server`'s Drop) before the dir goes.
    /// The server; its port is the HTTP port.
    server: Server,
    dir: TempDir,
}

impl PrivateInflux {
    /// Starts a server and waits until `/ping` answers 204.
    pub async fn start() -> Result<Self> {
        let dir = TempDir::new("wattline-influx")?;
        let http_port = free_port()?;
        let rpc_port = free_port()?;
        let path = |name: &str| dir.0.join(name).display().to_string();
        let config = format!(
            r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{meta}"

[data]
  dir = "{data}"
  wal-dir = "{wal}"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false

[logging]
  level = "warn"

[continuous_queries]
  log-enabled = false
"#,
            meta = path("meta"),
            data = path("data"),
            wal = path("wal"),
        );
        std::fs::write(dir.0.join("influxdb.conf"), config)?;
        let mut influx = Self {
            server: Server::new(http_port, Duration::from_secs(10)),
            dir,
        };
        influx.launch().await?;
        Ok(influx)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port)
    }

    /// Stops the server cleanly (SIGTERM; SIGKILL after 10 s) and returns once
    /// it is gone and the port is closed. Data is kept: InfluxDB's WAL holds
    /// every write it acknowledged.
    pub async fn stop(&mut self) -> Result<()> {
        self.server.stop().await
    }

    /// Starts the server again on the same ports and data; waits for `/ping`.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await?;
        self.launch().await
    }

    /// Freezes the server (SIGSTOP to its process group): connections stay
    /// open and nothing answers, as with a hung disk or a stalled VM, until
    /// [`resume`](Self::resume).
    pub fn pause(&self) {
        self.server.signal("STOP");
    }

    /// Lets a [`pause`](Self::pause)d server run again (SIGCONT).
    pub fn resume(&self) {
        self.server.signal("CONT");
    }

    async fn launch(&mut self) -> Result<()> {
        let config = self.dir.0.join("influxdb.conf").display().to_string();
        let log = self.dir.0.join("server.log");
        let process =
            Supervised::spawn("/usr/bin/influxd", &["-config", &config], &[], &log, None)?;
        self.server
            .launch(process, "/ping 204", &log, ping_answers)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InfluxDatabase;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    fn group_of(server: &Server) -> u32 {
        server.process.as_ref().expect("running").pgid
    }

    #[tokio::test]
    async fn a_private_rabbitmq_stops_and_restarts_on_the_same_port() {
        let started = Instant::now();
        let mut rabbit = PrivateRabbit::start().await.expect("start");
        eprintln!("rabbit started in {:?}", started.elapsed());
        let port = rabbit.amqp_port();
        assert!(rabbit.amqp_url().contains(&format!(":{port}/")));
        assert!(amqp_answers(port));
        let group = group_of(&rabbit.server);
        assert!(group_alive(group));

        let stopping = Instant::now();
        rabbit.stop().await.expect("stop");
        eprintln!("rabbit stopped in {:?}", stopping.elapsed());
        assert!(port_closed(port), "nothing listens after stop");
        assert!(!group_alive(group), "no beam or epmd of the node is left");
        assert!(rabbit.dir.0.join("mnesia").is_dir(), "data kept");

        let restarting = Instant::now();
        rabbit.restart().await.expect("restart");
        eprintln!("rabbit restarted in {:?}", restarting.elapsed());
        assert_eq!(rabbit.amqp_port(), port);
        assert!(amqp_answers(port));

        let (dir, group) = (rabbit.dir.0.clone(), group_of(&rabbit.server));
        drop(rabbit);
        assert!(!group_alive(group), "drop kills the node");
        assert!(!dir.exists(), "drop removes the data");
        assert!(port_closed(port));
    }

    /// A stand-in for auth-service's internal listener (the real one is
    /// another crate, which depends on this one): `dev-1` with password
    /// `s3cret` may log in and use the vhost and its resources; nobody else.
    /// Returns its base URL and the (path, username) of every question asked.
    async fn stub_auth_service() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
        use axum::extract::{Form, Path, State};
        type Asked = Arc<Mutex<Vec<(String, String)>>>;

        async fn decide(
            State(asked): State<Asked>,
            Path(question): Path<String>,
            Form(form): Form<HashMap<String, String>>,
        ) -> &'static str {
            let field = |name: &str| form.get(name).map_or("", String::as_str);
            let device = field("username") == "dev-1";
            asked
                .lock()
                .expect("not poisoned")
                .push((question.clone(), field("username").to_owned()));
            let allowed = match question.as_str() {
                "user" => device && field("password") == "s3cret",
                "vhost" | "resource" | "topic" => device,
                _ => false,
            };
            if allowed {
                "allow"
            } else {
                "deny"
            }
        }

        let asked = Asked::default();
        let app = axum::Router::new()
            .route("/internal/rabbitmq/{question}", axum::routing::post(decide))
            .with_state(asked.clone());
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, asked)
    }

    /// Connects as `user:password`, bounded: lapin may hang on a refused login.
    async fn connect(port: u16, user: &str, password: &str) -> lapin::Result<lapin::Connection> {
        let url = format!("amqp://{user}:{password}@127.0.0.1:{port}/%2f");
        tokio::time::timeout(
            Duration::from_secs(15),
            lapin::Connection::connect(&url, lapin::ConnectionProperties::default()),
        )
        .await
        .unwrap_or_else(|_| panic!("connecting as {user} took over 15 s"))
    }

    #[tokio::test]
    async fn a_private_rabbitmq_with_http_auth_asks_the_auth_service_about_devices() {
        use lapin::options::QueueDeclareOptions;
        use lapin::protocol::{AMQPErrorKind, AMQPSoftError};

        let (base, asked) = stub_auth_service().await;
        let started = Instant::now();
        let rabbit = PrivateRabbit::start_with_http_auth(&base)
            .await
            .expect("start");
        eprintln!("rabbit with http auth started in {:?}", started.elapsed());
        let port = rabbit.amqp_port();

        let device = connect(port, "dev-1", "s3cret")
            .await
            .expect("dev-1 logs in with its secret");
        let channel = device.create_channel().await.expect("channel");
        // A resource question: configure on a queue of the device's own.
        channel
            .queue_declare(
                "dev-1-probe".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    ..QueueDeclareOptions::default()
                },
                Default::default(),
            )
            .await
            .expect("dev-1 may declare a queue");
        device.close(200, "done".into()).await.expect("close");
        let questions: Vec<String> = asked
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|(question, user)| {
                assert_eq!(user, "dev-1");
                question.clone()
            })
            .collect();
        for question in ["user", "vhost", "resource"] {
            assert!(
                questions.iter().any(|q| q == question),
                "RabbitMQ asked {question}: {questions:?}"
            );
        }

        let error = connect(port, "dev-1", "wrong")
            .await
            .expect_err("a wrong secret is refused");
        assert!(
            matches!(
                error.kind(),
                lapin::ErrorKind::ProtocolError(e)
                    if matches!(e.kind(), AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED))
            ),
            "refused with ACCESS_REFUSED, not {error:?}"
        );

        // Internal users come first and do not reach the auth service.
        let before = asked.lock().expect("not poisoned").len();
        let guest = connect(port, "guest", "guest")
            .await
            .expect("guest still logs in");
        guest.close(200, "done".into()).await.expect("close");
        assert_eq!(asked.lock().expect("not poisoned").len(), before);
    }

    #[tokio::test]
    async fn a_private_influxdb_keeps_its_points_across_a_restart() {
        crate::init_crypto();
        let started = Instant::now();
        let mut influx = PrivateInflux::start().await.expect("start");
        eprintln!("influx started in {:?}", started.elapsed());
        let db = InfluxDatabase::create_on(&influx.url())
            .await
            .expect("database");
        let write = |url: String| {
            let name = db.name.clone();
            async move {
                reqwest::Client::new()
                    .post(format!("{url}/write"))
                    .query(&[("db", name.as_str()), ("precision", "ms")])
                    .body("power,socket=a watts=1.5 1700000000000")
                    .send()
                    .await
            }
        };
        let response = write(influx.url()).await.expect("write");
        assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT);

        let group = group_of(&influx.server);
        let stopping = Instant::now();
        influx.stop().await.expect("stop");
        eprintln!("influx stopped in {:?}", stopping.elapsed());
        assert!(write(influx.url()).await.is_err(), "down: connect fails");
        assert!(!group_alive(group));

        let restarting = Instant::now();
        influx.restart().await.expect("restart");
        eprintln!("influx restarted in {:?}", restarting.elapsed());
        assert_eq!(db.count_points("power").await.expect("count"), 1);

        let (dir, group, url) = (influx.dir.0.clone(), group_of(&influx.server), influx.url());
        drop(db);
        drop(influx);
        assert!(!group_alive(group));
        assert!(!dir.exists());
        assert!(reqwest::get(format!("{url}/ping")).await.is_err());
    }

    #[test]
    fn free_ports_avoid_the_ephemeral_range() {
        let port = free_port().expect("port");
        assert!((20_000..32_000).contains(&port));
    }
}
