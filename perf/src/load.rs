//! The load: the fleet's batches published as agents publish them
//! (persistent, `mandatory`, publisher confirms, routing key
//! `readings.<device>`), from a few connections that each speak for a share
//! of the households.
//!
//! Open loop (`rate` messages a second in total, spread evenly) measures the
//! pipeline at a load it did not choose, as a fleet would; closed loop (no
//! rate) publishes as fast as confirms come back, up to `max_in_flight`
//! unconfirmed per connection, and finds the ceiling.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties, PublisherConfirm};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wattline_proto::{now_ms, routing_key, EXCHANGE};

use crate::workload::Workload;

/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;
/// How long a publish or a confirm may take before the run is called off.
const PATIENCE: Duration = Duration::from_secs(60);

/// How to publish.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    pub amqp_url: String,
    pub connections: usize,
    /// Messages a second in total; `None`: as fast as confirms allow.
    pub rate: Option<f64>,
    pub max_in_flight: usize,
}

/// What the publishers have had confirmed so far (shared with the sampler).
#[derive(Debug, Default)]
pub struct LoadCounters {
    pub messages: AtomicU64,
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
    let mut tasks = Vec::with_capacity(connections);
    for index in 0..connections {
        let households: Vec<u32> = (0..workload.households)
            .filter(|h| *h as usize % connections == index)
            .collect();
        tasks.push(tokio::spawn(publish_share(
            Arc::clone(&workload),
            settings.clone(),
            households,
            Arc::clone(&counters),
            stop.clone(),
        )));
    }
    let mut batches = vec![0; workload.households as usize];
    for task in tasks {
        for (household, count) in task.await.context("publisher task")?? {
            batches[household as usize] = count;
        }
    }
    Ok(Confirmed { batches })
}

/// One connection's share: returns (household, batches confirmed).
async fn publish_share(
    workload: Arc<Workload>,
    settings: LoadSettings,
    households: Vec<u32>,
    counters: Arc<LoadCounters>,
    stop: CancellationToken,
) -> Result<Vec<(u32, u64)>> {
    if households.is_empty() {
        return Ok(Vec::new());
    }
    let connect = Connection::connect(&settings.amqp_url, ConnectionProperties::default());
    let connection = tokio::time::timeout(PATIENCE, connect)
        .await
        .context("connecting to RabbitMQ timed out")??;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;

    let share = settings
        .rate
        .map(|rate| rate * households.len() as f64 / f64::from(workload.households));
    let spacing = share
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(1.0 / r));
    let readings = u64::from(workload.readings_per_message());
    let mut next_timestamp = vec![0i64; households.len()];
    let mut sent = vec![0u64; households.len()];
    let mut confirmed = vec![0u64; households.len()];
    let mut in_flight: VecDeque<(usize, u64, PublisherConfirm)> = VecDeque::new();
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
        let confirm = tokio::time::timeout(PATIENCE, publish)
            .await
            .context("publish timed out")??;
        in_flight.push_back((slot, payload.len() as u64, confirm));
        while in_flight.len() >= settings.max_in_flight {
            settle(in_flight.pop_front(), readings, &mut confirmed, &counters).await?;
        }
    }
    while let Some(entry) = in_flight.pop_front() {
        settle(Some(entry), readings, &mut confirmed, &counters).await?;
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        connection.close(200, "perf done".into()),
    )
    .await;
    Ok(households.into_iter().zip(confirmed).collect())
}

/// Waits for one confirm; an unroutable or refused batch stops the run (it
/// would make the counts meaningless).
async fn settle(
    entry: Option<(usize, u64, PublisherConfirm)>,
    readings: u64,
    confirmed: &mut [u64],
    counters: &LoadCounters,
) -> Result<()> {
    let Some((slot, bytes, confirm)) = entry else {
        return Ok(());
    };
    let confirmation = tokio::time::timeout(PATIENCE, confirm)
        .await
        .context("no publisher confirm within 60 s")??;
    match confirmation {
        Confirmation::Ack(None) => {}
        Confirmation::Ack(Some(_)) => {
            bail!("a batch was unroutable: is the write service's queue declared?")
        }
        other => bail!("the broker refused a batch: {other:?}"),
    }
    confirmed[slot] += 1;
    counters.messages.fetch_add(1, Ordering::Relaxed);
    counters.readings.fetch_add(readings, Ordering::Relaxed);
    counters.bytes.fetch_add(bytes, Ordering::Relaxed);
    Ok(())
}
