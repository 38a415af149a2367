//! revops-edge platform glue: what every handler worker shares and the domain crate must not
//! know about — the Workers runtime (`worker`), D1 and KV access, the request envelope, the
//! mapping of errors to problem+json, service-to-service calls and structured logs.
//!
//! Business rules do not live here; they live in `revops` (the `shared/` crate).

pub mod cache;
pub mod configs;
pub mod crypto;
pub mod cx;
pub mod db;
pub mod error;
pub mod events;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod jobs;
pub mod keys;
pub mod maintenance;
pub mod outbox;
pub mod rate_windows;
pub mod receipts;
pub mod resources;
pub mod retry;
pub mod services;
pub mod settings;
pub mod text;
pub mod tick;
pub mod versions;
pub mod zones;

pub use cx::{serve, Cx, Spec};
pub use db::{Arg, Db};
pub use error::{problem, Context, Error, Result};
