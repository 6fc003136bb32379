//! Wattline's rollups: minute and hour downsampling of readings in InfluxDB,
//! so a year of a household's power and energy reads a few thousand points
//! instead of millions.
//!
//! Modules, by job:
//! - [`schema`]: where rollups live and what their points hold (the contract
//!   with read-service);
//! - [`buckets`]: the arithmetic, free of I/O — a socket's readings to
//!   minute buckets (mean, max, samples, energy from the counter with resets
//!   and gaps handled), minutes to hours, sockets to household totals;
//! - [`points`]: rollup points as line protocol;
//! - [`rollup`]: [`Rollup::recompute`], which ties those together over a
//!   range, chunk by chunk: raw readings streamed one series at a time with
//!   `wattline_influx`'s InfluxQL client, rollups written with its writer;
//! - [`setup`]: the database and retention policies, idempotently;
//! - [`service`] (`rollup run`: passes, `/healthz`, `/metrics`),
//!   [`backfill`] (`rollup backfill`: day by day), [`telemetry`] (metrics
//!   and the events that log and count together) and [`config`] (the
//!   command line).
//!
//! `main` parses [`config::Cli`], sets up logging and dispatches; tests use
//! [`Rollup`] in-process and run the binary for the command line.

pub mod backfill;
pub mod buckets;
pub mod config;
pub mod points;
pub mod rollup;
pub mod schema;
pub mod service;
pub mod setup;
pub mod telemetry;

pub use crate::rollup::{
    ApiVersion, InfluxSettings, RecomputeStats, Rollup, RollupError, Settings,
};
pub use buckets::EnergyRules;
