//! A read-service with its own InfluxDB database, a real auth-service, and
//! helpers to write readings and rollups and to call the API.

use std::time::Duration;

use auth_service::AuthService;
use clap::Parser;
use read_service::{Config, ReadService};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::InfluxDatabase;
use tokio_util::sync::CancellationToken;

/// The password of every test account.
pub const PASSWORD: &str = "correct horse battery staple";

/// Everything a test talks to; stopped when dropped.
pub struct World {
    pub base: String,
    pub auth_base: String,
    pub auth_internal: String,
    pub db: InfluxDatabase,
    pub http: reqwest::Client,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

/// A household's owner.
#[derive(Debug, Clone)]
pub struct Member {
    pub token: String,
    pub household: String,
}

/// A response, read.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The error code, asserting the status.
    pub fn error(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "{}", self.text);
        self.json()["error"]["code"]
            .as_str()
            .expect("code")
            .to_owned()
    }

    /// The JSON body, asserting 200.
    pub fn ok(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text);
        self.json()
    }
}

impl World {
    /// Starts auth-service, creates a database with the rollup retention
    /// policies, and starts read-service on it with `extra` flags.
    pub async fn start(extra: &[&str]) -> Self {
        testkit::init_crypto();
        let dir = tempfile::tempdir().expect("tempdir");
        let auth_config = auth_service::Config::parse_from([
            "auth-service".to_owned(),
            "--listen=127.0.0.1:0".into(),
            "--internal-listen=127.0.0.1:0".into(),
            format!(
                "--database-url=sqlite://{}",
                dir.path().join("auth.db").display()
            ),
            format!(
                "--signing-key-file={}",
                dir.path().join("signing.pem").display()
            ),
            "--login-limit-per-account=1000/1s".into(),
            "--login-limit-per-client=1000/1s".into(),
        ]);
        let auth = AuthService::bind(auth_config).await.expect("auth binds");
        let auth_base = format!("http://{}", auth.local_addr());
        let auth_internal = format!("http://{}", auth.internal_addr());
        let stop = CancellationToken::new();
        tokio::spawn({
            let stop = stop.clone();
            async move { auth.run(stop).await.expect("auth runs") }
        });

        let db = InfluxDatabase::create().await.expect("influx database");
        for (rp, duration) in [("rollup_1m", "800d"), ("rollup_1h", "INF")] {
            db.query(&format!(
                "CREATE RETENTION POLICY \"{rp}\" ON \"{}\" DURATION {duration} REPLICATION 1",
                db.name
            ))
            .await
            .expect("retention policy");
        }
        let args = [
            "read-service".to_owned(),
            "--listen=127.0.0.1:0".into(),
            format!("--influx-url={}", db.url),
            format!("--influx-db={}", db.name),
            format!("--auth-url={auth_base}"),
            format!("--auth-internal-url={auth_internal}"),
            "--live-interval=200ms".into(),
        ]
        .into_iter()
        .chain(extra.iter().map(|s| (*s).to_owned()));
        let service = ReadService::bind(Config::parse_from(args))
            .await
            .expect("read service binds");
        let base = format!("http://{}", service.local_addr());
        tokio::spawn({
            let stop = stop.clone();
            async move { service.run(stop).await.expect("read service runs") }
        });
        Self {
            base,
            auth_base,
            auth_internal,
            db,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            stop,
            _dir: dir,
        }
    }

    /// Registers a household owner; sets the household's time zone and tariff.
    pub async fn household(&self, email: &str, time_zone: &str, tariff: Value) -> Member {
        let response = self
            .http
            .post(format!("{}/api/auth/register", self.auth_base))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("register");
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        let member = Member {
            token: body["access_token"].as_str().expect("token").to_owned(),
            household: body["user"]["household_id"]
                .as_str()
                .expect("household")
                .to_owned(),
        };
        let response = self
            .http
            .put(format!("{}/api/household/settings", self.auth_base))
            .bearer_auth(&member.token)
            .json(&json!({"time_zone": time_zone, "tariff": tariff}))
            .send()
            .await
            .expect("settings");
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            response.text().await.unwrap_or_default()
        );
        member
    }

    /// GET `path` (with its query) from read-service.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.expect("body"),
        }
    }

    /// Writes line protocol to retention policy `rp` (None: the default, raw).
    pub async fn write(&self, rp: Option<&str>, lines: &str) {
        let mut query = vec![("db", self.db.name.as_str()), ("precision", "ms")];
        if let Some(rp) = rp {
            query.push(("rp", rp));
        }
        let url = format!("{}/write", self.db.url);
        let response = self
            .http
            .post(url)
            .query(&query)
            .body(lines.to_owned())
            .send()
            .await
            .expect("write");
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap_or_default()
        );
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A tag value in line protocol.
pub fn tag(value: &str) -> String {
    value
        .replace(',', "\\,")
        .replace('=', "\\=")
        .replace(' ', "\\ ")
}

/// A raw reading.
pub fn raw(
    household: &str,
    device: &str,
    socket: &str,
    ms: i64,
    watts: f64,
    energy_wh: f64,
) -> String {
    format!(
        "power,device={},household={},socket={} watts={watts},energy_wh={energy_wh} {ms}\n",
        tag(device),
        tag(household),
        tag(socket)
    )
}

/// A per-socket rollup point (rollup/src/schema.rs).
// One argument per field of the point: call sites read like the line.
#[allow(clippy::too_many_arguments)]
pub fn socket_rollup(
    household: &str,
    device: &str,
    socket: &str,
    ms: i64,
    watts: f64,
    watts_max: f64,
    energy_wh: f64,
    energy_total_wh: f64,
) -> String {
    format!(
        "power,device={},household={},socket={} watts={watts},watts_max={watts_max},energy_wh={energy_wh},energy_total_wh={energy_total_wh},samples=6i {ms}\n",
        tag(device),
        tag(household),
        tag(socket)
    )
}

/// A per-household rollup point.
pub fn household_rollup(household: &str, ms: i64, watts: f64, energy_wh: f64) -> String {
    format!(
        "household,household={} watts={watts},energy_wh={energy_wh} {ms}\n",
        tag(household)
    )
}

/// Unix ms of an RFC 3339 time.
pub fn ms(time: &str) -> i64 {
    time.parse::<jiff::Timestamp>()
        .expect("time")
        .as_millisecond()
}

/// Unix ms now.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// `a` and `b` agree to a millionth.
#[track_caller]
pub fn close(a: &Value, b: f64) {
    let a = a.as_f64().unwrap_or_else(|| panic!("not a number: {a}"));
    assert!((a - b).abs() < 1e-6, "{a} != {b}");
}

/// A URL query value.
pub use testkit::percent_encode as enc;

/// The tariff the tests price with: 0.30/kWh, 0.35 from 07:00 to 23:00, 0.25 a day.
pub fn tariff() -> Value {
    json!({"currency": "EUR", "price_per_kwh": 0.30, "daily_charge": 0.25,
           "bands": [{"from": "07:00", "to": "23:00", "price_per_kwh": 0.35}]})
}
