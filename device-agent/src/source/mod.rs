//! Where readings come from: a seeded simulation of a household
//! ([`simulated`]) or CSV lines from a real meter or a file ([`csv`]).

pub mod csv;
pub mod simulated;

use std::collections::HashMap;

use wattline_proto::{Batch, Reading, SocketSeries};

/// One reading of one socket, as a source produces it.
#[derive(Debug, Clone, PartialEq)]
pub struct SocketReading {
    pub socket_id: String,
    pub reading: Reading,
}

/// Groups readings by socket (sockets in order of first appearance,
/// readings in the order they came) into the batch that goes on the wire.
pub fn build_batch(device_id: &str, sequence: u64, readings: Vec<SocketReading>) -> Batch {
    // --sockets allows up to 1000: look sockets up by id, not by scanning.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut sockets: Vec<SocketSeries> = Vec::new();
    for SocketReading { socket_id, reading } in readings {
        match index.get(&socket_id) {
            Some(&at) => sockets[at].readings.push(reading),
            None => {
                index.insert(socket_id.clone(), sockets.len());
                sockets.push(SocketSeries {
                    socket_id,
                    readings: vec![reading],
                });
            }
        }
    }
    Batch {
        device_id: device_id.to_owned(),
        sequence,
        sockets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(socket: &str, timestamp_ms: i64, watts: f64) -> SocketReading {
        SocketReading {
            socket_id: socket.into(),
            reading: Reading::new(timestamp_ms, watts),
        }
    }

    #[test]
    fn readings_are_grouped_by_socket_keeping_their_order() {
        let batch = build_batch(
            "dev",
            7,
            vec![
                reading("b", 1, 1.0),
                reading("a", 1, 2.0),
                reading("b", 2, 3.0),
            ],
        );
        assert_eq!(batch.device_id, "dev");
        assert_eq!(batch.sequence, 7);
        let ids: Vec<_> = batch.sockets.iter().map(|s| s.socket_id.as_str()).collect();
        assert_eq!(ids, ["b", "a"]);
        let b: Vec<_> = batch.sockets[0].readings.iter().map(|r| r.watts).collect();
        assert_eq!(b, [1.0, 3.0]);
        assert_eq!(batch.reading_count(), 3);
    }
}
