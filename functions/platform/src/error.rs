//! The one error type at the handler boundary, and its single mapping to HTTP.
//!
//! A [`Problem`] is a deliberate answer to the client (validation, not found, ...). Everything
//! else is `Internal`: its cause is logged with the request id and the client sees an opaque 500.

use revops::problem::{Problem, ProblemKind};

#[derive(Debug)]
pub enum Error {
    /// A deliberate, client-facing problem.
    Problem(Problem),
    /// An unexpected failure; the text is for logs only.
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn internal(what: impl Into<String>) -> Error {
        Error::Internal(what.into())
    }

    /// Whether this is a D1 constraint violation (a UNIQUE or PRIMARY KEY clash).
    pub fn is_constraint_violation(&self) -> bool {
        matches!(self, Error::Internal(msg) if msg.contains("constraint failed"))
    }

    pub fn problem(&self) -> Problem {
        match self {
            Error::Problem(p) => p.clone(),
            Error::Internal(_) => Problem::internal(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Problem(p) => write!(f, "{p}"),
            Error::Internal(msg) => write!(f, "internal: {msg}"),
        }
    }
}

impl From<Problem> for Error {
    fn from(p: Problem) -> Self {
        Error::Problem(p)
    }
}

impl From<worker::Error> for Error {
    fn from(e: worker::Error) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<worker::KvError> for Error {
    fn from(e: worker::KvError) -> Self {
        Error::Internal(format!("kv: {e:?}"))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(format!("json: {e}"))
    }
}

/// Adds what was being done to an internal error, like `anyhow::Context`.
pub trait Context<T> {
    fn context(self, what: &str) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: &str) -> Result<T> {
        self.map_err(|e| match e.into() {
            Error::Internal(msg) => Error::Internal(format!("{what}: {msg}")),
            problem => problem,
        })
    }
}

/// Shorthand for returning a problem: `return Err(problem(ProblemKind::NotFound, "..."))`.
pub fn problem(kind: ProblemKind, detail: impl Into<String>) -> Error {
    Error::Problem(Problem::new(kind, detail))
}
