//! Integration tests of the write service against the real local RabbitMQ
//! and InfluxDB (`deploy/stack.sh`), each test in its own vhost and database.
//!
//! - `auth_directory`: households from auth-service's registry (a stand-in
//!   server for its HTTP contract), cached, through its outages;
//! - `delivery`: happy path, awkward ids, old readings, retention drops,
//!   quorum queues;
//! - `poison`: dead-lettering with reasons, and bisection of a batch that
//!   InfluxDB rejects;
//! - `rate_limit`: a flooding device's excess dead-lettered, a backlog
//!   replay within the limit stored whole;
//! - `outages`: a private InfluxDB stopped and restarted, RabbitMQ unreachable,
//!   a topology conflict;
//! - `process`: the real binary under SIGTERM and kill -9.

mod auth_directory;
mod delivery;
mod helpers;
mod outages;
mod poison;
mod process;
mod rate_limit;
