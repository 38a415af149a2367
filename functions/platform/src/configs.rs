//! Where the configuration documents live that the gateway administers and the handlers read on
//! their hot paths (through the CONFIG cache): registered forms and webhook sources.

use revops::ids::prefix;

use crate::resources::Store;

/// Registered HTML forms (`/v1/admin/forms`), read by intake for every post to `/f/{id}`.
pub static FORMS: Store = Store {
    table: "forms",
    id_prefix: prefix::FORM,
    what: "form",
};

/// Registered webhook sources (`/v1/admin/sources`), read by intake for every `/hooks/{id}`.
pub static SOURCES: Store = Store {
    table: "webhook_sources",
    id_prefix: prefix::SOURCE,
    what: "webhook source",
};
