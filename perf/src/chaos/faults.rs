//! The faults a chaos run injects, and the seeded schedule that picks them.

use std::time::Duration;

use anyhow::Result;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::fleet::Fleet;

/// How long InfluxDB stays down in a restart.
const INFLUX_OUTAGE: Duration = Duration::from_secs(3);
/// How long a frozen InfluxDB stays frozen beyond the write timeout.
const FREEZE_BEYOND_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest wait for a cut-off agent to overflow its spool quota.
const SPOOL_FILL_LIMIT: Duration = Duration::from_secs(60);

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// kill -9 a write-service replica, then start it again.
    KillWriter,
    /// SIGTERM a write-service replica (the graceful path), then start it again.
    StopWriter,
    /// Stop InfluxDB for a few seconds, then start it again.
    RestartInflux,
    /// SIGSTOP InfluxDB for longer than the write timeout, then SIGCONT.
    FreezeInflux,
    /// Restart the RabbitMQ node.
    RestartRabbit,
    /// kill -9 an agent, whatever it is doing (a spool write included), then
    /// start it again on the same spool.
    KillAgent,
    /// Cut agent 0 off the broker until its spool quota overflows (it drops
    /// its oldest batches, on purpose, and counts them), then reconnect it.
    FillSpool,
}

impl FaultKind {
    pub const ALL: [FaultKind; 7] = [
        Self::KillWriter,
        Self::StopWriter,
        Self::RestartInflux,
        Self::FreezeInflux,
        Self::RestartRabbit,
        Self::KillAgent,
        Self::FillSpool,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::KillWriter => "kill-writer",
            Self::StopWriter => "stop-writer",
            Self::RestartInflux => "restart-influx",
            Self::FreezeInflux => "freeze-influx",
            Self::RestartRabbit => "restart-rabbit",
            Self::KillAgent => "kill-agent",
            Self::FillSpool => "fill-spool",
        }
    }
}

/// The seeded fault schedule: every kind once in a shuffled round, round
/// after round, with targets and pauses drawn from the same seed.
#[derive(Debug)]
pub struct Schedule {
    rng: ChaCha8Rng,
    round: Vec<FaultKind>,
}

impl Schedule {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            round: Vec::new(),
        }
    }

    /// The next fault.
    pub fn next_kind(&mut self) -> FaultKind {
        if self.round.is_empty() {
            self.round = FaultKind::ALL.to_vec();
            self.round.shuffle(&mut self.rng);
        }
        self.round.pop().expect("a round is never empty")
    }

    /// A pause around `mean` (uniform in ½–1½ of it).
    pub fn pause(&mut self, mean: Duration) -> Duration {
        mean.mul_f64(self.rng.random_range(0.5..1.5))
    }

    /// One of `count` targets.
    pub fn target(&mut self, count: usize) -> usize {
        self.rng.random_range(0..count.max(1))
    }
}

/// Injects `kind` and lifts it again; returns what was hit. `write_timeout`
/// is the write services' InfluxDB timeout (a freeze outlasts it).
pub async fn inject(
    fleet: &mut Fleet,
    kind: FaultKind,
    schedule: &mut Schedule,
    write_timeout: Duration,
) -> Result<String> {
    Ok(match kind {
        FaultKind::KillWriter => {
            let i = schedule.target(fleet.writer_count());
            fleet.kill_writer(i).await?;
            fleet.start_writer(i).await?;
            format!("write-service {i}")
        }
        FaultKind::StopWriter => {
            let i = schedule.target(fleet.writer_count());
            fleet.stop_writer(i).await?;
            fleet.start_writer(i).await?;
            format!("write-service {i}")
        }
        FaultKind::RestartInflux => {
            fleet.influx.stop().await?;
            tokio::time::sleep(INFLUX_OUTAGE).await;
            fleet.influx.restart().await?;
            format!("influxdb down {INFLUX_OUTAGE:?}")
        }
        FaultKind::FreezeInflux => {
            let frozen = write_timeout + FREEZE_BEYOND_TIMEOUT;
            fleet.influx.pause();
            tokio::time::sleep(frozen).await;
            fleet.influx.resume();
            format!("influxdb frozen {frozen:?}")
        }
        FaultKind::RestartRabbit => {
            fleet.rabbit.restart().await?;
            "rabbitmq".to_owned()
        }
        FaultKind::KillAgent => {
            let i = schedule.target(fleet.agent_count());
            fleet.kill_agent(i).await?;
            fleet.start_agent(i)?;
            format!("agent {i}")
        }
        FaultKind::FillSpool => {
            let dropped_before = fleet.dropped_by_full_spools()?;
            fleet.stop_agent(0).await?;
            fleet.start_agent_offline(0)?;
            let started = tokio::time::Instant::now();
            while fleet.dropped_by_full_spools()? == dropped_before
                && started.elapsed() < SPOOL_FILL_LIMIT
            {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            // Cut off, it could only wait out its shutdown grace: kill it.
            fleet.kill_agent(0).await?;
            fleet.start_agent(0)?;
            format!("agent 0 offline {:.1?}", started.elapsed())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_covers_every_kind_each_round_and_repeats_with_its_seed() {
        let draw = |seed| {
            let mut schedule = Schedule::new(seed);
            (0..FaultKind::ALL.len() * 2)
                .map(|_| schedule.next_kind())
                .collect::<Vec<_>>()
        };
        let kinds = draw(7);
        for round in kinds.chunks(FaultKind::ALL.len()) {
            let mut round = round.to_vec();
            round.sort();
            assert_eq!(round, FaultKind::ALL.to_vec());
        }
        assert_eq!(draw(7), kinds);
        assert_ne!(draw(8), kinds);
    }
}
