//! From wire payloads to line protocol, the write service's hot path: 5,010 points as 167
//! household minute batches (30 sockets × 1 reading, with energy counters), three ways:
//!
//! - `prost_decode`: prost's owned decode alone (the reference; no line protocol);
//! - `owned`: [`Batch::decode`] into owned readings, then `push_series` (floats, `ryu`);
//! - `in_place`: [`CheckedBatch::new`] (read and checked in place, no allocation), then
//!   `push_wire_series` (integer units, the device's key escaped once): what the write
//!   service does.
//!
//! `cargo bench -p wattline-influx --bench batches`; divide by 5,010 for ns/point.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use std::hint::black_box;
use wattline_influx::{DeviceKey, LineProtocolBuilder, SeriesTags};
use wattline_proto::wire::CheckedBatch;
use wattline_proto::{v1, Batch, Reading, SocketSeries};

const MESSAGES: usize = 167;
const SOCKETS: usize = 30;

fn payloads() -> Vec<Vec<u8>> {
    (0..MESSAGES)
        .map(|m| {
            let sockets = (0..SOCKETS)
                .map(|s| SocketSeries {
                    socket_id: format!("socket-{s:02}"),
                    readings: vec![Reading {
                        timestamp_ms: 1_795_000_000_000 + m as i64 * 60_000 + s as i64,
                        watts: 40.0 + ((m * SOCKETS + s) % 97) as f64 * 1.3,
                        energy_wh: Some(123_456.047 + m as f64 * 0.7),
                        voltage_v: None,
                        current_a: None,
                    }],
                })
                .collect();
            Batch {
                device_id: format!("pi-{m:04}"),
                sequence: m as u64,
                sockets,
            }
            .encode()
        })
        .collect()
}

fn household(m: usize) -> String {
    format!("hh-{:08x}", 0x5eed_0000 + m)
}

fn benches(c: &mut Criterion) {
    let payloads = payloads();
    let households: Vec<String> = (0..MESSAGES).map(household).collect();
    let mut builder = LineProtocolBuilder::with_capacity(MESSAGES * SOCKETS * 128);
    let mut group = c.benchmark_group("batches_to_line_protocol");
    group.throughput(Throughput::Elements((MESSAGES * SOCKETS) as u64));

    group.bench_function("prost_decode", |b| {
        b.iter(|| {
            for payload in &payloads {
                let wire = v1::ReadingBatch::decode(payload.as_slice()).expect("bench payload");
                black_box(wire.sockets.len());
            }
        })
    });
    group.bench_function("owned", |b| {
        b.iter(|| {
            builder.clear();
            for (payload, household) in payloads.iter().zip(&households) {
                let batch = Batch::decode(payload).expect("bench payload");
                for series in &batch.sockets {
                    let tags = SeriesTags {
                        household,
                        device: &batch.device_id,
                        socket: &series.socket_id,
                    };
                    builder
                        .push_series(tags, &series.readings)
                        .expect("bench tags");
                }
            }
            black_box(builder.len_bytes())
        })
    });
    group.bench_function("in_place", |b| {
        b.iter(|| {
            builder.clear();
            for (payload, household) in payloads.iter().zip(&households) {
                // The write service owns each delivery's body; so does this loop.
                let batch = CheckedBatch::new(payload.clone()).expect("bench payload");
                let view = batch.view();
                let key = DeviceKey::new(household, view.device_id()).expect("bench tags");
                for socket in view.sockets() {
                    builder
                        .push_wire_series(&key, socket.id(), socket.readings())
                        .expect("bench tags");
                }
            }
            black_box(builder.len_bytes())
        })
    });
    group.finish();
}

criterion_group!(batches, benches);
criterion_main!(batches);
