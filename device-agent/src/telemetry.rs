//! Logs, counters and the status line. Each notable event is recorded in one
//! place that updates the agent's own counters (for the status line and the
//! exit summary) and the Prometheus metrics together, so they never drift.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use metrics::counter;

use crate::spool::{Evicted, SpoolStats};

/// What the agent has done since it started.
#[derive(Debug, Default)]
pub struct AgentStats {
    readings_read: AtomicU64,
    batches_spooled: AtomicU64,
    readings_confirmed: AtomicU64,
    batches_confirmed: AtomicU64,
    readings_dropped: AtomicU64,
    connected: AtomicBool,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub readings_read: u64,
    pub batches_spooled: u64,
    pub readings_confirmed: u64,
    pub batches_confirmed: u64,
    pub readings_dropped: u64,
    pub connected: bool,
}

impl AgentStats {
    pub fn spooled(&self, readings: u64) {
        self.readings_read.fetch_add(readings, Ordering::Relaxed);
        self.batches_spooled.fetch_add(1, Ordering::Relaxed);
        counter!("wattline_agent_readings_read_total").increment(readings);
        counter!("wattline_agent_batches_spooled_total").increment(1);
    }

    pub fn evicted(&self, evicted: Evicted, spool: SpoolStats) {
        if evicted.batches == 0 {
            return;
        }
        self.readings_dropped
            .fetch_add(evicted.readings, Ordering::Relaxed);
        counter!("wattline_agent_readings_dropped_total").increment(evicted.readings);
        tracing::error!(
            dropped_batches = evicted.batches,
            dropped_readings = evicted.readings,
            spool_bytes = spool.bytes,
            "spool full: dropped the oldest batches to make room (the broker has been unreachable too long)"
        );
    }

    pub fn confirmed(&self, readings: u64) {
        self.readings_confirmed
            .fetch_add(readings, Ordering::Relaxed);
        self.batches_confirmed.fetch_add(1, Ordering::Relaxed);
        counter!("wattline_agent_readings_confirmed_total").increment(readings);
        counter!("wattline_agent_batches_confirmed_total").increment(1);
    }

    pub fn publish_failed(&self, reason: &str, error: &dyn std::fmt::Display) {
        counter!("wattline_agent_publish_failures_total", "reason" => reason.to_owned())
            .increment(1);
        tracing::warn!(reason, %error, "publishing failed; the spool keeps the batches and retries");
    }

    pub fn set_connected(&self, connected: bool) {
        let was = self.connected.swap(connected, Ordering::Relaxed);
        metrics::gauge!("wattline_agent_connected").set(if connected { 1.0 } else { 0.0 });
        if connected && !was {
            tracing::info!("connected to RabbitMQ");
        }
    }

    /// Whether the publisher is connected to RabbitMQ right now.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            readings_read: self.readings_read.load(Ordering::Relaxed),
            batches_spooled: self.batches_spooled.load(Ordering::Relaxed),
            readings_confirmed: self.readings_confirmed.load(Ordering::Relaxed),
            batches_confirmed: self.batches_confirmed.load(Ordering::Relaxed),
            readings_dropped: self.readings_dropped.load(Ordering::Relaxed),
            connected: self.connected(),
        }
    }

    /// Logs the status line: what was read, what the broker confirmed and
    /// what still waits in the spool.
    pub fn log_status(&self, message: &str, spool: SpoolStats) {
        let s = self.snapshot();
        metrics::gauge!("wattline_agent_spool_batches").set(spool.batches as f64);
        metrics::gauge!("wattline_agent_spool_bytes").set(spool.bytes as f64);
        tracing::info!(
            readings_read = s.readings_read,
            batches_spooled = s.batches_spooled,
            readings_confirmed = s.readings_confirmed,
            batches_confirmed = s.batches_confirmed,
            spooled_batches = spool.batches,
            spooled_readings = spool.readings,
            spool_bytes = spool.bytes,
            readings_dropped = s.readings_dropped,
            connected = s.connected,
            "{message}"
        );
    }
}
