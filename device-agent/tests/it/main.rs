//! The device agent's integration tests: the real `device-agent` and
//! `write-service` binaries against a real RabbitMQ and InfluxDB.
//!
//! - [`delivery`]: what agents read is what InfluxDB stores, exactly;
//! - [`outages`]: a broker that is missing, down or restarting, and an agent
//!   killed meanwhile, lose nothing.

mod delivery;
mod helpers;
mod outages;
