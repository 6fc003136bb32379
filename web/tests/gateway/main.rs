//! The gateway against real services: auth-service in this process, a
//! temp dir of built assets, and (for the one property a real service
//! cannot show on demand: an event stream paced by the test) a tiny
//! stand-in upstream. One binary, one module per feature.

mod accounts;
mod assets;
mod cross_origin;
mod failures;
mod limits;
mod process;
mod secrets;
mod streaming;
mod support;
mod traversal;
