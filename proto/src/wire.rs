//! A zero-copy reader of `wattline.v1` batches, for the write service's hot
//! path.
//!
//! [`Batch::decode`](crate::Batch::decode) gives owned, convenient values,
//! but a household's minute batch is 30 sockets of one reading each, and
//! decoding it into owned form costs ~150 small allocations (prost's string
//! and column vectors per socket, then our reading vectors): under load that
//! was ~45 % of the write service's CPU. [`BatchView`] borrows the payload
//! instead: [`BatchView::parse`] checks the whole message once (framing,
//! UTF-8 ids, column lengths, delta sums) without allocating, and
//! [`BatchView::sockets`] / [`SocketView::readings`] then walk it again,
//! yielding [`WireReading`]s in the wire's integer units.
//!
//! It is written by hand, on purpose, for speed; prost stays the encoder and
//! is the oracle the tests compare this reader against (same verdict and
//! same values on valid, mutated and random payloads). Like prost it accepts
//! repeated columns packed or unpacked and split over several fields, takes
//! the last value of a singular field, and skips unknown fields (groups
//! included).

use crate::{DecodeError, Reading, DECI, MILLI};

/// One reading as the wire carries it: integer units, absolute values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireReading {
    /// Unix time in milliseconds.
    pub timestamp_ms: i64,
    /// Active power in deciwatts (0.1 W).
    pub power_dw: i64,
    /// Cumulative energy counter in milliwatt-hours, if the socket has one.
    pub energy_mwh: Option<i64>,
    /// RMS voltage in decivolts, if measured.
    pub voltage_dv: Option<u32>,
    /// RMS current in milliamperes, if measured.
    pub current_ma: Option<u32>,
}

impl From<WireReading> for Reading {
    fn from(r: WireReading) -> Self {
        Reading {
            timestamp_ms: r.timestamp_ms,
            watts: r.power_dw as f64 / DECI,
            energy_wh: r.energy_mwh.map(|e| e as f64 / MILLI),
            voltage_v: r.voltage_dv.map(|v| f64::from(v) / DECI),
            current_a: r.current_ma.map(|c| f64::from(c) / MILLI),
        }
    }
}

// Field numbers of readings.proto.
const BATCH_DEVICE_ID: u32 = 1;
const BATCH_SEQUENCE: u32 = 2;
const BATCH_BASE_TIMESTAMP: u32 = 3;
const BATCH_SOCKETS: u32 = 4;
const SOCKET_ID: u32 = 1;
const TIMESTAMP_DELTA: u32 = 2;
const POWER_DELTA: u32 = 3;
const ENERGY_DELTA: u32 = 4;
const VOLTAGE: u32 = 5;
const CURRENT: u32 = 6;

/// The column names used in errors, as in readings.proto.
const COLUMNS: [(u32, &str); 5] = [
    (TIMESTAMP_DELTA, "timestamp_delta_ms"),
    (POWER_DELTA, "power_delta_dw"),
    (ENERGY_DELTA, "energy_delta_mwh"),
    (VOLTAGE, "voltage_dv"),
    (CURRENT, "current_ma"),
];

/// Protobuf wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// How deep groups may nest in unknown fields (prost's recursion limit).
const MAX_DEPTH: u32 = 100;

/// A checked `wattline.v1` batch, borrowed from its payload.
#[derive(Debug, Clone, Copy)]
pub struct BatchView<'a> {
    payload: &'a [u8],
    device_id: &'a str,
    sequence: u64,
    base_timestamp_ms: i64,
    readings: usize,
}

impl<'a> BatchView<'a> {
    /// Checks `payload` completely: after this, iterating it cannot fail.
    pub fn parse(payload: &'a [u8]) -> Result<Self, DecodeError> {
        let mut view = BatchView {
            payload,
            device_id: "",
            sequence: 0,
            base_timestamp_ms: 0,
            readings: 0,
        };
        let mut fields = Fields::new(payload);
        while let Some(field) = fields.next_field()? {
            match (field.number, field.value) {
                (BATCH_DEVICE_ID, Value::Bytes(bytes)) => view.device_id = utf8(bytes)?,
                (BATCH_SEQUENCE, Value::Varint(v)) => view.sequence = v,
                (BATCH_BASE_TIMESTAMP, Value::Varint(v)) => view.base_timestamp_ms = v as i64,
                (BATCH_SOCKETS, Value::Bytes(_)) => {}
                (BATCH_DEVICE_ID | BATCH_SEQUENCE | BATCH_BASE_TIMESTAMP | BATCH_SOCKETS, _) => {
                    return Err(Malformed("a ReadingBatch field has the wrong wire type").into())
                }
                _ => {}
            }
        }
        // Sockets are checked once the base timestamp (which may come after
        // them) is known.
        let mut fields = Fields::new(payload);
        while let Some(field) = fields.next_field()? {
            if let (BATCH_SOCKETS, Value::Bytes(bytes)) = (field.number, field.value) {
                view.readings += SocketView::parse(bytes, view.base_timestamp_ms)?.len();
            }
        }
        Ok(view)
    }

    /// The device id the payload claims (informational; see the schema).
    pub fn device_id(&self) -> &'a str {
        self.device_id
    }

    /// The agent's batch sequence number.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Readings in the whole batch.
    pub fn reading_count(&self) -> usize {
        self.readings
    }

    /// The socket entries, in wire order. A socket whose readings were split
    /// over several entries (see [`Batch::encode`](crate::Batch::encode))
    /// appears once per entry.
    pub fn sockets(&self) -> impl Iterator<Item = SocketView<'a>> + 'a {
        let base = self.base_timestamp_ms;
        let mut fields = Fields::new(self.payload);
        std::iter::from_fn(move || loop {
            // `parse` checked every field, so errors cannot happen here (and
            // would end the iteration, not panic).
            let field = fields.next_field().ok()??;
            if let (BATCH_SOCKETS, Value::Bytes(bytes)) = (field.number, field.value) {
                return SocketView::read(bytes, base).ok();
            }
        })
    }
}

/// An owned payload that [`BatchView::parse`] accepted, so that it can be
/// read again later (the write service builds its points after the
/// household lookup) without checking it twice.
#[derive(Debug, Clone)]
pub struct CheckedBatch {
    payload: Vec<u8>,
    device_id: std::ops::Range<usize>,
    sequence: u64,
    base_timestamp_ms: i64,
    readings: usize,
}

impl CheckedBatch {
    /// Checks `payload`; on failure hands it back with the reason.
    pub fn new(payload: Vec<u8>) -> Result<Self, (Vec<u8>, DecodeError)> {
        let view = match BatchView::parse(&payload) {
            Ok(view) => view,
            Err(error) => return Err((payload, error)),
        };
        // The device id is a slice of the payload: keep where it is. Without
        // the field it is the empty default, which points elsewhere (found
        // by the `batch` fuzz target: the subtraction overflowed, then
        // `view` sliced out of bounds).
        let offset = (view.device_id.as_ptr() as usize).checked_sub(payload.as_ptr() as usize);
        let device_id = match offset {
            Some(start) if !view.device_id.is_empty() => start..start + view.device_id.len(),
            _ => 0..0,
        };
        let (sequence, base_timestamp_ms, readings) =
            (view.sequence, view.base_timestamp_ms, view.readings);
        Ok(Self {
            payload,
            device_id,
            sequence,
            base_timestamp_ms,
            readings,
        })
    }

    /// The batch, read in place.
    pub fn view(&self) -> BatchView<'_> {
        BatchView {
            payload: &self.payload,
            // Checked UTF-8 in `new`.
            device_id: std::str::from_utf8(&self.payload[self.device_id.clone()])
                .unwrap_or_default(),
            sequence: self.sequence,
            base_timestamp_ms: self.base_timestamp_ms,
            readings: self.readings,
        }
    }

    /// The payload back, e.g. to dead-letter it as it came.
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }
}

/// One socket entry of a checked batch.
#[derive(Debug, Clone, Copy)]
pub struct SocketView<'a> {
    id: &'a str,
    base_timestamp_ms: i64,
    len: usize,
    /// Where each column's values are, in `COLUMNS` order.
    columns: [Source<'a>; 5],
}

/// Where a column's values are. Encoders write each column as one packed
/// field (read straight from its slice); anything else protobuf allows is
/// read by scanning the whole entry for the column's fields.
#[derive(Debug, Clone, Copy)]
enum Source<'a> {
    Empty,
    Packed(&'a [u8]),
    Scattered { message: &'a [u8], number: u32 },
}

impl<'a> Source<'a> {
    fn values(self) -> Column<'a> {
        match self {
            Source::Empty => Column::packed(&[]),
            Source::Packed(packed) => Column::packed(packed),
            Source::Scattered { message, number } => Column::new(message, number),
        }
    }

    fn count(self) -> usize {
        match self {
            Source::Empty => 0,
            // Every varint ends with the one byte below 0x80 it has.
            Source::Packed(packed) => packed.iter().filter(|b| **b < 0x80).count(),
            Source::Scattered { .. } => self.values().count(),
        }
    }
}

impl<'a> SocketView<'a> {
    /// Reads and checks one `SocketReadings` message.
    fn parse(bytes: &'a [u8], base_timestamp_ms: i64) -> Result<Self, DecodeError> {
        let view = Self::read(bytes, base_timestamp_ms)?;
        view.check()?;
        Ok(view)
    }

    /// Reads one `SocketReadings` message in one pass over its fields,
    /// checking the framing only.
    fn read(bytes: &'a [u8], base_timestamp_ms: i64) -> Result<Self, Malformed> {
        let mut id = "";
        let mut columns = [Source::Empty; 5];
        let mut fields = Fields::new(bytes);
        while let Some(field) = fields.next_field()? {
            let column = match field.number {
                SOCKET_ID => {
                    let Value::Bytes(b) = field.value else {
                        return Err(WRONG_SOCKET_WIRE_TYPE);
                    };
                    id = utf8(b)?;
                    continue;
                }
                TIMESTAMP_DELTA..=CURRENT => {
                    &mut columns[(field.number - TIMESTAMP_DELTA) as usize]
                }
                _ => continue,
            };
            let scattered = Source::Scattered {
                message: bytes,
                number: field.number,
            };
            *column = match (*column, field.value) {
                (Source::Empty, Value::Bytes(packed)) => {
                    check_packed(packed)?;
                    Source::Packed(packed)
                }
                (_, Value::Bytes(packed)) => {
                    check_packed(packed)?;
                    scattered
                }
                (_, Value::Varint(_)) => scattered,
                (_, Value::Other) => return Err(WRONG_SOCKET_WIRE_TYPE),
            };
        }
        Ok(SocketView {
            id,
            base_timestamp_ms,
            len: columns[0].count(),
            columns,
        })
    }

    /// Power has a value for every timestamp, the other columns one each or
    /// none, and no running sum overflows.
    fn check(&self) -> Result<(), DecodeError> {
        for (i, &(_, name)) in COLUMNS.iter().enumerate().skip(1) {
            let got = self.columns[i].count();
            let optional = i > 1;
            if got != self.len && !(optional && got == 0) {
                return Err(DecodeError::ColumnLength {
                    socket: self.id.to_owned(),
                    column: name,
                    got,
                    expected: self.len,
                });
            }
        }
        let sums = [(self.base_timestamp_ms, 0), (0, 1), (0, 2)];
        for (start, i) in sums {
            self.columns[i]
                .values()
                .map(zigzag)
                .try_fold(start, |sum, delta| sum.checked_add(delta))
                .ok_or_else(|| DecodeError::Overflow {
                    socket: self.id.to_owned(),
                    column: COLUMNS[i].1,
                })?;
        }
        Ok(())
    }

    /// The socket id.
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// Readings in this entry.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the entry holds no readings.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The readings, oldest first (in wire order), as absolute values.
    pub fn readings(&self) -> impl Iterator<Item = WireReading> + 'a {
        let [timestamps, power, energy, voltage, current] = self.columns.map(Source::values);
        // Optional columns are empty or as long as the timestamps (checked).
        let (mut energy, mut voltage, mut current) = (energy, voltage, current);
        let (mut timestamp, mut watts, mut energy_sum) = (self.base_timestamp_ms, 0i64, 0i64);
        // Sums were checked in `parse`; wrapping adds cannot wrap here.
        timestamps.zip(power).map(move |(t, p)| {
            timestamp = timestamp.wrapping_add(zigzag(t));
            watts = watts.wrapping_add(zigzag(p));
            let energy_mwh = energy.next().map(|e| {
                energy_sum = energy_sum.wrapping_add(zigzag(e));
                energy_sum
            });
            WireReading {
                timestamp_ms: timestamp,
                power_dw: watts,
                energy_mwh,
                // uint32 fields keep the low 32 bits, as protobuf says.
                voltage_dv: voltage.next().map(|v| v as u32),
                current_ma: current.next().map(|c| c as u32),
            }
        })
    }
}

/// A field's value, by wire type (fixed-width values are only skipped).
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Field<'a> {
    number: u32,
    value: Value<'a>,
}

/// The fields of one message, in order.
#[derive(Debug, Clone)]
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    #[inline(always)]
    fn next_field(&mut self) -> Result<Option<Field<'a>>, Malformed> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (number, wire_type) = self.key()?;
        if wire_type == END_GROUP {
            return Err(Malformed("unexpected end group"));
        }
        let value = self.value(number, wire_type, 0)?;
        Ok(Some(Field { number, value }))
    }

    /// Reads (or skips) the value of a field whose key was just read; a
    /// group is skipped whole. `depth`: groups around this field.
    #[inline(always)]
    fn value(&mut self, number: u32, wire_type: u8, depth: u32) -> Result<Value<'a>, Malformed> {
        Ok(match wire_type {
            VARINT => Value::Varint(varint(&mut self.rest)?),
            LEN => Value::Bytes(self.length_delimited()?),
            FIXED64 => self.skip(8).map(|_| Value::Other)?,
            FIXED32 => self.skip(4).map(|_| Value::Other)?,
            START_GROUP => self.skip_group(number, depth + 1).map(|_| Value::Other)?,
            _ => return Err(Malformed("invalid wire type")),
        })
    }

    #[inline(always)]
    fn key(&mut self) -> Result<(u32, u8), Malformed> {
        let key = varint(&mut self.rest)?;
        // Keys are 32 bits; field numbers 1 ..= 2^29 - 1.
        let number = u32::try_from(key)
            .ok()
            .map(|k| k >> 3)
            .filter(|n| *n != 0)
            .ok_or(Malformed("invalid field key"))?;
        Ok((number, (key & 7) as u8))
    }

    #[inline(always)]
    fn length_delimited(&mut self) -> Result<&'a [u8], Malformed> {
        let len = varint(&mut self.rest)?;
        let len = usize::try_from(len).map_err(|_| TRUNCATED)?;
        self.skip(len)
    }

    #[inline(always)]
    fn skip(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.rest.len() < n {
            return Err(TRUNCATED);
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    /// Skips an unknown group up to its matching end.
    fn skip_group(&mut self, number: u32, depth: u32) -> Result<(), Malformed> {
        if depth > MAX_DEPTH {
            return Err(Malformed("groups nested too deep"));
        }
        loop {
            if self.rest.is_empty() {
                return Err(TRUNCATED);
            }
            let (inner, wire_type) = self.key()?;
            match wire_type {
                END_GROUP if inner == number => return Ok(()),
                END_GROUP => return Err(Malformed("unmatched end group")),
                _ => {
                    self.value(inner, wire_type, depth)?;
                }
            }
        }
    }
}

/// The raw varints of one repeated column, wherever its values are in the
/// message: packed chunks and unpacked values, in order.
#[derive(Debug, Clone)]
struct Column<'a> {
    fields: Fields<'a>,
    number: u32,
    packed: &'a [u8],
}

impl<'a> Column<'a> {
    /// The column's values wherever they are in `message`.
    fn new(message: &'a [u8], number: u32) -> Self {
        Self {
            fields: Fields::new(message),
            number,
            packed: &[],
        }
    }

    /// The values of one packed field (what encoders write): read straight
    /// from its slice.
    fn packed(packed: &'a [u8]) -> Self {
        Self {
            fields: Fields::new(&[]),
            number: 0,
            packed,
        }
    }
}

impl Iterator for Column<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        loop {
            if !self.packed.is_empty() {
                // Checked by `check_packed` before any column is read.
                return varint(&mut self.packed).ok();
            }
            let field = self.fields.next_field().ok()??;
            if field.number != self.number {
                continue;
            }
            match field.value {
                Value::Varint(v) => return Some(v),
                Value::Bytes(packed) => self.packed = packed,
                Value::Other => {}
            }
        }
    }
}

/// A packed column must be whole varints.
fn check_packed(mut packed: &[u8]) -> Result<(), Malformed> {
    while !packed.is_empty() {
        varint(&mut packed)?;
    }
    Ok(())
}

/// Reads a base-128 varint (at most 10 bytes, as protobuf allows).
#[inline(always)]
fn varint(bytes: &mut &[u8]) -> Result<u64, Malformed> {
    // Most varints here (keys, lengths, small deltas) are one byte.
    if let Some(&byte) = bytes.first() {
        if byte < 0x80 {
            *bytes = &bytes[1..];
            return Ok(u64::from(byte));
        }
    }
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        if i == 9 && byte > 1 {
            return Err(Malformed("varint overflows 64 bits"));
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            *bytes = &bytes[i + 1..];
            return Ok(value);
        }
    }
    Err(if bytes.len() >= 10 {
        Malformed("varint longer than 10 bytes")
    } else {
        TRUNCATED
    })
}

/// sint64's zigzag encoding.
#[inline(always)]
fn zigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

fn utf8(bytes: &[u8]) -> Result<&str, Malformed> {
    std::str::from_utf8(bytes).map_err(|_| Malformed("a string field is not valid UTF-8"))
}

/// Why the bytes are not protobuf (or not this schema's wire types): a
/// static text, so the hot path's results stay two words wide.
#[derive(Debug, Clone, Copy)]
struct Malformed(&'static str);

const TRUNCATED: Malformed = Malformed("message truncated");
const WRONG_SOCKET_WIRE_TYPE: Malformed =
    Malformed("a SocketReadings field has the wrong wire type");

impl From<Malformed> for DecodeError {
    fn from(m: Malformed) -> Self {
        DecodeError::Protobuf(m.0.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::Sockets;
    use crate::v1;
    use proptest::prelude::*;
    use prost::Message;

    /// The oracle: prost's reading of the payload.
    fn oracle(payload: &[u8]) -> Result<Sockets, ()> {
        crate::oracle::decode(payload)
    }

    fn read(payload: &[u8]) -> Result<Sockets, ()> {
        let view = BatchView::parse(payload).map_err(|_| ())?;
        let sockets: Vec<_> = view
            .sockets()
            .map(|s| (s.id().to_owned(), s.readings().collect::<Vec<_>>()))
            .collect();
        let counted: usize = sockets.iter().map(|(_, r)| r.len()).sum();
        assert_eq!(view.reading_count(), counted);
        Ok(sockets)
    }

    fn entry() -> impl Strategy<Value = v1::SocketReadings> {
        (
            "[a-z é,=]{0,6}",
            1usize..5,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            -2i64..=2,
        )
            .prop_flat_map(|(id, n, energy, volts, amps, skew)| {
                // Now and then a column of the wrong length.
                let other = (n as i64 + skew).max(0) as usize;
                let len = move |on: bool| if on { other } else { 0 };
                (
                    Just(id),
                    prop::collection::vec(any::<i64>().prop_map(|d| d >> 20), n),
                    prop::collection::vec(-5000i64..5000, n),
                    prop::collection::vec(any::<i64>(), len(energy)),
                    prop::collection::vec(any::<u32>(), len(volts)),
                    prop::collection::vec(any::<u32>(), len(amps)),
                )
            })
            .prop_map(|(socket_id, t, p, e, v, c)| v1::SocketReadings {
                socket_id,
                timestamp_delta_ms: t,
                power_delta_dw: p,
                energy_delta_mwh: e,
                voltage_dv: v,
                current_ma: c,
            })
    }

    fn batch() -> impl Strategy<Value = v1::ReadingBatch> {
        (
            "[a-z0-9-]{0,12}",
            any::<u64>(),
            any::<i64>(),
            prop::collection::vec(entry(), 0..6),
        )
            .prop_map(|(device_id, sequence, base_timestamp_ms, sockets)| {
                v1::ReadingBatch {
                    device_id,
                    sequence,
                    base_timestamp_ms,
                    sockets,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn agrees_with_prost_on_encoded_batches(wire in batch()) {
            let payload = wire.encode_to_vec();
            prop_assert_eq!(read(&payload), oracle(&payload));
            if let Ok(view) = BatchView::parse(&payload) {
                prop_assert_eq!(view.device_id(), wire.device_id.as_str());
                prop_assert_eq!(view.sequence(), wire.sequence);
            }
        }

        #[test]
        fn agrees_with_prost_on_damaged_payloads(
            wire in batch(),
            damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
        ) {
            let mut payload = wire.encode_to_vec();
            for (at, byte, how) in damage {
                let i = at.index(payload.len() + 1);
                match how {
                    0 if i < payload.len() => payload[i] = byte,
                    1 => payload.insert(i, byte),
                    _ => payload.truncate(i),
                }
            }
            prop_assert_eq!(read(&payload), oracle(&payload));
        }

        #[test]
        fn agrees_with_prost_on_random_bytes(payload in prop::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(read(&payload), oracle(&payload));
        }
    }

    /// Concatenated encodings of a message are one message whose repeated
    /// fields are concatenated: columns split over several packed fields.
    #[test]
    fn columns_split_over_several_fields_and_unpacked_values() {
        let half = |t: Vec<i64>, p: Vec<i64>| v1::SocketReadings {
            socket_id: "s".into(),
            timestamp_delta_ms: t,
            power_delta_dw: p,
            ..Default::default()
        };
        let mut socket = half(vec![1_000, 10], vec![5, 1]).encode_to_vec();
        socket.extend(half(vec![20], vec![-2]).encode_to_vec());
        // One more reading, unpacked: field 2 and 3 as plain varints
        // (zigzag 30 = 60, zigzag 4 = 8).
        socket.extend([2 << 3, 60, 3 << 3, 8]);
        let mut payload = vec![4 << 3 | 2, socket.len() as u8];
        payload.extend(&socket);
        let readings: Vec<_> = BatchView::parse(&payload)
            .unwrap()
            .sockets()
            .flat_map(|s| s.readings().collect::<Vec<_>>())
            .map(|r| (r.timestamp_ms, r.power_dw))
            .collect();
        assert_eq!(readings, [(1_000, 5), (1_010, 6), (1_030, 4), (1_060, 8)]);
        assert_eq!(read(&payload), oracle(&payload));
    }

    #[test]
    fn unknown_fields_and_groups_are_skipped() {
        let known = v1::ReadingBatch {
            device_id: "d".into(),
            sequence: 9,
            base_timestamp_ms: 0,
            sockets: vec![v1::SocketReadings {
                socket_id: "s".into(),
                timestamp_delta_ms: vec![5],
                power_delta_dw: vec![7],
                ..Default::default()
            }],
        }
        .encode_to_vec();
        let mut payload = vec![
            // field 9: varint, fixed64, fixed32, and a group holding a string.
            9 << 3,
            1,
            9 << 3 | 1,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            9 << 3 | 5,
            0,
            0,
            0,
            0,
            9 << 3 | 3,
            1 << 3 | 2,
            1,
            b'x',
            9 << 3 | 4,
        ];
        payload.extend(&known);
        assert_eq!(read(&payload), oracle(&payload));
        assert_eq!(read(&payload).unwrap()[0].1[0].power_dw, 7);
        // A group never closed, or closed by another number, is malformed.
        assert!(read(&[9 << 3 | 3, 1 << 3, 1]).is_err());
        assert!(read(&[9 << 3 | 3, 8 << 3 | 4]).is_err());
        assert!(oracle(&[9 << 3 | 3, 8 << 3 | 4]).is_err());
    }

    #[test]
    fn a_checked_batch_reads_like_its_payload_and_hands_bad_ones_back() {
        let wire = v1::ReadingBatch {
            device_id: "dev-1".into(),
            sequence: 3,
            base_timestamp_ms: 1_000,
            sockets: vec![v1::SocketReadings {
                socket_id: "s".into(),
                timestamp_delta_ms: vec![5, 5],
                power_delta_dw: vec![7, 1],
                ..Default::default()
            }],
        };
        let payload = wire.encode_to_vec();
        let checked = CheckedBatch::new(payload.clone()).unwrap();
        let view = checked.view();
        assert_eq!(
            (view.device_id(), view.sequence(), view.reading_count()),
            ("dev-1", 3, 2)
        );
        let readings: Vec<_> = view
            .sockets()
            .flat_map(|s| s.readings().collect::<Vec<_>>())
            .collect();
        assert_eq!(
            readings
                .iter()
                .map(|r| (r.timestamp_ms, r.power_dw))
                .collect::<Vec<_>>(),
            [(1_005, 7), (1_010, 8)]
        );
        assert_eq!(checked.into_payload(), payload);

        let (back, error) = CheckedBatch::new(b"\xff\xff".to_vec()).unwrap_err();
        assert_eq!(back, b"\xff\xff");
        assert!(matches!(error, DecodeError::Protobuf(_)));
    }

    /// The `batch` fuzz target's first crash (fuzz/regressions/batch/): no
    /// device id field, so the id is the empty default, not a slice of the
    /// payload.
    #[test]
    fn a_checked_batch_without_a_device_id() {
        // An unknown field 9 holding "pi-kitchen", then sequence = 42.
        let payload = b"\x4a\x0api-kitchen\x10\x2a".to_vec();
        let checked = CheckedBatch::new(payload).unwrap();
        let view = checked.view();
        assert_eq!((view.device_id(), view.sequence()), ("", 42));
        assert_eq!(read(b"\x10\x2a"), oracle(b"\x10\x2a"));
        assert!(CheckedBatch::new(Vec::new())
            .unwrap()
            .view()
            .device_id()
            .is_empty());
    }

    #[test]
    fn wire_readings_convert_to_units() {
        let r = Reading::from(WireReading {
            timestamp_ms: 1,
            power_dw: 1234,
            energy_mwh: Some(123_456_047),
            voltage_dv: Some(2314),
            current_ma: None,
        });
        assert_eq!(r.watts, 123.4);
        assert_eq!(r.energy_wh, Some(123_456.047));
        assert_eq!(r.voltage_v, Some(231.4));
        assert_eq!(r.current_a, None);
    }
}
