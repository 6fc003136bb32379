//! Line protocol read back by an independent parser (the
//! `influxdb-line-protocol` crate, InfluxDB 3's own), as plain values to
//! compare with what was meant to be written.

use influxdb_line_protocol::{parse_lines, FieldValue};

/// One line as the parser reads it: measurement, tags (sorted as written),
/// fields as float bits (`Err` holds the text of any other type), timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub fields: Vec<(String, Result<u64, String>)>,
    pub timestamp: Option<i64>,
}

/// Every line of `body`, or the parser's error (with the body) for the first
/// line it refuses.
pub fn lines(body: &[u8]) -> Vec<Result<Line, String>> {
    let Ok(text) = std::str::from_utf8(body) else {
        return vec![Err(format!("the body is not UTF-8: {body:?}"))];
    };
    parse_lines(text)
        .map(|line| {
            let line = line.map_err(|e| e.to_string())?;
            Ok(Line {
                measurement: line.series.measurement.to_string(),
                tags: line
                    .series
                    .tag_set
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                fields: line
                    .field_set
                    .iter()
                    .map(|(k, v)| {
                        let bits = match v {
                            FieldValue::F64(f) => Ok(f.to_bits()),
                            other => Err(format!("{other:?}")),
                        };
                        (k.to_string(), bits)
                    })
                    .collect(),
                timestamp: line.timestamp,
            })
        })
        .collect()
}

/// Whether InfluxDB 3's parser reads `id` as InfluxDB 1.x (what Wattline
/// writes to) does. They differ only where a backslash comes before `\` or
/// `,` (see influx/tests/line_protocol_roundtrip.rs, which pins the
/// difference, and real_influx.rs, which checks those ids against the real
/// server): such tags are not compared here.
pub fn dialects_agree(id: &str) -> bool {
    !id.as_bytes()
        .windows(2)
        .any(|w| w[0] == b'\\' && matches!(w[1], b'\\' | b','))
}

/// The float nearest to `units / 10^decimals`, worked out by Rust's own
/// (correctly rounding) parser from scientific notation: independent of how
/// the builder writes decimals.
pub fn scaled(units: i64, decimals: u32) -> u64 {
    format!("{units}e-{decimals}")
        .parse::<f64>()
        .map(f64::to_bits)
        .unwrap_or_else(|e| panic!("{units}e-{decimals}: {e}"))
}
