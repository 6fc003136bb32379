//! auth-service's integration tests: the real service in the test process,
//! on a real SQLite file and a real PostgreSQL database, with a real
//! RabbitMQ node asking it about device logins.
//!
//! - [`accounts`]: the account lifecycle, refresh-token rotation and reuse,
//!   rate limits, malformed requests, the operations endpoints;
//! - [`cookies`]: the browser's session cookie at login, refresh, logout;
//! - [`tokens`]: forged, expired and foreign access tokens;
//! - [`devices`]: devices, socket names, read-only members, other households;
//! - [`settings`]: the household's time zone and tariff, and read-service's
//!   internal view of them;
//! - [`broker`]: device logins and permissions in a real RabbitMQ;
//! - [`process`]: the binary's `--help`, SIGTERM, and logs free of secrets;
//! - [`openapi`]: schemathesis against the OpenAPI document;
//! - [`end_to_end`]: two households' agents → RabbitMQ → write-service →
//!   InfluxDB, each reading under its own household.

// Test bodies shared by the SQLite and PostgreSQL variants are plain async
// fns, not #[test]s, so clippy's allow-unwrap-in-tests does not reach them;
// in a test an unwrap that fails is a failing test, as it should be.
#![allow(clippy::unwrap_used)]

mod accounts;
mod attacks;
mod broker;
mod cookies;
mod devices;
mod end_to_end;
mod openapi;
mod process;
mod settings;
mod support;
mod tokens;
