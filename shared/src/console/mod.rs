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
