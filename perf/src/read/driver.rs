//! The load driver both sides share: simulated users opening views, closed
//! loop (each user opens its next view when the last one is complete) or
//! open loop (`--rate` views a second in total, at most `--users` in
//! flight, latency counted from when a view was due so a slow server cannot
//! hide its queue), for a warm-up and then the measured duration. Only views
//! completed inside the measured window count.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::stats::Percentiles;
use super::views::{Mix, View};

/// One request of a view: how long it took and whether it succeeded.
#[derive(Debug, Clone)]
pub struct RequestOutcome {
    pub took: Duration,
    /// Why it failed (a non-2xx status, a transport error, a refused statement).
    pub error: Option<String>,
}

/// How the users behave.
#[derive(Debug, Clone)]
pub struct DriverSettings {
    pub users: usize,
    pub mix: Mix,
    /// Views a second in total (open loop); `None`: closed loop.
    pub rate: Option<f64>,
    pub warmup: Duration,
    pub duration: Duration,
}

/// Everything recorded in the measured window.
#[derive(Debug, Default)]
pub struct Tally {
    by_view: BTreeMap<View, ViewTally>,
    /// Open loop: views due while every user was busy (not sent).
    pub missed: u64,
    /// The first error seen, for the operator.
    pub first_error: Option<String>,
    /// The measured window, s.
    pub window_s: f64,
}

#[derive(Debug, Default)]
struct ViewTally {
    views: u64,
    view_latencies: Vec<Duration>,
    request_latencies: Vec<Duration>,
    errors: u64,
}

/// Numbers for one view, or all of them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Measured {
    pub views: u64,
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    pub views_per_s: f64,
    pub requests_per_s: f64,
    /// Per request, ms.
    pub latency_ms: Percentiles,
    /// Per view (its requests sent together, until the last answered), ms.
    pub view_latency_ms: Percentiles,
}

impl Tally {
    fn add(&mut self, view: View, took: Duration, requests: &[RequestOutcome]) {
        let tally = self.by_view.entry(view).or_default();
        tally.views += 1;
        tally.view_latencies.push(took);
        for request in requests {
            tally.request_latencies.push(request.took);
            if let Some(error) = &request.error {
                tally.errors += 1;
                self.first_error.get_or_insert_with(|| error.clone());
            }
        }
    }

    /// Per view, and all together.
    pub fn measured(&mut self) -> (BTreeMap<View, Measured>, Measured) {
        let window = self.window_s.max(1e-9);
        let mut all = ViewTally::default();
        let mut by_view = BTreeMap::new();
        for (view, tally) in &mut self.by_view {
            by_view.insert(*view, summarise(tally, window));
            all.views += tally.views;
            all.errors += tally.errors;
            all.view_latencies.extend_from_slice(&tally.view_latencies);
            all.request_latencies
                .extend_from_slice(&tally.request_latencies);
        }
        (by_view, summarise(&mut all, window))
    }
}

fn summarise(tally: &mut ViewTally, window_s: f64) -> Measured {
    let requests = tally.request_latencies.len() as u64;
    Measured {
        views: tally.views,
        requests,
        errors: tally.errors,
        views_per_s: tally.views as f64 / window_s,
        requests_per_s: requests as f64 / window_s,
        latency_ms: Percentiles::of(&mut tally.request_latencies),
        view_latency_ms: Percentiles::of(&mut tally.view_latencies),
    }
}

/// Runs the users for `settings.warmup + settings.duration`; `open(user,
/// view)` performs one view and returns its requests' outcomes.
/// `progress`, if given, shows seconds and the rate of views.
pub async fn drive<F, Fut>(
    settings: &DriverSettings,
    open: F,
    progress: Option<&indicatif::ProgressBar>,
) -> Tally
where
    F: Fn(usize, View) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<RequestOutcome>> + Send,
{
    let open = Arc::new(open);
    let started = Instant::now();
    let measure_from = started + settings.warmup;
    let measure_to = measure_from + settings.duration;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let record = {
        let tally = Arc::clone(&tally);
        move |view: View, due: Instant, requests: Vec<RequestOutcome>| {
            let now = Instant::now();
            if now >= measure_from && now <= measure_to {
                tally.lock().unwrap_or_else(PoisonError::into_inner).add(
                    view,
                    now - due,
                    &requests,
                );
            }
        }
    };
    let stop = CancellationToken::new();
    let mut tasks = JoinSet::new();
    match settings.rate {
        None => {
            for user in 0..settings.users {
                let (open, record, stop, mix) = (
                    Arc::clone(&open),
                    record.clone(),
                    stop.clone(),
                    settings.mix.clone(),
                );
                tasks.spawn(async move {
                    while !stop.is_cancelled() {
                        let view = mix.pick(&mut rand::rng());
                        let due = Instant::now();
                        let requests = open(user, view).await;
                        record(view, due, requests);
                    }
                });
            }
        }
        Some(rate) => {
            let permits = Arc::new(Semaphore::new(settings.users.max(1)));
            let (open, stop, mix, tally) = (
                Arc::clone(&open),
                stop.clone(),
                settings.mix.clone(),
                Arc::clone(&tally),
            );
            let every = Duration::from_secs_f64(1.0 / rate);
            tasks.spawn(async move {
                let mut next = tokio::time::Instant::now();
                let mut k = 0usize;
                let mut views = JoinSet::new();
                while !stop.is_cancelled() {
                    tokio::time::sleep_until(next).await;
                    let due = next.into_std();
                    next += every;
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        if due >= measure_from && due <= measure_to {
                            tally.lock().unwrap_or_else(PoisonError::into_inner).missed += 1;
                        }
                        continue;
                    };
                    let view = mix.pick(&mut rand::rng());
                    let (open, record) = (Arc::clone(&open), record.clone());
                    let user = k;
                    k += 1;
                    views.spawn(async move {
                        let requests = open(user, view).await;
                        record(view, due, requests);
                        drop(permit);
                    });
                    while views.try_join_next().is_some() {}
                }
                while views.join_next().await.is_some() {}
            });
        }
    }
    let total = settings.warmup + settings.duration;
    let mut last = (0u64, Instant::now());
    while started.elapsed() < total {
        tokio::time::sleep(Duration::from_secs(1).min(total.saturating_sub(started.elapsed())))
            .await;
        if let Some(bar) = progress {
            let views: u64 = {
                let tally = tally.lock().unwrap_or_else(PoisonError::into_inner);
                tally.by_view.values().map(|t| t.views).sum()
            };
            let rate = (views - last.0) as f64 / last.1.elapsed().as_secs_f64().max(1e-9);
            last = (views, Instant::now());
            bar.set_position(started.elapsed().as_secs());
            if Instant::now() > measure_from {
                bar.set_message(format!("{rate:.0} views/s"));
            } else {
                bar.set_message("warming up");
            }
        }
    }
    stop.cancel();
    while tasks.join_next().await.is_some() {}
    let mut tally = std::mem::take(&mut *tally.lock().unwrap_or_else(PoisonError::into_inner));
    tally.window_s = settings.duration.as_secs_f64();
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(ms: u64) -> RequestOutcome {
        RequestOutcome {
            took: Duration::from_millis(ms),
            error: None,
        }
    }

    #[test]
    fn a_tally_sums_views_requests_and_errors() {
        let mut tally = Tally {
            window_s: 2.0,
            ..Tally::default()
        };
        tally.add(View::Day, Duration::from_millis(10), &[ok(5), ok(10)]);
        let failed = RequestOutcome {
            took: Duration::from_millis(3),
            error: Some("HTTP 503".into()),
        };
        tally.add(View::Year, Duration::from_millis(4), &[ok(4), failed]);
        let (by_view, all) = tally.measured();
        assert_eq!((all.views, all.requests, all.errors), (2, 4, 1));
        assert_eq!(all.requests_per_s, 2.0);
        assert_eq!(all.latency_ms.max, Some(10.0));
        assert_eq!(by_view[&View::Day].view_latency_ms.p50, Some(10.0));
        assert_eq!(by_view[&View::Year].errors, 1);
        assert_eq!(tally.first_error.as_deref(), Some("HTTP 503"));
    }

    #[tokio::test]
    async fn closed_loop_users_keep_one_view_in_flight_each() {
        let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let settings = DriverSettings {
            users: 3,
            mix: Mix::default(),
            rate: None,
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(400),
        };
        let (f, m) = (Arc::clone(&in_flight), Arc::clone(&most));
        let mut tally = drive(
            &settings,
            move |_, _| {
                let (f, m) = (Arc::clone(&f), Arc::clone(&m));
                async move {
                    use std::sync::atomic::Ordering::SeqCst;
                    let now = f.fetch_add(1, SeqCst) + 1;
                    m.fetch_max(now, SeqCst);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    f.fetch_sub(1, SeqCst);
                    vec![ok(10)]
                }
            },
            None,
        )
        .await;
        let (_, all) = tally.measured();
        assert!(all.views > 0, "{all:?}");
        assert_eq!(all.errors, 0);
        assert!(most.load(std::sync::atomic::Ordering::SeqCst) <= 3);
    }

    #[tokio::test]
    async fn open_loop_sends_at_the_rate() {
        let settings = DriverSettings {
            users: 4,
            mix: "day=1".parse().unwrap(),
            rate: Some(100.0),
            warmup: Duration::ZERO,
            duration: Duration::from_millis(500),
        };
        let mut tally = drive(&settings, |_, _| async { vec![ok(1)] }, None).await;
        let (by_view, all) = tally.measured();
        // Never more than were due (51 in 0.5 s at 100/s); how many fewer
        // depends on the machine, so only "some" is asserted.
        assert!((1..=51).contains(&all.views), "{all:?}");
        assert_eq!(by_view.keys().copied().collect::<Vec<_>>(), vec![View::Day]);
    }
}
