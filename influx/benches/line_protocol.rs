//! Cost of building line protocol and of gzipping it: 5,000 points from 30 sockets with
//! realistic ids, the write service's default batch size, built point by point (`push`) and
//! series by series (`push_series`, what the write service does).
//!
//! `cargo bench -p wattline-influx`; divide the time per iteration by 5,000 for ns/point. The
//! gzip ratio is printed once before the measurements.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use wattline_influx::{writer::gzip, LineProtocolBuilder, PowerPoint, SeriesTags};
use wattline_proto::Reading;

const POINTS: usize = 5_000;
const SOCKETS: usize = 30;

fn ids() -> Vec<(String, String, String)> {
    (0..SOCKETS)
        .map(|i| {
            (
                format!("hh-{:08x}", 0x5eed_0000 + i / 10),
                format!("pi-kitchen-{:02}", i / 4),
                format!("socket-{}", i % 4),
            )
        })
        .collect()
}

/// The `n`th reading of the batch (of socket `n % SOCKETS`).
fn reading(n: usize) -> Reading {
    Reading {
        timestamp_ms: 1_795_000_000_000 + (n / SOCKETS) as i64 * 1_000,
        watts: 40.0 + (n % 97) as f64 * 1.37,
        energy_wh: Some(123_456.047 + n as f64 * 0.011),
        voltage_v: Some(229.8 + (n % 7) as f64 * 0.1),
        current_a: None,
    }
}

fn build(builder: &mut LineProtocolBuilder, ids: &[(String, String, String)]) {
    builder.clear();
    for n in 0..POINTS {
        let (household, device, socket) = &ids[n % SOCKETS];
        let r = reading(n);
        let point = PowerPoint {
            household,
            device,
            socket,
            timestamp_ms: r.timestamp_ms,
            watts: r.watts,
            energy_wh: r.energy_wh,
            voltage_v: r.voltage_v,
            current_a: r.current_a,
        };
        // Ids above are valid; a refusal here would be a bench bug.
        if builder.push(&point).is_err() {
            panic!("bench point refused");
        }
    }
}

/// The same 5,000 readings grouped by socket, as a decoded batch holds them.
fn series() -> Vec<(usize, Vec<Reading>)> {
    (0..SOCKETS)
        .map(|i| (i, (i..POINTS).step_by(SOCKETS).map(reading).collect()))
        .collect()
}

fn build_by_series(
    builder: &mut LineProtocolBuilder,
    ids: &[(String, String, String)],
    series: &[(usize, Vec<Reading>)],
) {
    builder.clear();
    for (i, readings) in series {
        let (household, device, socket) = &ids[*i];
        let tags = SeriesTags {
            household,
            device,
            socket,
        };
        if builder.push_series(tags, readings).is_err() {
            panic!("bench series refused");
        }
    }
}

fn benches(c: &mut Criterion) {
    let ids = ids();
    let mut builder = LineProtocolBuilder::with_capacity(POINTS * 128);
    build(&mut builder, &ids);
    let body = builder.as_bytes().to_vec();
    let zipped = gzip(&body);
    println!(
        "body: {} points, {} bytes ({:.1} B/point); gzip: {} bytes, ratio {:.2}x",
        POINTS,
        body.len(),
        body.len() as f64 / POINTS as f64,
        zipped.len(),
        body.len() as f64 / zipped.len().max(1) as f64
    );

    let mut group = c.benchmark_group("line_protocol");
    group.throughput(Throughput::Elements(POINTS as u64));
    group.bench_function("build_5000_points", |b| {
        b.iter(|| {
            build(&mut builder, &ids);
            black_box(builder.len_bytes())
        })
    });
    let by_series = series();
    group.bench_function("build_5000_points_by_series", |b| {
        b.iter(|| {
            build_by_series(&mut builder, &ids, &by_series);
            black_box(builder.len_bytes())
        })
    });
    group.bench_function("gzip_5000_points", |b| {
        b.iter(|| black_box(gzip(black_box(&body)).len()))
    });
    group.finish();
}

criterion_group!(line_protocol, benches);
criterion_main!(line_protocol);
