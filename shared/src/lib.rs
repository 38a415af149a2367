//! revops-edge domain crate.
//!
//! Every business rule of revops-edge lives here, as plain functions over plain data. Nothing in
//! this crate performs I/O, reads a clock or draws randomness: the handlers in `functions/` pass
//! `now` and random bytes in, load state, call into this crate and store what it decides. That
//! keeps each rule unit-testable on the host with time under the test's control.

pub mod auth;
pub mod consent;
pub mod console;
pub mod de;
pub mod hours;
pub mod html;
pub mod idempotency;
pub mod ids;
pub mod intake;
pub mod jobs;
pub mod logging;
pub mod openapi;
pub mod ops;
pub mod problem;
pub mod routes;
pub mod routing;
pub mod scoring;
pub mod sla;
pub mod text;
pub mod time;
pub mod webhooks;
pub mod workflows;

/// A map keyed by the operator's own ids (reps, teams), hashed with FxHash: a routing decision
/// looks every team member up in several of these, and SipHash's resistance to chosen keys buys
/// nothing for keys the operator chose.
pub type Map<K, V> = std::collections::HashMap<K, V, rustc_hash::FxBuildHasher>;
