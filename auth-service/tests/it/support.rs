//! A real auth-service in the test process (bound on free ports, on a real
//! SQLite file or a real PostgreSQL database) and a small client for its API.

use std::time::Duration;

use auth_service::{AuthService, Config};
use clap::Parser;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use testkit::PostgresDatabase;
use tokio_util::sync::CancellationToken;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Runs one async test body on both databases: `on_both_databases!(name, body_fn)`
/// defines `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_databases {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$body($crate::support::Db::Sqlite).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$body($crate::support::Db::Postgres).await;
            }
        }
    };
}

/// A running auth service; stopped when dropped.
pub struct Auth {
    pub base: String,
    pub internal: String,
    pub http: reqwest::Client,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
    _postgres: Option<PostgresDatabase>,
}

impl Auth {
    /// Starts on `db` with the defaults and `extra` flags.
    pub async fn start(db: Db, extra: &[&str]) -> Self {
        // reqwest is built without a default TLS provider (see the workspace).
        testkit::init_crypto();
        let dir = tempfile::tempdir().expect("tempdir");
        let postgres = match db {
            Db::Sqlite => None,
            Db::Postgres => Some(PostgresDatabase::create().await.expect("postgres database")),
        };
        let database_url = match &postgres {
            Some(pg) => pg.url(),
            None => format!("sqlite://{}", dir.path().join("auth.db").display()),
        };
        let key_file = dir.path().join("signing.pem");
        let defaults = [
            "--listen=127.0.0.1:0".to_owned(),
            "--internal-listen=127.0.0.1:0".into(),
            format!("--database-url={database_url}"),
            format!("--signing-key-file={}", key_file.display()),
            // Generous: tests that exercise the limits set their own.
            "--login-limit-per-account=1000/1s".into(),
            "--login-limit-per-client=1000/1s".into(),
        ];
        // `extra` overrides a default flag of the same name.
        let overridden = |default: &str| {
            let flag = default.split('=').next().unwrap_or(default);
            extra.iter().any(|arg| arg.split('=').next() == Some(flag))
        };
        let args = std::iter::once("auth-service".to_owned())
            .chain(defaults.into_iter().filter(|arg| !overridden(arg)))
            .chain(extra.iter().map(|arg| (*arg).to_owned()));
        Self::start_with(Config::parse_from(args), dir, postgres).await
    }

    async fn start_with(
        config: Config,
        dir: tempfile::TempDir,
        postgres: Option<PostgresDatabase>,
    ) -> Self {
        let service = AuthService::bind(config).await.expect("auth service binds");
        let base = format!("http://{}", service.local_addr());
        let internal = format!("http://{}", service.internal_addr());
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let stop = stop.clone();
            async move { service.run(stop).await.expect("auth service runs") }
        });
        Self {
            base,
            internal,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            stop,
            task: Some(task),
            _dir: dir,
            _postgres: postgres,
        }
    }

    /// The signing key file (generated at first start).
    pub fn key_file(&self) -> std::path::PathBuf {
        self._dir.path().join("signing.pem")
    }

    /// Stops the service and waits until it has.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("auth service task");
        }
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Response {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request")
    }

    /// `POST /api/auth/login`.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// `POST /api/auth/refresh`.
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": refresh_token}),
        )
        .await
    }

    /// What the internal device registry answers about `device`.
    pub async fn registry(&self, device: &str) -> Response {
        self.http
            .get(format!(
                "{}/internal/devices/{}",
                self.internal,
                encode(device)
            ))
            .send()
            .await
            .expect("request")
    }

    /// Registers a new household owner; returns the session.
    pub async fn register(&self, email: &str) -> Session {
        let response = self
            .post(
                "/api/auth/register",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        Session::from(expect_json(response, StatusCode::CREATED).await)
    }

    /// Registers a device in the session's household; returns (id, secret).
    pub async fn create_device(&self, session: &Session, name: &str) -> (String, String) {
        let response = self
            .post("/api/devices", Some(&session.access), json!({"name": name}))
            .await;
        let body = expect_json(response, StatusCode::CREATED).await;
        (
            body["device"]["id"].as_str().expect("id").to_owned(),
            body["secret"].as_str().expect("secret").to_owned(),
        )
    }

    /// What the internal broker endpoint `path` answers to `form`.
    pub async fn broker(&self, path: &str, form: &[(&str, &str)]) -> String {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.http
            .post(format!("{}/internal/rabbitmq/{path}", self.internal))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("body")
    }
}

impl Drop for Auth {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The password every test account has.
pub const PASSWORD: &str = "correct horse battery staple";

/// A logged-in user's tokens.
#[derive(Debug, Clone)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
    pub household: String,
}

impl From<Value> for Session {
    fn from(body: Value) -> Self {
        let text = |v: &Value| v.as_str().expect("string").to_owned();
        Self {
            access: text(&body["access_token"]),
            refresh: text(&body["refresh_token"]),
            user_id: text(&body["user"]["user_id"]),
            household: text(&body["user"]["household_id"]),
        }
    }
}

/// The JSON body of a response that must have `status`.
pub async fn expect_json(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The error code of a response that must have `status`.
pub async fn expect_error(response: Response, status: StatusCode) -> String {
    let body = expect_json(response, status).await;
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
        .to_owned()
}

/// Percent-encodes a form value or path segment.
pub use testkit::percent_encode as encode;
