//! Errors of the device agent.

use std::path::PathBuf;

/// Why the device agent, or one of its card operations, failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The configuration is unusable (missing or malformed value).
    #[error("configuration: {0}")]
    Config(String),
    /// A file of a card directory or an issued eUICC could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A persisted card state or an issued-eUICC file does not decode.
    #[error("{}: {reason}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong (never key material).
        reason: String,
    },
    /// The card could not be built (bootstrap profile refused, template unusable).
    #[error("card: {0}")]
    Card(String),
    /// The SMSC refused the bind or could not be reached.
    #[error("SMSC: {0}")]
    Smsc(#[from] esim_smpp::EsmeError),
    /// An SCP81 administration session (or an HTTPS notification) failed.
    #[error("admin session: {0}")]
    Admin(String),
    /// A control request was malformed or refused.
    #[error("control: {0}")]
    Control(String),
}

impl DeviceError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DeviceError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn bad_file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        DeviceError::BadFile {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
