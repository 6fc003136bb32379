//! Wattline's device agent: runs next to a household's smart sockets (on a
//! Raspberry Pi), reads their power and sends it to RabbitMQ without losing
//! a reading.
//!
//! - [`config`]: flags and environment variables;
//! - [`source`]: where readings come from ([`source::simulated`] household or
//!   [`source::csv`] lines) and how they become a wire batch;
//! - [`spool`]: the on-disk spool every batch passes through;
//! - [`publisher`]: sends the spool to RabbitMQ with publisher confirms,
//!   reconnecting with backoff;
//! - [`agent`]: one run, from the first reading to the last confirm;
//! - [`telemetry`] and [`http`]: logs, the status line, `/metrics`, `/healthz`.

pub mod agent;
pub mod config;
pub mod http;
pub mod publisher;
pub mod source;
pub mod spool;
pub mod telemetry;

pub use agent::{run, Summary};
pub use config::Config;
