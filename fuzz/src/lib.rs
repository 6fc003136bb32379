//! What the fuzz targets in `fuzz_targets/` share: reading line protocol back
//! with an independent parser ([`readback`]) and the seed inputs made with
//! Wattline's own encoders ([`seeds`]).
//!
//! Targets (run them with `deploy/fuzz.sh`):
//! - `batch`: bytes → the write service's decode + validation, compared with
//!   prost, then the line protocol it would write, read back;
//! - `line_protocol`: arbitrary ids and readings → the builder refuses with
//!   a true reason or writes lines that read back the same;
//! - `spool`: bytes as a spooled batch file → the spool's reader, pure and on
//!   disk.

pub mod readback;
pub mod seeds;

// The two pure modules under test, compiled here from the services' own
// source files. Depending on the `write-service` and `device-agent` crates
// instead would build their whole AMQP and HTTP stacks (lapin, its TLS and
// certificate parsers, axum, clap, the Prometheus exporter) with fuzzing
// instrumentation: more than 6.5 minutes on 2 cores before it was stopped,
// beyond the CI budget, for two modules that use none of it. The source is
// the same file, so what is fuzzed is what the services run.

/// write-service's checks on a decoded batch (write-service/src/validate.rs).
#[path = "../../write-service/src/validate.rs"]
pub mod validate;

/// The id rule, where validate.rs finds it in the write service
/// (`crate::ids`, re-exported from `wattline-proto` there too).
pub mod ids {
    pub use wattline_proto::ids::*;
}

/// The device agent's on-disk spool (device-agent/src/spool.rs).
#[path = "../../device-agent/src/spool.rs"]
pub mod spool;
