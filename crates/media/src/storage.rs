//! The bucket as file storage: each audio file encrypted in the chunked
//! format under `storage/{ab}/{cd}/{file_id}`, its path bound into every
//! chunk, so a server can stream byte ranges and decrypt them alone.

use std::sync::Arc;

use bae_bucket::{Bucket, BucketError, PutOutcome};
use bae_crypto::LibraryKey;
use bae_store::writes;
use bae_sync::{SharedLibrary, layout};
use bytes::Bytes;
use sha2::{Digest as _, Sha256};

use crate::import::{Problem, Progress};
use crate::probe::{hex, io_reason};

/// Uploads audio files to a bucket, encrypted under the library key.
pub struct FileStorage {
    bucket: Arc<dyn Bucket>,
    key: LibraryKey,
}

impl std::fmt::Debug for FileStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStorage")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// What [`FileStorage::upload_pending`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// Files uploaded now.
    pub uploaded: usize,
    /// Files found already in the bucket (an earlier upload whose record was
    /// lost); recorded as uploaded.
    pub already_there: usize,
    /// Plaintext bytes uploaded.
    pub bytes: u64,
    /// Files that could not be uploaded; they are tried again next time.
    pub problems: Vec<Problem>,
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The bucket failed.
    #[error(transparent)]
    Bucket(#[from] BucketError),
    /// The object failed decryption: tampered, or under another key.
    #[error("storage object {path} failed authentication: {source}")]
    Tampered {
        /// The object.
        path: String,
        /// What decryption said.
        source: bae_crypto::DecryptError,
    },
    /// The local database failed.
    #[error("library database error: {0}")]
    Database(#[from] rusqlite::Error),
}

struct Pending {
    id: String,
    path: String,
    hash: Option<String>,
    size: i64,
}

impl FileStorage {
    /// File storage in `bucket` under `key`.
    pub fn new(bucket: Arc<dyn Bucket>, key: LibraryKey) -> FileStorage {
        FileStorage { bucket, key }
    }

    /// The bucket.
    pub fn bucket(&self) -> &Arc<dyn Bucket> {
        &self.bucket
    }

    /// Encrypts `plaintext` and stores it as file `file_id`, unless an
    /// object is already there. Returns the base nonce of the stored object.
    pub async fn upload(&self, file_id: &str, plaintext: &[u8]) -> Result<[u8; 24], StorageError> {
        let key = layout::storage(file_id);
        let nonce = bae_crypto::random_nonce();
        let sealed = bae_crypto::encrypt(&self.key, key.as_str(), plaintext, nonce);
        match self.bucket.put_if_absent(&key, Bytes::from(sealed)).await? {
            PutOutcome::Created => Ok(nonce),
            PutOutcome::AlreadyExists => {
                // Uploaded before, its record lost: the nonce is the object's
                // first 24 bytes.
                let head = self.bucket.get_range(&key, 0..24).await?;
                let mut nonce = [0u8; 24];
                nonce.copy_from_slice(&head);
                Ok(nonce)
            }
        }
    }

    /// Downloads and decrypts file `file_id`.
    pub async fn download(&self, file_id: &str) -> Result<Vec<u8>, StorageError> {
        let key = layout::storage(file_id);
        let sealed = self.bucket.get(&key).await?;
        bae_crypto::decrypt(&self.key, key.as_str(), &sealed).map_err(|source| {
            StorageError::Tampered {
                path: key.as_str().to_owned(),
                source,
            }
        })
    }

    /// Uploads every file this device keeps (`files.source_path` set) that
    /// is not in the storage yet (`files.encryption_nonce` unset), then
    /// records the nonce: a device-local column, so no op batch. A file
    /// that changed since it was imported (its SHA-256 differs) is not
    /// uploaded. Failures are reported per file; the rest goes on.
    pub async fn upload_pending(
        &self,
        lib: &SharedLibrary,
        progress: &dyn Progress,
    ) -> UploadReport {
        let mut report = UploadReport::default();
        let pending = match pending(lib) {
            Ok(p) => p,
            Err(e) => {
                report.problems.push(Problem {
                    path: "library.db".into(),
                    reason: format!("cannot list files to upload: {e}"),
                });
                return report;
            }
        };
        progress.upload_start(
            pending.len() as u64,
            pending.iter().map(|p| p.size.max(0) as u64).sum(),
        );
        for file in pending {
            let problem = |reason: String| Problem {
                path: file.path.clone().into(),
                reason,
            };
            let bytes = match std::fs::read(&file.path) {
                Ok(b) => b,
                Err(e) => {
                    report
                        .problems
                        .push(problem(format!("not uploaded: {}", io_reason(&e))));
                    progress.uploaded(file.size.max(0) as u64);
                    continue;
                }
            };
            if let Some(hash) = &file.hash
                && *hash != hex(&Sha256::digest(&bytes))
            {
                report.problems.push(problem(
                    "not uploaded: the file changed since it was imported".to_owned(),
                ));
                progress.uploaded(file.size.max(0) as u64);
                continue;
            }
            let existed = self.bucket.head(&layout::storage(&file.id)).await.is_ok();
            match self.upload(&file.id, &bytes).await {
                Ok(nonce) => {
                    let recorded = lib.lock().expect("library mutex poisoned").write(|w| {
                        writes::set_file_location(w, &file.id, Some(&file.path), Some(&nonce))
                    });
                    match recorded {
                        Ok(()) if existed => report.already_there += 1,
                        Ok(()) => {
                            report.uploaded += 1;
                            report.bytes += bytes.len() as u64;
                        }
                        // Deleted meanwhile: the object is an orphan, harmless.
                        Err(bae_store::WriteError::NotFound { .. }) => {}
                        Err(e) => report
                            .problems
                            .push(problem(format!("uploaded, but not recorded: {e}"))),
                    }
                }
                Err(e) => report.problems.push(problem(format!("not uploaded: {e}"))),
            }
            progress.uploaded(bytes.len() as u64);
        }
        progress.upload_done();
        report
    }
}

fn pending(lib: &SharedLibrary) -> rusqlite::Result<Vec<Pending>> {
    let l = lib.lock().expect("library mutex poisoned");
    let mut stmt = l.database().conn().prepare(
        "SELECT id, source_path, content_hash, file_size FROM files \
         WHERE source_path IS NOT NULL AND encryption_nonce IS NULL ORDER BY source_path",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Pending {
            id: r.get(0)?,
            path: r.get(1)?,
            hash: r.get(2)?,
            size: r.get(3)?,
        })
    })?;
    rows.collect()
}
