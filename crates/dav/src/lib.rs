//! WebDAV core: protocol only (XML requests, multistatus, preconditions, the `Collection` trait
//! that each kind of collection implements). A crate of its own so that it cannot import the CRM,
//! the store or the server: Cargo refuses it.

// Protocol helpers return a ready HTTP answer as their error (`Result<_, Reply>`) so that handlers
// can `?`/early-return it; the answer is large by nature and is built once per request.
#![allow(clippy::result_large_err)]

pub mod body;
pub mod collection;
pub mod conditions;
pub mod error;
pub mod filter;
pub mod members;
pub mod mkcol;
pub mod multistatus;
pub mod names;
pub mod path;
pub mod push;
pub mod reply;
pub mod request;
mod tree;
