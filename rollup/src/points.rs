//! Rollup points as InfluxDB line protocol.
//!
//! `wattline_influx`'s builder writes the raw `power` schema only (fixed
//! fields, no integers), so rollup lines are built here, with its tag check
//! ([`check_tag`]) and the same escaping rules (see `wattline_influx::line_protocol`):
//!
//! ```text
//! power,device=D,household=H,socket=S watts=85.5,watts_max=91.0,energy_wh=1.4,energy_total_wh=1234.5,samples=6i 1795392000000
//! household,household=H watts=310.2,energy_wh=5.1 1795392000000
//! ```

use wattline_influx::line_protocol::check_tag;
use wattline_influx::InvalidPoint;

use crate::buckets::{Bucket, HouseholdBucket};
use crate::schema::{field, HOUSEHOLD_MEASUREMENT, SOCKET_MEASUREMENT};

/// The tags of one socket's series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// Tag `household`.
    pub household: String,
    /// Tag `device`.
    pub device: String,
    /// Tag `socket`.
    pub socket: String,
}

impl SeriesKey {
    /// Whether every tag can be written back faithfully.
    pub fn check(&self) -> Result<(), InvalidPoint> {
        check_tag("device", &self.device)?;
        check_tag("household", &self.household)?;
        check_tag("socket", &self.socket)
    }
}

/// Line protocol for one retention policy's rollup points, in a reused buffer.
#[derive(Debug, Default)]
pub struct RollupLines {
    buf: Vec<u8>,
    points: usize,
}

impl RollupLines {
    /// Appends one point per bucket of a socket. The key must have passed
    /// [`SeriesKey::check`].
    pub fn push_socket(&mut self, key: &SeriesKey, buckets: &[Bucket]) {
        let buf = &mut self.buf;
        for b in buckets {
            buf.extend_from_slice(SOCKET_MEASUREMENT.as_bytes());
            for (tag, value) in [
                ("device", &key.device),
                ("household", &key.household),
                ("socket", &key.socket),
            ] {
                buf.push(b',');
                buf.extend_from_slice(tag.as_bytes());
                buf.push(b'=');
                escape_tag(buf, value);
            }
            push_float(buf, b' ', field::WATTS, b.watts_mean());
            push_float(buf, b',', field::WATTS_MAX, b.watts_max);
            push_float(buf, b',', field::ENERGY_WH, b.energy_wh);
            if let Some(total) = b.energy_total_wh {
                push_float(buf, b',', field::ENERGY_TOTAL_WH, total);
            }
            buf.push(b',');
            buf.extend_from_slice(field::SAMPLES.as_bytes());
            buf.push(b'=');
            buf.extend_from_slice(itoa::Buffer::new().format(b.samples).as_bytes());
            buf.push(b'i');
            push_time(buf, b.start_ms);
        }
        self.points += buckets.len();
    }

    /// Appends one household point. The household must have passed [`check_tag`].
    pub fn push_household(&mut self, household: &str, start_ms: i64, b: &HouseholdBucket) {
        let buf = &mut self.buf;
        buf.extend_from_slice(HOUSEHOLD_MEASUREMENT.as_bytes());
        buf.extend_from_slice(b",household=");
        escape_tag(buf, household);
        push_float(buf, b' ', field::WATTS, b.watts);
        push_float(buf, b',', field::ENERGY_WH, b.energy_wh);
        push_time(buf, start_ms);
        self.points += 1;
    }

    /// Points appended since the last [`clear`](Self::clear).
    pub fn point_count(&self) -> usize {
        self.points
    }

    /// The body to write.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Empties the buffer, keeping its capacity.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.points = 0;
    }
}

/// `<sep>key=value` with the shortest float text that reads back the same.
/// Rollup values come from finite readings; a non-finite one (only from
/// absurd inputs such as 1e308 W summed) is written as 0 rather than
/// producing a line InfluxDB rejects with the whole body.
fn push_float(buf: &mut Vec<u8>, separator: u8, key: &str, value: f64) {
    buf.push(separator);
    buf.extend_from_slice(key.as_bytes());
    buf.push(b'=');
    let value = if value.is_finite() { value } else { 0.0 };
    buf.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
}

fn push_time(buf: &mut Vec<u8>, time_ms: i64) {
    buf.push(b' ');
    buf.extend_from_slice(itoa::Buffer::new().format(time_ms).as_bytes());
    buf.push(b'\n');
}

/// `,`, `=` and space get a backslash; backslashes stay (InfluxDB 1.x does
/// not unescape them in tags).
fn escape_tag(buf: &mut Vec<u8>, value: &str) {
    for &b in value.as_bytes() {
        if matches!(b, b',' | b'=' | b' ') {
            buf.push(b'\\');
        }
        buf.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_and_household_lines() {
        let key = SeriesKey {
            household: "h 1".into(),
            device: "d,1".into(),
            socket: "s=1".into(),
        };
        let bucket = Bucket {
            start_ms: 1_795_392_000_000,
            watts_sum: 171.0,
            watts_max: 91.0,
            samples: 2,
            energy_wh: 1.5,
            energy_total_wh: Some(1234.5),
        };
        let mut lines = RollupLines::default();
        lines.push_socket(&key, &[bucket]);
        lines.push_socket(
            &key,
            &[Bucket {
                energy_total_wh: None,
                ..bucket
            }],
        );
        lines.push_household(
            "h 1",
            1_795_392_000_000,
            &HouseholdBucket {
                watts: 10.0,
                energy_wh: 0.25,
            },
        );
        assert_eq!(lines.point_count(), 3);
        assert_eq!(
            String::from_utf8_lossy(lines.as_bytes()),
            "power,device=d\\,1,household=h\\ 1,socket=s\\=1 watts=85.5,watts_max=91.0,\
             energy_wh=1.5,energy_total_wh=1234.5,samples=2i 1795392000000\n\
             power,device=d\\,1,household=h\\ 1,socket=s\\=1 watts=85.5,watts_max=91.0,\
             energy_wh=1.5,samples=2i 1795392000000\n\
             household,household=h\\ 1 watts=10.0,energy_wh=0.25 1795392000000\n"
        );
        lines.clear();
        assert_eq!(lines.point_count(), 0);
        assert!(lines.as_bytes().is_empty());
    }

    #[test]
    fn unrepresentable_keys_are_refused() {
        let key = SeriesKey {
            household: "h".into(),
            device: "d".into(),
            socket: "ends\\".into(),
        };
        assert!(key.check().is_err());
        let key = SeriesKey {
            household: String::new(),
            device: "d".into(),
            socket: "s".into(),
        };
        assert!(key.check().is_err());
    }
}
