//! Intake: what arrives from web forms, marketing tools and vendor webhooks becomes a clean,
//! de-duplicated lead. Everything here is pure; the intake handler stores what it decides.

pub mod activity;
pub mod body;
pub mod countries;
pub mod country;
pub mod email;
pub mod employees;
pub mod fields;
pub mod form;
pub mod lead;
pub mod names;
pub mod normalize;
pub mod phone;
pub mod search;
pub mod source;
pub mod stats;
pub mod submission;
