//! The error of bucket operations.

use std::fmt;
use std::path::PathBuf;

use crate::key::{KeyError, ObjectKey};

/// The kind of a bucket request, for errors and request counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Operation {
    /// [`Bucket::put`](crate::Bucket::put).
    Put,
    /// [`Bucket::put_if_absent`](crate::Bucket::put_if_absent).
    PutIfAbsent,
    /// [`Bucket::get`](crate::Bucket::get).
    Get,
    /// [`Bucket::get_range`](crate::Bucket::get_range).
    GetRange,
    /// [`Bucket::head`](crate::Bucket::head).
    Head,
    /// [`Bucket::list`](crate::Bucket::list) (one page).
    List,
    /// [`Bucket::delete`](crate::Bucket::delete).
    Delete,
}

impl Operation {
    /// Every operation, in declaration order.
    pub const ALL: [Operation; 7] = [
        Operation::Put,
        Operation::PutIfAbsent,
        Operation::Get,
        Operation::GetRange,
        Operation::Head,
        Operation::List,
        Operation::Delete,
    ];

    /// Lowercase name, as in the trait.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Put => "put",
            Operation::PutIfAbsent => "put_if_absent",
            Operation::Get => "get",
            Operation::GetRange => "get_range",
            Operation::Head => "head",
            Operation::List => "list",
            Operation::Delete => "delete",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong in a bucket operation.
///
/// Use [`BucketError::is_not_found`] and [`BucketError::is_transient`] to
/// decide what to do; the variants carry the details for messages and tests.
/// `target` fields hold the key (or, for `list`, the prefix) concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BucketError {
    /// No object exists under the key.
    #[error("object '{key}' not found in the bucket")]
    NotFound {
        /// The key that was asked for.
        key: ObjectKey,
    },
    /// The byte range is inverted or reaches past the end of the object.
    #[error(
        "byte range {start}..{end} of object '{key}' is not satisfiable{}; \
         ask for a range inside 0..size (head gives the size)",
        size.map(|s| format!(" (the object has {s} bytes)")).unwrap_or_default()
    )]
    InvalidRange {
        /// The object.
        key: ObjectKey,
        /// First byte asked for.
        start: u64,
        /// One past the last byte asked for.
        end: u64,
        /// The object's size, when the store told it.
        size: Option<u64>,
    },
    /// The list prefix breaks the key rules.
    #[error("invalid list prefix {prefix:?}: {reason}")]
    InvalidPrefix {
        /// The prefix as given.
        prefix: String,
        /// The rule it breaks.
        #[source]
        reason: KeyError,
    },
    /// The store rejected the conditional create (`If-None-Match: *`) that `put_if_absent` needs.
    #[error(
        "the store does not support conditional create (If-None-Match: *), needed to write \
         '{key}' exactly once: {detail}; use a store that supports it (AWS S3, SeaweedFS, \
         s3s, a local directory)"
    )]
    ConditionalCreateUnsupported {
        /// The key that was being created.
        key: ObjectKey,
        /// What the store answered.
        detail: String,
    },
    /// The store refused the credentials or the operation (HTTP 403).
    #[error(
        "access denied for {op} of '{target}': {detail}; check the credentials and the bucket policy"
    )]
    AccessDenied {
        /// The refused operation.
        op: Operation,
        /// Key or prefix concerned.
        target: String,
        /// What the store answered.
        detail: String,
    },
    /// The bucket itself does not exist.
    #[error("bucket '{bucket}' does not exist; create it or fix the bucket url")]
    NoSuchBucket {
        /// The bucket name.
        bucket: String,
    },
    /// A failure that may go away when retried: timeout, connection error, 5xx, throttling.
    #[error("transient failure during {op} of '{target}': {detail}; retry later")]
    Transient {
        /// The failed operation.
        op: Operation,
        /// Key or prefix concerned.
        target: String,
        /// What happened.
        detail: String,
    },
    /// [`Retrying`](crate::Retrying) gave up after transient failures.
    #[error("gave up on {op} of '{target}' after {attempts} attempts; last error: {last}")]
    RetriesExhausted {
        /// The failed operation.
        op: Operation,
        /// Key or prefix concerned.
        target: String,
        /// How many attempts were made in total.
        attempts: u32,
        /// The error of the last attempt.
        #[source]
        last: Box<BucketError>,
    },
    /// A local-directory bucket hit a filesystem error.
    #[error("{op} of '{target}' failed in the local directory {}: {detail}", path.display())]
    Io {
        /// The failed operation.
        op: Operation,
        /// Key or prefix concerned.
        target: String,
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error, with a hint where one helps.
        detail: String,
    },
    /// Any other refusal or malformed answer from the store.
    #[error("the store failed {op} of '{target}': {detail}")]
    Store {
        /// The failed operation.
        op: Operation,
        /// Key or prefix concerned.
        target: String,
        /// What the store answered.
        detail: String,
    },
}

impl BucketError {
    /// True for [`BucketError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, BucketError::NotFound { .. })
    }

    /// True when trying again later may succeed: [`BucketError::Transient`],
    /// and [`BucketError::RetriesExhausted`] (the store may recover).
    /// [`Retrying`](crate::Retrying) retries only `Transient`.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BucketError::Transient { .. } | BucketError::RetriesExhausted { .. }
        )
    }

    /// A [`BucketError::Transient`].
    pub fn transient(op: Operation, target: impl Into<String>, detail: impl Into<String>) -> Self {
        BucketError::Transient {
            op,
            target: target.into(),
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let key = ObjectKey::new("a").unwrap();
        assert!(BucketError::NotFound { key: key.clone() }.is_not_found());
        assert!(!BucketError::NotFound { key }.is_transient());
        let t = BucketError::transient(Operation::Get, "a", "timeout");
        assert!(t.is_transient());
        assert!(!t.is_not_found());
        let denied = BucketError::AccessDenied {
            op: Operation::Put,
            target: "a".into(),
            detail: "403".into(),
        };
        assert!(!denied.is_transient());
        let ex = BucketError::RetriesExhausted {
            op: Operation::Get,
            target: "a".into(),
            attempts: 3,
            last: Box::new(t),
        };
        assert!(ex.is_transient());
        let msg = ex.to_string();
        assert!(
            msg.contains("after 3 attempts") && msg.contains("timeout"),
            "{msg}"
        );
    }

    #[test]
    fn range_message_mentions_size_when_known() {
        let key = ObjectKey::new("a").unwrap();
        let e = BucketError::InvalidRange {
            key: key.clone(),
            start: 5,
            end: 20,
            size: Some(10),
        };
        assert!(e.to_string().contains("the object has 10 bytes"), "{e}");
        let e = BucketError::InvalidRange {
            key,
            start: 5,
            end: 20,
            size: None,
        };
        assert!(!e.to_string().contains("the object has"), "{e}");
    }
}
