//! No secret in a log or a URL: the three real binaries (auth-service on
//! PostgreSQL, read-service on InfluxDB, the gateway) run with
//! `RUST_LOG=debug`; a whole session goes through the gateway (register, a
//! failed login, login, refreshes by cookie and by body, a password change,
//! a device and its rotated secret, an invitation, every read API, logout).
//! Then their logs are searched for every secret used, and every answer for
//! a secret outside the fields that are meant to carry it.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::support::{assets_dir, client, influx_with_rollups};

const PATIENCE: Duration = Duration::from_secs(60);

/// Starts `binary` with `args`, `RUST_LOG=debug` and its output in `log`.
fn spawn(binary: &Path, args: &[String], log: &Path) -> Child {
    let file = std::fs::File::create(log).expect("log file");
    Command::new(binary)
        .args(args)
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log file"))
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()))
}

/// One answer, kept for the checks at the end.
#[derive(Debug)]
struct Seen {
    what: String,
    headers: reqwest::header::HeaderMap,
    body: String,
}

/// The session's client: calls through the gateway, keeps every answer.
struct Session {
    base: String,
    http: reqwest::Client,
    seen: Vec<Seen>,
}

impl Session {
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        cookie: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, format!("wattline_refresh={cookie}"));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.expect("body");
        self.seen.push(Seen {
            what: format!("{method} {path} -> {status}"),
            headers: headers.clone(),
            body: body.clone(),
        });
        (status, headers, body)
    }

    async fn json(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Value {
        let (status, _, text) = self.call(method.clone(), path, token, None, body).await;
        assert_eq!(status, expected, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }
}

/// The refresh token a response set as its cookie.
fn cookie_of(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("wattline_refresh="))
        .and_then(|v| v.split(';').next())
        .expect("a wattline_refresh cookie")
        .to_owned()
}

fn text(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {value}"))
        .to_owned()
}

/// Removes the fields whose job is to carry a secret to its owner.
fn without_secret_fields(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for field in ["access_token", "refresh_token", "secret", "invite_token"] {
                map.remove(field);
            }
            map.values_mut().for_each(without_secret_fields);
        }
        Value::Array(items) => items.iter_mut().for_each(without_secret_fields),
        _ => {}
    }
}

#[tokio::test]
async fn a_whole_session_leaves_no_secret_in_the_logs_or_in_any_url() {
    testkit::init_crypto();
    let dir = tempfile::tempdir().expect("tempdir");
    let assets = assets_dir();
    let postgres = testkit::PostgresDatabase::create()
        .await
        .expect("postgres database");
    let influx = influx_with_rollups().await;
    let port = || testkit::free_port().expect("port");
    let (auth_port, internal_port, read_port, web_port) = (port(), port(), port(), port());
    let logs = [
        dir.path().join("auth.log"),
        dir.path().join("read.log"),
        dir.path().join("web.log"),
    ];
    let mut children = [
        spawn(
            &testkit::binary("auth-service"),
            &[
                format!("--listen=127.0.0.1:{auth_port}"),
                format!("--internal-listen=127.0.0.1:{internal_port}"),
                format!("--database-url={}", postgres.url()),
                format!(
                    "--signing-key-file={}",
                    dir.path().join("signing.pem").display()
                ),
                "--trust-forwarded-for".into(),
                "--insecure-cookies".into(),
            ],
            &logs[0],
        ),
        spawn(
            &testkit::binary("read-service"),
            &[
                format!("--listen=127.0.0.1:{read_port}"),
                format!("--influx-url={}", influx.url),
                format!("--influx-db={}", influx.name),
                format!("--auth-url=http://127.0.0.1:{auth_port}"),
                format!("--auth-internal-url=http://127.0.0.1:{internal_port}"),
                "--live-interval=200ms".into(),
            ],
            &logs[1],
        ),
        spawn(
            Path::new(env!("CARGO_BIN_EXE_web")),
            &[
                format!("--listen=127.0.0.1:{web_port}"),
                format!("--auth-url=http://127.0.0.1:{auth_port}"),
                format!("--read-url=http://127.0.0.1:{read_port}"),
                format!("--assets-dir={}", assets.path().display()),
            ],
            &logs[2],
        ),
    ];
    let base = format!("http://127.0.0.1:{web_port}");
    testkit::eventually(PATIENCE, "all three healthy", || {
        let url = format!("{base}/healthz");
        async move {
            Ok(client()
                .get(url)
                .send()
                .await?
                .status()
                .is_success()
                .then_some(()))
        }
    })
    .await
    .expect("healthy");

    let mut session = Session {
        base: base.clone(),
        http: client(),
        seen: Vec::new(),
    };
    let password = "a long and secret passphrase 1";
    let new_password = "another secret passphrase 2";
    let wrong_password = "a wrong guess of a password 3";
    let mut secrets: Vec<(&str, String)> = vec![
        ("password", password.into()),
        ("new password", new_password.into()),
        ("wrong password", wrong_password.into()),
    ];
    let email = "ann@example.org";

    let (status, headers, body) = session
        .call(
            Method::POST,
            "/api/auth/register",
            None,
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let registered: Value = serde_json::from_str(&body).expect("json");
    secrets.push(("access token (register)", text(&registered, "access_token")));
    secrets.push((
        "refresh token (register)",
        text(&registered, "refresh_token"),
    ));
    let household = text(&registered["user"], "household_id");
    let cookie = cookie_of(&headers);

    session
        .json(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": email, "password": wrong_password})),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    let login = session
        .json(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
            StatusCode::OK,
        )
        .await;
    secrets.push(("access token (login)", text(&login, "access_token")));
    secrets.push(("refresh token (login)", text(&login, "refresh_token")));

    // A page reload: the cookie only.
    let (status, headers, body) = session
        .call(Method::POST, "/api/auth/refresh", None, Some(&cookie), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let by_cookie: Value = serde_json::from_str(&body).expect("json");
    secrets.push((
        "access token (cookie refresh)",
        text(&by_cookie, "access_token"),
    ));
    secrets.push(("cookie", cookie_of(&headers)));
    // An API client: the token in the body.
    let by_body = session
        .json(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": text(&login, "refresh_token")})),
            StatusCode::OK,
        )
        .await;
    let access = text(&by_body, "access_token");
    secrets.push(("access token (body refresh)", access.clone()));
    secrets.push((
        "refresh token (body refresh)",
        text(&by_body, "refresh_token"),
    ));

    session
        .json(
            Method::GET,
            "/api/auth/me",
            Some(&access),
            None,
            StatusCode::OK,
        )
        .await;
    let created = session
        .json(
            Method::POST,
            "/api/devices",
            Some(&access),
            Some(json!({"name": "Kitchen Pi"})),
            StatusCode::CREATED,
        )
        .await;
    let device = text(&created["device"], "id");
    secrets.push(("device secret", text(&created, "secret")));
    let rotated = session
        .json(
            Method::POST,
            &format!("/api/devices/{}/secret", testkit::percent_encode(&device)),
            Some(&access),
            None,
            StatusCode::OK,
        )
        .await;
    secrets.push(("rotated device secret", text(&rotated, "secret")));
    let invite = session
        .json(
            Method::POST,
            "/api/household/invites",
            Some(&access),
            Some(json!({"email": "bob@example.org"})),
            StatusCode::CREATED,
        )
        .await;
    secrets.push(("invite token", text(&invite, "invite_token")));

    // A reading to read back.
    let now = jiff::Timestamp::now();
    let line = format!(
        "power,device={device},household={household},socket=fridge watts=85.5,energy_wh=12 {}",
        now.as_millisecond()
    );
    let written = client()
        .post(format!(
            "{}/write?db={}&precision=ms",
            influx.url, influx.name
        ))
        .body(line)
        .send()
        .await
        .expect("write");
    assert!(written.status().is_success());
    let (from, to) = (
        testkit::percent_encode(&(now - jiff::SignedDuration::from_hours(1)).to_string()),
        testkit::percent_encode(&(now + jiff::SignedDuration::from_mins(1)).to_string()),
    );
    let sockets = session
        .json(
            Method::GET,
            "/api/sockets",
            Some(&access),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(sockets["sockets"][0]["socket"], "fridge", "{sockets}");
    for path in [
        format!("/api/power?from={from}&to={to}&device={device}&socket=fridge"),
        format!("/api/energy?from={from}&to={to}&bucket=hour"),
        format!("/api/export.csv?from={from}&to={to}"),
    ] {
        let (status, _, body) = session
            .call(Method::GET, &path, Some(&access), None, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let mut live = client()
        .get(format!("{base}/api/live"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("live");
    assert_eq!(live.status(), StatusCode::OK);
    let event = tokio::time::timeout(PATIENCE, live.chunk())
        .await
        .expect("an event")
        .expect("chunk")
        .expect("data");
    assert!(String::from_utf8_lossy(&event).contains("fridge"));
    drop(live);

    let (status, _, body) = session
        .call(
            Method::POST,
            "/api/auth/password",
            Some(&access),
            None,
            Some(json!({"current_password": password, "new_password": new_password})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let again = session
        .json(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": email, "password": new_password})),
            StatusCode::OK,
        )
        .await;
    secrets.push(("access token (new password)", text(&again, "access_token")));
    let last_cookie = text(&again, "refresh_token");
    secrets.push(("refresh token (new password)", last_cookie.clone()));
    let (status, _, _) = session
        .call(
            Method::POST,
            "/api/auth/logout",
            None,
            Some(&last_cookie),
            None,
        )
        .await;
    assert!(status.is_success(), "{status}");

    for child in &children {
        testkit::sigterm(child);
    }
    for child in &mut children {
        let status = tokio::time::timeout(PATIENCE, child.wait())
            .await
            .expect("stops")
            .expect("wait");
        assert!(status.success(), "{status}");
    }

    // The logs: at debug level, each with the session's requests in it.
    let logs: Vec<(String, String)> = logs
        .iter()
        .map(|path| {
            (
                path.display().to_string(),
                std::fs::read_to_string(path).expect("log"),
            )
        })
        .collect();
    for (name, log) in &logs {
        assert!(
            log.contains("DEBUG"),
            "{name} is not at debug level:\n{log}"
        );
        for (what, secret) in &secrets {
            assert!(
                !log.contains(secret.as_str()),
                "{name} holds the {what}:\n{log}"
            );
        }
    }
    let web_log = &logs[2].1;
    assert!(web_log.contains("/api/auth/refresh"), "{web_log}");

    // The answers: no redirect anywhere, and a secret only in the field
    // meant to hand it over (or the HttpOnly cookie).
    for seen in &session.seen {
        assert!(
            seen.headers.get(LOCATION).is_none(),
            "{}: a redirect",
            seen.what
        );
        for (name, value) in &seen.headers {
            if name == SET_COOKIE {
                continue;
            }
            let value = String::from_utf8_lossy(value.as_bytes());
            for (what, secret) in &secrets {
                assert!(
                    !value.contains(secret.as_str()),
                    "{}: {what} in {name}",
                    seen.what
                );
            }
        }
        let mut body: Value =
            serde_json::from_str(&seen.body).unwrap_or(Value::String(seen.body.clone()));
        without_secret_fields(&mut body);
        let rest = body.to_string();
        for (what, secret) in &secrets {
            assert!(
                !rest.contains(secret.as_str()),
                "{}: {what} in the body: {rest}",
                seen.what
            );
        }
    }
    println!(
        "{} secrets, {} answers, log lines: {}",
        secrets.len(),
        session.seen.len(),
        logs.iter()
            .map(|(name, log)| format!("{name} {}", log.lines().count()))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
