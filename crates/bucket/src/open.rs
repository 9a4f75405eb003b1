//! Opening a bucket from a [`BucketUrl`].

use std::path::PathBuf;
use std::sync::Arc;

use crate::bucket::Bucket;
use crate::local::LocalDirBucket;
use crate::memory::MemoryBucket;
use crate::retry::{RetryPolicy, Retrying};
use crate::s3::{S3Bucket, S3Credentials};
use crate::url::BucketUrl;

/// Why a bucket could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The local directory does not exist.
    #[error("bucket directory {} does not exist; create it first (or use LocalDirBucket::create)", path.display())]
    DirectoryMissing {
        /// The directory.
        path: PathBuf,
    },
    /// The local path is not a directory.
    #[error("bucket path {} is not a directory; point the bucket url at a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The local directory could not be read or created.
    #[error("cannot use bucket directory {}: {detail}", path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        detail: String,
    },
    /// An S3 setting is invalid.
    #[error("invalid s3 {field}: {detail}")]
    InvalidS3Config {
        /// The setting at fault (`bucket`, `prefix`, `endpoint`).
        field: &'static str,
        /// What is wrong and how to fix it.
        detail: String,
    },
}

/// Settings of [`open_bucket`] that do not belong in a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// Credentials for `s3://` URLs; `None` keeps the URL's default (the AWS chain).
    pub credentials: Option<S3Credentials>,
    /// Wrap the bucket in [`Retrying`] with this policy; `None` for no retries.
    pub retry: Option<RetryPolicy>,
}

impl Default for OpenOptions {
    /// The AWS credential chain and [`RetryPolicy::default`].
    fn default() -> Self {
        Self {
            credentials: None,
            retry: Some(RetryPolicy::default()),
        }
    }
}

/// Opens the bucket `url` names: [`S3Bucket`] for `s3://`, [`LocalDirBucket`]
/// for `file://` (the directory must exist), [`MemoryBucket::named`] for
/// `mem://`; wrapped in [`Retrying`] when `options.retry` is set.
pub async fn open_bucket(
    url: &BucketUrl,
    options: &OpenOptions,
) -> Result<Arc<dyn Bucket>, OpenError> {
    let bucket: Arc<dyn Bucket> = match url {
        BucketUrl::S3(config) => {
            let mut config = config.clone();
            if let Some(credentials) = &options.credentials {
                config.credentials = credentials.clone();
            }
            Arc::new(S3Bucket::from_config(config).await?)
        }
        BucketUrl::File(path) => Arc::new(LocalDirBucket::open(path)?),
        BucketUrl::Memory(name) => Arc::new(MemoryBucket::named(name)),
    };
    Ok(match &options.retry {
        Some(policy) => Arc::new(Retrying::new(bucket, policy.clone())),
        None => bucket,
    })
}
