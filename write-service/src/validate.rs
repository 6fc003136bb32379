//! Pure checks that decide whether a delivery can be written, and the closed
//! set of reasons a message is dead-lettered.
//!
//! Everything here is synchronous and side-effect free so the whole table of
//! cases is unit-tested; the household lookup (async) lives in
//! [`crate::households`] and is combined with these checks in
//! [`crate::consumer`].

use std::fmt;
use std::time::Duration;

use wattline_influx::line_protocol::check_tag;
use wattline_proto::wire::{BatchView, CheckedBatch, WireReading};
use wattline_proto::{now_ms, Reading};

use crate::ids::{check_id, DeviceId};

// Every delivery on the write queue carries this routing-key prefix; the
// rest of the key is the device id (enforced by the broker's auth backend).
use wattline_proto::ROUTING_KEY_PREFIX;

/// 2000-01-01T00:00:00Z in ms: older timestamps are a broken clock, not an
/// old reading.
pub const EARLIEST_TIMESTAMP_MS: i64 = 946_684_800_000;

/// Why a message was dead-lettered. The label values of
/// `wattline_write_dead_lettered_total{reason}` and of the `x-wattline-reason`
/// header; kept small and closed on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Not a `wattline.v1` protobuf batch.
    Undecodable,
    /// The routing key is not `readings.<device id>`.
    InvalidRoutingKey,
    /// A device, household or socket id breaks the id rule.
    InvalidId,
    /// A value is not finite or is negative.
    InvalidValue,
    /// A timestamp is before 2000 or too far in the future.
    TimestampOutOfRange,
    /// The household directory does not know the device.
    UnknownDevice,
    /// InfluxDB refused the message's points (found by bisection).
    RejectedByInfluxdb,
    /// The device sent far more than its rate limit allows (see
    /// [`crate::rate_limit`]).
    RateLimited,
}

impl Reason {
    /// All reasons, for describing metrics.
    pub const ALL: [Reason; 8] = [
        Reason::Undecodable,
        Reason::InvalidRoutingKey,
        Reason::InvalidId,
        Reason::InvalidValue,
        Reason::TimestampOutOfRange,
        Reason::UnknownDevice,
        Reason::RejectedByInfluxdb,
        Reason::RateLimited,
    ];

    /// The stable code used in headers and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Undecodable => "undecodable",
            Reason::InvalidRoutingKey => "invalid_routing_key",
            Reason::InvalidId => "invalid_id",
            Reason::InvalidValue => "invalid_value",
            Reason::TimestampOutOfRange => "timestamp_out_of_range",
            Reason::UnknownDevice => "unknown_device",
            Reason::RejectedByInfluxdb => "rejected_by_influxdb",
            Reason::RateLimited => "rate_limited",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message that can never be written: the reason code plus a human detail.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub reason: Reason,
    pub detail: String,
}

impl Invalid {
    pub(crate) fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// The device a routing key names.
///
/// A key without the `readings.` prefix, or with nothing after it, is
/// `invalid_routing_key`; a device part that breaks the id rule (too long,
/// control characters) is `invalid_id`. Dots are legal inside the device id:
/// everything after the first prefix is the id.
pub fn device_from_routing_key(routing_key: &str) -> Result<DeviceId, Invalid> {
    let device = routing_key
        .strip_prefix(ROUTING_KEY_PREFIX)
        .filter(|rest| !rest.is_empty())
        .ok_or_else(|| {
            Invalid::new(
                Reason::InvalidRoutingKey,
                format!("routing key {routing_key:?} is not readings.<device id>"),
            )
        })?;
    DeviceId::parse(device)
        .map_err(|e| Invalid::new(Reason::InvalidId, format!("device id {device:?}: {e}")))
}

/// Checks that a payload is a `wattline.v1` batch; failure is
/// `undecodable` (and the payload comes back, to be dead-lettered).
pub fn decode(payload: Vec<u8>) -> Result<CheckedBatch, (Vec<u8>, Invalid)> {
    CheckedBatch::new(payload)
        .map_err(|(payload, e)| (payload, Invalid::new(Reason::Undecodable, e.to_string())))
}

/// The span of timestamps accepted at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub earliest_ms: i64,
    pub latest_ms: i64,
}

impl TimeWindow {
    /// From the year 2000 up to `now + max_clock_skew`. No lower bound
    /// relative to now: old readings (an agent back after a week offline, a
    /// CSV import of last year) are legal.
    pub fn at(now_ms: i64, max_clock_skew: Duration) -> Self {
        let skew = i64::try_from(max_clock_skew.as_millis()).unwrap_or(i64::MAX);
        Self {
            earliest_ms: EARLIEST_TIMESTAMP_MS,
            latest_ms: now_ms.saturating_add(skew),
        }
    }

    /// The window for the current wall clock.
    pub fn now(max_clock_skew: Duration) -> Self {
        Self::at(now_ms(), max_clock_skew)
    }
}

/// What a valid batch holds, for batching and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Number of readings (= points it becomes).
    pub readings: usize,
    /// The newest reading's timestamp; `None` for an empty batch.
    pub newest_ms: Option<i64>,
}

/// Checks socket ids, values and timestamps of a decoded batch. The first
/// failure decides: the whole message is dead-lettered with it.
///
/// Values arrive as integers (deciwatts, milliwatt-hours, unsigned volts and
/// amperes), so they are always finite; power and energy must not be
/// negative.
pub fn check_batch(batch: &BatchView<'_>, window: TimeWindow) -> Result<Summary, Invalid> {
    let mut newest_ms: Option<i64> = None;
    let mut readings = 0;
    for socket in batch.sockets() {
        let id = socket.id();
        check_id(id)
            .map_err(|e| Invalid::new(Reason::InvalidId, format!("socket id {id:?}: {e}")))?;
        // Legal, but line protocol cannot carry it faithfully: refused
        // rather than stored under another name.
        check_tag("socket", id)
            .map_err(|e| Invalid::new(Reason::InvalidId, format!("socket id {id:?}: {e}")))?;
        for reading in socket.readings() {
            check_reading(id, &reading, window)?;
            newest_ms =
                Some(newest_ms.map_or(reading.timestamp_ms, |n| n.max(reading.timestamp_ms)));
            readings += 1;
        }
    }
    Ok(Summary {
        readings,
        newest_ms,
    })
}

fn check_reading(socket: &str, reading: &WireReading, window: TimeWindow) -> Result<(), Invalid> {
    let negative = |field: &str, value: f64| {
        Invalid::new(
            Reason::InvalidValue,
            format!(
                "socket {socket:?} at {} ms: {field} = {value} (must be >= 0)",
                reading.timestamp_ms
            ),
        )
    };
    // Checked in wire units; reported in watts and watt-hours, the units
    // users know (converted only then: this runs for every reading).
    let in_units = || Reading::from(*reading);
    if reading.power_dw < 0 {
        return Err(negative("watts", in_units().watts));
    }
    if reading.energy_mwh.is_some_and(|e| e < 0) {
        let wh = in_units().energy_wh.unwrap_or_default();
        return Err(negative("energy_wh", wh));
    }
    let ts = reading.timestamp_ms;
    if ts < window.earliest_ms || ts > window.latest_ms {
        return Err(Invalid::new(
            Reason::TimestampOutOfRange,
            format!(
                "socket {socket:?}: timestamp {ts} ms is outside [{}, {}] (year 2000 .. now + max clock skew)",
                window.earliest_ms, window.latest_ms
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wattline_proto::{Batch, Reading, SocketSeries};

    const NOW: i64 = 1_795_000_000_000;

    fn window() -> TimeWindow {
        TimeWindow::at(NOW, Duration::from_secs(300))
    }

    fn batch_of(socket: &str, readings: Vec<Reading>) -> Batch {
        Batch {
            device_id: "ignored".into(),
            sequence: 1,
            sockets: vec![SocketSeries {
                socket_id: socket.into(),
                readings,
            }],
        }
    }

    fn reading(ts: i64, watts: f64) -> Reading {
        Reading::new(ts, watts)
    }

    #[test]
    fn routing_keys() {
        assert_eq!(
            device_from_routing_key("readings.dev-1").unwrap().as_str(),
            "dev-1"
        );
        // Dots, spaces, commas, `=` and non-ASCII belong to the device id.
        assert_eq!(
            device_from_routing_key("readings.a.b c,d=é")
                .unwrap()
                .as_str(),
            "a.b c,d=é"
        );
        for bad in [
            "",
            "readings",
            "readings.",
            "reading.x",
            "other.dev",
            "x.readings.dev",
        ] {
            let err = device_from_routing_key(bad).unwrap_err();
            assert_eq!(err.reason, Reason::InvalidRoutingKey, "{bad:?}");
        }
        let too_long = format!("readings.{}", "d".repeat(65));
        assert_eq!(
            device_from_routing_key(&too_long).unwrap_err().reason,
            Reason::InvalidId
        );
        assert_eq!(
            device_from_routing_key("readings.a\u{1}b")
                .unwrap_err()
                .reason,
            Reason::InvalidId
        );
    }

    /// The checks on a batch as it arrives: encoded, then read in place.
    fn check(batch: &Batch) -> Result<Summary, Invalid> {
        let checked = decode(batch.encode()).map_err(|(_, invalid)| invalid)?;
        check_batch(&checked.view(), window())
    }

    /// (case, batch, expected reason or None when valid). Non-finite values
    /// cannot travel: the wire carries integers (the agent validates before
    /// encoding), and voltage and current are unsigned.
    #[test]
    fn validation_table() {
        let mut with_energy = reading(NOW, 1.0);
        with_energy.energy_wh = Some(-0.001);
        let mut all_fields = reading(NOW, 0.0);
        all_fields.energy_wh = Some(0.0);
        all_fields.voltage_v = Some(230.1);
        all_fields.current_a = Some(0.0);
        let week_ms = 7 * 24 * 3_600_000;
        let year_ms = 365 * 24 * 3_600_000;
        let cases: Vec<(&str, Batch, Option<Reason>)> = vec![
            ("ok", batch_of("s", vec![reading(NOW, 85.3)]), None),
            ("zero watts", batch_of("s", vec![all_fields]), None),
            (
                "a week old",
                batch_of("s", vec![reading(NOW - week_ms, 1.0)]),
                None,
            ),
            (
                "a year old",
                batch_of("s", vec![reading(NOW - year_ms, 1.0)]),
                None,
            ),
            (
                "at the floor",
                batch_of("s", vec![reading(EARLIEST_TIMESTAMP_MS, 1.0)]),
                None,
            ),
            (
                "skew edge",
                batch_of("s", vec![reading(NOW + 300_000, 1.0)]),
                None,
            ),
            (
                "awkward socket",
                batch_of("Küche, \"=\" x", vec![reading(NOW, 1.0)]),
                None,
            ),
            (
                "negative watts",
                batch_of("s", vec![reading(NOW, -0.1)]),
                Some(Reason::InvalidValue),
            ),
            (
                "negative energy",
                batch_of("s", vec![with_energy]),
                Some(Reason::InvalidValue),
            ),
            (
                "future",
                batch_of("s", vec![reading(NOW + 3_600_000, 1.0)]),
                Some(Reason::TimestampOutOfRange),
            ),
            (
                "just past skew",
                batch_of("s", vec![reading(NOW + 300_001, 1.0)]),
                Some(Reason::TimestampOutOfRange),
            ),
            (
                "1999",
                batch_of("s", vec![reading(EARLIEST_TIMESTAMP_MS - 1, 1.0)]),
                Some(Reason::TimestampOutOfRange),
            ),
            (
                "zero time",
                batch_of("s", vec![reading(0, 1.0)]),
                Some(Reason::TimestampOutOfRange),
            ),
            (
                "empty socket id",
                batch_of("", vec![reading(NOW, 1.0)]),
                Some(Reason::InvalidId),
            ),
            (
                "control char socket",
                batch_of("a\tb", vec![reading(NOW, 1.0)]),
                Some(Reason::InvalidId),
            ),
            (
                "65-char socket",
                batch_of(&"s".repeat(65), vec![reading(NOW, 1.0)]),
                Some(Reason::InvalidId),
            ),
            // One bad reading among good ones fails the whole message.
            (
                "bad among good",
                batch_of(
                    "s",
                    vec![
                        reading(NOW, 1.0),
                        reading(NOW + 1, -5.0),
                        reading(NOW + 2, 1.0),
                    ],
                ),
                Some(Reason::InvalidValue),
            ),
        ];
        for (case, batch, expected) in cases {
            let got = check(&batch).err().map(|e| e.reason);
            assert_eq!(got, expected, "{case}");
        }
    }

    #[test]
    fn summary_counts_readings_and_finds_the_newest() {
        let mut batch = batch_of("a", vec![reading(NOW - 10, 1.0), reading(NOW - 30, 1.0)]);
        batch.sockets.push(SocketSeries {
            socket_id: "b".into(),
            readings: vec![reading(NOW - 5, 2.0)],
        });
        let summary = check(&batch).unwrap();
        assert_eq!(
            summary,
            Summary {
                readings: 3,
                newest_ms: Some(NOW - 5)
            }
        );
        let empty = Batch {
            device_id: String::new(),
            sequence: 0,
            sockets: vec![],
        };
        assert_eq!(
            check(&empty).unwrap(),
            Summary {
                readings: 0,
                newest_ms: None
            }
        );
    }

    #[test]
    fn garbage_is_undecodable() {
        assert_eq!(
            decode(b"\xff\xfe not protobuf".to_vec())
                .unwrap_err()
                .1
                .reason,
            Reason::Undecodable
        );
    }

    #[test]
    fn reason_codes_are_stable() {
        let codes: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            codes,
            [
                "undecodable",
                "invalid_routing_key",
                "invalid_id",
                "invalid_value",
                "timestamp_out_of_range",
                "unknown_device",
                "rejected_by_influxdb",
                "rate_limited"
            ]
        );
    }
}
