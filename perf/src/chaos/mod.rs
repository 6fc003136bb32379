//! `perf chaos`: the pipeline under steady load from real device agents while
//! a seeded schedule of faults kills, stops, freezes and restarts its parts;
//! then every reading the broker accepted is looked up in InfluxDB.
//!
//! - [`fleet`]: private RabbitMQ and InfluxDB, write-service replicas and
//!   agents, as real processes;
//! - [`faults`]: what can go wrong, and the seeded schedule;
//! - [`audit`]: the audit queue's copy of what the broker accepted, the
//!   write queue's depth, and InfluxDB's points;
//! - [`ledger`]: the accepted readings and the comparison, series by series.
//!
//! Faults come one at a time: each is injected, lifted, and the run waits
//! until the pipeline has caught up (InfluxDB holds as many readings as the
//! broker had accepted when the fault was lifted, and every spool is back to
//! its steady size) before the next; that wait is the recovery time.

pub mod audit;
pub mod faults;
pub mod fleet;
pub mod ledger;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use audit::{QueueWatch, AUDIT_QUEUE, DEAD_LETTER_QUEUE, WRITE_QUEUE};
use faults::{FaultKind, Schedule};
use fleet::{Fleet, FleetSettings};
use ledger::{Ledger, Tally};

/// What a chaos run does.
#[derive(Debug, Clone)]
pub struct ChaosSettings {
    pub fleet: FleetSettings,
    /// How long faults are injected (the last one finishes after; at least
    /// one fault of every kind whatever the duration).
    pub duration: Duration,
    /// The schedule's seed (faults, targets, pauses).
    pub seed: u64,
    /// The mean pause between a recovery and the next fault.
    pub fault_every: Duration,
    /// Longest wait for the pipeline to catch up after a fault.
    pub recovery_limit: Duration,
    /// Progress lines on stderr.
    pub verbose: bool,
}

/// One fault of the run.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRecord {
    /// Seconds since the load started.
    pub at_s: f64,
    pub kind: FaultKind,
    pub target: String,
    /// From the fault's start until it was lifted.
    pub fault_s: f64,
    /// From the fault's lifting until the pipeline had caught up; `None` if
    /// it had not within the recovery limit.
    pub recovery_s: Option<f64>,
}

/// Faults of one kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindSummary {
    pub count: u32,
    pub recovered: u32,
    pub recovery_max_s: f64,
    pub recovery_mean_s: f64,
}

/// What a chaos run found.
#[derive(Debug, Clone, Serialize)]
pub struct ChaosReport {
    pub seed: u64,
    pub duration_s: f64,
    pub agents: usize,
    pub sockets: u16,
    pub write_replicas: usize,
    pub faults: Vec<FaultRecord>,
    pub by_kind: BTreeMap<FaultKind, KindSummary>,
    /// Readings the broker accepted (distinct series and time).
    pub accepted_readings: u64,
    pub accepted_batches: u64,
    pub series: u64,
    #[serde(flatten)]
    pub tally: Tally,
    /// Batches the broker accepted twice (an agent republished after a lost
    /// confirm): the at-least-once path, stored once all the same.
    pub republished_batches: u64,
    /// Readings dropped on purpose by full spools (never confirmed).
    pub dropped_by_full_spool: u64,
    /// Batches still in a spool after the agents stopped (never confirmed).
    pub left_in_spools: u64,
    /// Spooled batches set aside as corrupt.
    pub corrupt_spooled_batches: u64,
    /// Messages the write services dead-lettered.
    pub dead_lettered: u32,
    /// Messages still in the write queue at the end.
    pub left_in_write_queue: u32,
    pub max_queue_depth: u32,
    /// Same (series, time) accepted with two values: an agent bug.
    pub conflicting_readings: u64,
}

impl ChaosReport {
    /// Why the run failed, if it did.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let t = &self.tally;
        if t.lost + t.duplicated + t.value_mismatches > 0 {
            failures.push(format!(
                "lost {}, duplicated {}, altered {} (in {} series)",
                t.lost, t.duplicated, t.value_mismatches, t.bad_series
            ));
        }
        let unrecovered = self
            .faults
            .iter()
            .filter(|f| f.recovery_s.is_none())
            .count();
        if unrecovered > 0 {
            failures.push(format!("{unrecovered} faults never recovered from"));
        }
        if self.conflicting_readings > 0 {
            failures.push(format!(
                "{} readings accepted twice with different values",
                self.conflicting_readings
            ));
        }
        if self.left_in_write_queue > 0 || self.dead_lettered > 0 {
            failures.push(format!(
                "{} messages left in the write queue, {} dead-lettered",
                self.left_in_write_queue, self.dead_lettered
            ));
        }
        failures
    }
}

/// Runs the chaos: start, load, faults, drain, compare.
pub async fn run(settings: ChaosSettings) -> Result<ChaosReport> {
    let say = |line: &str| {
        if settings.verbose {
            eprintln!("[chaos] {line}");
        }
    };
    say(&format!(
        "seed {} (repeat the schedule with --seed {})",
        settings.seed, settings.seed
    ));
    say("starting a private RabbitMQ node and InfluxDB");
    let mut fleet = Fleet::start_servers(settings.fleet.clone()).await?;
    let amqp_url = fleet.rabbit.amqp_url();
    for i in 0..fleet.writer_count() {
        fleet.start_writer(i).await?;
    }
    audit::declare_audit_queue(&amqp_url).await?;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop_audit = CancellationToken::new();
    let auditor = tokio::spawn(audit::consume_audit_queue(
        amqp_url.clone(),
        Arc::clone(&ledger),
        stop_audit.clone(),
    ));
    for i in 0..fleet.agent_count() {
        fleet.start_agent(i)?;
    }
    let max_depth = Arc::new(AtomicU32::new(0));
    let stop_sampler = CancellationToken::new();
    let sampler = tokio::spawn(sample_depth(
        amqp_url.clone(),
        Arc::clone(&max_depth),
        stop_sampler.clone(),
    ));
    say(&format!(
        "{} agents × {} sockets, {} write-service replicas; logs in {}",
        fleet.agent_count(),
        settings.fleet.sockets,
        fleet.writer_count(),
        settings.fleet.work_dir.display()
    ));

    let started = Instant::now();
    let mut watch = QueueWatch::new(&amqp_url);
    let mut schedule = Schedule::new(settings.seed);
    let mut records = Vec::new();
    // At least one round of every kind, however short the duration.
    while started.elapsed() < settings.duration || records.len() < FaultKind::ALL.len() {
        tokio::time::sleep(schedule.pause(settings.fault_every)).await;
        let kind = schedule.next_kind();
        let at = started.elapsed();
        let target = faults::inject(
            &mut fleet,
            kind,
            &mut schedule,
            settings.fleet.write_timeout,
        )
        .await?;
        let lifted = Instant::now();
        let fault_s = (lifted - started - at).as_secs_f64();
        let accepted = ledger.lock().expect("ledger lock").readings();
        let recovered = caught_up(&fleet, accepted, settings.recovery_limit).await;
        let recovery_s = recovered.then(|| lifted.elapsed().as_secs_f64());
        say(&format!(
            "{:>6.1} s  {:<15} {:<28} lasted {:>5.1} s, recovered {}",
            at.as_secs_f64(),
            kind.name(),
            target,
            fault_s,
            recovery_s.map_or("NEVER".to_owned(), |s| format!("in {s:.1} s")),
        ));
        records.push(FaultRecord {
            at_s: at.as_secs_f64(),
            kind,
            target,
            fault_s,
            recovery_s,
        });
    }
    let duration = started.elapsed();

    say("faults over: stopping the agents (each publishes what it spooled)");
    for i in 0..fleet.agent_count() {
        fleet.stop_agent(i).await?;
    }
    say("waiting for the write queue to drain");
    drained(&mut watch, WRITE_QUEUE, settings.recovery_limit).await;
    for i in 0..fleet.writer_count() {
        fleet.stop_writer(i).await?;
    }
    let left_in_write_queue = watch.ready(WRITE_QUEUE).await.unwrap_or(u32::MAX);
    let dead_lettered = watch.ready(DEAD_LETTER_QUEUE).await.unwrap_or(0);
    drained(&mut watch, AUDIT_QUEUE, settings.recovery_limit).await;
    // The consumer may still hold a prefetched message: give it a moment.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop_audit.cancel();
    stop_sampler.cancel();
    let _ = tokio::join!(auditor, sampler);

    say("comparing what the broker accepted with what InfluxDB holds");
    let ledger = Arc::try_unwrap(ledger)
        .map_err(|_| anyhow::anyhow!("the audit consumer still holds the ledger"))?
        .into_inner()
        .map_err(|_| anyhow::anyhow!("the ledger's lock was poisoned"))?;
    let households: Vec<(String, String)> = (0..fleet.agent_count())
        .map(|i| (fleet::household_id(i), fleet::device_id(i)))
        .collect();
    let stored = audit::stored_points(&fleet.influx.url(), &households).await?;
    let tally = ledger::tally(ledger.series(), &stored);

    Ok(ChaosReport {
        seed: settings.seed,
        duration_s: duration.as_secs_f64(),
        agents: fleet.agent_count(),
        sockets: settings.fleet.sockets,
        write_replicas: fleet.writer_count(),
        by_kind: summarize(&records),
        faults: records,
        accepted_readings: ledger.readings(),
        accepted_batches: ledger.batches(),
        series: ledger.series().len() as u64,
        tally,
        republished_batches: ledger.republished_batches,
        dropped_by_full_spool: fleet.dropped_by_full_spools()?,
        left_in_spools: fleet.all_spooled_batches(),
        corrupt_spooled_batches: fleet.corrupt_batches(),
        dead_lettered,
        left_in_write_queue,
        max_queue_depth: max_depth.load(Ordering::Relaxed),
        conflicting_readings: ledger.conflicting_readings,
    })
}

/// Waits until the pipeline has caught up with the fault: InfluxDB holds as
/// many readings as the broker had accepted when the fault was lifted, and
/// every spool is back to the couple of batches in flight. False after `limit`.
async fn caught_up(fleet: &Fleet, accepted_at_lift: u64, limit: Duration) -> bool {
    let http = reqwest::Client::new();
    let influx_url = fleet.influx.url();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let spools_steady = (0..fleet.agent_count()).all(|i| fleet.spooled_batches(i) <= 2);
        if spools_steady
            && audit::stored_count(&http, &influx_url)
                .await
                .is_some_and(|stored| stored >= accepted_at_lift)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// Waits until `queue` has had no ready message for a second, up to `limit`.
async fn drained(watch: &mut QueueWatch, queue: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut empty_since: Option<Instant> = None;
    while Instant::now() < deadline {
        if watch.ready(queue).await == Some(0) {
            let since = *empty_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_secs(1) {
                return;
            }
        } else {
            empty_since = None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Samples the write queue's depth until `stop`, keeping the maximum.
async fn sample_depth(amqp_url: String, max: Arc<AtomicU32>, stop: CancellationToken) {
    let mut watch = QueueWatch::new(&amqp_url);
    while !stop.is_cancelled() {
        if let Some(depth) = watch.ready(WRITE_QUEUE).await {
            max.fetch_max(depth, Ordering::Relaxed);
        }
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

fn summarize(records: &[FaultRecord]) -> BTreeMap<FaultKind, KindSummary> {
    let mut by_kind: BTreeMap<FaultKind, KindSummary> = BTreeMap::new();
    for record in records {
        let summary = by_kind.entry(record.kind).or_default();
        summary.count += 1;
        if let Some(recovery) = record.recovery_s {
            summary.recovered += 1;
            summary.recovery_max_s = summary.recovery_max_s.max(recovery);
            summary.recovery_mean_s += recovery;
        }
    }
    for summary in by_kind.values_mut() {
        if summary.recovered > 0 {
            summary.recovery_mean_s /= f64::from(summary.recovered);
        }
    }
    by_kind
}

/// The report as a table.
pub fn print_report(report: &ChaosReport, out: &mut impl std::io::Write) -> std::io::Result<()> {
    writeln!(
        out,
        "chaos: {:.0} s, seed {}, {} agents × {} sockets, {} write-service replicas",
        report.duration_s, report.seed, report.agents, report.sockets, report.write_replicas
    )?;
    writeln!(
        out,
        "{:<16} {:>6} {:>10} {:>14} {:>14}",
        "fault", "count", "recovered", "recovery max s", "recovery mean s"
    )?;
    for (kind, s) in &report.by_kind {
        writeln!(
            out,
            "{:<16} {:>6} {:>10} {:>14.1} {:>14.1}",
            kind.name(),
            s.count,
            s.recovered,
            s.recovery_max_s,
            s.recovery_mean_s
        )?;
    }
    let t = &report.tally;
    writeln!(
        out,
        "readings accepted {}, stored {}, lost {}, duplicated {}, altered {} ({} series, {} bad)",
        report.accepted_readings,
        t.stored,
        t.lost,
        t.duplicated,
        t.value_mismatches,
        report.series,
        t.bad_series
    )?;
    writeln!(
        out,
        "batches accepted {}, republished {}; dropped by full spools {} readings; left in spools {} batches, corrupt {}",
        report.accepted_batches,
        report.republished_batches,
        report.dropped_by_full_spool,
        report.left_in_spools,
        report.corrupt_spooled_batches
    )?;
    writeln!(
        out,
        "write queue: max depth {}, left {}, dead-lettered {}",
        report.max_queue_depth, report.left_in_write_queue, report.dead_lettered
    )
}

/// A seed from the clock, for runs that do not name one.
pub fn fresh_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Where a run keeps its logs and spools, unless told.
pub fn default_work_dir(seed: u64) -> PathBuf {
    std::env::temp_dir().join(format!("wattline-chaos-{seed}"))
}
