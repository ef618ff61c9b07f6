//! crmdav: a CalDAV/CardDAV bridge whose collections are per-rep views of a CRM database.
//!
//! Dependency direction: `http -> {caldav, carddav} -> dav`, `caldav -> mapping -> crm -> store`.
//! `dav` is its own crate (`crates/dav`) and knows nothing of the CRM, the store or the server;
//! `crm` knows nothing of HTTP or XML.

// Protocol helpers return a ready HTTP answer as their error (`Result<_, Reply>`) so that handlers
// can `?`/early-return it; the answer is large by nature and is built once per request.
#![allow(clippy::result_large_err)]

pub mod caldav;
pub mod carddav;
pub mod config;
pub mod crm;
pub use dav;
pub mod feeds;
pub mod http;
pub mod import;
pub mod mapping;
pub mod push;
pub mod reports;
pub mod store;
pub mod web;
