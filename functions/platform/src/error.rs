//! The one error type at the handler boundary, and its single mapping to HTTP.
//!
//! A [`Problem`] is a deliberate answer to the client (validation, not found, ...). Everything
//! else is `Internal`: its cause is logged with the request id and the client sees an opaque 500.

use revops::problem::{Problem, ProblemKind};

#[derive(Debug)]
pub enum Error {
    /// A deliberate, client-facing problem.
    Problem(Problem),
    /// An unexpected failure: what went wrong, what was being done, and where; for logs only.
    Internal(Internal),
}

/// An unexpected failure as the logs see it: its cause first, then each thing that was being
/// done around it ([`Context::context`] adds one), and the source line it was raised at (the
/// `?` that turned a runtime error into ours, or the call to [`Error::internal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Internal {
    /// Outermost first: `["forwarding to scoring", "d1: no such table: x"]`.
    pub chain: Vec<String>,
    pub at: &'static std::panic::Location<'static>,
}

impl Internal {
    /// The chain without the location: what went wrong, in words.
    pub fn message(&self) -> String {
        self.chain.join(": ")
    }
}

impl std::fmt::Display for Internal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (at {}:{})",
            self.message(),
            self.at.file(),
            self.at.line()
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    #[track_caller]
    pub fn internal(what: impl Into<String>) -> Error {
        Error::Internal(Internal {
            chain: vec![what.into()],
            at: std::panic::Location::caller(),
        })
    }

    /// Whether this is a D1 constraint violation (a UNIQUE or PRIMARY KEY clash).
    pub fn is_constraint_violation(&self) -> bool {
        matches!(self, Error::Internal(i) if i.chain.iter().any(|m| m.contains("constraint failed")))
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
            Error::Internal(i) => write!(f, "internal: {i}"),
        }
    }
}

impl From<Problem> for Error {
    fn from(p: Problem) -> Self {
        Error::Problem(p)
    }
}

impl From<worker::Error> for Error {
    #[track_caller]
    fn from(e: worker::Error) -> Self {
        Error::internal(e.to_string())
    }
}

impl From<worker::KvError> for Error {
    #[track_caller]
    fn from(e: worker::KvError) -> Self {
        Error::internal(format!("kv: {e:?}"))
    }
}

impl From<serde_json::Error> for Error {
    #[track_caller]
    fn from(e: serde_json::Error) -> Self {
        Error::internal(format!("json: {e}"))
    }
}

/// Adds what was being done to an internal error, like `anyhow::Context`; the error keeps the
/// place it was raised at.
pub trait Context<T> {
    fn context(self, what: &str) -> Result<T>;
}

impl<T, E> Context<T> for std::result::Result<T, E>
where
    Error: From<E>,
{
    #[track_caller]
    fn context(self, what: &str) -> Result<T> {
        match self {
            Ok(v) => Ok(v),
            // A runtime error becomes ours here (its `From` records this caller's line); one of
            // ours keeps the line it was raised at.
            Err(e) => Err(match Error::from(e) {
                Error::Internal(mut i) => {
                    i.chain.insert(0, what.to_string());
                    Error::Internal(i)
                }
                problem => problem,
            }),
        }
    }
}

/// Shorthand for returning a problem: `return Err(problem(ProblemKind::NotFound, "..."))`.
pub fn problem(kind: ProblemKind, detail: impl Into<String>) -> Error {
    Error::Problem(Problem::new(kind, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Value> {
        Ok(serde_json::from_str(text)?)
    }
    use serde_json::Value;

    #[test]
    fn an_internal_error_keeps_its_cause_what_was_being_done_and_where() {
        let line = line!() + 1;
        let e = Error::internal("d1: no such table: x");
        let Error::Internal(i) = &e else {
            panic!("{e:?}")
        };
        assert_eq!((i.at.file(), i.at.line()), (file!(), line));
        let wrapped = Err::<(), _>(e).context("reading the lead").unwrap_err();
        let Error::Internal(i) = wrapped else {
            panic!()
        };
        assert_eq!(i.chain, ["reading the lead", "d1: no such table: x"]);
        assert_eq!(i.at.line(), line, "the origin, not where context was added");
        assert!(i
            .to_string()
            .starts_with("reading the lead: d1: no such table: x (at "));
    }

    #[test]
    fn a_question_mark_records_the_line_it_is_on() {
        let Err(Error::Internal(i)) = parse("{") else {
            panic!()
        };
        assert!(i.message().starts_with("json: "), "{i}");
        assert_eq!(i.at.file(), file!());
        // The `?` inside `parse`, a few lines above this test.
        assert!(i.at.line() < line!());
    }

    #[test]
    fn clients_see_only_an_opaque_problem() {
        let e = Error::internal("secret detail");
        assert_eq!(e.problem(), Problem::internal());
    }
}
