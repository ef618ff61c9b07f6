//! The CRM domain: reps, credentials, clients, contacts, activities, notes, visibility and the
//! write rules. No HTTP and no XML here.

pub mod credentials;
pub mod demo;
pub mod reps;

use thiserror::Error;

/// A domain error that callers turn into a protocol answer (status, DAV precondition, message).
#[derive(Debug, Error)]
pub enum CrmError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for CrmError {
    fn from(e: sqlx::Error) -> Self {
        CrmError::Internal(e.into())
    }
}
