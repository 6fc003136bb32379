//! Live dashboards: users holding `/api/live` open and counting its `power`
//! events, and the feeder that keeps sockets reporting meanwhile (one raw
//! reading per socket every 10 s, as agents would), so live events carry
//! real sockets.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use wattline_influx::{InfluxApi, InfluxWriter, LineProtocolBuilder, SeriesTags, WriterConfig};

use super::dataset::{self, Layout, RAW_EVERY_MS};
use super::stats::Percentiles;

/// What the live users saw in the measured window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveReport {
    pub streams: usize,
    pub events: u64,
    pub events_per_s: f64,
    /// Time between two events of one stream, ms.
    pub gap_ms: Percentiles,
    /// Streams refused or ended early.
    pub errors: u64,
}

/// Live users, running until [`LiveUsers::finish`].
#[derive(Debug)]
pub struct LiveUsers {
    tasks: JoinSet<()>,
    stop: CancellationToken,
    shared: Arc<Mutex<Seen>>,
    streams: usize,
}

#[derive(Debug, Default)]
struct Seen {
    events: u64,
    gaps: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

impl LiveUsers {
    /// Opens `streams` feeds at `base`, stream `i` with `tokens[i % len]`;
    /// events count inside `window` (start, end) only.
    pub fn start(
        http: &reqwest::Client,
        base: &str,
        tokens: &[String],
        streams: usize,
        window: (Instant, Instant),
    ) -> Self {
        let stop = CancellationToken::new();
        let shared = Arc::new(Mutex::new(Seen::default()));
        let mut tasks = JoinSet::new();
        for i in 0..streams {
            let (http, url, token) = (
                http.clone(),
                format!("{base}/api/live"),
                tokens[i % tokens.len()].clone(),
            );
            let (stop, shared) = (stop.clone(), Arc::clone(&shared));
            tasks.spawn(async move {
                let failed = tokio::select! {
                    result = follow(&http, &url, &token, window, &shared) => Some(result),
                    () = stop.cancelled() => None,
                };
                if let Some(reason) = failed {
                    let mut seen = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    seen.errors += 1;
                    seen.first_error.get_or_insert(reason);
                }
            });
        }
        Self {
            tasks,
            stop,
            shared,
            streams,
        }
    }

    /// Closes the feeds; the report over `window_s` and the first error.
    pub async fn finish(mut self, window_s: f64) -> (LiveReport, Option<String>) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
        let mut seen =
            std::mem::take(&mut *self.shared.lock().unwrap_or_else(PoisonError::into_inner));
        (
            LiveReport {
                streams: self.streams,
                events: seen.events,
                events_per_s: seen.events as f64 / window_s.max(1e-9),
                gap_ms: Percentiles::of(&mut seen.gaps),
                errors: seen.errors,
            },
            seen.first_error,
        )
    }
}

/// Follows one feed until it fails (the reason) — it should not end by
/// itself before the users are stopped.
async fn follow(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    (from, to): (Instant, Instant),
    shared: &Mutex<Seen>,
) -> String {
    let mut response = match http.get(url).bearer_auth(token).send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return format!("/api/live: HTTP {}", r.status()),
        Err(e) => return format!("/api/live: {e}"),
    };
    let mut buffer = String::new();
    let mut last_event: Option<Instant> = None;
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return "/api/live ended".into(),
            Err(e) => return format!("/api/live: {e}"),
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        // Events end with a blank line; keep-alive comments count for nothing.
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if !event.lines().any(|l| l.trim_end() == "event: power") {
                continue;
            }
            let now = Instant::now();
            if now >= from && now <= to {
                let mut seen = shared.lock().unwrap_or_else(PoisonError::into_inner);
                seen.events += 1;
                if let Some(previous) = last_event.filter(|p| *p >= from) {
                    seen.gaps.push(now - previous);
                }
            }
            last_event = Some(now);
        }
    }
}

/// Writes one raw reading per socket every 10 s until stopped.
#[derive(Debug)]
pub struct Feeder {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Feeder {
    pub fn start(influx_url: &str, db: &str, households: Vec<Layout>) -> anyhow::Result<Self> {
        let writer = InfluxWriter::new(WriterConfig {
            url: influx_url.to_owned(),
            api: InfluxApi::v1(db),
            gzip: false,
            timeout: Duration::from_secs(30),
        })?;
        let stop = CancellationToken::new();
        let until = stop.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(RAW_EVERY_MS as u64));
            let mut lines = LineProtocolBuilder::new();
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = until.cancelled() => return,
                }
                let now = jiff::Timestamp::now().as_millisecond();
                let t = now.div_euclid(RAW_EVERY_MS) * RAW_EVERY_MS;
                lines.clear();
                for layout in &households {
                    for (index, (device, socket)) in layout.sockets.iter().enumerate() {
                        let tags = SeriesTags {
                            household: &layout.household,
                            device,
                            socket,
                        };
                        let _ = lines.push_series(tags, &[dataset::reading(index, t)]);
                    }
                }
                if let Err(e) = writer.write(lines.as_bytes()).await {
                    tracing::warn!(error = %e, "perf read: the live feeder's write failed");
                }
            }
        });
        Ok(Self { stop, task })
    }

    pub async fn stop(mut self) {
        self.stop.cancel();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Feeder {
    /// A run that failed midway stops feeding too.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
