//! One run of the agent: the producer reads from the source and spools a
//! batch per interval; the publisher sends the spool to RabbitMQ; a status
//! line is logged now and then.
//!
//! Stopping: a bounded run (`--count`, `--duration`, the end of a CSV input)
//! stops reading and then waits, however long it takes, until the broker has
//! confirmed everything. SIGTERM/SIGINT spools what was read, keeps publishing
//! for the shutdown grace, and leaves the rest in the spool for the next start.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use wattline_proto::now_ms;

use crate::config::{Config, SourceKind};
use crate::publisher::{Publisher, PublisherSettings, Stopping};
use crate::source::csv::CsvSource;
use crate::source::simulated::SimulatedHousehold;
use crate::source::{build_batch, SocketReading};
use crate::spool::{Spool, SpoolStats};
use crate::telemetry::AgentStats;

/// How a run ended.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// What is still waiting in the spool.
    pub spool: SpoolStats,
}

impl Summary {
    /// Whether everything read (and anything left from earlier runs) reached
    /// the broker.
    pub fn everything_confirmed(&self) -> bool {
        self.spool.batches == 0
    }
}

/// Runs the agent until its bounded run is over and confirmed, or until
/// `shutdown` (plus the grace period).
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<Summary> {
    let uri = config.broker_uri().map_err(anyhow::Error::msg)?;
    let spool = {
        let (dir, max_bytes) = (config.spool_dir.clone(), config.spool_max_bytes);
        Arc::new(tokio::task::spawn_blocking(move || Spool::open(&dir, max_bytes)).await??)
    };
    let backlog = spool.stats();
    tracing::info!(
        device_id = %config.device_id,
        spool = %spool.dir().display(),
        backlog_batches = backlog.batches,
        backlog_readings = backlog.readings,
        "device agent starting"
    );

    let stats = Arc::new(AgentStats::default());
    let spooled = Arc::new(Notify::new());
    let stopping = Stopping {
        producing_done: CancellationToken::new(),
        give_up: CancellationToken::new(),
    };
    if let Some(listen) = config.listen {
        crate::http::serve(
            listen,
            Arc::clone(&stats),
            Arc::clone(&spool),
            shutdown.clone(),
        )
        .await?;
    }

    let publisher = Publisher::new(
        PublisherSettings {
            uri,
            device_id: config.device_id.to_string(),
            max_in_flight: config.max_in_flight as usize,
            max_backoff: config.max_backoff,
        },
        Arc::clone(&spool),
        Arc::clone(&stats),
        Arc::clone(&spooled),
    );
    let publishing = tokio::spawn(publisher.run(stopping.clone()));
    tokio::spawn(give_up_after_grace(
        shutdown.clone(),
        config.shutdown_grace,
        stopping.give_up.clone(),
    ));
    let status = tokio::spawn(log_status_every(
        config.status_interval,
        Arc::clone(&stats),
        Arc::clone(&spool),
    ));

    let mut producer = Producer {
        device_id: config.device_id.as_str(),
        spool: Arc::clone(&spool),
        stats: Arc::clone(&stats),
        spooled,
        batches_left: config.count,
        deadline: config.duration.map(|d| Instant::now() + d),
    };
    let produced = producer.run(&config, &shutdown).await;
    stopping.producing_done.cancel();
    if produced.is_err() {
        stopping.give_up.cancel();
    } else if !shutdown.is_cancelled() && spool.stats().batches > 0 {
        tracing::info!("reading done; waiting until the broker confirms the rest");
    }
    publishing.await.context("publisher task")?;
    status.abort();
    produced?;

    let summary = Summary {
        spool: spool.stats(),
    };
    stats.log_status("done", summary.spool);
    Ok(summary)
}

async fn give_up_after_grace(
    shutdown: CancellationToken,
    grace: Duration,
    give_up: CancellationToken,
) {
    shutdown.cancelled().await;
    tokio::time::sleep(grace).await;
    give_up.cancel();
}

async fn log_status_every(every: Duration, stats: Arc<AgentStats>, spool: Arc<Spool>) {
    let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
    loop {
        ticker.tick().await;
        stats.log_status("status", spool.stats());
    }
}

/// Reads from the source and spools one batch per interval.
struct Producer<'a> {
    device_id: &'a str,
    spool: Arc<Spool>,
    stats: Arc<AgentStats>,
    /// Wakes the publisher.
    spooled: Arc<Notify>,
    /// Batches still to produce (`--count`).
    batches_left: Option<u64>,
    /// When to stop reading (`--duration`).
    deadline: Option<Instant>,
}

impl Producer<'_> {
    /// Produces until the run's bound or `shutdown`.
    async fn run(&mut self, config: &Config, shutdown: &CancellationToken) -> anyhow::Result<()> {
        match config.source {
            SourceKind::Simulated => {
                let backfill_ms = i64::try_from(config.backfill.as_millis()).unwrap_or(i64::MAX);
                let start_ms = now_ms().saturating_sub(backfill_ms);
                let household = SimulatedHousehold::new(
                    config.seed,
                    config.sockets,
                    config.sample_interval,
                    start_ms,
                );
                self.run_simulated(household, config, shutdown).await
            }
            SourceKind::Csv => {
                let input = config
                    .input
                    .as_deref()
                    .context("--input is required with --source csv")?;
                let mut source = CsvSource::spawn(input)
                    .with_context(|| format!("cannot open {}", input.display()))?;
                self.run_csv(&mut source, config, shutdown).await?;
                if source.rejected_lines() > 0 {
                    tracing::warn!(
                        rejected_lines = source.rejected_lines(),
                        "malformed CSV lines were skipped (each is logged above)"
                    );
                }
                Ok(())
            }
        }
    }

    async fn run_simulated(
        &mut self,
        mut household: SimulatedHousehold,
        config: &Config,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let max = config.max_batch_readings as usize;
        let mut ticker = tokio::time::interval(config.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick is immediate: it sends the --backfill history.
        ticker.tick().await;
        let mut last = false;
        loop {
            // Catch up in batches of at most --max-batch-readings; the last
            // round spools everything read, whatever --count says.
            let now = now_ms();
            while household.behind(now) && (last || self.batches_left != Some(0)) {
                self.spool_batch(household.readings_until(now, max)).await?;
            }
            if last || self.batches_left == Some(0) {
                return Ok(());
            }
            last = tokio::select! {
                _ = ticker.tick() => false,
                () = sleep_until(self.deadline) => true,
                () = shutdown.cancelled() => true,
            };
        }
    }

    async fn run_csv(
        &mut self,
        source: &mut CsvSource,
        config: &Config,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let max = config.max_batch_readings as usize;
        let mut ticker =
            tokio::time::interval_at(Instant::now() + config.interval, config.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut pending: Vec<SocketReading> = Vec::new();
        let time_up = sleep_until(self.deadline);
        let stopping = shutdown.cancelled();
        tokio::pin!(time_up, stopping);
        loop {
            // `pending` is below `max` here, so this asks for at least one
            // reading (and `recv_many` is cancel-safe).
            let room = max - pending.len();
            let last = tokio::select! {
                received = source.readings.recv_many(&mut pending, room) => match received {
                    0 => true, // the end of the input
                    _ if pending.len() < max => continue,
                    _ => false, // a full batch
                },
                _ = ticker.tick() => false,
                () = &mut time_up => true,
                () = &mut stopping => true,
            };
            self.spool_batch(std::mem::take(&mut pending)).await?;
            if last || self.batches_left == Some(0) {
                return Ok(());
            }
        }
    }

    /// Encodes and spools a batch (an empty one is skipped), then wakes the
    /// publisher.
    async fn spool_batch(&mut self, readings: Vec<SocketReading>) -> anyhow::Result<()> {
        if readings.is_empty() {
            return Ok(());
        }
        let count = readings.len();
        let sequence = self.spool.next_sequence();
        let payload = build_batch(self.device_id, sequence, readings).encode();
        let spool = Arc::clone(&self.spool);
        let evicted =
            tokio::task::spawn_blocking(move || spool.push(sequence, count as u32, &payload))
                .await?
                .context("cannot write to the spool")?;
        self.stats.spooled(count as u64);
        self.stats.evicted(evicted, self.spool.stats());
        self.spooled.notify_one();
        if let Some(left) = &mut self.batches_left {
            *left = left.saturating_sub(1);
        }
        Ok(())
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
