//! Bytes from the broker → the write service's decode and validation → the
//! line protocol it writes.
//!
//! - decoding never panics, and the in-place reader agrees with prost (the
//!   oracle): the same verdict, and for accepted payloads the same device id,
//!   sequence, sockets and readings;
//! - for a batch the validation accepts, the line protocol built from it
//!   (as `write_service::pipeline` does: one `DeviceKey`, then
//!   `push_wire_series` per socket) reads back, through InfluxDB 3's parser,
//!   as one line per reading with the same tags, values and timestamp.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wattline_fuzz::readback::{self, Line};
use wattline_fuzz::seeds;
use wattline_fuzz::validate::{self, TimeWindow};
use wattline_influx::{DeviceKey, LineProtocolBuilder, MEASUREMENT};
use wattline_proto::oracle;
use wattline_proto::wire::WireReading;

/// A fixed "now" (2026-12-01 + 5 minutes of allowed skew), so a crash
/// replays the same way on any day.
const WINDOW: TimeWindow = TimeWindow {
    earliest_ms: validate::EARLIEST_TIMESTAMP_MS,
    latest_ms: seeds::SEED_TIME_MS + 300_000,
};

/// The household the device belongs to (the write service looks it up).
const HOUSEHOLD: &str = "house 1";

fuzz_target!(init: seeds::write_if_asked(seeds::batches), |payload: &[u8]| {
    let prost = oracle::decode(payload);
    let checked = match validate::decode(payload.to_vec()) {
        Ok(checked) => checked,
        Err((back, invalid)) => {
            assert_eq!(back, payload, "the payload comes back as it was, to be dead-lettered");
            assert!(prost.is_err(), "the reader refused ({invalid}) what prost accepts: {prost:?}");
            return;
        }
    };
    let view = checked.view();
    let Ok(prost) = prost else {
        panic!("the reader accepted what prost refuses");
    };
    let sockets: oracle::Sockets = view
        .sockets()
        .map(|s| (s.id().to_owned(), s.readings().collect()))
        .collect();
    assert_eq!(sockets, prost, "the reader and prost read different values");
    assert_eq!(
        (view.device_id().to_owned(), view.sequence()),
        oracle::header(payload).expect("prost accepted it above"),
    );
    let readings: Vec<&WireReading> = sockets.iter().flat_map(|(_, r)| r).collect();
    assert_eq!(view.reading_count(), readings.len());

    let Ok(summary) = validate::check_batch(&view, WINDOW) else {
        return;
    };
    assert_eq!(summary.readings, readings.len());
    assert_eq!(summary.newest_ms, readings.iter().map(|r| r.timestamp_ms).max());

    // The device's id comes from the routing key (not the payload): any
    // payload device id the builder takes will do to vary the key.
    let device = if DeviceKey::new(HOUSEHOLD, view.device_id()).is_ok() {
        view.device_id()
    } else {
        "device-1"
    };
    let key = DeviceKey::new(HOUSEHOLD, device).expect("a checked device id");
    let mut builder = LineProtocolBuilder::new();
    for socket in view.sockets() {
        builder
            .push_wire_series(&key, socket.id(), socket.readings())
            .unwrap_or_else(|e| panic!("validation passed socket {:?} but the builder refuses it: {e}", socket.id()));
    }
    assert_eq!(builder.point_count(), readings.len());
    let lines = readback::lines(builder.as_bytes());
    assert_eq!(lines.len(), readings.len(), "one line per reading: {:?}", String::from_utf8_lossy(builder.as_bytes()));
    let expected = sockets
        .iter()
        .flat_map(|(socket, readings)| readings.iter().map(move |r| (socket, r)));
    for (line, (socket, reading)) in lines.into_iter().zip(expected) {
        let ids = [device, HOUSEHOLD, socket.as_str()];
        if !ids.iter().all(|id| readback::dialects_agree(id)) {
            continue;
        }
        let line = line.unwrap_or_else(|e| panic!("the parser refuses a line we wrote: {e}"));
        assert_eq!(line, expected_line(ids, reading));
    }
});

/// The line that must read back for one reading of socket `ids[2]`.
fn expected_line([device, household, socket]: [&str; 3], r: &WireReading) -> Line {
    let field = |name: &str, units: Option<i64>, decimals| {
        units.map(|u| (name.to_owned(), Ok(readback::scaled(u, decimals))))
    };
    Line {
        measurement: MEASUREMENT.to_owned(),
        tags: vec![
            ("device".to_owned(), device.to_owned()),
            ("household".to_owned(), household.to_owned()),
            ("socket".to_owned(), socket.to_owned()),
        ],
        fields: [
            field("watts", Some(r.power_dw), 1),
            field("energy_wh", r.energy_mwh, 3),
            field("voltage_v", r.voltage_dv.map(i64::from), 1),
            field("current_a", r.current_ma.map(i64::from), 3),
        ]
        .into_iter()
        .flatten()
        .collect(),
        timestamp: Some(r.timestamp_ms),
    }
}
