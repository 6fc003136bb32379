//! What perf sends: H households × S sockets, each household one device
//! whose batches carry R readings per socket, in the real `wattline.v1`
//! encoding. Readings are stamped with the time they are sent (so the write
//! service's lag histogram is the publish → acked-write latency), kept
//! strictly increasing per series, so InfluxDB keeps each one and the final
//! count per series says exactly what was stored.

use wattline_proto::{Batch, Reading, SocketSeries};

/// The simulated fleet and its batches.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Households, one device each.
    pub households: u32,
    /// Sockets per household.
    pub sockets: u32,
    /// Readings per socket in one batch.
    pub readings_per_socket: u32,
    /// A prefix that makes this run's ids unique (`perf-<run>-`).
    pub run_id: String,
}

impl Workload {
    /// H households × S sockets × R readings per socket a batch, ids prefixed
    /// `perf-<run_id>-`.
    pub fn new(
        households: u32,
        sockets: u32,
        readings_per_socket: u32,
        run_id: impl Into<String>,
    ) -> Self {
        Self {
            households,
            sockets,
            readings_per_socket,
            run_id: run_id.into(),
        }
    }

    /// True when a batch would carry no reading or there is no one to send it.
    pub fn is_empty(&self) -> bool {
        self.households == 0 || self.sockets == 0 || self.readings_per_socket == 0
    }

    /// The RabbitMQ virtual host of this run.
    pub fn vhost(&self) -> String {
        format!("wattline-perf-{}", self.run_id)
    }

    /// The InfluxDB database of this run.
    pub fn database(&self) -> String {
        format!("wattline_perf_{}", self.run_id.replace('-', "_"))
    }

    /// Readings in one message (batch).
    pub fn readings_per_message(&self) -> u32 {
        self.sockets * self.readings_per_socket
    }

    /// The device id of household `h` (also its household id in a
    /// households file).
    pub fn device_id(&self, household: u32) -> String {
        format!("perf-{}-d{household}", self.run_id)
    }

    /// The household id of household `h`.
    pub fn household_id(&self, household: u32) -> String {
        format!("perf-{}-h{household}", self.run_id)
    }

    /// Batch number `n` of household `h`: S sockets × R readings stamped
    /// `first_ms`, `first_ms + 1`, …, with power and energy values that vary
    /// like a real socket's. The next batch should start at `first_ms + R`
    /// or later.
    pub fn batch(&self, household: u32, n: u64, first_ms: i64) -> Batch {
        let r = u64::from(self.readings_per_socket);
        let sockets = (0..self.sockets)
            .map(|socket| SocketSeries {
                socket_id: format!("s{socket}"),
                readings: (0..r)
                    .map(|i| {
                        let k = n * r + i;
                        let offset = i64::try_from(i).unwrap_or(i64::MAX);
                        let watts =
                            f64::from((socket * 37 + household) % 2000) + (k % 97) as f64 / 10.0;
                        let mut reading = Reading::new(first_ms + offset, watts);
                        reading.energy_wh = Some(k as f64 * 0.5);
                        reading
                    })
                    .collect(),
            })
            .collect();
        Batch {
            device_id: self.device_id(household),
            sequence: n,
            sockets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_with_unique_timestamps_per_series() {
        let w = Workload::new(2, 3, 10, "t");
        let first = w.batch(1, 0, 1_700_000_000_000);
        let second = w.batch(1, 1, 1_700_000_000_010);
        assert_eq!(first.reading_count(), 30);
        assert_eq!(w.readings_per_message(), 30);
        let decoded = Batch::decode(&second.encode()).unwrap();
        assert_eq!(decoded, second);
        let last_of_first = first.sockets[0].readings.last().unwrap().timestamp_ms;
        let first_of_second = second.sockets[0].readings[0].timestamp_ms;
        assert_eq!(first_of_second, last_of_first + 1);
        assert_eq!(first.device_id, "perf-t-d1");
    }
}
