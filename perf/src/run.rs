//! `perf run`: the whole pipeline under load, its parts' limits beside it,
//! and the check that every confirmed reading is stored exactly once.
//!
//! Order: set up a vhost and a database of the run's own; measure InfluxDB
//! alone and RabbitMQ alone (unless skipped); start the write service(s);
//! publish for warm-up + duration while sampling once a second; stop
//! publishing, wait for the queue to drain, stop the services; count every
//! series in InfluxDB; report; remove the vhost and database.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde::Serialize;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::amqp;
use crate::baseline::{self, BrokerBaseline, InfluxBaseline};
use crate::load::{self, LoadCounters, LoadSettings};
use crate::metrics::{quantile_ms, scrape_all, Scrape};
use crate::plot::{self, Sample};
use crate::procstat;
use crate::setup::{
    create_database, drop_database, influxql, write_service_binary, RabbitAdmin, Replica,
};
use crate::workload::Workload;

/// The queue the write service consumes (its default).
const WRITE_QUEUE: &str = "wattline.readings.write";
/// The sampling period, during the load and while the queue drains alike.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How often the drain checks whether everything is written, between samples:
/// when the count last grew dates the last write.
const DRAIN_POLL: Duration = Duration::from_millis(250);
/// How long the queue may take to drain before perf counts what is there.
const DRAIN_PATIENCE: Duration = Duration::from_secs(300);

/// Everything `perf run` needs to know.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub workload: Workload,
    pub amqp_host_port: String,
    pub rabbit_api: String,
    pub influx_url: String,
    pub rate: Option<f64>,
    pub connections: usize,
    pub max_in_flight: usize,
    /// Closed loop: publishers pause while the write queue holds more ready
    /// messages than this (`None`: only the broker's flow control).
    pub max_backlog: Option<u32>,
    pub warmup: Duration,
    pub duration: Duration,
    pub write_replicas: usize,
    pub write_service_bin: Option<PathBuf>,
    pub baselines: bool,
    pub baseline_points: u64,
    pub baseline_messages: u64,
    pub plot: Option<PathBuf>,
    pub keep: bool,
    pub work_dir: PathBuf,
    pub progress: bool,
}

/// Latency percentiles, ms (bucket upper bounds of the write service's
/// lag histogram).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

/// The result, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub households: u32,
    pub sockets: u32,
    pub readings_per_msg: u32,
    pub write_replicas: usize,
    pub target_msgs_per_s: Option<f64>,
    /// The steady window: from the first sample after warm-up to the last
    /// one before publishing stopped, s.
    pub duration_s: f64,
    /// Messages confirmed by the broker per second in the steady window.
    pub published_msgs_per_s: f64,
    /// Readings confirmed by the broker per second in the steady window.
    pub published_readings_per_s: f64,
    /// Points written per second in the steady window (write services' metrics).
    pub pipeline_points_per_s: f64,
    /// Points InfluxDB holds for the run ÷ (last write − first publish).
    pub influx_verified_points_per_s: f64,
    pub influx_points_per_s: Option<f64>,
    pub broker_msgs_per_s: Option<f64>,
    pub limit_points_per_s: Option<f64>,
    pub ratio_to_limit: Option<f64>,
    pub latency_ms: Latency,
    pub write_service_cpu_us_per_point: Option<f64>,
    pub write_service_rss_mb: Option<f64>,
    pub broker_cpu_percent: f64,
    pub influx_cpu_percent: f64,
    pub queue_depth_max: f64,
    pub bytes_per_reading: f64,
    pub published: u64,
    pub stored: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub influx_baseline: Option<InfluxBaseline>,
    pub broker_baseline: Option<BrokerBaseline>,
}

/// `L = 1 / (1/influx + 1/(broker × readings))`: what the pipeline could
/// reach here if our code cost nothing while broker and InfluxDB share the
/// machine.
pub fn limit(influx_points_per_s: f64, broker_msgs_per_s: f64, readings_per_msg: f64) -> f64 {
    1.0 / (1.0 / influx_points_per_s + 1.0 / (broker_msgs_per_s * readings_per_msg))
}

impl Report {
    /// Records the baselines and what follows from them: the limit `L` and
    /// `pipeline / L`. A sweep measures them once and gives them to every run.
    pub fn set_baselines(&mut self, influx: InfluxBaseline, broker: BrokerBaseline) {
        let limit = limit(
            influx.points_per_s,
            broker.msgs_per_s,
            f64::from(self.readings_per_msg),
        );
        self.influx_points_per_s = Some(influx.points_per_s);
        self.broker_msgs_per_s = Some(broker.msgs_per_s);
        self.limit_points_per_s = Some(limit);
        self.ratio_to_limit = Some(self.pipeline_points_per_s / limit);
        self.influx_baseline = Some(influx);
        self.broker_baseline = Some(broker);
    }
}

/// One line of a `--write-replicas 1,2,3` sweep.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingRow {
    pub write_replicas: usize,
    pub pipeline_points_per_s: f64,
    pub ratio_to_limit: Option<f64>,
    pub write_service_cpu_us_per_point: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub lost: u64,
    pub duplicated: u64,
}

impl From<&Report> for ScalingRow {
    fn from(report: &Report) -> Self {
        Self {
            write_replicas: report.write_replicas,
            pipeline_points_per_s: report.pipeline_points_per_s,
            ratio_to_limit: report.ratio_to_limit,
            write_service_cpu_us_per_point: report.write_service_cpu_us_per_point,
            latency_p99_ms: report.latency_ms.p99,
            lost: report.lost,
            duplicated: report.duplicated,
        }
    }
}

/// The scaling table of a sweep.
pub fn print_scaling(rows: &[ScalingRow], out: &mut impl std::io::Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>9} {:>14} {:>10} {:>12} {:>10} {:>14}",
        "replicas", "points/s", "of L", "µs/point", "p99 ms", "lost/dup"
    )?;
    let opt = |v: Option<f64>, scale: f64| {
        v.map_or_else(|| "-".to_owned(), |v| format!("{:.1}", v * scale))
    };
    for row in rows {
        writeln!(
            out,
            "{:>9} {:>14.0} {:>9}% {:>12} {:>10} {:>14}",
            row.write_replicas,
            row.pipeline_points_per_s,
            opt(row.ratio_to_limit, 100.0),
            opt(row.write_service_cpu_us_per_point, 1.0),
            opt(row.latency_p99_ms, 1.0),
            format!("{}/{}", row.lost, row.duplicated),
        )?;
    }
    Ok(())
}

/// One sampler tick's raw readings.
#[derive(Debug, Clone)]
struct Tick {
    t: f64,
    published_readings: u64,
    scrape: Scrape,
    queue_depth: f64,
    replica_cpu: Duration,
    broker_cpu: Duration,
    influx_cpu: Duration,
}

/// Runs the whole measurement (see the module docs). The vhost and database
/// are removed afterwards unless `settings.keep`, also after an error or
/// Ctrl-C; the write services are stopped or, on an error, killed.
pub async fn run(settings: RunSettings) -> Result<Report> {
    check(&settings)?;
    let workload = Arc::new(settings.workload.clone());
    let admin = RabbitAdmin::new(&settings.rabbit_api)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let vhost = workload.vhost();
    let db = workload.database();
    admin.create_vhost(&vhost).await?;
    let amqp_url = admin.amqp_url(&settings.amqp_host_port, &vhost);

    let measured = async {
        create_database(&http, &settings.influx_url, &db).await?;
        measure(&settings, &workload, &http, &amqp_url, &db).await
    };
    // Ctrl-C drops the measurement (its write services are killed on drop)
    // and still cleans up: an interrupted run leaves nothing behind.
    let result = tokio::select! {
        result = measured => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };

    if !settings.keep {
        let _ = admin.delete_vhost(&vhost).await;
        let _ = drop_database(&http, &settings.influx_url, &db).await;
    }
    result
}

/// Refuses settings that cannot give a measurement, before anything is created.
fn check(settings: &RunSettings) -> Result<()> {
    ensure!(
        !settings.workload.is_empty(),
        "the fleet needs at least one household, socket and reading per socket"
    );
    if let Some(rate) = settings.rate {
        // Also what a per-connection share's spacing (1 / rate) must fit in.
        ensure!(
            rate.is_finite() && rate >= 1e-3,
            "--rate must be at least 0.001 messages/s (omit it to publish as fast as confirms allow)"
        );
    }
    ensure!(
        settings.duration >= SAMPLE_EVERY,
        "--duration must be at least {SAMPLE_EVERY:?}: the steady window is measured between samples"
    );
    ensure!(
        settings.max_in_flight > 0,
        "--max-in-flight must be at least 1"
    );
    Ok(())
}

async fn measure(
    settings: &RunSettings,
    workload: &Arc<Workload>,
    http: &reqwest::Client,
    amqp_url: &str,
    db: &str,
) -> Result<Report> {
    let readings_per_msg = workload.readings_per_message();
    let (influx_baseline, broker_baseline) = if settings.baselines {
        say(settings, "baseline: InfluxDB alone");
        let baseline_workload = Workload {
            run_id: format!("{}-b", workload.run_id),
            ..(**workload).clone()
        };
        let influx = baseline::influx_alone(
            &settings.influx_url,
            db,
            &baseline_workload,
            settings.baseline_points,
            5000,
            2,
        )
        .await?;
        say(settings, &format!("  {:.0} points/s", influx.points_per_s));
        say(settings, "baseline: RabbitMQ alone");
        let broker = baseline::broker_alone(
            amqp_url,
            &baseline_workload,
            settings.baseline_messages,
            settings.connections.clamp(1, 4),
            2000,
        )
        .await?;
        say(settings, &format!("  {:.0} messages/s", broker.msgs_per_s));
        (Some(influx), Some(broker))
    } else {
        (None, None)
    };

    // The write services, with the fleet's device → household map.
    let households_file = settings
        .work_dir
        .join(format!("perf-{}-households.csv", workload.run_id));
    let mut map = String::new();
    for h in 0..workload.households {
        map.push_str(&format!(
            "{},{}\n",
            workload.device_id(h),
            workload.household_id(h)
        ));
    }
    std::fs::write(&households_file, map)?;
    let binary = write_service_binary(settings.write_service_bin.as_deref())?;
    let mut replicas = Vec::new();
    for i in 0..settings.write_replicas.max(1) {
        let log = settings
            .work_dir
            .join(format!("perf-{}-write-service-{i}.log", workload.run_id));
        let mut replica = Replica::start(
            &binary,
            amqp_url,
            &settings.influx_url,
            db,
            &households_file,
            log,
            &[],
        )
        .await?;
        replica.wait_ready(Duration::from_secs(60)).await?;
        replicas.push(replica);
    }
    let metrics_urls: Vec<String> = replicas.iter().map(|r| r.metrics_url.clone()).collect();
    let replica_pids: Vec<u32> = replicas.iter().filter_map(Replica::pid).collect();

    // A channel to watch the queue's depth (a passive declare answers now;
    // the management API's numbers lag by seconds).
    let watcher = amqp::connect(amqp_url, "queue watcher").await?;
    let watch = amqp::channel(&watcher).await?;

    let counters = Arc::new(LoadCounters::default());
    let stop = CancellationToken::new();
    let started = Instant::now();
    let load = tokio::spawn(load::run(
        Arc::clone(workload),
        LoadSettings {
            amqp_url: amqp_url.to_owned(),
            connections: settings.connections,
            rate: settings.rate,
            max_in_flight: settings.max_in_flight,
            max_backlog: settings
                .max_backlog
                .map(|max| (WRITE_QUEUE.to_owned(), max)),
        },
        Arc::clone(&counters),
        stop.clone(),
    ));

    let total = settings.warmup + settings.duration;
    let bar = progress_bar(settings, total);
    let mut ticks: Vec<Tick> = Vec::new();
    let tick = |t: f64| {
        let counters = Arc::clone(&counters);
        let watch = watch.clone();
        let metrics_urls = metrics_urls.clone();
        let replica_pids = replica_pids.clone();
        async move {
            let depth = amqp::ready_messages(&watch, WRITE_QUEUE, amqp::OP_TIMEOUT)
                .await
                .map_or(0.0, f64::from);
            Ok::<_, anyhow::Error>(Tick {
                t,
                published_readings: counters.readings.load(Ordering::Relaxed),
                scrape: scrape_all(http, &metrics_urls).await?,
                queue_depth: depth,
                replica_cpu: replica_pids
                    .iter()
                    .filter_map(|p| procstat::cpu_time(*p))
                    .sum(),
                broker_cpu: procstat::cpu_time_of("beam.smp"),
                influx_cpu: procstat::cpu_time_of("influxd"),
            })
        }
    };
    ticks.push(tick(0.0).await?);
    let mut interval = tokio::time::interval(SAMPLE_EVERY);
    // A late sample pushes the next one back rather than bursting to catch up:
    // every interval stays about a second long, so rates are not spikes.
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval.tick().await;
    while started.elapsed() < total {
        interval.tick().await;
        if load.is_finished() {
            break;
        }
        let sample = tick(started.elapsed().as_secs_f64()).await?;
        if let Some(bar) = &bar {
            let previous = &ticks[ticks.len() - 1];
            let dt = sample.t - previous.t;
            bar.set_position(sample.t as u64);
            bar.set_message(format!(
                "{:.0} readings/s published, {:.0} points/s stored, queue {:.0}",
                (sample.published_readings - previous.published_readings) as f64 / dt,
                (sample.scrape.points_written - previous.scrape.points_written) / dt,
                sample.queue_depth
            ));
        }
        ticks.push(sample);
    }
    stop.cancel();
    let confirmed = load.await.context("load task")??;
    let load_ended = started.elapsed().as_secs_f64();
    let published = counters.readings.load(Ordering::Relaxed);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }

    // Drain: everything confirmed must be written before the count. Samples
    // stay on the one-second grid (a short first interval would turn the
    // load's last confirms into a spike of published/s); in between, the
    // written count is polled so the last write is dated to within DRAIN_POLL.
    say(settings, "draining the queue");
    let drain_deadline = Instant::now() + DRAIN_PATIENCE;
    let mut written = ticks.last().map_or(0.0, |t| t.scrape.points_written);
    let mut last_write_t = load_ended;
    loop {
        let on_grid = tokio::select! {
            biased;
            _ = interval.tick() => true,
            () = tokio::time::sleep(DRAIN_POLL) => false,
        };
        let t = started.elapsed().as_secs_f64();
        let now_written = if on_grid {
            let sample = tick(t).await?;
            let now_written = sample.scrape.points_written;
            ticks.push(sample);
            now_written
        } else {
            scrape_all(http, &metrics_urls).await?.points_written
        };
        if now_written > written {
            (written, last_write_t) = (now_written, t);
        }
        if written >= published as f64 {
            if !on_grid {
                // One more sample, so the plot ends with the queue empty.
                interval.tick().await;
                ticks.push(tick(started.elapsed().as_secs_f64()).await?);
            }
            break;
        }
        if Instant::now() > drain_deadline {
            say(
                settings,
                &format!(
                    "the queue did not drain within {DRAIN_PATIENCE:?}; counting what is there"
                ),
            );
            break;
        }
    }
    let peak_rss = replica_pids
        .iter()
        .filter_map(|p| procstat::peak_rss_bytes(*p))
        .max();
    amqp::close_connection(&watcher, "perf done").await;
    for replica in replicas {
        replica.stop().await?;
    }
    if !settings.keep {
        let _ = std::fs::remove_file(&households_file);
    }

    // Exactly once, series by series.
    let (stored, lost, duplicated) =
        verify(http, &settings.influx_url, db, workload, &confirmed.batches).await?;

    // The steady window: after warm-up, until publishing stopped.
    let warm = settings.warmup.as_secs_f64();
    let last = ticks
        .iter()
        .rev()
        .find(|t| t.t <= load_ended)
        .unwrap_or(&ticks[0]);
    // Never after `last`, so every difference below is over a forward window.
    let first = ticks
        .iter()
        .find(|t| t.t >= warm && t.t <= last.t)
        .unwrap_or(&ticks[0]);
    let window = (last.t - first.t).max(1e-9);
    let points_in_window = last.scrape.points_written - first.scrape.points_written;
    let lag = last.scrape.lag_since(&first.scrape);
    let published_in_window = (last.published_readings - first.published_readings) as f64;
    // Saturating: a process that could not be read at one end (gone, or a
    // /proc we cannot see) must not panic the report.
    let cpu = |f: fn(&Tick) -> Duration| f(last).saturating_sub(f(first)).as_secs_f64();
    let pipeline_points_per_s = points_in_window / window;
    let mut report = Report {
        households: workload.households,
        sockets: workload.sockets,
        readings_per_msg,
        write_replicas: settings.write_replicas.max(1),
        target_msgs_per_s: settings.rate,
        duration_s: window,
        published_msgs_per_s: published_in_window / f64::from(readings_per_msg) / window,
        published_readings_per_s: published_in_window / window,
        pipeline_points_per_s,
        influx_verified_points_per_s: stored as f64 / last_write_t.max(1e-9),
        influx_points_per_s: None,
        broker_msgs_per_s: None,
        limit_points_per_s: None,
        ratio_to_limit: None,
        latency_ms: Latency {
            p50: quantile_ms(&lag, 0.50),
            p95: quantile_ms(&lag, 0.95),
            p99: quantile_ms(&lag, 0.99),
            max: quantile_ms(&lag, 1.0),
        },
        write_service_cpu_us_per_point: (points_in_window > 0.0)
            .then(|| cpu(|t| t.replica_cpu) * 1e6 / points_in_window),
        write_service_rss_mb: peak_rss.map(|b| b as f64 / (1024.0 * 1024.0)),
        broker_cpu_percent: cpu(|t| t.broker_cpu) / window * 100.0,
        influx_cpu_percent: cpu(|t| t.influx_cpu) / window * 100.0,
        queue_depth_max: ticks.iter().map(|t| t.queue_depth).fold(0.0, f64::max),
        bytes_per_reading: counters.bytes.load(Ordering::Relaxed) as f64 / published.max(1) as f64,
        published,
        stored,
        lost,
        duplicated,
        influx_baseline: None,
        broker_baseline: None,
    };
    if let (Some(influx), Some(broker)) = (influx_baseline, broker_baseline) {
        report.set_baselines(influx, broker);
    }
    if let Some(path) = &settings.plot {
        let title = format!(
            "perf: {} households × {} sockets, {} readings/message, {} write replica(s)",
            workload.households, workload.sockets, readings_per_msg, report.write_replicas
        );
        let marks = [(warm, "warm-up done"), (load_ended, "publishing stopped")];
        std::fs::write(path, plot::svg(&title, &samples(&ticks), &marks))
            .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(report)
}

/// Counts every series of the run in InfluxDB against what was confirmed:
/// (stored, lost, duplicated). Each reading has its own timestamp, so a
/// count above the expected one would be a reading stored twice.
async fn verify(
    http: &reqwest::Client,
    influx_url: &str,
    db: &str,
    workload: &Workload,
    confirmed_batches: &[u64],
) -> Result<(u64, u64, u64)> {
    let prefix = format!("perf-{}-h", workload.run_id);
    let result = influxql(
        http,
        influx_url,
        db,
        &format!("SELECT count(watts) FROM power WHERE household =~ /^{prefix}[0-9]+$/ GROUP BY household, socket"),
    )
    .await?;
    let mut stored_by_series = HashMap::new();
    for series in result["series"].as_array().cloned().unwrap_or_default() {
        let tag = |name: &str| series["tags"][name].as_str().unwrap_or_default().to_owned();
        let count = series["values"][0][1].as_u64().unwrap_or_default();
        stored_by_series.insert((tag("household"), tag("socket")), count);
    }
    tally(workload, confirmed_batches, stored_by_series)
}

/// (stored, lost, duplicated) from the points each (household, socket)
/// series holds and the batches confirmed per household; a series perf did
/// not send is an error.
fn tally(
    workload: &Workload,
    confirmed_batches: &[u64],
    mut stored_by_series: HashMap<(String, String), u64>,
) -> Result<(u64, u64, u64)> {
    let (mut stored, mut lost, mut duplicated) = (0, 0, 0);
    for (h, batches) in confirmed_batches.iter().enumerate() {
        let h = u32::try_from(h)?;
        let expected = batches * u64::from(workload.readings_per_socket);
        for socket in 0..workload.sockets {
            let got = stored_by_series
                .remove(&(workload.household_id(h), format!("s{socket}")))
                .unwrap_or(0);
            stored += got;
            lost += expected.saturating_sub(got);
            duplicated += got.saturating_sub(expected);
        }
    }
    if !stored_by_series.is_empty() {
        bail!(
            "InfluxDB holds series perf did not send: {:?}",
            stored_by_series.keys().take(3).collect::<Vec<_>>()
        );
    }
    Ok((stored, lost, duplicated))
}

/// Per-second samples for the plot.
fn samples(ticks: &[Tick]) -> Vec<Sample> {
    ticks
        .windows(2)
        .map(|pair| {
            let (a, b) = (&pair[0], &pair[1]);
            let dt = (b.t - a.t).max(1e-9);
            Sample {
                t_s: b.t,
                published_per_s: (b.published_readings - a.published_readings) as f64 / dt,
                stored_per_s: (b.scrape.points_written - a.scrape.points_written) / dt,
                queue_depth: b.queue_depth,
                latency_p99_ms: quantile_ms(&b.scrape.lag_since(&a.scrape), 0.99),
            }
        })
        .collect()
}

fn progress_bar(settings: &RunSettings, total: Duration) -> Option<indicatif::ProgressBar> {
    if !settings.progress {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total.as_secs());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} s  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

fn say(settings: &RunSettings, line: &str) {
    if settings.progress {
        let _ = writeln!(std::io::stderr(), "[perf] {line}");
    }
}

/// The human table.
pub fn print_table(report: &Report, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let opt =
        |v: Option<f64>, unit: &str| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}{unit}"));
    let rows: Vec<(&str, String)> = vec![
        (
            "fleet",
            format!(
                "{} households × {} sockets, {} readings/message, {} write replica(s)",
                report.households, report.sockets, report.readings_per_msg, report.write_replicas
            ),
        ),
        ("steady window", format!("{:.1} s", report.duration_s)),
        (
            "published",
            format!(
                "{:.0} messages/s, {:.0} readings/s",
                report.published_msgs_per_s, report.published_readings_per_s
            ),
        ),
        (
            "pipeline (stored)",
            format!("{:.0} points/s", report.pipeline_points_per_s),
        ),
        (
            "InfluxDB alone",
            opt(report.influx_points_per_s, " points/s"),
        ),
        (
            "RabbitMQ alone",
            opt(report.broker_msgs_per_s, " messages/s"),
        ),
        ("limit L", opt(report.limit_points_per_s, " points/s")),
        (
            "pipeline / L",
            opt(report.ratio_to_limit.map(|r| r * 100.0), " %"),
        ),
        (
            "latency p50/p95/p99/max",
            format!(
                "{} / {} / {} / {} ms",
                opt(report.latency_ms.p50, ""),
                opt(report.latency_ms.p95, ""),
                opt(report.latency_ms.p99, ""),
                opt(report.latency_ms.max, "")
            ),
        ),
        (
            "write service CPU",
            opt(report.write_service_cpu_us_per_point, " µs/point"),
        ),
        (
            "write service peak RSS",
            opt(report.write_service_rss_mb, " MB"),
        ),
        (
            "broker / InfluxDB CPU",
            format!(
                "{:.0} % / {:.0} %",
                report.broker_cpu_percent, report.influx_cpu_percent
            ),
        ),
        ("queue depth max", format!("{:.0}", report.queue_depth_max)),
        (
            "wire size",
            format!("{:.1} bytes/reading", report.bytes_per_reading),
        ),
        (
            "exactly once",
            format!(
                "published {}, stored {}, lost {}, duplicated {}",
                report.published, report.stored, report.lost, report.duplicated
            ),
        ),
    ];
    for (name, value) in rows {
        writeln!(out, "{name:<26}{value}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(workload: Workload) -> RunSettings {
        RunSettings {
            workload,
            amqp_host_port: String::new(),
            rabbit_api: String::new(),
            influx_url: String::new(),
            rate: Some(100.0),
            connections: 1,
            max_in_flight: 10,
            max_backlog: None,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(5),
            write_replicas: 1,
            write_service_bin: None,
            baselines: false,
            baseline_points: 1,
            baseline_messages: 1,
            plot: None,
            keep: false,
            work_dir: PathBuf::new(),
            progress: false,
        }
    }

    #[test]
    fn the_limit_adds_the_two_costs_per_point() {
        // 300k points/s alone, 10k messages/s × 30 readings = 300k points/s alone:
        // each takes half of every second, so together 150k.
        assert!((limit(300_000.0, 10_000.0, 30.0) - 150_000.0).abs() < 1e-6);
        // A part far faster than the other leaves the slower one's number.
        assert!((limit(100_000.0, 1e12, 1.0) - 100_000.0).abs() < 1.0);
    }

    #[test]
    fn settings_that_cannot_measure_are_refused() {
        assert!(check(&settings(Workload::new(2, 3, 1, "t"))).is_ok());
        let mut none = settings(Workload::new(2, 3, 1, "t"));
        none.rate = None;
        assert!(check(&none).is_ok(), "no rate: as fast as confirms allow");
        for w in [
            Workload::new(0, 3, 1, "t"),
            Workload::new(2, 0, 1, "t"),
            Workload::new(2, 3, 0, "t"),
        ] {
            assert!(check(&settings(w)).is_err());
        }
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300] {
            let mut s = settings(Workload::new(2, 3, 1, "t"));
            s.rate = Some(rate);
            assert!(check(&s).is_err(), "rate {rate}");
        }
        let mut s = settings(Workload::new(2, 3, 1, "t"));
        s.duration = Duration::ZERO;
        assert!(check(&s).is_err());
        let mut s = settings(Workload::new(2, 3, 1, "t"));
        s.max_in_flight = 0;
        assert!(check(&s).is_err());
    }

    #[test]
    fn the_tally_counts_every_series_against_its_confirmed_batches() {
        // 3 households × 2 sockets × 10 readings a batch.
        let w = Workload::new(3, 2, 10, "t");
        let series = |h: u32, s: u32, n: u64| ((w.household_id(h), format!("s{s}")), n);
        let stored = HashMap::from([
            series(0, 0, 20),
            series(0, 1, 19), // one reading lost
            series(1, 0, 11), // one reading too many
            series(1, 1, 10),
            // household 2 had nothing confirmed and holds nothing
        ]);
        assert_eq!(tally(&w, &[2, 1, 0], stored).unwrap(), (60, 1, 1));
        let all = HashMap::from([series(0, 0, 10), series(0, 1, 10)]);
        assert_eq!(tally(&w, &[1, 0, 0], all).unwrap(), (20, 0, 0));
        let lost_series = HashMap::from([series(0, 0, 10)]);
        assert_eq!(tally(&w, &[1, 0, 0], lost_series).unwrap(), (10, 10, 0));
        let stranger = HashMap::from([(("someone-else".to_owned(), "s0".to_owned()), 1)]);
        assert!(tally(&w, &[0, 0, 0], stranger).is_err());
    }
}
