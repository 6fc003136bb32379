//! `perf http`: one service, read-service or auth-service, as a real
//! process under an open-loop HTTP load (a fixed rate of requests, whatever
//! the answers take), with per-endpoint latency percentiles, answers by
//! status, the service's RSS sampled every second and its CPU.
//!
//! The rate defaults to ten times the expected peak of a slice of the
//! fleet ([`peak_per_s`]). [`Report::problems`] is what the run must not
//! show: a 5xx, any refusal other than a well-formed 429 (`Retry-After` and
//! the JSON error body), a failed connection, or memory that keeps growing.
//!
//! read-service runs on a database of the run's own with real data (the
//! history [`crate::read::dataset`] writes for `perf read`); auth-service
//! runs with its default login limits, so the logins beyond them are the
//! deliberate 429s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::json;

use crate::procstat;
use crate::read::dataset::{self, Extent, Layout};
use crate::read::services::{self, Login, Logins};
use crate::read::stats::Percentiles;
use crate::setup::{drop_database, sibling_binary};

/// Households in the whole fleet (the design's target).
pub const FLEET_HOUSEHOLDS: u32 = 2_000_000;
/// Share of households with a dashboard open at the evening peak
/// (generous: energy dashboards are glanced at, not watched).
pub const OPEN_AT_PEAK: f64 = 0.10;
/// read-service requests a second per open dashboard: the overview polls
/// `/api/energy` every 60 s, and a view is opened every 2 minutes (two
/// requests: `/api/sockets` and a chart). Live feeds are long-lived streams,
/// not requests, and are not part of this load.
pub const READ_PER_DASHBOARD: f64 = 1.0 / 60.0 + 2.0 / 120.0;
/// auth-service requests a second per open dashboard: a refresh every 14
/// minutes (15-minute access tokens, renewed a minute early), and per
/// 30-minute session one `/api/household` and, for one session in ten
/// (the rest resume with the 30-day cookie), a login.
pub const AUTH_PER_DASHBOARD: f64 = 1.0 / 840.0 + 1.1 / 1800.0;

/// The service under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    ReadService,
    AuthService,
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read" | "read-service" => Ok(Self::ReadService),
            "auth" | "auth-service" => Ok(Self::AuthService),
            other => Err(format!("{other}: the target is read or auth")),
        }
    }
}

/// Expected peak requests a second of `households` households.
pub fn peak_per_s(target: Target, households: u32) -> f64 {
    let per_dashboard = match target {
        Target::ReadService => READ_PER_DASHBOARD,
        Target::AuthService => AUTH_PER_DASHBOARD,
    };
    f64::from(households) * OPEN_AT_PEAK * per_dashboard
}

/// What `perf http` needs to know.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub target: Target,
    /// The fleet slice whose peak sets the default rate.
    pub households: u32,
    /// Requests a second; `None`: ten times the slice's peak.
    pub rate: Option<f64>,
    pub duration: Duration,
    /// Requests in flight at most; beyond it a due request is counted as
    /// missed (the load generator, not the service, was short).
    pub max_in_flight: usize,
    /// Registered households with data whose tokens the requests carry.
    pub data_households: u32,
    /// Sockets per data household.
    pub sockets: u32,
    pub influx_url: String,
    /// Unique per run: the database is `perf_http_<run_id>`.
    pub run_id: String,
    pub auth_service_bin: Option<PathBuf>,
    pub read_service_bin: Option<PathBuf>,
    pub work_dir: PathBuf,
    /// RSS at the end may be at most this many times the largest RSS of
    /// the first quarter of the run (the warm-up).
    pub max_rss_growth: f64,
    pub progress: bool,
}

impl HttpSettings {
    /// The rate the run sends at.
    pub fn rate(&self) -> f64 {
        self.rate
            .unwrap_or_else(|| 10.0 * peak_per_s(self.target, self.households))
    }
}

/// One endpoint's numbers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EndpointReport {
    pub requests: u64,
    pub requests_per_s: f64,
    /// Answers by HTTP status; failed connections under `"error"`.
    pub statuses: BTreeMap<String, u64>,
    pub latency_ms: Percentiles,
}

/// The result, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: Target,
    pub households: u32,
    /// The slice's expected peak, requests/s, and the rate sent.
    pub peak_per_s: f64,
    pub rate_per_s: f64,
    pub duration_s: f64,
    pub requests: u64,
    pub requests_per_s: f64,
    pub latency_ms: Percentiles,
    pub endpoints: BTreeMap<String, EndpointReport>,
    /// 5xx answers.
    pub server_errors: u64,
    /// Answers other than 2xx and 429, and failed connections.
    pub errors: u64,
    pub rate_limited: u64,
    /// 429s without `Retry-After` or without the JSON error body.
    pub malformed_429: u64,
    pub first_error: Option<String>,
    /// Due while `max_in_flight` requests were out.
    pub missed: u64,
    /// (seconds since the start, RSS MB), one a second.
    pub rss_mb: Vec<(f64, f64)>,
    pub cpu_percent: Option<f64>,
    pub max_rss_growth: f64,
}

impl Report {
    /// What the run must not show; empty when it passed.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.server_errors > 0 {
            problems.push(format!("{} answers were 5xx", self.server_errors));
        }
        if self.errors > 0 {
            problems.push(format!(
                "{} answers were neither 2xx nor 429 (first: {})",
                self.errors,
                self.first_error.as_deref().unwrap_or("?")
            ));
        }
        if self.malformed_429 > 0 {
            problems.push(format!(
                "{} 429s lacked Retry-After or the JSON error body",
                self.malformed_429
            ));
        }
        if self.requests == 0 {
            problems.push("no request was answered".into());
        }
        // The first quarter of the run is warm-up (connection pools, the
        // allocator's arenas, argon2's buffers for concurrent logins); its
        // largest sample against the last: a service that keeps what it
        // served grows with the run, a healthy one levels off.
        let warm_up = self.duration_s / 4.0;
        let warmed = self
            .rss_mb
            .iter()
            .filter(|(t, _)| *t <= warm_up)
            .map(|(_, mb)| *mb)
            .fold(None, |max: Option<f64>, mb| {
                Some(max.map_or(mb, |m| m.max(mb)))
            });
        match (warmed, self.rss_mb.last()) {
            (Some(warmed), Some((_, last))) if *last > warmed * self.max_rss_growth => {
                problems.push(format!(
                    "RSS grew from {warmed:.1} MB after the warm-up to {last:.1} MB (more than {}×)",
                    self.max_rss_growth
                ));
            }
            (Some(_), Some(_)) => {}
            _ => problems.push("RSS was never sampled".into()),
        }
        problems
    }
}

/// One endpoint of the mix: its name in the report and how often it is
/// picked (weights are relative).
#[derive(Debug, Clone, Copy)]
struct Endpoint {
    name: &'static str,
    weight: u32,
}

const READ_MIX: [Endpoint; 4] = [
    Endpoint {
        name: "GET /api/sockets",
        weight: 3,
    },
    Endpoint {
        name: "GET /api/power",
        weight: 3,
    },
    Endpoint {
        name: "GET /api/energy",
        weight: 3,
    },
    Endpoint {
        name: "GET /healthz",
        weight: 1,
    },
];

/// Logins are over-represented on purpose (an eighth of the mix, against
/// a few percent at a real peak): beyond `--login-limit-per-client` they
/// must be refused with 429s, not hashed.
const AUTH_MIX: [Endpoint; 4] = [
    Endpoint {
        name: "POST /api/auth/login",
        weight: 1,
    },
    Endpoint {
        name: "POST /api/auth/refresh",
        weight: 3,
    },
    Endpoint {
        name: "GET /api/household",
        weight: 3,
    },
    Endpoint {
        name: "GET /.well-known/jwks.json",
        weight: 1,
    },
];

/// Password of the run's accounts.
const PASSWORD: &str = "perf-http-password-0";

/// What a request needs: the service, the households' tokens and data.
struct Client {
    target: Target,
    http: reqwest::Client,
    base: String,
    logins: Vec<Login>,
    emails: Vec<String>,
    layouts: Vec<Layout>,
    /// Each session's current refresh token; one refresh at a time per
    /// session, as a browser tab does (a second use would be reuse).
    refresh_tokens: Vec<tokio::sync::Mutex<String>>,
}

/// One answer.
#[derive(Debug)]
struct Answer {
    endpoint: usize,
    took: Duration,
    /// The status, or the connection error.
    status: Result<u16, String>,
    malformed_429: bool,
}

impl Client {
    async fn send(&self, endpoint: usize, pick: usize) -> Answer {
        let login = &self.logins[pick % self.logins.len()];
        let request = match (self.target, endpoint) {
            (Target::ReadService, 0) => self.get("/api/sockets", &login.token),
            (Target::ReadService, 1) => {
                let layout = &self.layouts[pick % self.layouts.len()];
                let (device, socket) = &layout.sockets[pick % layout.sockets.len()];
                let now = jiff::Timestamp::now();
                let from = now - jiff::SignedDuration::from_hours(1);
                self.get("/api/power", &login.token).query(&[
                    ("from", from.to_string()),
                    ("to", now.to_string()),
                    ("device", device.clone()),
                    ("socket", socket.clone()),
                ])
            }
            (Target::ReadService, 2) => {
                let now = jiff::Timestamp::now();
                let from = now - jiff::SignedDuration::from_hours(24);
                self.get("/api/energy", &login.token).query(&[
                    ("from", from.to_string()),
                    ("to", now.to_string()),
                    ("bucket", "hour".to_owned()),
                ])
            }
            (Target::ReadService, _) => self.http.get(format!("{}/healthz", self.base)),
            (Target::AuthService, 0) => self
                .http
                .post(format!("{}/api/auth/login", self.base))
                .json(
                    &json!({"email": self.emails[pick % self.emails.len()], "password": PASSWORD}),
                ),
            (Target::AuthService, 1) => return self.refresh(endpoint, pick).await,
            (Target::AuthService, 2) => self.get("/api/household", &login.token),
            (Target::AuthService, _) => self
                .http
                .get(format!("{}/.well-known/jwks.json", self.base)),
        };
        let started = Instant::now();
        let (status, malformed_429) = read_answer(request).await;
        Answer {
            endpoint,
            took: started.elapsed(),
            status,
            malformed_429,
        }
    }

    fn get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    /// Exchanges a session's refresh token for the next (timed from when
    /// the session is free, so waiting for it does not count).
    async fn refresh(&self, endpoint: usize, pick: usize) -> Answer {
        let mut token = self.refresh_tokens[pick % self.refresh_tokens.len()]
            .lock()
            .await;
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{}/api/auth/refresh", self.base))
            .json(&json!({"refresh_token": *token}))
            .send()
            .await;
        let status = match response {
            Ok(response) => {
                let status = response.status().as_u16();
                if let Ok(body) = response.json::<serde_json::Value>().await {
                    if let Some(next) = body["refresh_token"].as_str() {
                        *token = next.to_owned();
                    }
                }
                Ok(status)
            }
            Err(e) => Err(e.to_string()),
        };
        Answer {
            endpoint,
            took: started.elapsed(),
            status,
            malformed_429: false,
        }
    }
}

/// Sends `request` and reads the whole answer: its status, and whether a
/// 429 lacks `Retry-After` (whole seconds) or the JSON error body.
async fn read_answer(request: reqwest::RequestBuilder) -> (Result<u16, String>, bool) {
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return (Err(e.to_string()), false),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(e) => return (Err(e.to_string()), false),
    };
    let malformed = status == 429 && {
        let code = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
        retry_after.is_none() || code.as_deref() != Some("rate_limited")
    };
    (Ok(status), malformed)
}

/// Runs the load (see the module docs); the database is dropped and the
/// services stopped afterwards.
pub async fn run(settings: HttpSettings) -> Result<Report> {
    if !(settings.rate() >= 0.1 && settings.rate().is_finite()) {
        bail!("the rate must be at least 0.1 requests/s");
    }
    if settings.data_households == 0 || settings.sockets == 0 {
        bail!("--data-households and --sockets must be at least 1");
    }
    let dir = settings
        .work_dir
        .join(format!("perf-http-{}", settings.run_id));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let db = format!("perf_http_{}", settings.run_id.replace('-', "_"));
    let result = measure(&settings, &db, &dir).await;
    if settings.target == Target::ReadService {
        let _ = drop_database(&reqwest::Client::new(), &settings.influx_url, &db).await;
    }
    match &result {
        Ok(_) => {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Err(_) => say(&settings, &format!("logs kept in {}", dir.display())),
    }
    result
}

async fn measure(settings: &HttpSettings, db: &str, dir: &Path) -> Result<Report> {
    let auth_bin = sibling_binary("auth-service", settings.auth_service_bin.as_deref())?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    // Tokens outlive the run; auth-service under test keeps its default
    // login limits (read-service's auth is only there to issue tokens).
    let logins_policy = match settings.target {
        Target::ReadService => Logins::Unthrottled,
        Target::AuthService => Logins::Defaults,
    };
    let token_ttl = settings.duration * 2 + Duration::from_secs(3600);
    let auth = services::start_auth(&auth_bin, dir, token_ttl, logins_policy).await?;
    let mut logins = Vec::new();
    let mut emails = Vec::new();
    let mut refresh_tokens = Vec::new();
    for i in 0..settings.data_households {
        let email = format!("perf-http-{}-{i}@example.org", settings.run_id);
        let (login, refresh) =
            services::register_with(&http, &auth.service.base, &email, PASSWORD).await?;
        logins.push(login);
        emails.push(email);
        refresh_tokens.push(tokio::sync::Mutex::new(refresh));
    }
    let layouts: Vec<Layout> = logins
        .iter()
        .enumerate()
        .map(|(i, login)| Layout::new(i, login.household.clone(), settings.sockets))
        .collect();

    let (service, read) = match settings.target {
        Target::AuthService => (&auth.service, None),
        Target::ReadService => {
            crate::read::create_database_with_rollups(&settings.influx_url, db).await?;
            let extent = Extent {
                now_ms: jiff::Timestamp::now().as_millisecond(),
                minute_days: 2,
            };
            say(settings, "writing the households' history");
            dataset::write(&settings.influx_url, db, &layouts, extent, None).await?;
            let read_bin = sibling_binary("read-service", settings.read_service_bin.as_deref())?;
            let read = services::start_read(
                &read_bin,
                &auth,
                &settings.influx_url,
                db,
                dir.join("read-service.log"),
            )
            .await?;
            (&auth.service, Some(read))
        }
    };
    let service = read.as_ref().unwrap_or(service);
    let pid = service.pid().context("the service has no pid")?;
    let client = Arc::new(Client {
        target: settings.target,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(settings.max_in_flight)
            .build()?,
        base: service.base.clone(),
        logins,
        emails,
        layouts,
        refresh_tokens,
    });
    say(
        settings,
        &format!(
            "{:?}: {:.1} requests/s for {:?} (expected peak of {} households: {:.2}/s)",
            settings.target,
            settings.rate(),
            settings.duration,
            settings.households,
            peak_per_s(settings.target, settings.households)
        ),
    );
    let (answers, missed, rss_mb, cpu) = drive(settings, Arc::clone(&client), pid).await;
    if let Some(read) = read {
        read.stop(Duration::from_secs(30)).await?;
    }
    auth.service.stop(Duration::from_secs(30)).await?;
    Ok(report(settings, &answers, missed, rss_mb, cpu))
}

/// Sends at the rate for the duration, sampling RSS each second; returns
/// the answers, the missed count, the RSS samples and the CPU time used.
async fn drive(
    settings: &HttpSettings,
    client: Arc<Client>,
    pid: u32,
) -> (Vec<Answer>, u64, Vec<(f64, f64)>, Option<Duration>) {
    let mix = match settings.target {
        Target::ReadService => &READ_MIX[..],
        Target::AuthService => &AUTH_MIX[..],
    };
    let wheel: Vec<usize> = mix
        .iter()
        .enumerate()
        .flat_map(|(i, e)| std::iter::repeat_n(i, e.weight as usize))
        .collect();
    let answers = Arc::new(Mutex::new(Vec::new()));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight));
    let rate = settings.rate();
    let cpu_before = procstat::cpu_time(pid);
    let started = Instant::now();
    let mut rss_mb = Vec::new();
    let mut next_sample = started;
    let (mut sent, mut missed) = (0u64, 0u64);
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    let mut tasks = tokio::task::JoinSet::new();
    while started.elapsed() < settings.duration {
        tick.tick().await;
        if Instant::now() >= next_sample {
            if let Some(bytes) = procstat::rss_bytes(pid) {
                rss_mb.push((started.elapsed().as_secs_f64(), bytes as f64 / 1048576.0));
            }
            next_sample += Duration::from_secs(1);
        }
        let due = (started.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            let n = sent as usize;
            sent += 1;
            let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
                missed += 1;
                continue;
            };
            let (client, answers) = (Arc::clone(&client), Arc::clone(&answers));
            let (endpoint, pick) = (wheel[n % wheel.len()], n / wheel.len());
            tasks.spawn(async move {
                let answer = client.send(endpoint, pick).await;
                answers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(answer);
                drop(permit);
            });
        }
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    if let Some(bytes) = procstat::rss_bytes(pid) {
        rss_mb.push((started.elapsed().as_secs_f64(), bytes as f64 / 1048576.0));
    }
    let cpu = cpu_before
        .zip(procstat::cpu_time(pid))
        .map(|(before, after)| after.saturating_sub(before));
    let answers = std::mem::take(&mut *answers.lock().unwrap_or_else(|e| e.into_inner()));
    (answers, missed, rss_mb, cpu)
}

fn report(
    settings: &HttpSettings,
    answers: &[Answer],
    missed: u64,
    rss_mb: Vec<(f64, f64)>,
    cpu: Option<Duration>,
) -> Report {
    let mix = match settings.target {
        Target::ReadService => &READ_MIX[..],
        Target::AuthService => &AUTH_MIX[..],
    };
    let window = settings.duration.as_secs_f64();
    let mut endpoints = BTreeMap::new();
    let (mut server_errors, mut errors, mut rate_limited, mut malformed_429) = (0, 0, 0, 0);
    let mut first_error = None;
    for (i, endpoint) in mix.iter().enumerate() {
        let mine: Vec<&Answer> = answers.iter().filter(|a| a.endpoint == i).collect();
        let mut statuses = BTreeMap::new();
        for answer in &mine {
            let key = match &answer.status {
                Ok(status) => status.to_string(),
                Err(_) => "error".to_owned(),
            };
            *statuses.entry(key).or_insert(0) += 1;
            match &answer.status {
                Ok(429) => rate_limited += 1,
                Ok(status) if (200..300).contains(status) => {}
                Ok(status) => {
                    errors += 1;
                    if *status >= 500 {
                        server_errors += 1;
                    }
                    first_error.get_or_insert_with(|| format!("{}: HTTP {status}", endpoint.name));
                }
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert_with(|| format!("{}: {e}", endpoint.name));
                }
            }
            malformed_429 += u64::from(answer.malformed_429);
        }
        let mut took: Vec<Duration> = mine.iter().map(|a| a.took).collect();
        endpoints.insert(
            endpoint.name.to_owned(),
            EndpointReport {
                requests: mine.len() as u64,
                requests_per_s: mine.len() as f64 / window,
                statuses,
                latency_ms: Percentiles::of(&mut took),
            },
        );
    }
    let mut took: Vec<Duration> = answers.iter().map(|a| a.took).collect();
    Report {
        target: settings.target,
        households: settings.households,
        peak_per_s: peak_per_s(settings.target, settings.households),
        rate_per_s: settings.rate(),
        duration_s: window,
        requests: answers.len() as u64,
        requests_per_s: answers.len() as f64 / window,
        latency_ms: Percentiles::of(&mut took),
        endpoints,
        server_errors,
        errors,
        rate_limited,
        malformed_429,
        first_error,
        missed,
        rss_mb,
        cpu_percent: cpu.map(|cpu| cpu.as_secs_f64() / window * 100.0),
        max_rss_growth: settings.max_rss_growth,
    }
}

/// The human table.
pub fn print_table(report: &Report, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
    writeln!(
        out,
        "{:?}, {} households: expected peak {:.2} req/s, sent at {:.1} req/s for {:.0} s",
        report.target, report.households, report.peak_per_s, report.rate_per_s, report.duration_s
    )?;
    writeln!(
        out,
        "{:<30}{:>9} {:>8} {:>8} {:>8} {:>8}  statuses",
        "", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"
    )?;
    let all = EndpointReport {
        requests: report.requests,
        requests_per_s: report.requests_per_s,
        statuses: BTreeMap::new(),
        latency_ms: report.latency_ms,
    };
    for (name, e) in report.endpoints.iter().chain([(&"all".to_owned(), &all)]) {
        let statuses: Vec<String> = e.statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        writeln!(
            out,
            "{name:<30}{:>9.1} {:>8} {:>8} {:>8} {:>8}  {}",
            e.requests_per_s,
            ms(e.latency_ms.p50),
            ms(e.latency_ms.p95),
            ms(e.latency_ms.p99),
            ms(e.latency_ms.max),
            statuses.join(" ")
        )?;
    }
    let rss: Vec<String> = report
        .rss_mb
        .iter()
        .step_by((report.rss_mb.len() / 6).max(1))
        .chain(report.rss_mb.last())
        .map(|(t, mb)| format!("{t:.0}s {mb:.1}"))
        .collect();
    writeln!(out, "RSS MB      {}", rss.join(", "))?;
    writeln!(
        out,
        "CPU         {} % of a core; 429s {} ({} malformed); errors {} (5xx {}); missed {}",
        ms(report.cpu_percent),
        report.rate_limited,
        report.malformed_429,
        report.errors,
        report.server_errors,
        report.missed
    )?;
    Ok(())
}

fn say(settings: &HttpSettings, line: &str) {
    if settings.progress {
        eprintln!("[perf] {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleet_peak_follows_the_model() {
        let read = peak_per_s(Target::ReadService, FLEET_HOUSEHOLDS);
        let auth = peak_per_s(Target::AuthService, FLEET_HOUSEHOLDS);
        assert!((read - 6_666.7).abs() < 1.0, "{read}");
        assert!((auth - 360.3).abs() < 1.0, "{auth}");
    }

    fn report(rss_mb: Vec<(f64, f64)>) -> Report {
        Report {
            target: Target::AuthService,
            households: 1,
            peak_per_s: 1.0,
            rate_per_s: 10.0,
            duration_s: 10.0,
            requests: 100,
            requests_per_s: 10.0,
            latency_ms: Percentiles::default(),
            endpoints: BTreeMap::new(),
            server_errors: 0,
            errors: 0,
            rate_limited: 3,
            malformed_429: 0,
            first_error: None,
            missed: 0,
            rss_mb,
            cpu_percent: None,
            max_rss_growth: 3.0,
        }
    }

    #[test]
    fn memory_that_keeps_growing_is_a_problem() {
        // Warm-up: the first quarter (2.5 s of 10); its largest sample counts.
        let samples = |last| {
            vec![
                (0.0, 5.0),
                (1.0, 20.0),
                (2.0, 15.0),
                (5.0, 30.0),
                (10.0, last),
            ]
        };
        assert!(report(samples(60.0)).problems().is_empty());
        let problems = report(samples(61.0)).problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(report(Vec::new()).problems()[0].contains("never sampled"));
    }

    #[test]
    fn errors_and_bad_429s_are_problems_but_429s_are_not() {
        let samples = vec![(1.0, 20.0), (10.0, 20.0)];
        let mut run = report(samples);
        assert!(run.problems().is_empty());
        run.malformed_429 = 1;
        run.server_errors = 1;
        run.errors = 1;
        assert_eq!(run.problems().len(), 3, "{:?}", run.problems());
    }
}
