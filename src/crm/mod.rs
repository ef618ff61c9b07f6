//! The CRM domain: reps, credentials, clients, contacts, activities, notes, visibility and the
//! write rules. No HTTP and no XML here.

pub mod activities;
pub mod addressbook;
pub mod audio_duration;
pub mod audit;
pub mod closing_note;
pub mod credentials;
pub mod demo;
pub mod figures;
pub mod notes;
pub mod prospects;
pub mod reassign;
pub mod report_tasks;
pub mod reps;
pub mod rules;
pub mod teams;
pub mod visibility;
pub mod voice_notes;

use thiserror::Error;

use crate::config::Config;
use crate::store::Store;

/// Who is acting, through which device, on which database: what every CRM operation on behalf of
/// a rep needs.
pub struct Session<'a> {
    pub store: &'a Store,
    pub config: &'a Config,
    pub rep: &'a reps::Rep,
    /// The device's User-Agent, recorded in the audit log.
    pub device: &'a str,
    /// For a read request, the change_log's newest sequence when it arrived (read with its
    /// credential): collections known to be up to date at it are served without another check.
    /// None for writes, which must see what they wrote, and wherever it was not read.
    pub change_seq: Option<i64>,
}

/// A domain error that callers turn into a protocol answer (status, DAV precondition, message).
#[derive(Debug, Error)]
pub enum CrmError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// Completing an activity without a note (the CRM's key business rule).
    #[error("{0}")]
    NoteRequired(String),
    /// A note over the configured size (`calendar.max_note_bytes`).
    #[error("{0}")]
    NoteTooLong(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for CrmError {
    fn from(e: sqlx::Error) -> Self {
        CrmError::Internal(e.into())
    }
}
