//! A simulated household: sockets with the power patterns of real
//! appliances (a fridge's compressor cycling, standby loads, kettle and
//! washing-machine bursts), each with an energy counter that only grows.
//!
//! Everything follows from the seed: the same seed gives the same household,
//! so demos and tests are repeatable. Samples fall on multiples of the sample
//! interval (Unix time), so a restarted agent never produces two readings a
//! few milliseconds apart for one socket.

use std::collections::VecDeque;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wattline_proto::Reading;

use super::SocketReading;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;

/// The appliances sockets are given, in turn.
const APPLIANCES: [Appliance; 8] = [
    Appliance::Fridge,
    Appliance::Television,
    Appliance::Kettle,
    Appliance::WashingMachine,
    Appliance::Computer,
    Appliance::Lamp,
    Appliance::Router,
    Appliance::Dishwasher,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Appliance {
    Fridge,
    Television,
    Kettle,
    WashingMachine,
    Computer,
    Lamp,
    Router,
    Dishwasher,
}

/// A stretch of time with one power level (mean ± jitter).
#[derive(Debug, Clone, Copy)]
struct Phase {
    watts: f64,
    jitter: f64,
    until_ms: i64,
}

impl Appliance {
    fn name(self) -> &'static str {
        match self {
            Self::Fridge => "fridge",
            Self::Television => "tv",
            Self::Kettle => "kettle",
            Self::WashingMachine => "washing-machine",
            Self::Computer => "computer",
            Self::Lamp => "lamp",
            Self::Router => "router",
            Self::Dishwasher => "dishwasher",
        }
    }

    /// One cycle of the appliance starting at `start_ms`: an idle stretch
    /// and the bursts of use that follow it, as (watts, jitter, duration) steps.
    fn cycle(self, rng: &mut ChaCha8Rng) -> Vec<(f64, f64, i64)> {
        let minutes =
            |rng: &mut ChaCha8Rng, low: i64, high: i64| rng.random_range(low..=high) * MINUTE_MS;
        let hours = |rng: &mut ChaCha8Rng, low: i64, high: i64| {
            rng.random_range(low * 60..=high * 60) * MINUTE_MS
        };
        match self {
            Self::Fridge => vec![
                (0.6, 0.1, minutes(rng, 25, 40)),
                (310.0, 20.0, MINUTE_MS / 6), // compressor start-up surge
                (85.0, 6.0, minutes(rng, 12, 20)),
            ],
            Self::Television => vec![
                (1.2, 0.2, hours(rng, 2, 20)),
                (95.0, 15.0, hours(rng, 1, 3)),
            ],
            Self::Kettle => vec![
                (0.0, 0.0, hours(rng, 1, 8)),
                (2050.0, 60.0, minutes(rng, 2, 4)),
            ],
            Self::WashingMachine => vec![
                (0.9, 0.1, hours(rng, 10, 60)),
                (2000.0, 50.0, minutes(rng, 10, 20)), // heating the water
                (250.0, 150.0, minutes(rng, 40, 60)), // washing
                (450.0, 150.0, minutes(rng, 8, 12)),  // spinning
            ],
            Self::Computer => vec![
                (2.1, 0.3, hours(rng, 1, 12)),
                (85.0, 40.0, hours(rng, 1, 6)),
            ],
            Self::Lamp => vec![(0.0, 0.0, hours(rng, 2, 20)), (42.0, 0.5, hours(rng, 1, 5))],
            Self::Router => vec![(7.2, 0.3, 24 * HOUR_MS)],
            Self::Dishwasher => vec![
                (0.5, 0.1, hours(rng, 20, 48)),
                (1900.0, 80.0, minutes(rng, 20, 30)),
                (60.0, 20.0, minutes(rng, 60, 90)),
                (1900.0, 80.0, minutes(rng, 10, 15)),
            ],
        }
    }
}

#[derive(Debug)]
struct SimulatedSocket {
    id: String,
    appliance: Appliance,
    rng: ChaCha8Rng,
    phases: VecDeque<Phase>,
    energy_wh: f64,
    last_sample_ms: Option<i64>,
}

impl SimulatedSocket {
    fn new(index: usize, seed: u64, start_ms: i64) -> Self {
        let appliance = APPLIANCES[index % APPLIANCES.len()];
        // One stream per socket, so adding a socket leaves the others as they were.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index as u64);
        let energy_wh = round_to(rng.random_range(0.0..50_000.0), 1000.0);
        let mut socket = Self {
            id: format!("{}-{}", appliance.name(), index + 1),
            appliance,
            rng,
            phases: VecDeque::new(),
            energy_wh,
            last_sample_ms: None,
        };
        // Start somewhere inside a cycle, so sockets do not all switch together.
        let offset = socket.rng.random_range(0..24 * HOUR_MS);
        socket.plan_from(start_ms - offset);
        socket
    }

    fn plan_from(&mut self, mut at_ms: i64) {
        for (watts, jitter, duration_ms) in self.appliance.cycle(&mut self.rng) {
            at_ms += duration_ms;
            self.phases.push_back(Phase {
                watts,
                jitter,
                until_ms: at_ms,
            });
        }
    }

    fn sample(&mut self, at_ms: i64) -> Reading {
        let phase = loop {
            match self.phases.front() {
                Some(phase) if phase.until_ms > at_ms => break *phase,
                Some(phase) => {
                    let end = phase.until_ms;
                    self.phases.pop_front();
                    if self.phases.is_empty() {
                        self.plan_from(end);
                    }
                }
                None => self.plan_from(at_ms),
            }
        };
        let noise = if phase.jitter > 0.0 {
            self.rng.random_range(-phase.jitter..=phase.jitter)
        } else {
            0.0
        };
        // The wire carries deciwatts and milliwatt-hours: round here so what
        // is stored equals what was read.
        let watts = round_to((phase.watts + noise).max(0.0), 10.0);
        if let Some(last) = self.last_sample_ms {
            let hours = (at_ms - last) as f64 / HOUR_MS as f64;
            self.energy_wh = round_to(self.energy_wh + watts * hours, 1000.0);
        }
        self.last_sample_ms = Some(at_ms);
        Reading {
            timestamp_ms: at_ms,
            watts,
            energy_wh: Some(self.energy_wh),
            voltage_v: Some(round_to(230.0 + self.rng.random_range(-3.0..3.0), 10.0)),
            current_a: None,
        }
    }
}

fn round_to(value: f64, steps_per_unit: f64) -> f64 {
    (value * steps_per_unit).round() / steps_per_unit
}

/// A household of simulated sockets, sampled every `sample_interval`.
#[derive(Debug)]
pub struct SimulatedHousehold {
    sockets: Vec<SimulatedSocket>,
    sample_interval_ms: i64,
    /// The next sample time not yet produced.
    next_sample_ms: i64,
}

impl SimulatedHousehold {
    /// A household whose first samples come after `start_ms`.
    pub fn new(seed: u64, sockets: u16, sample_interval: Duration, start_ms: i64) -> Self {
        let sample_interval_ms = i64::try_from(sample_interval.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        Self {
            sockets: (0..usize::from(sockets))
                .map(|i| SimulatedSocket::new(i, seed, start_ms))
                .collect(),
            sample_interval_ms,
            next_sample_ms: (start_ms.div_euclid(sample_interval_ms) + 1) * sample_interval_ms,
        }
    }

    /// The samples due up to and including `now_ms`, socket by socket, but
    /// no more than `max_readings` (always at least one sample time): call
    /// again while it returns a full batch to catch up on a long stretch.
    pub fn readings_until(&mut self, now_ms: i64, max_readings: usize) -> Vec<SocketReading> {
        let mut readings = Vec::new();
        while self.next_sample_ms <= now_ms
            && (readings.is_empty() || readings.len() + self.sockets.len() <= max_readings)
        {
            let at_ms = self.next_sample_ms;
            readings.extend(self.sockets.iter_mut().map(|socket| SocketReading {
                socket_id: socket.id.clone(),
                reading: socket.sample(at_ms),
            }));
            self.next_sample_ms += self.sample_interval_ms;
        }
        readings
    }

    /// Whether samples up to `now_ms` are still waiting.
    pub fn behind(&self, now_ms: i64) -> bool {
        self.next_sample_ms <= now_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_790_000_000_000;

    fn day_of(socket_index: usize, seed: u64) -> Vec<Reading> {
        let mut household = SimulatedHousehold::new(seed, 8, Duration::from_secs(10), START);
        household
            .readings_until(START + 24 * HOUR_MS, usize::MAX)
            .into_iter()
            .skip(socket_index)
            .step_by(8)
            .map(|r| r.reading)
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_household() {
        let mut a = SimulatedHousehold::new(42, 3, Duration::from_secs(10), START);
        let mut b = SimulatedHousehold::new(42, 3, Duration::from_secs(10), START);
        assert_eq!(
            a.readings_until(START + HOUR_MS, usize::MAX),
            b.readings_until(START + HOUR_MS, usize::MAX)
        );
        let mut c = SimulatedHousehold::new(43, 3, Duration::from_secs(10), START);
        assert_ne!(
            a.readings_until(START + 2 * HOUR_MS, usize::MAX),
            c.readings_until(START + 2 * HOUR_MS, usize::MAX)
        );
    }

    #[test]
    fn samples_fall_on_the_interval_grid_and_are_produced_once() {
        let mut household = SimulatedHousehold::new(1, 2, Duration::from_secs(10), START + 3);
        let first = household.readings_until(START + 25_000, usize::MAX);
        let times: Vec<_> = first.iter().map(|r| r.reading.timestamp_ms).collect();
        assert_eq!(
            times,
            [
                START + 10_000,
                START + 10_000,
                START + 20_000,
                START + 20_000
            ]
        );
        assert!(household
            .readings_until(START + 29_999, usize::MAX)
            .is_empty());
        assert_eq!(
            household.readings_until(START + 30_000, usize::MAX).len(),
            2
        );
    }

    #[test]
    fn a_long_stretch_comes_in_batches_of_whole_sample_times() {
        let mut household = SimulatedHousehold::new(1, 3, Duration::from_secs(10), START);
        let until = START + 100_000;
        let mut sizes = Vec::new();
        while household.behind(until) {
            sizes.push(household.readings_until(until, 7).len());
        }
        assert_eq!(sizes, [6, 6, 6, 6, 6]);
        assert!(household.readings_until(until, 7).is_empty());
    }

    #[test]
    fn the_fridge_cycles_and_the_kettle_bursts() {
        let fridge = day_of(0, 7);
        let running = fridge.iter().filter(|r| r.watts > 50.0).count();
        let share = running as f64 / fridge.len() as f64;
        assert!(
            (0.15..0.6).contains(&share),
            "compressor runs {share:.2} of the day"
        );

        let kettle = day_of(2, 7);
        assert!(
            kettle.iter().any(|r| r.watts > 1800.0),
            "the kettle boils at least once a day"
        );
        assert!(kettle.iter().filter(|r| r.watts == 0.0).count() > kettle.len() * 9 / 10);
    }

    #[test]
    fn energy_counters_only_grow_and_match_the_power_drawn() {
        for socket in 0..8 {
            let day = day_of(socket, 3);
            for pair in day.windows(2) {
                let (before, after) = (pair[0], pair[1]);
                let (e0, e1) = (
                    before.energy_wh.unwrap_or(0.0),
                    after.energy_wh.unwrap_or(0.0),
                );
                assert!(e1 >= e0, "socket {socket}: counter went back");
                let expected = after.watts * 10.0 / 3600.0;
                assert!(
                    (e1 - e0 - expected).abs() < 0.002,
                    "socket {socket}: {e0} -> {e1}"
                );
            }
        }
    }

    #[test]
    fn values_are_exact_in_wire_units() {
        for reading in day_of(3, 9) {
            assert_eq!(round_to(reading.watts, 10.0), reading.watts);
            assert!(reading.watts >= 0.0 && reading.watts.is_finite());
        }
    }
}
