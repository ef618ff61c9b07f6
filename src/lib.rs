//! crmdav: a CalDAV/CardDAV bridge whose collections are per-rep views of a CRM database.
//!
//! Dependency direction (see DESIGN.md): `http -> dav -> {caldav, carddav} -> crm <- mapping`,
//! `crm -> store`. `dav` knows nothing of the CRM; `crm` knows nothing of HTTP or XML.

pub mod caldav;
pub mod carddav;
pub mod config;
pub mod crm;
pub mod dav;
pub mod http;
pub mod mapping;
pub mod store;
