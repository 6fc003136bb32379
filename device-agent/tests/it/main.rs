//! The device agent's integration tests: the real `device-agent` and
//! `write-service` binaries against a real RabbitMQ and InfluxDB.
//!
//! - [`delivery`]: what agents read is what InfluxDB stores, exactly;
//! - [`outages`]: a broker that is missing, down or restarting, and an agent
//!   killed meanwhile, lose nothing;
//! - [`power_loss`]: the spool after torn writes and flipped bytes (files
//!   only, no servers).

mod delivery;
mod helpers;
mod outages;
mod power_loss;
