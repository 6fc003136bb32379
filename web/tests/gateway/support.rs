//! A gateway in the test process (bound on port 0), real auth-services to
//! put behind it, and a stand-in upstream for streaming.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use auth_service::{AuthService, Config as AuthConfig};
use axum::body::Body;
use axum::extract::Request;
use axum::response::sse::{Event, Sse};
use axum::routing::{any, get};
use axum::Router;
use clap::Parser;
use futures_util::StreamExt;
use tokio::sync::{mpsc, Mutex};
use tokio_util::sync::CancellationToken;
use wattline_web::{Config, Gateway};

/// A running gateway; stopped when dropped.
pub struct Web {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub stop: CancellationToken,
    pub task: Option<tokio::task::JoinHandle<()>>,
}

impl Web {
    /// Starts a gateway in front of `auth` and `read` (base URLs) serving
    /// `assets`, with `extra` flags.
    pub async fn start(auth: &str, read: &str, assets: &Path, extra: &[&str]) -> Self {
        testkit::init_crypto();
        let args = [
            "web".to_owned(),
            "--listen=127.0.0.1:0".into(),
            format!("--auth-url={auth}"),
            format!("--read-url={read}"),
            format!("--assets-dir={}", assets.display()),
        ]
        .into_iter()
        .chain(extra.iter().map(|arg| (*arg).to_owned()));
        let stop = CancellationToken::new();
        let gateway = Gateway::bind(Config::parse_from(args), stop.clone())
            .await
            .expect("gateway binds");
        let base = format!("http://{}", gateway.local_addr());
        let task = tokio::spawn({
            let stop = stop.clone();
            async move { gateway.run(stop).await.expect("gateway runs") }
        });
        Self {
            base,
            stop,
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The gateway's `/metrics` text.
    pub async fn metrics(&self) -> String {
        client()
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A real auth-service in this process, on a temp SQLite file; stopped when
/// dropped.
pub struct Auth {
    pub base: String,
    internal: String,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Auth {
    /// Behind a proxy, as deployed: it trusts the last `X-Forwarded-For`
    /// entry and sets cookies without `Secure` (plain http here). `extra`
    /// flags replace a default of the same name.
    pub async fn start(extra: &[&str]) -> Self {
        testkit::init_crypto();
        let dir = tempfile::tempdir().expect("tempdir");
        let defaults = [
            "--listen=127.0.0.1:0".to_owned(),
            "--internal-listen=127.0.0.1:0".into(),
            format!(
                "--database-url=sqlite://{}",
                dir.path().join("auth.db").display()
            ),
            format!(
                "--signing-key-file={}",
                dir.path().join("signing.pem").display()
            ),
            // Generous: the test of client addresses sets its own.
            "--login-limit-per-account=1000/1s".into(),
            "--login-limit-per-client=1000/1s".into(),
            "--trust-forwarded-for".into(),
            "--insecure-cookies".into(),
        ];
        let flag = |arg: &str| arg.split('=').next().unwrap_or(arg).to_owned();
        let args = std::iter::once("auth-service".to_owned())
            .chain(
                defaults
                    .into_iter()
                    .filter(|default| !extra.iter().any(|arg| flag(arg) == flag(default))),
            )
            .chain(extra.iter().map(|arg| (*arg).to_owned()));
        let config = AuthConfig::try_parse_from(args).unwrap_or_else(|e| {
            panic!("auth-service does not take the flags the gateway's deployment uses: {e}")
        });
        let service = AuthService::bind(config).await.expect("auth service binds");
        let base = format!("http://{}", service.local_addr());
        let internal = format!("http://{}", service.internal_addr());
        let stop = CancellationToken::new();
        tokio::spawn({
            let stop = stop.clone();
            async move { service.run(stop).await.expect("auth service runs") }
        });
        Self {
            base,
            internal,
            stop,
            _dir: dir,
        }
    }
}

impl Drop for Auth {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Auth {
    /// Its internal API's base URL (read-service reads household settings there).
    pub fn internal(&self) -> &str {
        &self.internal
    }
}

/// A database of its own on the shared InfluxDB, with the rollup job's
/// retention policies (which read-service reads too).
pub async fn influx_with_rollups() -> testkit::InfluxDatabase {
    let db = testkit::InfluxDatabase::create()
        .await
        .expect("influx database");
    for (policy, duration) in [("rollup_1m", "800d"), ("rollup_1h", "INF")] {
        db.query(&format!(
            "CREATE RETENTION POLICY \"{policy}\" ON \"{}\" DURATION {duration} REPLICATION 1",
            db.name
        ))
        .await
        .expect("retention policy");
    }
    db
}

/// A real read-service in this process, on its own InfluxDB database, with
/// auth-service's keys and settings; stopped when dropped.
pub struct Read {
    pub base: String,
    _db: testkit::InfluxDatabase,
    stop: CancellationToken,
}

impl Read {
    pub async fn start(auth: &Auth, extra: &[&str]) -> Self {
        testkit::init_crypto();
        let db = influx_with_rollups().await;
        let args = [
            "read-service".to_owned(),
            "--listen=127.0.0.1:0".into(),
            format!("--influx-url={}", db.url),
            format!("--influx-db={}", db.name),
            format!("--auth-url={}", auth.base),
            format!("--auth-internal-url={}", auth.internal()),
        ]
        .into_iter()
        .chain(extra.iter().map(|arg| (*arg).to_owned()));
        let service = read_service::ReadService::bind(read_service::Config::parse_from(args))
            .await
            .expect("read service binds");
        let base = format!("http://{}", service.local_addr());
        let stop = CancellationToken::new();
        tokio::spawn({
            let stop = stop.clone();
            async move { service.run(stop).await.expect("read service runs") }
        });
        Self {
            base,
            _db: db,
            stop,
        }
    }
}

impl Drop for Read {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A stand-in read-service for streaming: `GET /api/live` streams one SSE
/// event per message the test sends (so the test decides when the next one
/// exists); `ANY /api/echo/...` answers what arrived (method, URI as sent,
/// forwarded headers, body length); `GET /api/broken.csv` breaks off after
/// its first line.
pub struct Upstream {
    pub base: String,
    pub events: mpsc::Sender<String>,
    stop: CancellationToken,
}

impl Upstream {
    pub async fn start() -> Self {
        let (events, receiver) = mpsc::channel::<String>(1);
        let receiver = Arc::new(Mutex::new(Some(receiver)));
        let live = get(move || {
            let receiver = receiver.clone();
            async move {
                let receiver = receiver.lock().await.take().expect("one live stream");
                let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
                    let data = receiver.recv().await?;
                    let event = Event::default().event("power").data(data);
                    Some((Ok::<_, std::convert::Infallible>(event), receiver))
                });
                Sse::new(stream)
            }
        });
        // A CSV export whose query fails after the first rows.
        let broken = get(|| async {
            // The error comes a little later, once the head is surely sent.
            let chunks = futures_util::stream::iter([Ok(bytes::Bytes::from_static(
                b"time,device,socket,watts,energy_wh\n",
            ))])
            .chain(futures_util::stream::once(async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Err(std::io::Error::other("the database went away"))
            }));
            Body::from_stream(chunks)
        });
        let app = Router::new()
            .route("/api/live", live)
            .route("/api/broken.csv", broken)
            .route("/api/echo/{*rest}", any(echo));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let stop = CancellationToken::new();
        tokio::spawn({
            let stop = stop.clone();
            async move {
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
            }
        });
        Self { base, events, stop }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn echo(request: Request) -> axum::Json<serde_json::Value> {
    let (parts, body) = request.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join("|")
    };
    let mut length = 0usize;
    let mut chunks = Body::new(body).into_data_stream();
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(bytes) => length += bytes.len(),
            Err(_) => break,
        }
    }
    axum::Json(serde_json::json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "x_forwarded_for": header("x-forwarded-for"),
        "x_forwarded_proto": header("x-forwarded-proto"),
        "x_forwarded_host": header("x-forwarded-host"),
        "authorization": header("authorization"),
        "connection_named": header("x-hop"),
        "body_length": length,
    }))
}

/// A client with a timeout (an SSE test sets its own per read).
pub fn client() -> reqwest::Client {
    testkit::init_crypto();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A built-dashboard stand-in: what `npm run build` writes, small.
pub fn assets_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir(root.join("assets")).expect("mkdir");
    std::fs::write(
        root.join("index.html"),
        "<!doctype html><html><head><script type=\"module\" src=\"/assets/index-3f2a9c.js\"></script>\
         </head><body><div id=\"app\"></div></body></html>",
    )
    .expect("index");
    // Big and repetitive enough to be worth compressing.
    let script = "console.log('wattline dashboard');\n".repeat(200);
    std::fs::write(root.join("assets/index-3f2a9c.js"), script).expect("script");
    std::fs::write(
        root.join("favicon.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .expect("icon");
    dir
}

/// A base URL where nothing listens.
pub fn nowhere() -> String {
    format!("http://127.0.0.1:{}", testkit::free_port().expect("port"))
}

/// HTTP/1.1 spoken by hand over TCP, for what a well-behaved client never
/// sends (unnormalised paths, bytes one at a time) and reqwest would refuse
/// or tidy up.
pub mod raw {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// An answer read to the end of the connection.
    #[derive(Debug)]
    pub struct Answer {
        pub status: u16,
        /// The status line and headers.
        pub head: String,
        pub body: Vec<u8>,
    }

    impl Answer {
        /// The error code of a JSON error body, if it is one.
        pub fn error_code(&self) -> Option<String> {
            let json: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
            json["error"]["code"].as_str().map(str::to_owned)
        }

        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    }

    /// The `host:port` of a `http://host:port` base URL.
    pub fn address(base: &str) -> &str {
        base.trim_start_matches("http://")
    }

    /// Connects to the server at `base`.
    pub async fn connect(base: &str) -> TcpStream {
        TcpStream::connect(address(base)).await.expect("connect")
    }

    /// Reads one answer that ends with the connection, or with its
    /// `Content-Length` (enough for error bodies and files).
    pub async fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
        let mut bytes = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(answer) = parse(&bytes) {
                return Some(answer);
            }
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return parse_to_end(&bytes),
                Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            }
        }
    }

    fn split(bytes: &[u8]) -> Option<(String, &[u8])> {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        Some((head, &bytes[end + 4..]))
    }

    fn parse(bytes: &[u8]) -> Option<Answer> {
        let (head, body) = split(bytes)?;
        let length: usize = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })?;
        (body.len() >= length).then(|| answer(head, &body[..length]))
    }

    fn parse_to_end(bytes: &[u8]) -> Option<Answer> {
        let (head, body) = split(bytes)?;
        Some(answer(head, body))
    }

    fn answer(head: String, body: &[u8]) -> Answer {
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        Answer {
            status,
            head,
            body: body.to_vec(),
        }
    }

    /// Sends `request` as is and reads the answer.
    pub async fn exchange(base: &str, request: &[u8]) -> Answer {
        let mut stream = connect(base).await;
        stream.write_all(request).await.expect("send");
        read_answer(&mut stream)
            .await
            .unwrap_or_else(|| panic!("no answer to {}", String::from_utf8_lossy(request)))
    }

    /// `GET <target>` exactly as written, on a connection of its own.
    pub async fn get(base: &str, target: &str) -> Answer {
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        exchange(base, request.as_bytes()).await
    }
}
