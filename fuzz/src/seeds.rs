//! Seed inputs, made with Wattline's own encoders: a target started with
//! `WATTLINE_FUZZ_SEEDS=<dir>` writes its seeds there and exits (see
//! [`write_if_asked`]; `deploy/fuzz.sh` does this before each run). Nothing
//! generated is committed.

use std::path::Path;

use wattline_proto::{Batch, Reading, SocketSeries};

/// The environment variable naming the directory to write seeds into.
pub const SEEDS_ENV: &str = "WATTLINE_FUZZ_SEEDS";

/// Called from a target's `init`: when [`SEEDS_ENV`] is set, writes `seeds()`
/// there (one file each) and exits the process; otherwise does nothing.
pub fn write_if_asked(seeds: fn() -> Vec<Vec<u8>>) {
    let Some(dir) = std::env::var_os(SEEDS_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        seeds()
            .iter()
            .enumerate()
            .try_for_each(|(i, seed)| std::fs::write(dir.join(format!("seed-{i:03}")), seed))
    });
    match written {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("cannot write seeds to {}: {e}", dir.display());
            std::process::exit(1)
        }
    }
}

/// 2026-12-01T00:00:00Z, inside the targets' validation window.
pub const SEED_TIME_MS: i64 = 1_796_083_200_000;

/// Batches as agents encode them: empty, one socket, a household's minute
/// (many sockets, one reading), a backlog (one socket, many readings),
/// every optional column, columns that change (split entries), awkward ids,
/// and a few the validation refuses (negative power, 1999, a bad socket id).
pub fn batches() -> Vec<Vec<u8>> {
    let reading = |i: i64, watts: f64| Reading::new(SEED_TIME_MS + i * 1_000, watts);
    let full = |i: i64| Reading {
        energy_wh: Some(123_456.047 + i as f64),
        voltage_v: Some(230.1),
        current_a: Some(0.37),
        ..reading(i, 85.3)
    };
    let batch = |sockets: Vec<(&str, Vec<Reading>)>| Batch {
        device_id: "pi-kitchen".into(),
        sequence: 42,
        sockets: sockets
            .into_iter()
            .map(|(id, readings)| SocketSeries {
                socket_id: id.into(),
                readings,
            })
            .collect(),
    };
    let minute: Vec<_> = (0..30)
        .map(|s| (SOCKET_IDS[s % SOCKET_IDS.len()], vec![reading(0, s as f64)]))
        .collect();
    let mixed = vec![reading(0, 1.0), full(1), full(2), reading(3, 0.0)];
    [
        batch(vec![]),
        batch(vec![("fridge", vec![reading(0, 85.3)])]),
        batch(minute),
        batch(vec![(
            "heat pump",
            (0..120).map(|i| reading(i, i as f64 * 3.5)).collect(),
        )]),
        batch(vec![("all", (0..3).map(full).collect())]),
        batch(vec![("mixed", mixed)]),
        batch(vec![("Küche, \"=\" x", vec![full(0)])]),
        batch(vec![("neg", vec![reading(0, -5.0)])]),
        batch(vec![("old", vec![Reading::new(900_000_000_000, 1.0)])]),
        batch(vec![("tab\tid", vec![reading(0, 1.0)])]),
    ]
    .iter()
    .map(Batch::encode)
    .collect()
}

/// Socket ids that need escaping or are multi-byte.
const SOCKET_IDS: [&str; 6] = ["tv", "a b", "x,y", "k=v", "日本", "a\\b"];

/// Spooled batch files: the batches above as the spool writes them, and one
/// of them torn (header only, half the payload).
pub fn spool_files() -> Vec<Vec<u8>> {
    let mut files: Vec<Vec<u8>> = batches()
        .iter()
        .map(|payload| {
            crate::spool::encode_record(3, payload)
                .unwrap_or_else(|reason| panic!("seed batch: {reason}"))
        })
        .collect();
    let whole = files[3].clone();
    files.push(whole[..crate::spool::HEADER_LEN].to_vec());
    files.push(whole[..whole.len() / 2].to_vec());
    files
}
