//! One error type for every command, carrying the exit code's kind.

use std::fmt;
use std::path::Path;

use bae_sync::SyncError;

/// What kind of failure, as the exit code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Something local failed that the user did not cause (exit 1).
    Internal,
    /// The command line is wrong (exit 2, as clap's own errors).
    Usage,
    /// The bucket could not be reached, refused, or sync failed (exit 3).
    Bucket,
    /// Input data is wrong: an unreadable or corrupt audio file, an unknown
    /// id, a malformed key or one that does not open the bucket (exit 4).
    Data,
}

impl Kind {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Kind::Internal => 1,
            Kind::Usage => 2,
            Kind::Bucket => 3,
            Kind::Data => 4,
        }
    }
}

/// A command's failure: one line for the user and the exit code's kind.
#[derive(Debug)]
pub struct CliError {
    /// The kind.
    pub kind: Kind,
    /// What went wrong and where, in one line.
    pub message: String,
}

impl CliError {
    /// A failure of `kind`.
    pub fn new(kind: Kind, message: impl fmt::Display) -> CliError {
        // One line, whatever the source said.
        let message = message
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        CliError { kind, message }
    }

    /// A usage error.
    pub fn usage(message: impl fmt::Display) -> CliError {
        CliError::new(Kind::Usage, message)
    }

    /// A bucket or sync error.
    pub fn bucket(message: impl fmt::Display) -> CliError {
        CliError::new(Kind::Bucket, message)
    }

    /// A data error.
    pub fn data(message: impl fmt::Display) -> CliError {
        CliError::new(Kind::Data, message)
    }

    /// An internal error.
    pub fn internal(message: impl fmt::Display) -> CliError {
        CliError::new(Kind::Internal, message)
    }

    /// A local file-system failure at `path`.
    pub fn io(what: &str, path: &Path, e: &std::io::Error) -> CliError {
        CliError::internal(format!("cannot {what} {}: {e}", path.display()))
    }

    /// A failed sync step, classified: an object that does not decrypt is
    /// most likely a wrong key (data), everything else is the bucket's.
    pub fn sync(context: &str, e: SyncError) -> CliError {
        match &e {
            SyncError::Tampered { path, .. } => CliError::data(format!(
                "{context}: bucket object {path} does not decrypt with this library's key \
                 (a wrong key, or the object was modified)"
            )),
            SyncError::Database(_) | SyncError::ImageStore { .. } | SyncError::Write(_) => {
                CliError::internal(format!("{context}: {e}"))
            }
            SyncError::Bucket(b) => CliError::bucket(format!("{context}: {}", short_cause(b))),
            _ => CliError::bucket(format!("{context}: {e}")),
        }
    }
}

/// A bucket error's cause in a few words when it is a common network
/// failure (the SDK's own text runs to several hundred characters).
pub fn short_cause(e: &bae_bucket::BucketError) -> String {
    let text = e.to_string();
    if !e.is_transient() {
        text
    } else if text.contains("Connection refused") {
        "connection refused; is the store running at that endpoint?".to_owned()
    } else if text.contains("dns error") || text.contains("failed to lookup") {
        "the host name does not resolve; check the endpoint".to_owned()
    } else if text.contains("timed out") || text.to_lowercase().contains("timeout") {
        "the store did not answer in time".to_owned()
    } else {
        text
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;

impl From<rusqlite::Error> for CliError {
    fn from(e: rusqlite::Error) -> CliError {
        CliError::internal(format!("library database error: {e}"))
    }
}

impl From<bae_store::WriteError> for CliError {
    fn from(e: bae_store::WriteError) -> CliError {
        match e {
            bae_store::WriteError::NotFound { .. } | bae_store::WriteError::InvalidValue { .. } => {
                CliError::data(e)
            }
            other => CliError::internal(other),
        }
    }
}
