//! The one error type of the core. Every variant names what was wrong so that the binding and
//! the daemon can map it to a precise Python exception or gRPC status without parsing text.

use thiserror::Error;

/// Why a core call was refused. Calls that return `Err` have changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// A field of the request is malformed or out of range.
    #[error("invalid {field}: {reason}")]
    InvalidRequest { field: String, reason: String },
    /// An id that must exist does not.
    #[error("{kind} not found: {id:?}")]
    NotFound { kind: &'static str, id: String },
    /// The request collides with existing state (duplicate id, stale plan).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The request is valid but there is no room for it now.
    #[error("no capacity: {0}")]
    Capacity(String),
    /// No node can take the workload; `excluded` counts GPUs ruled out per constraint.
    #[error("{message}")]
    NoFit {
        message: String,
        excluded: Vec<(String, u64)>,
    },
    /// Admission refused by quota, limit, rate or budget.
    #[error("quota exceeded: {0}")]
    Quota(String),
    /// A snapshot could not be read (damaged, foreign or from a newer version).
    #[error("bad snapshot: {0}")]
    Snapshot(String),
}

impl Error {
    /// Shorthand for [`Error::InvalidRequest`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidRequest {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Error::NotFound {
            kind,
            id: id.into(),
        }
    }
}

/// Result alias used across the core.
pub type Result<T> = std::result::Result<T, Error>;
