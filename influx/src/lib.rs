//! InfluxDB for Wattline: the one place that knows how points become line protocol, how
//! line protocol reaches InfluxDB, and how InfluxQL answers come back.
//!
//! - [`line_protocol`]: builds `power` points as InfluxDB line protocol by hand into a reused
//!   buffer (escaping, ryu floats, ms timestamps), refusing values it cannot represent.
//! - [`writer`]: POSTs a whole body to InfluxDB (v1 `/write` or v2 `/api/v2/write`), optional
//!   gzip, and maps the answer to [`WriteOutcome`] / [`WriteError`] so the caller can decide to
//!   ack, split or retry. No retry happens inside this crate.
//! - [`query`]: InfluxQL over `/query` for the services that read: bound parameters only,
//!   answers as [`Series`](query::Series) with typed rows, chunked answers streamed chunk by
//!   chunk or series by series, `/ping`.
//!
//! `writer` and `query` come with the default `http` feature; without it the crate is the
//! line-protocol builder alone.

pub mod line_protocol;
#[cfg(feature = "http")]
pub mod query;
#[cfg(feature = "http")]
pub mod writer;

pub use line_protocol::{
    DeviceKey, InvalidPoint, LineProtocolBuilder, PowerPoint, SeriesTags, MEASUREMENT,
};
#[cfg(feature = "http")]
pub use writer::{
    describe_request_error, InfluxApi, InfluxWriter, WriteError, WriteOutcome, WriterConfig,
};
