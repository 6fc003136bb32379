//! The load: the fleet's batches published as agents publish them
//! (persistent, `mandatory`, publisher confirms, routing key
//! `readings.<device>`), from a few connections that each speak for a share
//! of the households.
//!
//! Open loop (`rate` messages a second in total, spread evenly) measures the
//! pipeline at a load it did not choose, as a fleet would; closed loop (no
//! rate) publishes as fast as confirms come back, up to `max_in_flight`
//! unconfirmed per connection, and finds the ceiling. With a `max_backlog`
//! the closed loop also pauses while the write queue holds more ready
//! messages than that: it keeps the pipeline busy without burying it, so
//! what it measures is the rate the pipeline sustains, not how a broker
//! that is mostly accepting new messages starves its consumers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::FutureExt as _;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, PublisherConfirm};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wattline_proto::{now_ms, routing_key, EXCHANGE};

use crate::amqp::{self, bounded, channel, close_connection, connect, OP_TIMEOUT, PERSISTENT};
use crate::workload::Workload;

/// How long a publish or a confirm may take before the run is called off.
const PATIENCE: Duration = Duration::from_secs(60);
/// How often the backlog watcher asks the queue's depth (a passive declare:
/// cheap for the broker).
const BACKLOG_EVERY: Duration = Duration::from_millis(20);

/// How to publish.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    pub amqp_url: String,
    pub connections: usize,
    /// Messages a second in total; `None`: as fast as confirms allow.
    pub rate: Option<f64>,
    pub max_in_flight: usize,
    /// Closed loop only: pause while this queue holds more ready messages
    /// than this.
    pub max_backlog: Option<(String, u32)>,
}

/// What the publishers have had confirmed so far (shared with the sampler).
#[derive(Debug, Default)]
pub struct LoadCounters {
    pub readings: AtomicU64,
    pub bytes: AtomicU64,
}

/// What one run of the load confirmed, per household.
#[derive(Debug, Clone)]
pub struct Confirmed {
    /// Batches confirmed for each household (index = household).
    pub batches: Vec<u64>,
}

/// Publishes until `stop`, then waits for the outstanding confirms.
pub async fn run(
    workload: Arc<Workload>,
    settings: LoadSettings,
    counters: Arc<LoadCounters>,
    stop: CancellationToken,
) -> Result<Confirmed> {
    let connections = settings.connections.max(1);
    let backlog = Arc::new(AtomicU32::new(0));
    // Closed loop only: an open loop's rate is the point of the run.
    let limit = match (&settings.max_backlog, settings.rate) {
        (Some(limit), None) => Some(limit.clone()),
        _ => None,
    };
    let watcher = match &limit {
        Some((queue, _)) => {
            let connection = connect(&settings.amqp_url, "backlog watcher").await?;
            let channel = channel(&connection).await?;
            let task = tokio::spawn(watch_backlog(
                channel,
                queue.clone(),
                Arc::clone(&backlog),
                stop.clone(),
            ));
            Some((connection, task))
        }
        None => None,
    };
    let max_backlog = limit.map(|(_, max)| max);
    // A set, so the first publisher to fail ends the load at once (dropping the
    // set aborts the others) rather than when the run's duration is up.
    let mut tasks = JoinSet::new();
    for index in 0..connections {
        let households: Vec<u32> = (0..workload.households)
            .filter(|h| *h as usize % connections == index)
            .collect();
        tasks.spawn(publish_share(
            Arc::clone(&workload),
            settings.clone(),
            households,
            Arc::clone(&counters),
            Arc::clone(&backlog),
            max_backlog,
            stop.clone(),
        ));
    }
    let mut batches = vec![0; workload.households as usize];
    while let Some(share) = tasks.join_next().await {
        for (household, count) in share.context("publisher task")?? {
            batches[household as usize] = count;
        }
    }
    if let Some((connection, task)) = watcher {
        task.await.context("backlog watcher")??;
        close_connection(&connection, "perf done").await;
    }
    Ok(Confirmed { batches })
}

/// Keeps `backlog` at the queue's ready messages until `stop`.
async fn watch_backlog(
    channel: Channel,
    queue: String,
    backlog: Arc<AtomicU32>,
    stop: CancellationToken,
) -> Result<()> {
    let mut every = tokio::time::interval(BACKLOG_EVERY);
    while !stop.is_cancelled() {
        tokio::select! {
            _ = every.tick() => {}
            () = stop.cancelled() => break,
        }
        let depth = amqp::ready_messages(&channel, &queue, PATIENCE).await?;
        backlog.store(depth, Ordering::Relaxed);
    }
    Ok(())
}

/// One connection's share: returns (household, batches confirmed).
async fn publish_share(
    workload: Arc<Workload>,
    settings: LoadSettings,
    households: Vec<u32>,
    counters: Arc<LoadCounters>,
    backlog: Arc<AtomicU32>,
    max_backlog: Option<u32>,
    stop: CancellationToken,
) -> Result<Vec<(u32, u64)>> {
    if households.is_empty() {
        return Ok(Vec::new());
    }
    let connection = connect(&settings.amqp_url, "publisher").await?;
    let channel = channel(&connection).await?;
    bounded(
        "confirm.select",
        OP_TIMEOUT,
        channel.confirm_select(ConfirmSelectOptions::default()),
    )
    .await?;

    let share = settings
        .rate
        .map(|rate| rate * households.len() as f64 / f64::from(workload.households));
    // A rate too small for a Duration (or not a rate at all) is refused by
    // `run::run`; here it would only mean "no spacing".
    let spacing = share.and_then(|r| Duration::try_from_secs_f64(1.0 / r).ok());
    // 0 would never wait for a confirm and spin without yielding.
    let max_in_flight = settings.max_in_flight.max(1);
    let mut next_timestamp = vec![0i64; households.len()];
    let mut sent = vec![0u64; households.len()];
    let mut tally = Tally {
        readings: u64::from(workload.readings_per_message()),
        confirmed: vec![0; households.len()],
        counters,
    };
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut next_send = Instant::now();
    let mut turn = 0usize;

    while !stop.is_cancelled() {
        if let Some(spacing) = spacing {
            if Instant::now() < next_send {
                tokio::select! {
                    () = tokio::time::sleep_until(next_send) => {}
                    () = stop.cancelled() => break,
                }
            }
            next_send += spacing;
        }
        if let Some(max) = max_backlog {
            while backlog.load(Ordering::Relaxed) > max {
                tokio::select! {
                    () = tokio::time::sleep(BACKLOG_EVERY / 4) => {}
                    () = stop.cancelled() => break,
                }
            }
        }
        let slot = turn % households.len();
        turn += 1;
        // Stamped now, strictly increasing per series.
        let first_ms = now_ms().max(next_timestamp[slot]);
        next_timestamp[slot] = first_ms + i64::from(workload.readings_per_socket);
        let batch = workload.batch(households[slot], sent[slot], first_ms);
        sent[slot] += 1;
        let payload = batch.encode();
        let publish = channel.basic_publish(
            EXCHANGE.into(),
            routing_key(&batch.device_id).into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &payload,
            BasicProperties::default()
                .with_delivery_mode(PERSISTENT)
                .with_content_type("application/x-protobuf".into()),
        );
        let confirm = bounded("basic.publish", PATIENCE, publish).await?;
        in_flight.push_back((slot, payload.len() as u64, confirm));
        // Counted as they come, not only once the window is full: otherwise
        // the sampler would see confirms up to `max_in_flight` messages late,
        // and all of those at once when the load stops.
        tally.settle_ready(&mut in_flight)?;
        while in_flight.len() >= max_in_flight {
            let Some(oldest) = in_flight.pop_front() else {
                break;
            };
            tally.settle(oldest).await?;
        }
    }
    while let Some(oldest) = in_flight.pop_front() {
        tally.settle(oldest).await?;
    }
    close_connection(&connection, "perf done").await;
    Ok(households.into_iter().zip(tally.confirmed).collect())
}

/// A published batch awaiting its confirm: (slot in the share, payload bytes, confirm).
type InFlight = (usize, u64, PublisherConfirm);

/// What one connection has had confirmed, per slot and in the shared counters.
/// An unroutable or refused batch stops the run (it would make the counts
/// meaningless).
struct Tally {
    readings: u64,
    confirmed: Vec<u64>,
    counters: Arc<LoadCounters>,
}

impl Tally {
    /// Waits for the oldest confirm.
    async fn settle(&mut self, (slot, bytes, confirm): InFlight) -> Result<()> {
        amqp::confirmed(confirm, PATIENCE)
            .await
            .context(NOT_CONFIRMED)?;
        self.count(slot, bytes);
        Ok(())
    }

    /// Takes the confirms that have already come, oldest first, without waiting.
    fn settle_ready(&mut self, in_flight: &mut VecDeque<InFlight>) -> Result<()> {
        while let Some(answer) = in_flight
            .front_mut()
            .and_then(|f| (&mut f.2).now_or_never())
        {
            let Some((slot, bytes, _)) = in_flight.pop_front() else {
                break;
            };
            amqp::accepted(answer.context("publisher confirm")?).context(NOT_CONFIRMED)?;
            self.count(slot, bytes);
        }
        Ok(())
    }

    fn count(&mut self, slot: usize, bytes: u64) {
        self.confirmed[slot] += 1;
        self.counters
            .readings
            .fetch_add(self.readings, Ordering::Relaxed);
        self.counters.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

const NOT_CONFIRMED: &str = "a batch was not confirmed (is the write service's queue declared?)";
