//! Integration tests of the rollup job against the real InfluxDB, one
//! module per feature.

mod cli;
mod measure;
mod recompute;
mod setup;
mod support;
