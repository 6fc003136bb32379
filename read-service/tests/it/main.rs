//! read-service against the real thing: auth-service in-process (tokens,
//! JWKS, household settings), the shared InfluxDB (a database per test,
//! points written by the test), read-service in-process on a free port.
//! Expected numbers are worked out by hand in each test.

mod energy;
mod export;
mod injection;
mod live;
mod openapi;
mod power;
mod process;
mod shedding;
mod sockets;
mod support;
mod tenancy;
