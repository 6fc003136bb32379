//! Arbitrary ids and readings → the line-protocol builder, both of its paths
//! (`push_series` with float readings, `push_wire_series` with the wire's
//! integer units under a `DeviceKey`), several series into one body.
//!
//! Each push either is refused, with a reason that is true of the input and
//! nothing appended, or appends one line per reading; the whole body then
//! reads back, through InfluxDB 3's parser, as exactly the lines meant:
//! same tags, bit-equal values, same timestamps (a bad escape would also
//! bleed into the next line, so it shows).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wattline_fuzz::readback::{self, Line};
use wattline_fuzz::seeds;
use wattline_influx::{DeviceKey, InvalidPoint, LineProtocolBuilder, SeriesTags, MEASUREMENT};
use wattline_proto::wire::WireReading;
use wattline_proto::Reading;

#[derive(Debug, Arbitrary)]
struct Input {
    household: String,
    device: String,
    series: Vec<Series>,
}

#[derive(Debug, Arbitrary)]
enum Series {
    Floats {
        socket: String,
        readings: Vec<FloatReading>,
    },
    Wire {
        socket: String,
        readings: Vec<IntegerReading>,
    },
}

#[derive(Debug, Clone, Copy, Arbitrary)]
struct FloatReading {
    timestamp_ms: i64,
    watts: f64,
    energy_wh: Option<f64>,
    voltage_v: Option<f64>,
    current_a: Option<f64>,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
struct IntegerReading {
    timestamp_ms: i64,
    power_dw: i64,
    energy_mwh: Option<i64>,
    voltage_dv: Option<u32>,
    current_ma: Option<u32>,
}

// No seeds: libFuzzer builds structure through `arbitrary` quickly, and
// arbitrary's byte format is not stable to write seeds in.
fuzz_target!(init: seeds::write_if_asked(Vec::new), |input: Input| {
    let mut builder = LineProtocolBuilder::new();
    let mut expected: Vec<Option<Line>> = Vec::new();
    let device_key = DeviceKey::new(&input.household, &input.device);
    if let Err(e) = &device_key {
        assert_refusal_is_true(e, &[("household", &input.household), ("device", &input.device)], &[]);
    }
    for series in &input.series {
        let before = builder.as_bytes().to_vec();
        let (socket, pushed, values): (&str, _, Vec<[Option<f64>; 4]>) = match series {
            Series::Floats { socket, readings } => {
                let readings: Vec<Reading> = readings.iter().map(|r| Reading {
                    timestamp_ms: r.timestamp_ms,
                    watts: r.watts,
                    energy_wh: r.energy_wh,
                    voltage_v: r.voltage_v,
                    current_a: r.current_a,
                }).collect();
                let values: Vec<_> = readings
                    .iter()
                    .map(|r| [Some(r.watts), r.energy_wh, r.voltage_v, r.current_a])
                    .collect();
                // Non-finite values are the caller's bug: debug builds (and
                // these targets) assert, release builds refuse them.
                if cfg!(debug_assertions) && values.iter().flatten().flatten().any(|v| !v.is_finite()) {
                    continue;
                }
                let tags = SeriesTags { household: &input.household, device: &input.device, socket };
                (socket.as_str(), builder.push_series(tags, &readings), values)
            }
            Series::Wire { socket, readings } => {
                let Ok(key) = &device_key else { continue };
                let wire = readings.iter().map(|r| WireReading {
                    timestamp_ms: r.timestamp_ms,
                    power_dw: r.power_dw,
                    energy_mwh: r.energy_mwh,
                    voltage_dv: r.voltage_dv,
                    current_ma: r.current_ma,
                });
                let pushed = builder.push_wire_series(key, socket, wire);
                (socket.as_str(), pushed, Vec::new())
            }
        };
        let timestamps: Vec<i64> = match series {
            Series::Floats { readings, .. } => readings.iter().map(|r| r.timestamp_ms).collect(),
            Series::Wire { readings, .. } => readings.iter().map(|r| r.timestamp_ms).collect(),
        };
        match pushed {
            Err(e) => {
                assert_eq!(builder.as_bytes(), before, "a refused series appends nothing");
                let tags = [("household", input.household.as_str()), ("device", &input.device), ("socket", socket)];
                assert_refusal_is_true(&e, &tags, &values);
            }
            Ok(()) => {
                let ids = [input.device.as_str(), &input.household, socket];
                let agree = ids.iter().all(|id| readback::dialects_agree(id));
                let fields: Vec<Vec<(String, Result<u64, String>)>> = match series {
                    Series::Floats { .. } => values.iter().map(|v| float_fields(v)).collect(),
                    Series::Wire { readings, .. } => readings.iter().map(wire_fields).collect(),
                };
                for (fields, timestamp) in fields.into_iter().zip(timestamps) {
                    expected.push(agree.then(|| Line {
                        measurement: MEASUREMENT.to_owned(),
                        tags: vec![
                            ("device".to_owned(), input.device.clone()),
                            ("household".to_owned(), input.household.clone()),
                            ("socket".to_owned(), socket.to_owned()),
                        ],
                        fields,
                        timestamp: Some(timestamp),
                    }));
                }
            }
        }
    }
    assert_eq!(builder.point_count(), expected.len());
    let lines = readback::lines(builder.as_bytes());
    let body = String::from_utf8_lossy(builder.as_bytes());
    assert_eq!(lines.len(), expected.len(), "one line per point: {body:?}");
    for (line, expected) in lines.into_iter().zip(expected) {
        // `None`: an id the two dialects read differently (see readback).
        let Some(expected) = expected else { continue };
        let line = line.unwrap_or_else(|e| panic!("the parser refuses a line we wrote: {e}\nbody: {body:?}"));
        assert_eq!(line, expected, "body: {body:?}");
    }
});

fn float_fields(values: &[Option<f64>; 4]) -> Vec<(String, Result<u64, String>)> {
    ["watts", "energy_wh", "voltage_v", "current_a"]
        .into_iter()
        .zip(values)
        .filter_map(|(name, v)| v.map(|v| (name.to_owned(), Ok(v.to_bits()))))
        .collect()
}

fn wire_fields(r: &IntegerReading) -> Vec<(String, Result<u64, String>)> {
    [
        ("watts", Some(r.power_dw), 1),
        ("energy_wh", r.energy_mwh, 3),
        ("voltage_v", r.voltage_dv.map(i64::from), 1),
        ("current_a", r.current_ma.map(i64::from), 3),
    ]
    .into_iter()
    .filter_map(|(name, units, decimals)| {
        units.map(|u| (name.to_owned(), Ok(readback::scaled(u, decimals))))
    })
    .collect()
}

/// A refusal must name a tag (or field) whose value really breaks the rule
/// it gives: the builder never refuses what it could write.
fn assert_refusal_is_true(
    error: &InvalidPoint,
    tags: &[(&str, &str)],
    values: &[[Option<f64>; 4]],
) {
    let tag = |name: &str| tags.iter().find(|(t, _)| *t == name).map(|(_, v)| *v);
    let holds = match *error {
        InvalidPoint::EmptyTag { tag: t } => tag(t).is_some_and(str::is_empty),
        InvalidPoint::ControlCharacter { tag: t } => {
            tag(t).is_some_and(|v| v.chars().any(char::is_control))
        }
        InvalidPoint::TrailingBackslash { tag: t } => tag(t).is_some_and(|v| v.ends_with('\\')),
        InvalidPoint::BackslashBeforeSpace { tag: t } => tag(t).is_some_and(|v| v.contains("\\ ")),
        InvalidPoint::NonFinite { .. } => values.iter().flatten().flatten().any(|v| !v.is_finite()),
    };
    assert!(
        holds,
        "refused with {error:?}, which is not true of {tags:?} {values:?}"
    );
}
