//! What the broker accepted, and how it compares with what InfluxDB holds.
//!
//! The chaos run binds a durable audit queue to the readings exchange beside
//! the write queue. RabbitMQ confirms a persistent message to its publisher
//! only once every queue it was routed to has it on disk, so the audit queue
//! receives a copy of every batch an agent was told is safe (and of the few
//! whose confirm a crash cut off: those reached the write queue too, so they
//! must be stored as well). The ledger is that copy, reading by reading.

use std::collections::{BTreeMap, HashMap, HashSet};

use wattline_proto::Batch;

/// A series: (device, socket).
pub type SeriesKey = (String, String);

/// Readings of one series by timestamp (ms): the watts value.
pub type Points = BTreeMap<i64, f64>;

/// Every reading the broker accepted, per series.
#[derive(Debug, Default)]
pub struct Ledger {
    series: HashMap<SeriesKey, Points>,
    /// (device, batch sequence) of every batch seen, to count republished ones.
    batches: HashSet<(String, u64)>,
    /// Batches accepted more than once: an agent republished a batch whose
    /// confirm it never got (a crash or a broker restart in between).
    pub republished_batches: u64,
    /// The same (series, time) accepted twice with different watts: an agent
    /// bug, never expected.
    pub conflicting_readings: u64,
    /// Messages the audit queue delivered that were not a batch.
    pub undecodable: u64,
}

impl Ledger {
    /// Records one accepted message. `redelivered` is the audit queue's own
    /// redelivery (its consumer reconnected), not an agent's republish.
    pub fn record(&mut self, device: &str, payload: &[u8], redelivered: bool) {
        let Ok(batch) = Batch::decode(payload) else {
            self.undecodable += 1;
            return;
        };
        if !self.batches.insert((device.to_owned(), batch.sequence)) && !redelivered {
            self.republished_batches += 1;
        }
        for socket in batch.sockets {
            let points = self
                .series
                .entry((device.to_owned(), socket.socket_id))
                .or_default();
            for reading in socket.readings {
                if let Some(previous) = points.insert(reading.timestamp_ms, reading.watts) {
                    if previous.to_bits() != reading.watts.to_bits() {
                        self.conflicting_readings += 1;
                    }
                }
            }
        }
    }

    /// Readings accepted (distinct series and time).
    pub fn readings(&self) -> u64 {
        self.series.values().map(|p| p.len() as u64).sum()
    }

    /// Batches accepted (distinct device and sequence).
    pub fn batches(&self) -> u64 {
        self.batches.len() as u64
    }

    /// The devices that sent anything.
    pub fn devices(&self) -> Vec<String> {
        let devices: HashSet<&String> = self.series.keys().map(|(device, _)| device).collect();
        let mut devices: Vec<String> = devices.into_iter().cloned().collect();
        devices.sort();
        devices
    }

    pub fn series(&self) -> &HashMap<SeriesKey, Points> {
        &self.series
    }
}

/// The comparison of the ledger with the stored points.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    /// Accepted readings found in InfluxDB with the same value.
    pub stored: u64,
    /// Accepted readings missing from InfluxDB.
    pub lost: u64,
    /// Points InfluxDB holds that the broker never accepted at that time:
    /// a reading stored twice under different times, or data from nowhere.
    /// (InfluxDB keys a point by series and time, so a redelivered batch
    /// overwrites its own points rather than adding to them.)
    pub duplicated: u64,
    /// Accepted readings stored with another value.
    pub value_mismatches: u64,
    /// Series with any of the above, for the report.
    pub bad_series: u64,
}

/// Compares what was accepted with what is stored, series by series.
pub fn tally(accepted: &HashMap<SeriesKey, Points>, stored: &HashMap<SeriesKey, Points>) -> Tally {
    let mut tally = Tally::default();
    let empty = Points::new();
    let keys: HashSet<&SeriesKey> = accepted.keys().chain(stored.keys()).collect();
    for key in keys {
        let want = accepted.get(key).unwrap_or(&empty);
        let got = stored.get(key).unwrap_or(&empty);
        let before = tally;
        for (time, watts) in want {
            match got.get(time) {
                Some(stored) if stored.to_bits() == watts.to_bits() => tally.stored += 1,
                Some(_) => tally.value_mismatches += 1,
                None => tally.lost += 1,
            }
        }
        tally.duplicated += got.keys().filter(|time| !want.contains_key(time)).count() as u64;
        if (tally.lost, tally.duplicated, tally.value_mismatches)
            != (before.lost, before.duplicated, before.value_mismatches)
        {
            tally.bad_series += 1;
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;
    use wattline_proto::{Reading, SocketSeries};

    fn batch(sequence: u64, socket: &str, times: &[i64]) -> Vec<u8> {
        Batch {
            device_id: "d1".into(),
            sequence,
            sockets: vec![SocketSeries {
                socket_id: socket.into(),
                readings: times
                    .iter()
                    .map(|&t| Reading::new(t, t as f64 / 10.0))
                    .collect(),
            }],
        }
        .encode()
    }

    fn points(entries: &[(i64, f64)]) -> Points {
        entries.iter().copied().collect()
    }

    fn key(socket: &str) -> SeriesKey {
        ("d1".into(), socket.into())
    }

    #[test]
    fn the_ledger_keeps_each_reading_once_and_counts_republished_batches() {
        let mut ledger = Ledger::default();
        ledger.record("d1", &batch(1, "s0", &[1000, 2000]), false);
        ledger.record("d1", &batch(1, "s0", &[1000, 2000]), false); // republished
        ledger.record("d1", &batch(1, "s0", &[1000, 2000]), true); // audit redelivery
        ledger.record("d1", &batch(2, "s1", &[3000]), false);
        ledger.record("d1", b"\xff\xff not protobuf", false);
        assert_eq!(ledger.readings(), 3);
        assert_eq!(ledger.batches(), 2);
        assert_eq!(ledger.republished_batches, 1);
        assert_eq!(ledger.undecodable, 1);
        assert_eq!(ledger.conflicting_readings, 0);
        assert_eq!(ledger.devices(), vec!["d1".to_owned()]);
    }

    #[test]
    fn the_tally_finds_lost_extra_and_altered_points() {
        let accepted = HashMap::from([
            (key("s0"), points(&[(1, 1.5), (2, 2.5), (3, 3.5)])),
            (key("s1"), points(&[(1, 9.0)])),
        ]);
        let stored = HashMap::from([
            // one lost, one altered, one from nowhere
            (key("s0"), points(&[(1, 1.5), (3, 3.25), (4, 4.0)])),
            (key("s1"), points(&[(1, 9.0)])),
            // a series nobody sent
            (key("s9"), points(&[(1, 1.0)])),
        ]);
        let tally = tally(&accepted, &stored);
        assert_eq!(
            tally,
            Tally {
                stored: 2,
                lost: 1,
                duplicated: 2,
                value_mismatches: 1,
                bad_series: 2,
            }
        );
    }

    #[test]
    fn everything_stored_once_is_a_clean_tally() {
        let accepted = HashMap::from([(key("s0"), points(&[(1, 1.5), (2, 2.5)]))]);
        let tally = tally(&accepted, &accepted.clone());
        assert_eq!((tally.stored, tally.lost, tally.duplicated), (2, 0, 0));
        assert_eq!(tally.bad_series, 0);
    }
}
