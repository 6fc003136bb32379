//! CSV readings from a file or standard input, so a real meter can be piped
//! in or last year's data imported: lines `socket,timestamp_ms,watts[,energy_wh]`
//! (RFC 4180 quoting, an optional header line).
//!
//! The file is read on a thread of its own (the `csv` crate is blocking) and
//! readings flow to the agent through a bounded channel, so a fast file never
//! runs ahead of the spool. A bad line is logged with its line number and
//! skipped; it never stops the lines after it.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use thiserror::Error;
use tokio::sync::mpsc;
use wattline_proto::ids::check_id;
use wattline_proto::Reading;

use super::SocketReading;

/// Readings read ahead of the batcher.
const CHANNEL_CAPACITY: usize = 10_000;

/// Why a CSV line was skipped.
#[derive(Debug, Error, PartialEq)]
pub enum BadLine {
    #[error("expected 3 or 4 columns (socket,timestamp_ms,watts[,energy_wh]), found {0}")]
    Columns(usize),
    #[error("socket id must be 1–64 characters without control characters")]
    SocketId,
    #[error("timestamp_ms {0:?} is not an integer number of milliseconds")]
    Timestamp(String),
    #[error("{column} {value:?} is not a finite, non-negative number")]
    Value { column: &'static str, value: String },
}

/// A running CSV reader: readings arrive on `readings`, which closes at the
/// end of the input.
#[derive(Debug)]
pub struct CsvSource {
    pub readings: mpsc::Receiver<SocketReading>,
    rejected: Arc<AtomicU64>,
}

impl CsvSource {
    /// Opens `input` (`-` for standard input) and starts reading it.
    pub fn spawn(input: &Path) -> io::Result<Self> {
        let reader: Box<dyn Read + Send> = if input == Path::new("-") {
            Box::new(io::stdin())
        } else {
            Box::new(File::open(input)?)
        };
        let (sender, readings) = mpsc::channel(CHANNEL_CAPACITY);
        let rejected = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&rejected);
        let name = input.to_owned();
        std::thread::Builder::new()
            .name("csv-reader".into())
            .spawn(move || read_all(reader, &name, &sender, &counter))?;
        Ok(Self { readings, rejected })
    }

    /// Lines skipped so far because they were malformed.
    pub fn rejected_lines(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

fn read_all(
    reader: Box<dyn Read + Send>,
    name: &Path,
    sender: &mpsc::Sender<SocketReading>,
    rejected: &AtomicU64,
) {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let mut record = csv::StringRecord::new();
    let mut first = true;
    loop {
        match csv.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => {
                // Broken quoting or invalid UTF-8: skip to the next line.
                rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(input = %name.display(), %error, "skipping unreadable CSV line");
                if error.is_io_error() {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map_or(0, csv::Position::line);
        if std::mem::take(&mut first) && is_header(&record) {
            continue;
        }
        match parse_record(&record) {
            Ok(reading) => {
                if sender.blocking_send(reading).is_err() {
                    return; // The agent stopped reading.
                }
            }
            Err(error) => {
                rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(input = %name.display(), line, %error, "skipping bad CSV line");
            }
        }
    }
    tracing::debug!(input = %name.display(), "end of CSV input");
}

/// A first line whose timestamp column is not a number is a header.
fn is_header(record: &csv::StringRecord) -> bool {
    record.get(1).is_some_and(|t| t.parse::<i64>().is_err())
}

/// Parses one line `socket,timestamp_ms,watts[,energy_wh]`.
pub fn parse_record(record: &csv::StringRecord) -> Result<SocketReading, BadLine> {
    if !(3..=4).contains(&record.len()) {
        return Err(BadLine::Columns(record.len()));
    }
    let socket_id = &record[0];
    check_id(socket_id).map_err(|_| BadLine::SocketId)?;
    let timestamp_ms = record[1]
        .parse::<i64>()
        .map_err(|_| BadLine::Timestamp(record[1].to_owned()))?;
    let watts = parse_quantity("watts", &record[2])?;
    let energy_wh = match record.get(3) {
        None | Some("") => None,
        Some(text) => Some(parse_quantity("energy_wh", text)?),
    };
    Ok(SocketReading {
        socket_id: socket_id.to_owned(),
        reading: Reading {
            energy_wh,
            ..Reading::new(timestamp_ms, watts)
        },
    })
}

fn parse_quantity(column: &'static str, text: &str) -> Result<f64, BadLine> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err(BadLine::Value {
            column,
            value: text.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(fields.to_vec())
    }

    #[test]
    fn lines_with_and_without_energy_parse() {
        let reading =
            parse_record(&record(&["fridge", "1700000000000", "85.5", "1234.5"])).expect("valid");
        assert_eq!(reading.socket_id, "fridge");
        assert_eq!(reading.reading.timestamp_ms, 1_700_000_000_000);
        assert_eq!(reading.reading.watts, 85.5);
        assert_eq!(reading.reading.energy_wh, Some(1234.5));
        let reading = parse_record(&record(&["a, \"quoted\" = socket", "1", "0"])).expect("valid");
        assert_eq!(reading.socket_id, "a, \"quoted\" = socket");
        assert_eq!(reading.reading.energy_wh, None);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert_eq!(parse_record(&record(&["a", "1"])), Err(BadLine::Columns(2)));
        assert_eq!(
            parse_record(&record(&["", "1", "2"])),
            Err(BadLine::SocketId)
        );
        assert_eq!(
            parse_record(&record(&["a\u{7}", "1", "2"])),
            Err(BadLine::SocketId)
        );
        assert!(matches!(
            parse_record(&record(&["a", "1.5", "2"])),
            Err(BadLine::Timestamp(_))
        ));
        for watts in ["NaN", "inf", "-1", "many"] {
            assert!(matches!(
                parse_record(&record(&["a", "1", watts])),
                Err(BadLine::Value {
                    column: "watts",
                    ..
                })
            ));
        }
    }

    #[tokio::test]
    async fn a_file_streams_its_readings_skipping_the_header_and_bad_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("meter.csv");
        std::fs::write(
            &path,
            "socket,timestamp_ms,watts,energy_wh\n\
             \"kitchen, left\",1000,12.5,3\n\
             broken,line\n\
             kitchen,2000,NaN\n\
             hall,3000,7\n",
        )
        .expect("write");
        let mut source = CsvSource::spawn(&path).expect("opens");
        let mut readings = Vec::new();
        while let Some(reading) = source.readings.recv().await {
            readings.push(reading);
        }
        let ids: Vec<_> = readings.iter().map(|r| r.socket_id.as_str()).collect();
        assert_eq!(ids, ["kitchen, left", "hall"]);
        assert_eq!(source.rejected_lines(), 2);
    }

    #[test]
    fn a_missing_file_is_an_error_at_start() {
        assert!(CsvSource::spawn(Path::new("/nonexistent/meter.csv")).is_err());
    }
}
