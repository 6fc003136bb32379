//! What every Wattline binary needs to be operable, in one place so the
//! services behave alike:
//! - [`logging`]: tracing set-up, text or JSON, `RUST_LOG`;
//! - [`shutdown`]: SIGTERM/SIGINT as a cancellation token;
//! - [`secret`]: values (passwords, tokens, broker URLs) that never reach a log;
//! - [`retry`]: capped exponential backoff with jitter;
//! - [`amqp`] (feature `amqp`): noticing a dead AMQP connection;
//! - [`prometheus`] (feature `prometheus`): the metrics recorder and `/metrics`;
//! - [`http`] (feature `http`): the HTTP APIs' JSON error body, their
//!   404/405 fallbacks, body limit and deadline;
//! - [`serve`] (feature `http`): serving a router with a header-read
//!   timeout (slow clients, idle keep-alive connections).

#[cfg(feature = "amqp")]
pub mod amqp;
#[cfg(feature = "http")]
pub mod http;
pub mod listen;
pub mod logging;
#[cfg(feature = "prometheus")]
pub mod prometheus;
pub mod retry;
pub mod secret;
#[cfg(feature = "http")]
pub mod serve;
pub mod shutdown;

pub use listen::{listen, ListenError};
pub use logging::{init_tracing, LogFormat};
pub use secret::{AmqpUrl, Secret};
pub use shutdown::cancel_on_signal;
