//! WebDAV core: protocol only (XML requests, multistatus, preconditions). No CRM here.

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
pub mod reply;
pub mod request;
mod tree;
