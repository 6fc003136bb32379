//! Hand-built InfluxDB line protocol for the `power` measurement.
//!
//! One line per point, appended to a buffer that is reused across batches (no allocation per
//! point):
//!
//! ```text
//! power,device=D,household=H,socket=S watts=85.3,energy_wh=123456.047 1795000000000
//! ```
//!
//! Tags are written sorted by key (device, household, socket), as InfluxDB prefers. Timestamps
//! are milliseconds: write with `precision=ms`.
//!
//! Escaping, as InfluxDB 1.6 actually parses it (checked against the real server):
//! - in tag values (and tag/field keys), `,`, `=` and space get a backslash in front;
//! - a backslash is literal and is written as is: InfluxDB 1.x does not unescape `\\` in tags,
//!   so doubling it would store two backslashes. A backslash followed by a special character
//!   round-trips (`a\,b` is written `a\\,b` and read back `a\,b`);
//! - a tag value that ENDS with a backslash cannot be represented: its backslash would escape
//!   the separator that follows. [`LineProtocolBuilder::push`] refuses it
//!   ([`InvalidPoint::TrailingBackslash`]) rather than write something that reads back
//!   differently (or makes InfluxDB reject the whole body);
//! - a tag value with a backslash directly before a space is refused too
//!   ([`InvalidPoint::BackslashBeforeSpace`]). It must be written `\\ `, which the tag parser
//!   reads back correctly, but InfluxDB 1.x first splits the body into lines with a different
//!   rule (a backslash escapes the next byte, so `\\` pairs up and the space looks like the
//!   start of the fields); a later `=` and `"` in the tags then open a "string" that swallows
//!   the newline, and the whole body is rejected. Found by the real-server property test;
//!   refusing the id is simpler than tracking that splitter's state;
//! - control characters (a newline would end the line) and empty values are refused too.
//!
//! Floats are written with `ryu` (shortest text that round-trips); InfluxDB 1.6 accepts its
//! exponent forms (`1e20`, `1e-7`). Non-finite values cannot be written in line protocol:
//! callers validate readings before building (the write service treats them as poison); the
//! builder also refuses them ([`InvalidPoint::NonFinite`]) and `debug_assert`s in debug builds.

use std::fmt;

use wattline_proto::wire::WireReading;
use wattline_proto::Reading;

/// The measurement every Wattline point goes to (see the storage schema in DESIGN.md).
pub const MEASUREMENT: &str = "power";

/// One point of the `power` measurement (schema in DESIGN.md: tags household, device,
/// socket; fields watts, energy_wh, voltage_v, current_a; ms timestamps).
#[derive(Debug, Clone, Copy)]
pub struct PowerPoint<'a> {
    /// Household id (tag `household`).
    pub household: &'a str,
    /// Device id (tag `device`).
    pub device: &'a str,
    /// Socket id on the device (tag `socket`).
    pub socket: &'a str,
    /// Unix time in milliseconds.
    pub timestamp_ms: i64,
    /// Instantaneous power in W (field `watts`); must be finite.
    pub watts: f64,
    /// Cumulative energy in Wh (field `energy_wh`), if the socket reports it.
    pub energy_wh: Option<f64>,
    /// Voltage in V (field `voltage_v`), if reported.
    pub voltage_v: Option<f64>,
    /// Current in A (field `current_a`), if reported.
    pub current_a: Option<f64>,
}

/// The tags of one socket's series: what every point of the series shares.
#[derive(Debug, Clone, Copy)]
pub struct SeriesTags<'a> {
    /// Household id (tag `household`).
    pub household: &'a str,
    /// Device id (tag `device`).
    pub device: &'a str,
    /// Socket id on the device (tag `socket`).
    pub socket: &'a str,
}

impl SeriesTags<'_> {
    fn check(&self) -> Result<(), InvalidPoint> {
        check_tag("device", self.device)?;
        check_tag("household", self.household)?;
        check_tag("socket", self.socket)
    }
}

/// The escaped start of every series key of one device's sockets,
/// `power,device=D,household=H,socket=`: checked and escaped once per message
/// instead of once per socket (a household's minute batch has 30 sockets of one
/// reading each, so per-series work is per-point work there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKey {
    prefix: Vec<u8>,
}

impl DeviceKey {
    /// Checks and escapes the device's tags.
    pub fn new(household: &str, device: &str) -> Result<Self, InvalidPoint> {
        check_tag("device", device)?;
        check_tag("household", household)?;
        let mut prefix = Vec::with_capacity(40 + device.len() + household.len());
        push_device_prefix(&mut prefix, household, device);
        Ok(Self { prefix })
    }
}

/// Why a point cannot be written as line protocol. The builder's buffer is left unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPoint {
    /// A tag value is empty; InfluxDB rejects empty tag values.
    #[error("tag `{tag}` is empty")]
    EmptyTag {
        /// Tag key.
        tag: &'static str,
    },
    /// A tag value holds a control character (a newline would end the line).
    #[error("tag `{tag}` contains a control character")]
    ControlCharacter {
        /// Tag key.
        tag: &'static str,
    },
    /// A tag value ends with a backslash, which InfluxDB line protocol cannot represent:
    /// the backslash escapes the separator after it.
    #[error("tag `{tag}` ends with a backslash, which line protocol cannot represent")]
    TrailingBackslash {
        /// Tag key.
        tag: &'static str,
    },
    /// A tag value has a backslash directly before a space. InfluxDB 1.x's line splitter reads
    /// the escaped form (`\\ `) differently from its tag parser, and with a `=` and `"`
    /// later in the tags it merges lines, so the whole body is rejected.
    #[error("tag `{tag}` has a backslash before a space, which InfluxDB 1.x misreads")]
    BackslashBeforeSpace {
        /// Tag key.
        tag: &'static str,
    },
    /// A field is NaN or infinite; line protocol has no such values.
    #[error("field `{field}` is not finite")]
    NonFinite {
        /// Field key.
        field: &'static str,
    },
}

/// Builds line protocol for many points into one reused buffer.
#[derive(Debug, Default)]
pub struct LineProtocolBuilder {
    buf: Vec<u8>,
    points: usize,
    ryu: RyuBuffer,
}

/// `ryu::Buffer` is not `Debug`; wrap it so the builder can be.
#[derive(Default)]
struct RyuBuffer(ryu::Buffer);

impl fmt::Debug for RyuBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ryu::Buffer")
    }
}

impl LineProtocolBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty builder with room for `bytes` bytes of line protocol (about 100 per point).
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
            ..Self::default()
        }
    }

    /// Appends one line (with its trailing `\n`) for `point`.
    ///
    /// Refuses points that cannot be written faithfully (see the module docs); then nothing is
    /// appended and the builder stays usable.
    pub fn push(&mut self, point: &PowerPoint<'_>) -> Result<(), InvalidPoint> {
        let tags = SeriesTags {
            household: point.household,
            device: point.device,
            socket: point.socket,
        };
        let reading = Reading {
            timestamp_ms: point.timestamp_ms,
            watts: point.watts,
            energy_wh: point.energy_wh,
            voltage_v: point.voltage_v,
            current_a: point.current_a,
        };
        self.push_series(tags, std::slice::from_ref(&reading))
    }

    /// Appends one line per reading of one socket's series.
    ///
    /// The tags are checked and escaped once for the whole series and the escaped series key
    /// is copied for each further line: per point, only the fields are formatted. Refuses a
    /// series whose tags or any of whose values cannot be written faithfully; then nothing of
    /// it is appended and the builder stays usable.
    pub fn push_series(
        &mut self,
        tags: SeriesTags<'_>,
        readings: &[Reading],
    ) -> Result<(), InvalidPoint> {
        if readings.is_empty() {
            return Ok(());
        }
        tags.check()?;
        readings.iter().try_for_each(check_fields)?;
        let key = self.buf.len();
        push_device_prefix(&mut self.buf, tags.household, tags.device);
        escape_tag(&mut self.buf, tags.socket);
        let key = key..self.buf.len();
        let ryu = &mut self.ryu.0;
        self.points += push_lines(&mut self.buf, key, readings, |buf, reading| {
            buf.extend_from_slice(b" watts=");
            buf.extend_from_slice(ryu.format_finite(reading.watts).as_bytes());
            for (name, value) in [
                (&b",energy_wh="[..], reading.energy_wh),
                (&b",voltage_v="[..], reading.voltage_v),
                (&b",current_a="[..], reading.current_a),
            ] {
                if let Some(value) = value {
                    buf.extend_from_slice(name);
                    buf.extend_from_slice(ryu.format_finite(value).as_bytes());
                }
            }
            reading.timestamp_ms
        });
        Ok(())
    }

    /// Appends one line per reading of one socket of the device `key`, from
    /// the wire's integer units (the write service's path).
    ///
    /// Values are written as exact decimals (deciwatts 1234 → `123.4`), which
    /// InfluxDB parses to the same float as [`Reading`]'s `1234 / 10.0` (for
    /// magnitudes below 2^53 units): no float formatting at all. Refuses a
    /// socket id that cannot be written faithfully; then nothing is appended.
    pub fn push_wire_series(
        &mut self,
        key: &DeviceKey,
        socket: &str,
        readings: impl IntoIterator<Item = WireReading>,
    ) -> Result<(), InvalidPoint> {
        check_tag("socket", socket)?;
        let start = self.buf.len();
        self.buf.extend_from_slice(&key.prefix);
        escape_tag(&mut self.buf, socket);
        let key = start..self.buf.len();
        let pushed = push_lines(&mut self.buf, key, readings, |buf, reading| {
            buf.extend_from_slice(b" watts=");
            push_decimal(buf, reading.power_dw, 1);
            if let Some(energy) = reading.energy_mwh {
                buf.extend_from_slice(b",energy_wh=");
                push_decimal(buf, energy, 3);
            }
            if let Some(voltage) = reading.voltage_dv {
                buf.extend_from_slice(b",voltage_v=");
                push_decimal(buf, voltage.into(), 1);
            }
            if let Some(current) = reading.current_ma {
                buf.extend_from_slice(b",current_a=");
                push_decimal(buf, current.into(), 3);
            }
            reading.timestamp_ms
        });
        if pushed == 0 {
            // No readings: no line, not even the key.
            self.buf.truncate(start);
        }
        self.points += pushed;
        Ok(())
    }

    /// Number of points pushed since the last [`clear`](Self::clear).
    pub fn point_count(&self) -> usize {
        self.points
    }

    /// Size of the body in bytes.
    pub fn len_bytes(&self) -> usize {
        self.buf.len()
    }

    /// True when no point has been pushed.
    pub fn is_empty(&self) -> bool {
        self.points == 0
    }

    /// The line-protocol body, ready for [`InfluxWriter::write`](crate::InfluxWriter::write).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Empties the builder, keeping its capacity for the next batch.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.points = 0;
    }
}

/// Appends `power,device=D,household=H,socket=`, escaped: every series key
/// up to the socket id. Tags are sorted by key: InfluxDB sorts them anyway,
/// so sorted input saves it the work.
fn push_device_prefix(buf: &mut Vec<u8>, household: &str, device: &str) {
    buf.extend_from_slice(MEASUREMENT.as_bytes());
    buf.extend_from_slice(b",device=");
    escape_tag(buf, device);
    buf.extend_from_slice(b",household=");
    escape_tag(buf, household);
    buf.extend_from_slice(b",socket=");
}

/// Writes one line per item: the series key (already at `key` in `buf`, and
/// copied for every further line), the fields `fields` writes (it returns
/// the timestamp), the timestamp. Returns the number of lines.
fn push_lines<T>(
    buf: &mut Vec<u8>,
    key: std::ops::Range<usize>,
    items: impl IntoIterator<Item = T>,
    mut fields: impl FnMut(&mut Vec<u8>, T) -> i64,
) -> usize {
    let mut lines = 0;
    let mut timestamp = itoa::Buffer::new();
    for item in items {
        if lines > 0 {
            buf.extend_from_within(key.clone());
        }
        let timestamp_ms = fields(buf, item);
        buf.push(b' ');
        buf.extend_from_slice(timestamp.format(timestamp_ms).as_bytes());
        buf.push(b'\n');
        lines += 1;
    }
    lines
}

/// Writes `value / 10^decimals` as an exact decimal with at least one digit
/// after the point and no trailing zeros beyond it (`1234`, 1 → `123.4`;
/// `123456000`, 3 → `123456.0`; `47`, 3 → `0.047`).
fn push_decimal(buf: &mut Vec<u8>, value: i64, decimals: u32) {
    let scale = 10u64.pow(decimals);
    if value < 0 {
        buf.push(b'-');
    }
    let magnitude = value.unsigned_abs();
    buf.extend_from_slice(itoa::Buffer::new().format(magnitude / scale).as_bytes());
    buf.push(b'.');
    let mut fraction = magnitude % scale;
    let mut digits = decimals;
    while digits > 1 && fraction.is_multiple_of(10) {
        fraction /= 10;
        digits -= 1;
    }
    let mut text = itoa::Buffer::new();
    let text = text.format(fraction).as_bytes();
    // Leading zeros of the fraction (47 thousandths is `047`).
    buf.resize(
        buf.len() + (digits as usize).saturating_sub(text.len()),
        b'0',
    );
    buf.extend_from_slice(text);
}

fn check_fields(reading: &Reading) -> Result<(), InvalidPoint> {
    for (field, value) in [
        ("watts", Some(reading.watts)),
        ("energy_wh", reading.energy_wh),
        ("voltage_v", reading.voltage_v),
        ("current_a", reading.current_a),
    ] {
        if let Some(value) = value {
            debug_assert!(value.is_finite(), "callers must validate {field}: {value}");
            if !value.is_finite() {
                return Err(InvalidPoint::NonFinite { field });
            }
        }
    }
    Ok(())
}

/// Checks that a tag value can be written so that it reads back identically.
///
/// One pass over the bytes (it runs for every series of every message): a
/// control character is a byte below 0x20, 0x7F, or U+0080–U+009F (`C2 80`
/// to `C2 9F` in UTF-8), exactly `char::is_control`.
pub fn check_tag(tag: &'static str, value: &str) -> Result<(), InvalidPoint> {
    let bytes = value.as_bytes();
    let Some(&last) = bytes.last() else {
        return Err(InvalidPoint::EmptyTag { tag });
    };
    // Reported in this order of precedence: control, trailing, before a space.
    let mut backslash_before_space = false;
    for (i, &b) in bytes.iter().enumerate() {
        let next = bytes.get(i + 1).copied();
        let control = b < 0x20 || b == 0x7f || (b == 0xc2 && matches!(next, Some(0x80..=0x9f)));
        if control {
            return Err(InvalidPoint::ControlCharacter { tag });
        }
        backslash_before_space |= b == b'\\' && next == Some(b' ');
    }
    if last == b'\\' {
        return Err(InvalidPoint::TrailingBackslash { tag });
    }
    if backslash_before_space {
        return Err(InvalidPoint::BackslashBeforeSpace { tag });
    }
    Ok(())
}

/// Appends a tag key or value with `,`, `=` and space backslash-escaped. Backslashes stay as
/// they are (InfluxDB 1.x does not unescape `\\` in tags; see the module docs).
fn escape_tag(buf: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    // Fast path: most ids need no escaping at all.
    if !bytes.iter().any(|b| matches!(b, b',' | b'=' | b' ')) {
        buf.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
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
    fn the_byte_level_control_check_is_char_is_control() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let text = format!("a{c}b");
            let refused = matches!(
                check_tag("t", &text),
                Err(InvalidPoint::ControlCharacter { .. })
            );
            assert_eq!(refused, c.is_control(), "U+{:04X}", u32::from(c));
        }
    }

    fn point<'a>(device: &'a str, watts: f64) -> PowerPoint<'a> {
        PowerPoint {
            household: "h1",
            device,
            socket: "s1",
            timestamp_ms: 1_795_000_000_000,
            watts,
            energy_wh: None,
            voltage_v: None,
            current_a: None,
        }
    }

    fn line(p: &PowerPoint<'_>) -> String {
        let mut b = LineProtocolBuilder::new();
        b.push(p).expect("valid point");
        String::from_utf8(b.as_bytes().to_vec()).expect("utf8")
    }

    #[test]
    fn full_line_with_sorted_tags_and_all_fields() {
        let p = PowerPoint {
            household: "H",
            device: "D",
            socket: "S",
            timestamp_ms: 1_795_000_000_000,
            watts: 85.3,
            energy_wh: Some(123_456.047),
            voltage_v: Some(230.1),
            current_a: Some(0.37),
        };
        assert_eq!(
            line(&p),
            "power,device=D,household=H,socket=S watts=85.3,energy_wh=123456.047,\
             voltage_v=230.1,current_a=0.37 1795000000000\n"
        );
    }

    /// `point` with `id` in tag position 0 (device), 1 (household) or 2 (socket), and the
    /// key of that tag.
    fn point_with_tag<'a>(position: usize, id: &'a str) -> (PowerPoint<'a>, &'static str) {
        let mut p = point("d1", 1.0);
        let tag = match position {
            0 => {
                p.device = id;
                "device"
            }
            1 => {
                p.household = id;
                "household"
            }
            _ => {
                p.socket = id;
                "socket"
            }
        };
        (p, tag)
    }

    #[test]
    fn measurement_and_keys_need_no_escaping() {
        // The measurement and the tag/field keys are written verbatim; this pins that they
        // hold nothing line protocol would need escaped, should anyone rename them.
        let line = line(&PowerPoint {
            energy_wh: Some(1.0),
            voltage_v: Some(1.0),
            current_a: Some(1.0),
            ..point("d", 1.0)
        });
        let names = [
            MEASUREMENT,
            "device",
            "household",
            "socket",
            "watts",
            "energy_wh",
            "voltage_v",
            "current_a",
        ];
        for name in names {
            assert!(line.contains(name), "{name} missing from {line}");
            assert!(
                name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "{name:?} would need escaping"
            );
        }
    }

    #[test]
    fn escaping_table() {
        let cases = [
            ("plain", "plain"),
            ("a b", r"a\ b"),
            ("a,b", r"a\,b"),
            ("a=b", r"a\=b"),
            (r#"a"b'c"#, r#"a"b'c"#),
            (r"a\b", r"a\b"),
            (r"a\,b", r"a\\,b"),
            (r"\\x", r"\\x"),
            (r"a\=b", r"a\\=b"),
            (r"a\\,b", r"a\\\,b"),
            (r#""quoted""#, r#""quoted""#),
            ("küche ☃", r"küche\ ☃"),
            ("日本 😀", r"日本\ 😀"),
            (", =", r"\,\ \="),
            (" lead=trail ", r"\ lead\=trail\ "),
        ];
        for position in 0..3 {
            for (id, escaped) in cases {
                let (p, _) = point_with_tag(position, id);
                let tags = match position {
                    0 => format!("device={escaped},household=h1,socket=s1"),
                    1 => format!("device=d1,household={escaped},socket=s1"),
                    _ => format!("device=d1,household=h1,socket={escaped}"),
                };
                let want = format!("power,{tags} watts=1.0 1795000000000\n");
                assert_eq!(line(&p), want, "id {id:?} at tag position {position}");
            }
        }
    }

    /// Builds the expected error for a tag key.
    type TagError = fn(&'static str) -> InvalidPoint;

    #[test]
    fn refuses_unrepresentable_tags_in_every_position() {
        for position in 0..3 {
            let cases: [(&str, TagError); 9] = [
                ("", |tag| InvalidPoint::EmptyTag { tag }),
                ("a\nb", |tag| InvalidPoint::ControlCharacter { tag }),
                ("a\rb", |tag| InvalidPoint::ControlCharacter { tag }),
                ("a\tb", |tag| InvalidPoint::ControlCharacter { tag }),
                ("a\0b", |tag| InvalidPoint::ControlCharacter { tag }),
                ("a\u{7f}b", |tag| InvalidPoint::ControlCharacter { tag }),
                (r"ends\", |tag| InvalidPoint::TrailingBackslash { tag }),
                (r"a\ b", |tag| InvalidPoint::BackslashBeforeSpace { tag }),
                (r"a\\ b", |tag| InvalidPoint::BackslashBeforeSpace { tag }),
            ];
            for (id, error) in cases {
                let (p, tag) = point_with_tag(position, id);
                assert_eq!(
                    LineProtocolBuilder::new().push(&p),
                    Err(error(tag)),
                    "id {id:?} as {tag}"
                );
                assert_eq!(check_tag(tag, id), Err(error(tag)));
            }
        }
    }

    #[test]
    fn refuses_unrepresentable_tags_and_leaves_buffer_alone() {
        let mut b = LineProtocolBuilder::new();
        b.push(&point("ok", 1.0)).expect("valid");
        let before = b.as_bytes().to_vec();
        assert_eq!(
            b.push(&point(r"ends\", 1.0)),
            Err(InvalidPoint::TrailingBackslash { tag: "device" })
        );
        assert_eq!(
            b.push(&point("a\nb", 1.0)),
            Err(InvalidPoint::ControlCharacter { tag: "device" })
        );
        assert_eq!(
            b.push(&point("", 1.0)),
            Err(InvalidPoint::EmptyTag { tag: "device" })
        );
        assert_eq!(b.as_bytes(), &before[..]);
        assert_eq!(b.point_count(), 1);
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn refuses_non_finite_in_release() {
        let mut b = LineProtocolBuilder::new();
        assert_eq!(
            b.push(&point("d", f64::NAN)),
            Err(InvalidPoint::NonFinite { field: "watts" })
        );
        assert!(b.is_empty());
    }

    #[test]
    #[should_panic(expected = "callers must validate")]
    #[cfg(debug_assertions)]
    fn non_finite_is_a_bug_in_debug() {
        let _ = LineProtocolBuilder::new().push(&point("d", f64::INFINITY));
    }

    #[test]
    fn float_formatting() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1e-7, "1e-7"),
            (123_456.047, "123456.047"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e16"),
            (1e20, "1e20"),
            (-42.5, "-42.5"),
            (85.0, "85.0"),
        ];
        for (value, text) in cases {
            let got = line(&point("d", value));
            assert!(got.contains(&format!(" watts={text} ")), "{value}: {got}");
            // Shortest repr must still parse back to the same f64.
            assert_eq!(text.parse::<f64>().ok(), Some(value));
        }
    }

    #[test]
    fn negative_and_zero_timestamps_and_clear_keeps_capacity() {
        let mut b = LineProtocolBuilder::with_capacity(16);
        let mut p = point("d", 1.0);
        p.timestamp_ms = -5;
        b.push(&p).expect("valid");
        assert!(b.as_bytes().ends_with(b" -5\n"));
        assert_eq!(b.point_count(), 1);
        assert_eq!(b.len_bytes(), b.as_bytes().len());
        let cap = b.buf.capacity();
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.len_bytes(), 0);
        assert_eq!(b.buf.capacity(), cap);
    }

    #[test]
    fn a_series_is_the_same_lines_as_its_points_one_by_one() {
        let tags = SeriesTags {
            household: "h 1",
            device: "d,1",
            socket: "s=1",
        };
        let readings = [
            Reading::new(1_795_000_000_000, 1.5),
            Reading {
                energy_wh: Some(2.25),
                ..Reading::new(1_795_000_001_000, 0.0)
            },
        ];
        let mut by_series = LineProtocolBuilder::new();
        by_series.push_series(tags, &readings).expect("valid");
        let mut by_point = LineProtocolBuilder::new();
        for r in &readings {
            let point = PowerPoint {
                household: tags.household,
                device: tags.device,
                socket: tags.socket,
                timestamp_ms: r.timestamp_ms,
                watts: r.watts,
                energy_wh: r.energy_wh,
                voltage_v: r.voltage_v,
                current_a: r.current_a,
            };
            by_point.push(&point).expect("valid");
        }
        assert_eq!(by_series.as_bytes(), by_point.as_bytes());
        assert_eq!(by_series.point_count(), 2);
    }
}
