//! Errors of the storage layer.

/// What went wrong in a store call.
///
/// Messages never carry key material: sealed blobs are opaque and the
/// backends' messages are about SQL and connections, not about values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No record with this key (`what` names the record kind, `key` the key).
    #[error("{what} {key} not found")]
    NotFound {
        /// Record kind (`"eis"`, `"profile"`, `"operation"`, ...).
        what: &'static str,
        /// The key that was looked up.
        key: String,
    },
    /// A record with this key already exists (unique constraint).
    #[error("{what} {key} already exists")]
    Duplicate {
        /// Record kind.
        what: &'static str,
        /// The conflicting key.
        key: String,
    },
    /// Optimistic concurrency: the record changed since the caller read it
    /// (its version is no longer `expected`).
    #[error("{what} {key} was changed concurrently (expected version {expected})")]
    VersionMismatch {
        /// Record kind.
        what: &'static str,
        /// The record key.
        key: String,
        /// The version the caller based its change on.
        expected: i64,
    },
    /// The record is not in a state that allows this change
    /// (e.g. releasing an inventory profile that was never allocated,
    /// acknowledging a command leased by someone else).
    #[error("{what} {key}: {detail}")]
    InvalidState {
        /// Record kind.
        what: &'static str,
        /// The record key.
        key: String,
        /// Why the change is refused.
        detail: String,
    },
    /// A bounded resource ran out (no available inventory profile of a type,
    /// SCP80 counter at its 5-byte maximum).
    #[error("{0}")]
    Exhausted(String),
    /// A stored row could not be decoded into a record (corrupt or foreign data).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Sealing or opening a secret failed (wrong key, tampered blob, unknown key id).
    #[error("sealed secret: {0}")]
    Seal(String),
    /// The database backend failed (connection, SQL, migration).
    #[error("storage backend: {0}")]
    Backend(String),
}

impl StoreError {
    pub(crate) fn not_found(what: &'static str, key: impl ToString) -> Self {
        Self::NotFound {
            what,
            key: key.to_string(),
        }
    }

    pub(crate) fn duplicate(what: &'static str, key: impl ToString) -> Self {
        Self::Duplicate {
            what,
            key: key.to_string(),
        }
    }

    pub(crate) fn invalid(what: &'static str, key: impl ToString, detail: impl ToString) -> Self {
        Self::InvalidState {
            what,
            key: key.to_string(),
            detail: detail.to_string(),
        }
    }

    /// Whether this is a conflict a caller may resolve by re-reading and retrying
    /// ([`StoreError::Duplicate`] or [`StoreError::VersionMismatch`]).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Duplicate { .. } | Self::VersionMismatch { .. })
    }
}

/// Result of store calls.
pub type StoreResult<T> = Result<T, StoreError>;
