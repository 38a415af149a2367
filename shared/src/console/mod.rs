//! The console's pages as pure functions: what each page shows is computed here from what the
//! handlers' APIs answered, so the view models and the SVG charts are tested on the host. The
//! console worker fetches, calls these, and answers.

pub mod chart;
pub mod definitions;
pub mod layout;
pub mod leads;
pub mod operations;
pub mod overview;
pub mod session;
pub mod story;
pub mod workflows;

use serde_json::Value;

/// A string member of an API answer, or nothing.
pub(crate) fn s<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key].as_str().unwrap_or("")
}

/// An array member of an API answer (or of no answer), or none.
pub(crate) fn items<'v>(v: Option<&'v Value>, key: &str) -> &'v [Value] {
    v.and_then(|v| v[key].as_array()).map_or(&[], Vec::as_slice)
}
