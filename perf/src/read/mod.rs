//! `perf read`: many dashboard users against read-service with real JWTs,
//! beside the same InfluxQL sent straight to InfluxDB, so the answer is a
//! ratio to what InfluxDB alone serves.
//!
//! Order: a database of the run's own with the rollup retention policies
//! ([`wattline_rollup::setup`]); auth-service as a process, one registered
//! owner per household; the households' history ([`dataset`]), then a wait
//! until InfluxDB's CPU is quiet (compactions after the burst); a
//! read-service behind the recording proxy ([`recorder`]) while one user
//! opens every view once per sampled household; a second read-service
//! straight to InfluxDB, the cross-household check, live users
//! ([`live`]) and the dashboard users ([`driver`], [`views`]) for warm-up +
//! duration; then the recorded InfluxQL replayed straight to InfluxDB by
//! as many workers for as long (the live users stay connected through both,
//! so both sides carry the same background load); the report; the database
//! dropped.
//!
//! A replayed "request" is the InfluxQL one API request made, sent as
//! read-service sent it (statements that overlapped together, the rest in
//! order), so request rates on both sides count the same work.

pub mod dataset;
pub mod driver;
pub mod live;
pub mod recorder;
pub mod services;
pub mod stats;
pub mod views;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use futures_util::future::join_all;
use futures_util::StreamExt;
use rand::Rng;
use serde::Serialize;

use crate::procstat;
use crate::setup::{drop_database, sibling_binary};
use dataset::{Extent, Layout};
use driver::{drive, DriverSettings, Measured, RequestOutcome};
use live::{Feeder, LiveReport, LiveUsers};
use recorder::{RecordingProxy, Stages};
use services::Login;
use stats::{ratio, Percentiles};
use views::{Mix, View};
use wattline_rollup::setup::Retention;

/// Everything `perf read` needs to know.
#[derive(Debug, Clone)]
pub struct ReadSettings {
    pub influx_url: String,
    /// Unique per run: the database is `perf_read_<run_id>`.
    pub run_id: String,
    pub households: u32,
    pub sockets: u32,
    pub minute_days: u32,
    pub users: usize,
    pub live_users: usize,
    pub mix: Mix,
    /// Views a second in total (open loop); `None`: closed loop.
    pub rate: Option<f64>,
    pub warmup: Duration,
    pub duration: Duration,
    /// Households whose InfluxQL is recorded (and replayed).
    pub record_households: u32,
    pub auth_service_bin: Option<PathBuf>,
    pub read_service_bin: Option<PathBuf>,
    /// Keep the database and the services' logs afterwards.
    pub keep: bool,
    pub work_dir: PathBuf,
    pub progress: bool,
}

/// One side's numbers: all views together (flattened) and per view.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Side {
    #[serde(flatten)]
    pub overall: Measured,
    pub by_view: BTreeMap<View, Measured>,
    /// Open loop: views due while every user was busy.
    pub missed: u64,
}

/// Latency of read-service ÷ InfluxDB alone, per request, per percentile.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LatencyRatio {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl LatencyRatio {
    fn of(a: &Percentiles, b: &Percentiles) -> Self {
        Self {
            p50: ratio(a.p50, b.p50),
            p95: ratio(a.p95, b.p95),
            p99: ratio(a.p99, b.p99),
            max: ratio(a.max, b.max),
        }
    }
}

/// What the recording pass captured, per view.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Recorded {
    /// API requests recorded.
    pub requests: u64,
    /// InfluxQL statements they made.
    pub statements: u64,
}

/// The result, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct ReadReport {
    pub households: u32,
    pub sockets: u32,
    pub minute_days: u32,
    pub users: usize,
    pub live_users: usize,
    pub mix: BTreeMap<View, u32>,
    pub target_views_per_s: Option<f64>,
    /// The measured window of each side, s.
    pub duration_s: f64,
    pub points_written: u64,
    pub recorded: BTreeMap<View, Recorded>,
    pub read_service: Side,
    pub influx_alone: Side,
    /// InfluxQL statements a second in the InfluxDB-alone run.
    pub influx_alone_statements_per_s: f64,
    /// read-service requests/s ÷ InfluxDB-alone requests/s (the same requests' InfluxQL).
    pub ratio: Option<f64>,
    pub latency_ratio: LatencyRatio,
    pub read_service_cpu_us_per_request: Option<f64>,
    pub read_service_rss_mb: Option<f64>,
    /// InfluxDB's CPU while read-service was measured, and while it ran alone.
    pub influx_cpu_percent: f64,
    pub influx_alone_cpu_percent: f64,
    pub live: LiveReport,
    /// Requests made with one household's token for another's socket.
    pub cross_household_checks: u64,
    /// Of those, answers that held data (must be 0).
    pub cross_household_errors: u64,
    /// Every failed request, replayed statement, live stream and cross-household check.
    pub errors: u64,
    pub first_error: Option<String>,
}

/// Runs the measurement (see the module docs). The database is dropped and
/// the services stopped afterwards (unless `keep`), also after an error or
/// Ctrl-C.
pub async fn run(settings: ReadSettings) -> Result<ReadReport> {
    check(&settings)?;
    let db = format!("perf_read_{}", settings.run_id.replace('-', "_"));
    let dir = settings
        .work_dir
        .join(format!("perf-read-{}", settings.run_id));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let result = tokio::select! {
        result = measure(&settings, &db, &dir) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    if !settings.keep {
        let _ = drop_database(&http, &settings.influx_url, &db).await;
        if result.is_ok() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    if result.is_err() {
        say(&settings, &format!("logs kept in {}", dir.display()));
    }
    result
}

/// Refuses settings that cannot give a measurement.
pub fn check(settings: &ReadSettings) -> Result<()> {
    ensure!(settings.households >= 1, "--households must be at least 1");
    ensure!(settings.sockets >= 1, "--sockets must be at least 1");
    ensure!(settings.users >= 1, "--users must be at least 1");
    ensure!(
        (1..=800).contains(&settings.minute_days),
        "--minute-days must be 1 to 800 (the minute retention)"
    );
    ensure!(
        settings.duration >= Duration::from_secs(1),
        "--duration must be at least 1s"
    );
    ensure!(
        settings.record_households >= 1,
        "--record-households must be at least 1"
    );
    if let Some(rate) = settings.rate {
        ensure!(
            rate.is_finite() && rate >= 0.01,
            "--rate must be at least 0.01 views/s (omit it for a closed loop)"
        );
    }
    Ok(())
}

async fn measure(settings: &ReadSettings, db: &str, dir: &std::path::Path) -> Result<ReadReport> {
    let auth_bin = sibling_binary("auth-service", settings.auth_service_bin.as_deref())?;
    let read_bin = sibling_binary("read-service", settings.read_service_bin.as_deref())?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;

    create_database_with_rollups(&settings.influx_url, db).await?;

    // auth-service, with tokens outliving the run (no refresh mid-measurement).
    // Writing the history of many households can take a while: a day of
    // margin beyond both measured sides.
    let token_ttl = (settings.warmup + settings.duration) * 2 + Duration::from_secs(86_400);
    let auth =
        services::start_auth(&auth_bin, dir, token_ttl, services::Logins::Unthrottled).await?;
    say(
        settings,
        &format!("registering {} households", settings.households),
    );
    let logins: Vec<Login> = futures_util::stream::iter(0..settings.households)
        .map(|i| {
            let (http, base) = (http.clone(), auth.service.base.clone());
            let email = format!("perf-{}-{i}@example.org", settings.run_id);
            async move { services::register(&http, &base, &email).await }
        })
        .buffered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let layouts: Vec<Layout> = logins
        .iter()
        .enumerate()
        .map(|(i, login)| Layout::new(i, login.household.clone(), settings.sockets))
        .collect();
    let tokens: Vec<String> = logins.iter().map(|l| l.token.clone()).collect();

    // The history.
    let extent = Extent {
        now_ms: jiff::Timestamp::now().as_millisecond(),
        minute_days: settings.minute_days,
    };
    let total_points =
        extent.points_per_household(settings.sockets) * u64::from(settings.households);
    say(
        settings,
        &format!("writing {total_points} points of history"),
    );
    let bar = progress_bar(
        settings,
        total_points,
        "{elapsed:>4} [{bar:30}] {pos}/{len} points",
    );
    let points_written =
        dataset::write(&settings.influx_url, db, &layouts, extent, bar.as_ref()).await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    // A burst of writes leaves InfluxDB snapshotting and compacting for a
    // while; measuring meanwhile would charge that to whichever side ran first.
    say(settings, "waiting for InfluxDB to settle");
    let settled = settle_influx(Duration::from_secs(120)).await;
    if !settled {
        say(
            settings,
            "InfluxDB still busy after 120 s; measuring anyway",
        );
    }
    let feeder = Feeder::start(&settings.influx_url, db, layouts.clone())?;

    let (recorded, replays) =
        record(settings, &auth, &read_bin, db, dir, &layouts, &tokens).await?;

    // The read-service under test, straight to InfluxDB.
    let read = services::start_read(
        &read_bin,
        &auth,
        &settings.influx_url,
        db,
        dir.join("read-service.log"),
    )
    .await?;
    let read_pid = read.pid();
    let (cross_household_checks, cross_household_errors, mut first_error) =
        cross_household(&http, &read.base, &layouts, &tokens).await;

    // Dashboard users and live users on read-service.
    say(
        settings,
        &format!(
            "{} dashboard users, {} live users on read-service",
            settings.users, settings.live_users
        ),
    );
    let driver_settings = DriverSettings {
        users: settings.users,
        mix: settings.mix.clone(),
        rate: settings.rate,
        warmup: settings.warmup,
        duration: settings.duration,
    };
    let live_http = reqwest::Client::new();
    // Live users are background load on both sides: their feeds stay open
    // (read-service querying InfluxDB every --live-interval for each) while
    // InfluxDB alone is measured too, and their events count in
    // read-service's measured window.
    let measure_from = Instant::now() + settings.warmup;
    let live_users = (settings.live_users > 0).then(|| {
        LiveUsers::start(
            &live_http,
            &read.base,
            &tokens,
            settings.live_users,
            (measure_from, measure_from + settings.duration),
        )
    });
    let users = Arc::new(UserContext {
        http: http.clone(),
        base: read.base.clone(),
        tokens: tokens.clone(),
        layouts: layouts.clone(),
    });
    let cpu = spawn_cpu_sampler(read_pid, settings.warmup, settings.duration);
    let bar = load_bar(settings);
    let mut tally = drive(
        &driver_settings,
        move |user, view| {
            let users = Arc::clone(&users);
            async move { users.open(user, view).await }
        },
        bar.as_ref(),
    )
    .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let (read_cpu, influx_cpu) = cpu.await.context("CPU sampler")?;
    let read_rss = read_pid.and_then(procstat::peak_rss_bytes);
    let (by_view, overall) = tally.measured();
    let read_side = Side {
        overall,
        by_view,
        missed: tally.missed,
    };
    first_error = first_error.or(tally.first_error.take());

    // The same InfluxQL, straight to InfluxDB.
    say(
        settings,
        "the same InfluxQL straight to InfluxDB (live users still on read-service)",
    );
    let replayer = Arc::new(Replayer {
        http: http.clone(),
        base: settings.influx_url.trim_end_matches('/').to_owned(),
        replays,
        statements: std::sync::atomic::AtomicU64::new(0),
        measure: (
            Instant::now() + settings.warmup,
            Instant::now() + settings.warmup + settings.duration,
        ),
    });
    let cpu = spawn_cpu_sampler(None, settings.warmup, settings.duration);
    let bar = load_bar(settings);
    let replaying = Arc::clone(&replayer);
    let mut tally = drive(
        &driver_settings,
        move |user, view| {
            let replayer = Arc::clone(&replaying);
            async move { replayer.open(user, view).await }
        },
        bar.as_ref(),
    )
    .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let (_, influx_alone_cpu) = cpu.await.context("CPU sampler")?;
    let (by_view, overall) = tally.measured();
    let influx_side = Side {
        overall,
        by_view,
        missed: tally.missed,
    };
    let (live, live_error) = match live_users {
        Some(users) => users.finish(settings.duration.as_secs_f64()).await,
        None => (LiveReport::default(), None),
    };
    first_error = first_error.or(tally.first_error.take()).or(live_error);
    read.stop(Duration::from_secs(30)).await?;
    feeder.stop().await;
    auth.service.stop(Duration::from_secs(30)).await?;

    let window = settings.duration.as_secs_f64();
    let read_requests = read_side.overall.requests;
    let errors = read_side.overall.errors
        + influx_side.overall.errors
        + live.errors
        + cross_household_errors;
    Ok(ReadReport {
        households: settings.households,
        sockets: settings.sockets,
        minute_days: settings.minute_days,
        users: settings.users,
        live_users: settings.live_users,
        mix: settings.mix.weights(),
        target_views_per_s: settings.rate,
        duration_s: window,
        points_written,
        recorded,
        ratio: ratio(
            Some(read_side.overall.requests_per_s),
            Some(influx_side.overall.requests_per_s),
        ),
        latency_ratio: LatencyRatio::of(
            &read_side.overall.latency_ms,
            &influx_side.overall.latency_ms,
        ),
        influx_alone_statements_per_s: replayer
            .statements
            .load(std::sync::atomic::Ordering::Relaxed)
            as f64
            / window,
        read_service: read_side,
        influx_alone: influx_side,
        read_service_cpu_us_per_request: read_cpu
            .filter(|_| read_requests > 0)
            .map(|cpu| cpu.as_secs_f64() * 1e6 / read_requests as f64),
        read_service_rss_mb: read_rss.map(|b| b as f64 / (1024.0 * 1024.0)),
        influx_cpu_percent: influx_cpu.as_secs_f64() / window * 100.0,
        influx_alone_cpu_percent: influx_alone_cpu.as_secs_f64() / window * 100.0,
        live,
        cross_household_checks,
        cross_household_errors,
        errors,
        first_error,
    })
}

/// The database and the rollup retention policies, made by `rollup setup`'s
/// own code (raw readings kept forever: the history is synthetic and old).
pub async fn create_database_with_rollups(influx_url: &str, db: &str) -> Result<()> {
    let client = wattline_influx::query::QueryClient::builder(influx_url, db)
        .build()
        .context("InfluxDB client")?;
    wattline_rollup::setup::setup(&client, Retention::Infinite)
        .await
        .context("create the database and the rollup retention policies")?;
    Ok(())
}

/// What each API request of a view sends to InfluxDB: one user, one request
/// at a time, through the recording proxy, for each sampled household.
/// Per view: requests and statements recorded; per household and view: one
/// [`Stages`] per API request.
async fn record(
    settings: &ReadSettings,
    auth: &services::Auth,
    read_bin: &std::path::Path,
    db: &str,
    dir: &std::path::Path,
    layouts: &[Layout],
    tokens: &[String],
) -> Result<(BTreeMap<View, Recorded>, Vec<BTreeMap<View, Vec<Stages>>>)> {
    say(settings, "recording read-service's InfluxQL");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let proxy = RecordingProxy::start(&settings.influx_url).await?;
    let recording = services::start_read(
        read_bin,
        auth,
        &proxy.url(),
        db,
        dir.join("read-service-recording.log"),
    )
    .await?;
    let sampled = (settings.households.min(settings.record_households)) as usize;
    let mut recorded: BTreeMap<View, Recorded> = BTreeMap::new();
    // replays[household][view] = one Stages per API request of the view.
    let mut replays: Vec<BTreeMap<View, Vec<Stages>>> = Vec::new();
    let now_ms = jiff::Timestamp::now().as_millisecond();
    for (h, layout) in layouts.iter().take(sampled).enumerate() {
        let mut by_view = BTreeMap::new();
        for view in settings.mix.views() {
            let socket = &layout.sockets[rand::rng().random_range(0..layout.sockets.len())];
            let mut requests = Vec::new();
            for path in view.paths(now_ms, (&socket.0, &socket.1)) {
                proxy.take();
                let outcome = get(&http, &recording.base, &path, &tokens[h]).await;
                if let Some(error) = outcome.error {
                    anyhow::bail!("recording {view} view: {error}");
                }
                let stages = recorder::stages(proxy.take());
                let entry = recorded.entry(view).or_default();
                entry.requests += 1;
                entry.statements += stages.iter().map(|s| s.len() as u64).sum::<u64>();
                requests.push(stages);
            }
            by_view.insert(view, requests);
        }
        replays.push(by_view);
    }
    recording.stop(Duration::from_secs(30)).await?;
    drop(proxy);

    Ok((recorded, replays))
}

/// What the dashboard users share.
struct UserContext {
    http: reqwest::Client,
    base: String,
    tokens: Vec<String>,
    layouts: Vec<Layout>,
}

impl UserContext {
    /// User `user` (household `user % households`) opens `view`: its
    /// requests at once, for a random socket of the household.
    async fn open(&self, user: usize, view: View) -> Vec<RequestOutcome> {
        let h = user % self.layouts.len();
        let sockets = &self.layouts[h].sockets;
        let socket = &sockets[rand::rng().random_range(0..sockets.len())];
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let paths = view.paths(now_ms, (&socket.0, &socket.1));
        join_all(
            paths
                .iter()
                .map(|path| get(&self.http, &self.base, path, &self.tokens[h])),
        )
        .await
    }
}

/// One authenticated GET; the body is read whole.
async fn get(http: &reqwest::Client, base: &str, path: &str, token: &str) -> RequestOutcome {
    let started = Instant::now();
    let result = async {
        // As a browser asks (reqwest here has no decoders: the body is read, not unpacked).
        let response = http
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT_ENCODING, "gzip")
            .send()
            .await?;
        let status = response.status();
        response.bytes().await?;
        Ok::<_, reqwest::Error>(status)
    }
    .await;
    let error = match result {
        Ok(status) if status.is_success() => None,
        Ok(status) => Some(format!("{}: HTTP {status}", path_only(path))),
        Err(e) => Some(format!("{}: {e}", path_only(path))),
    };
    RequestOutcome {
        took: started.elapsed(),
        error,
    }
}

fn path_only(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// Replays the recorded InfluxQL.
struct Replayer {
    http: reqwest::Client,
    base: String,
    replays: Vec<BTreeMap<View, Vec<Stages>>>,
    statements: std::sync::atomic::AtomicU64,
    /// Statements count inside this window only.
    measure: (Instant, Instant),
}

impl Replayer {
    /// Worker `user` opens `view` of a recorded household: each API
    /// request's statements as read-service sent them, the requests at once.
    async fn open(&self, user: usize, view: View) -> Vec<RequestOutcome> {
        let requests = self.replays[user % self.replays.len()]
            .get(&view)
            .map_or(&[][..], Vec::as_slice);
        join_all(requests.iter().map(|stages| self.request(stages))).await
    }

    async fn request(&self, stages: &Stages) -> RequestOutcome {
        let started = Instant::now();
        let mut error = None;
        for stage in stages {
            let results = join_all(
                stage
                    .iter()
                    .map(|statement| recorder::send(&self.http, &self.base, statement)),
            )
            .await;
            let now = Instant::now();
            if now >= self.measure.0 && now <= self.measure.1 {
                self.statements
                    .fetch_add(stage.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
            if let Some(e) = results.into_iter().find_map(Result::err) {
                error = Some(format!("{e:#}"));
                break;
            }
        }
        RequestOutcome {
            took: started.elapsed(),
            error,
        }
    }
}

/// Household 1's token asking for household 0's sockets (and the other way
/// round): each answer must hold no data. (checks, failures, first failure)
async fn cross_household(
    http: &reqwest::Client,
    base: &str,
    layouts: &[Layout],
    tokens: &[String],
) -> (u64, u64, Option<String>) {
    if layouts.len() < 2 {
        return (0, 0, None);
    }
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let (mut checks, mut failures, mut first) = (0, 0, None);
    for (victim, intruder) in [(0usize, 1usize), (1, 0)] {
        let (device, socket) = &layouts[victim].sockets[0];
        let path = &View::Day.paths(now_ms, (device, socket))[2];
        checks += 1;
        let answer = async {
            let response = http
                .get(format!("{base}{path}"))
                .bearer_auth(&tokens[intruder])
                .send()
                .await?;
            let status = response.status();
            let body: serde_json::Value = response.json().await?;
            Ok::<_, reqwest::Error>((status, body))
        }
        .await;
        let problem = match answer {
            Err(e) => Some(format!("cross-household check: {e}")),
            Ok((status, _)) if !status.is_success() => {
                Some(format!("cross-household check: HTTP {status}"))
            }
            Ok((_, body)) => {
                let has_data = body["watts"]
                    .as_array()
                    .is_none_or(|w| w.iter().any(|v| !v.is_null()));
                has_data.then(|| {
                    format!("household {intruder}'s token read household {victim}'s socket")
                })
            }
        };
        if let Some(problem) = problem {
            failures += 1;
            first.get_or_insert(problem);
        }
    }
    (checks, failures, first)
}

/// Waits until InfluxDB (`influxd` on this machine) used under a third of a
/// core for three seconds in a row, or `patience` passed (false). Returns
/// at once when no influxd runs here.
async fn settle_influx(patience: Duration) -> bool {
    const QUIET: Duration = Duration::from_millis(330);
    if procstat::pids_named("influxd").is_empty() {
        return true;
    }
    let deadline = Instant::now() + patience;
    let mut quiet_seconds = 0;
    let mut before = procstat::cpu_time_of("influxd");
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = procstat::cpu_time_of("influxd");
        quiet_seconds = if now.saturating_sub(before) < QUIET {
            quiet_seconds + 1
        } else {
            0
        };
        if quiet_seconds >= 3 {
            return true;
        }
        before = now;
    }
    false
}

/// CPU time of `pid` (read-service) and of InfluxDB over the measured window.
fn spawn_cpu_sampler(
    pid: Option<u32>,
    warmup: Duration,
    duration: Duration,
) -> tokio::task::JoinHandle<(Option<Duration>, Duration)> {
    tokio::spawn(async move {
        tokio::time::sleep(warmup).await;
        let read_before = pid.and_then(procstat::cpu_time);
        let influx_before = procstat::cpu_time_of("influxd");
        tokio::time::sleep(duration).await;
        let read_after = pid.and_then(procstat::cpu_time);
        let influx = procstat::cpu_time_of("influxd").saturating_sub(influx_before);
        let read = match (read_before, read_after) {
            (Some(before), Some(after)) => Some(after.saturating_sub(before)),
            _ => None,
        };
        (read, influx)
    })
}

fn progress_bar(
    settings: &ReadSettings,
    len: u64,
    template: &str,
) -> Option<indicatif::ProgressBar> {
    if !settings.progress {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

fn load_bar(settings: &ReadSettings) -> Option<indicatif::ProgressBar> {
    progress_bar(
        settings,
        (settings.warmup + settings.duration).as_secs(),
        "{elapsed:>4} [{bar:30}] {pos}/{len} s  {msg}",
    )
}

fn say(settings: &ReadSettings, line: &str) {
    if settings.progress {
        let _ = writeln!(std::io::stderr(), "[perf] {line}");
    }
}

/// The human table.
pub fn print_table(report: &ReadReport, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
    let x = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}×"));
    writeln!(
        out,
        "{} households × {} sockets, {} users, {} live users, {:.0} s measured{}",
        report.households,
        report.sockets,
        report.users,
        report.live_users,
        report.duration_s,
        report
            .target_views_per_s
            .map_or_else(String::new, |r| format!(", open loop at {r} views/s")),
    )?;
    writeln!(
        out,
        "{:<26}{:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "", "views/s", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"
    )?;
    for (name, side) in [
        ("read-service", &report.read_service),
        ("InfluxDB alone", &report.influx_alone),
    ] {
        let rows = std::iter::once(("all".to_owned(), &side.overall)).chain(
            side.by_view
                .iter()
                .map(|(view, m)| (format!("  {view}"), m)),
        );
        for (label, m) in rows {
            let label = if label == "all" {
                name.to_owned()
            } else {
                label
            };
            writeln!(
                out,
                "{label:<26}{:>9.1} {:>10.1} {:>8} {:>8} {:>8} {:>8} {:>7}",
                m.views_per_s,
                m.requests_per_s,
                ms(m.latency_ms.p50),
                ms(m.latency_ms.p95),
                ms(m.latency_ms.p99),
                ms(m.latency_ms.max),
                m.errors
            )?;
        }
    }
    let rows: Vec<(&str, String)> = vec![
        (
            "ratio (req/s)",
            format!(
                "{} of InfluxDB alone; latency p50 {} p99 {}",
                report
                    .ratio
                    .map_or_else(|| "-".into(), |r| format!("{:.1} %", r * 100.0)),
                x(report.latency_ratio.p50),
                x(report.latency_ratio.p99)
            ),
        ),
        (
            "InfluxQL statements",
            format!("{:.0}/s replayed", report.influx_alone_statements_per_s),
        ),
        (
            "read-service CPU",
            format!(
                "{} µs/request, peak RSS {} MB",
                ms(report.read_service_cpu_us_per_request),
                ms(report.read_service_rss_mb)
            ),
        ),
        (
            "InfluxDB CPU",
            format!(
                "{:.0} % with read-service, {:.0} % alone",
                report.influx_cpu_percent, report.influx_alone_cpu_percent
            ),
        ),
        (
            "live",
            format!(
                "{} streams, {:.1} events/s, gap p50 {} p99 {} ms, {} errors",
                report.live.streams,
                report.live.events_per_s,
                ms(report.live.gap_ms.p50),
                ms(report.live.gap_ms.p99),
                report.live.errors
            ),
        ),
        (
            "cross-household",
            format!(
                "{} checks, {} leaks",
                report.cross_household_checks, report.cross_household_errors
            ),
        ),
        ("errors", format!("{}", report.errors)),
    ];
    for (name, value) in rows {
        writeln!(out, "{name:<26}{value}")?;
    }
    if let Some(error) = &report.first_error {
        writeln!(out, "{:<26}{error}", "first error")?;
    }
    Ok(())
}
