use bae_bucket::BucketError;
use bae_crypto::DecryptError;
use bae_hlc::DeviceId;

/// Why a sync step stopped. Nothing committed locally is lost by any of
/// them: a step that fails leaves the library as the last completed batch
/// left it, and the next step resumes.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The bucket refused or could not be reached (after retries).
    #[error("bucket request failed: {0}")]
    Bucket(#[from] BucketError),
    /// An object failed decryption: it was modified, truncated, moved from
    /// another path, or is under another library key.
    #[error("object {path} failed authentication ({source}); it is not used")]
    Tampered {
        /// The object.
        path: String,
        /// What decryption said.
        source: DecryptError,
    },
    /// An object decrypted but its content is not what its path promises.
    #[error("object {path} is malformed: {reason}")]
    Malformed {
        /// The object.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Merging a batch failed.
    #[error(transparent)]
    Merge(#[from] bae_merge::MergeError),
    /// A local write made by sync failed.
    #[error(transparent)]
    Write(#[from] bae_store::WriteError),
    /// The local database failed.
    #[error("library database error during sync: {0}")]
    Database(#[from] rusqlite::Error),
    /// A batch object with this device's seq exists and holds different ops.
    #[error(
        "batch {seq} of device {device} in the bucket differs from the local one: the device id is in use twice"
    )]
    SeqConflict {
        /// This device.
        device: DeviceId,
        /// The seq.
        seq: u64,
    },
    /// A batch that inserts an image cannot be pushed before the image's
    /// bytes, and they are not in the local image store.
    #[error("cannot push batch {seq}: the bytes of image {image_id} are missing from {dir}")]
    ImageBytesMissing {
        /// The batch held back.
        seq: u64,
        /// The image.
        image_id: String,
        /// The image store directory.
        dir: String,
    },
    /// The local image store failed.
    #[error("image store {path}: {source}")]
    ImageStore {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A large checkpoint could not be spooled to a temporary file while
    /// booting (a full disk, most likely); the device keeps the state it has.
    #[error(
        "checkpoint {id} could not be spooled to a temporary file ({source}): \
         free space in the temporary directory (TMPDIR) and sync again"
    )]
    Spool {
        /// The checkpoint.
        id: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A checkpoint is incomplete, torn or from a newer bae; the device keeps
    /// the state it has.
    #[error("checkpoint {id} cannot be used: {reason}")]
    CheckpointUnusable {
        /// The checkpoint.
        id: String,
        /// Why.
        reason: String,
    },
    /// A batch this device needs was collected and no checkpoint covers it.
    #[error("batch {seq} of device {device} is gone from the bucket and no checkpoint covers it")]
    Unrecoverable {
        /// The device.
        device: DeviceId,
        /// The missing batch.
        seq: u64,
    },
}
