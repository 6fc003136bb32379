//! Query latency of the dashboard's day, month and year views for a
//! 30-socket household: a year of hourly rollups, a month of minute rollups
//! and a day of raw readings (10 s) in a fresh test database, then each
//! view's requests timed against an in-process read-service.
//!
//! `cargo run --release -p read-service --example latency [-- RUNS]`
//! (needs the local stack: InfluxDB; the database is dropped at the end).

use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::StreamExt;
use serde_json::json;
use testkit::InfluxDatabase;
use tokio_util::sync::CancellationToken;

const SOCKETS: i64 = 30;
const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    testkit::init_crypto();
    let stop = CancellationToken::new();
    let dir = tempfile::tempdir()?;
    let auth = auth_service::AuthService::bind(auth_service::Config::parse_from([
        "auth-service".to_owned(),
        "--listen=127.0.0.1:0".into(),
        "--internal-listen=127.0.0.1:0".into(),
        format!(
            "--database-url=sqlite://{}",
            dir.path().join("auth.db").display()
        ),
        format!(
            "--signing-key-file={}",
            dir.path().join("key.pem").display()
        ),
    ]))
    .await?;
    let (auth_base, auth_internal) = (
        format!("http://{}", auth.local_addr()),
        format!("http://{}", auth.internal_addr()),
    );
    tokio::spawn(auth.run(stop.clone()));
    let http = reqwest::Client::new();
    let body: serde_json::Value = http
        .post(format!("{auth_base}/api/auth/register"))
        .json(
            &json!({"email": "bench@example.com", "password": "correct horse battery staple",
                      "time_zone": "Europe/Berlin"}),
        )
        .send()
        .await?
        .json()
        .await?;
    let token = body["access_token"].as_str().unwrap_or_default().to_owned();
    let household = body["user"]["household_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    http.put(format!("{auth_base}/api/household/settings"))
        .bearer_auth(&token)
        .json(
            &json!({"time_zone": "Europe/Berlin", "tariff": {"currency": "EUR",
            "price_per_kwh": 0.30, "daily_charge": 0.25,
            "bands": [{"from": "07:00", "to": "23:00", "price_per_kwh": 0.35}]}}),
        )
        .send()
        .await?
        .error_for_status()?;

    let db = InfluxDatabase::create().await?;
    for (rp, duration) in [("rollup_1m", "800d"), ("rollup_1h", "INF")] {
        db.query(&format!(
            "CREATE RETENTION POLICY \"{rp}\" ON \"{}\" DURATION {duration} REPLICATION 1",
            db.name
        ))
        .await?;
    }
    let now = jiff::Timestamp::now().as_millisecond();
    let started = Instant::now();
    let watts =
        |socket: i64, t: i64| 40.0 + socket as f64 + 20.0 * ((t / MINUTE) as f64 / 97.0).sin();
    // A year of hours.
    let hour0 = (now - 365 * 24 * HOUR) / HOUR * HOUR;
    let points = generate(&db, &http, Some("rollup_1h"), hour0, now, HOUR, |t, lines| {
        let mut total = 0.0;
        for s in 0..SOCKETS {
            let w = watts(s, t);
            total += w;
            lines.push_str(&format!(
                "power,device=d-{},household={household},socket=s-{s} watts={w},watts_max={},energy_wh={w},energy_total_wh=0,samples=360i {t}\n",
                s / 4, w + 5.0));
        }
        lines.push_str(&format!("household,household={household} watts={total},energy_wh={total} {t}\n"));
    })
    .await?;
    println!("hour rollups: {points} points");
    let minute0 = (now - 31 * 24 * HOUR) / MINUTE * MINUTE;
    let points = generate(&db, &http, Some("rollup_1m"), minute0, now, MINUTE, |t, lines| {
        let mut total = 0.0;
        for s in 0..SOCKETS {
            let w = watts(s, t);
            total += w;
            lines.push_str(&format!(
                "power,device=d-{},household={household},socket=s-{s} watts={w},watts_max={},energy_wh={},energy_total_wh=0,samples=6i {t}\n",
                s / 4, w + 5.0, w / 60.0));
        }
        lines.push_str(&format!("household,household={household} watts={total},energy_wh={} {t}\n", total / 60.0));
    })
    .await?;
    println!("minute rollups: {points} points");
    let raw0 = (now - 24 * HOUR) / 10_000 * 10_000;
    let points =
        generate(&db, &http, None, raw0, now, 10_000, |t, lines| {
            for s in 0..SOCKETS {
                lines.push_str(&format!(
                "power,device=d-{},household={household},socket=s-{s} watts={},energy_wh={} {t}\n",
                s / 4, watts(s, t), (t - raw0) as f64 / 3.6e6 * 50.0));
            }
        })
        .await?;
    println!(
        "raw readings: {points} points; data written in {:.0?}",
        started.elapsed()
    );

    let service = read_service::ReadService::bind(read_service::Config::parse_from([
        "read-service".to_owned(),
        "--listen=127.0.0.1:0".into(),
        format!("--influx-url={}", db.url),
        format!("--influx-db={}", db.name),
        format!("--auth-url={auth_base}"),
        format!("--auth-internal-url={auth_internal}"),
    ]))
    .await?;
    let base = format!("http://{}", service.local_addr());
    tokio::spawn(service.run(stop.clone()));

    let at = |ms: i64| {
        testkit::percent_encode(
            &jiff::Timestamp::from_millisecond(ms)
                .map(|t| t.to_string())
                .unwrap_or_default(),
        )
    };
    let (day, month, year) = (now - 24 * HOUR, now - 30 * 24 * HOUR, now - 365 * 24 * HOUR);
    let to = at(now);
    let views: Vec<(&str, Vec<String>)> = vec![
        (
            "day",
            vec![
                "/api/sockets".into(),
                format!("/api/power?from={}&to={to}", at(day)),
                format!("/api/power?from={}&to={to}&device=d-0&socket=s-0", at(day)),
                format!("/api/energy?from={}&to={to}&bucket=hour", at(day)),
            ],
        ),
        (
            "month",
            vec![
                format!("/api/power?from={}&to={to}", at(month)),
                format!(
                    "/api/power?from={}&to={to}&device=d-0&socket=s-0",
                    at(month)
                ),
                format!("/api/energy?from={}&to={to}&bucket=day", at(month)),
            ],
        ),
        (
            "year",
            vec![
                format!("/api/power?from={}&to={to}", at(year)),
                format!("/api/power?from={}&to={to}&device=d-0&socket=s-0", at(year)),
                format!("/api/energy?from={}&to={to}&bucket=month", at(year)),
                format!(
                    "/api/energy?from={}&to={to}&bucket=month&device=d-0&socket=s-0",
                    at(year)
                ),
            ],
        ),
    ];
    println!(
        "\n{runs} runs each, p50 / p90 (a view's requests are sent together, as the dashboard does):"
    );
    for (view, paths) in &views {
        let mut whole = Vec::new();
        let mut per_path = vec![Vec::new(); paths.len()];
        for _ in 0..runs {
            let view_started = Instant::now();
            // The dashboard asks for a view's pieces at once.
            let timings = futures_util::future::join_all(paths.iter().map(|path| {
                let (http, url, token) = (http.clone(), format!("{base}{path}"), token.clone());
                async move {
                    let started = Instant::now();
                    let response = http.get(url).bearer_auth(token).send().await?;
                    let status = response.status();
                    let _ = response.bytes().await?;
                    anyhow::ensure!(status.is_success(), "{path}: {status}");
                    Ok::<_, anyhow::Error>(started.elapsed())
                }
            }))
            .await;
            whole.push(view_started.elapsed());
            for (i, timing) in timings.into_iter().enumerate() {
                per_path[i].push(timing?);
            }
        }
        println!(
            "{view:>5} view (requests in parallel): p50 {:?}  p90 {:?}",
            pct(&mut whole, 50),
            pct(&mut whole, 90)
        );
        for (path, times) in paths.iter().zip(per_path.iter_mut()) {
            let shown = path.split('?').next().unwrap_or(path);
            let params: Vec<&str> = path
                .split(['?', '&'])
                .filter(|p| p.starts_with("bucket") || p.starts_with("device"))
                .collect();
            println!(
                "        {shown} {}: p50 {:?}  p90 {:?}",
                params.join(" "),
                pct(times, 50),
                pct(times, 90)
            );
        }
    }
    // What InfluxDB alone takes for the heaviest statement: a year of
    // every socket's hours (the split by socket under a time-of-use tariff).
    let statement = format!(
        "SELECT \"energy_wh\" FROM \"rollup_1h\".\"power\" WHERE \"household\" = '{household}' AND time >= {}ms GROUP BY \"device\", \"socket\"",
        year
    );
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..runs.min(10) {
        let started = Instant::now();
        let body = http
            .post(format!("{}/query", db.url))
            .form(&[
                ("db", db.name.as_str()),
                ("q", statement.as_str()),
                ("epoch", "ms"),
            ])
            .send()
            .await?
            .bytes()
            .await?;
        bytes = body.len();
        times.push(started.elapsed());
    }
    println!(
        "InfluxDB alone, a year of 30 sockets' hours ({} KiB JSON): p50 {:?}",
        bytes / 1024,
        pct(&mut times, 50)
    );
    stop.cancel();
    Ok(())
}

fn pct(times: &mut [Duration], p: usize) -> Duration {
    times.sort();
    times[(times.len() - 1) * p / 100]
}

/// Writes points from `from` to `to` every `every` ms (`line` appends one
/// instant's lines), in 20 000-line bodies, four at a time.
async fn generate(
    db: &InfluxDatabase,
    http: &reqwest::Client,
    rp: Option<&str>,
    from: i64,
    to: i64,
    every: i64,
    line: impl Fn(i64, &mut String),
) -> anyhow::Result<usize> {
    let mut bodies = Vec::new();
    let mut body = String::new();
    let mut lines = 0;
    let mut t = from;
    while t < to {
        line(t, &mut body);
        lines += SOCKETS as usize;
        if body.len() > 2_000_000 {
            bodies.push(std::mem::take(&mut body));
        }
        t += every;
    }
    bodies.push(body);
    let url = format!("{}/write", db.url);
    let mut query = vec![("db", db.name.clone()), ("precision", "ms".to_owned())];
    if let Some(rp) = rp {
        query.push(("rp", rp.to_owned()));
    }
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(bodies)
        .map(|body| {
            let request = http.post(&url).query(&query).body(body);
            async move {
                let response = request.send().await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "write: {}",
                    response.text().await?
                );
                Ok(())
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<()>>()?;
    Ok(lines)
}
