//! Wattline's load tool, as a library the `perf` binary and its tests use.
//!
//! - [`workload`]: the simulated fleet and its `wattline.v1` batches;
//! - [`load`]: publishing them as agents do (confirms, persistent);
//! - [`baseline`]: InfluxDB alone and RabbitMQ alone, with the same data;
//! - [`chaos`]: `perf chaos`, faults under load and the exactly-once check;
//! - [`run`]: the pipeline run, its report and the exactly-once check;
//! - [`read`]: `perf read`, dashboard users against read-service beside
//!   the same InfluxQL straight to InfluxDB (its own submodules);
//! - [`http`]: `perf http`, read-service or auth-service alone under an
//!   open-loop HTTP load at ten times the expected peak;
//! - [`amqp`]: RabbitMQ calls with every wait bounded;
//! - [`setup`] (the run's vhost, database and write services),
//!   [`metrics`] (the write services' counters and latency histogram),
//!   [`procstat`] (CPU time and memory from /proc), [`plot`] (the SVG).

pub mod amqp;
pub mod baseline;
pub mod chaos;
pub mod http;
pub mod load;
pub mod metrics;
pub mod plot;
pub mod process;
pub mod procstat;
pub mod read;
pub mod run;
pub mod setup;
pub mod workload;
