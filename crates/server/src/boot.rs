//! Booting a library from its bucket into the local cache.
//!
//! The cache directory holds:
//!
//! ```text
//! {cache}/library/      the library (config.yaml, library.db in WAL mode)
//! {cache}/images/       image bytes fetched from the bucket
//! {cache}/cache.json    which bucket and key the cache belongs to
//! {cache}/lock          held while a server uses the cache
//! ```
//!
//! A fresh cache boots from the newest checkpoint that decrypts (older ones
//! if it does not; none at all if none does), then replays the batches
//! after it. A cache that belongs to the same bucket and key resumes: only
//! batches newer than its cursors are fetched.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bae_bucket::{Bucket, BucketUrl, OpenOptions};
use bae_crypto::LibraryKey;
use bae_library::{LibraryManager, LibraryOptions};
use bae_sync::{
    ImageStore, PullReport, RandomNonces, SharedLibrary, SyncConfig, SyncError, Syncer, layout,
};

use crate::bucket::ReadOnlyBucket;
use crate::media::Problems;

/// Why the server could not boot. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The key file is unreadable or not a library key.
    #[error("cannot use key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key does not decrypt this bucket's objects.
    #[error(
        "the library key does not open this bucket: {tried} failed authentication under it. \
         The key file belongs to another library, or the bucket url points at another \
         library's bucket; export the key of this library (bae key export) and try again"
    )]
    WrongKey {
        /// The objects tried.
        tried: String,
    },
    /// The bucket could not be opened.
    #[error("cannot open bucket {url}: {reason}")]
    Bucket {
        /// The bucket URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The cache directory cannot be used.
    #[error("cache directory {path}: {reason}")]
    Cache {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Sync failed during the bootstrap.
    #[error("bootstrap from the bucket failed: {0}")]
    Sync(#[from] SyncError),
}

/// Reads a library key file: the 32 key bytes as 64 hex digits (the form
/// `bae key export` writes; whitespace and a `bae-library-key:` label are
/// ignored), or the 32 raw bytes.
pub fn read_key_file(path: &Path) -> Result<LibraryKey, BootError> {
    let err = |reason: String| BootError::KeyFile {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    parse_key(&bytes).map_err(err)
}

/// Parses the contents of a key file (see [`read_key_file`]).
pub fn parse_key(bytes: &[u8]) -> Result<LibraryKey, String> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let hex_text: String = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.rsplit_once(':').map_or(l, |(_, v)| v).trim().to_owned())
            .collect();
        if hex_text.len() == 64 {
            let decoded = hex::decode(&hex_text)
                .map_err(|e| format!("64 characters but not hex digits ({e})"))?;
            let key: [u8; 32] = decoded.try_into().expect("64 hex digits are 32 bytes");
            return Ok(LibraryKey::from_bytes(key));
        }
    }
    if let Ok(raw) = <[u8; 32]>::try_from(bytes) {
        return Ok(LibraryKey::from_bytes(raw));
    }
    Err(format!(
        "expected a library key: 64 hex digits (as `bae key export` writes) or 32 raw bytes, \
         found {} bytes",
        bytes.len()
    ))
}

/// What [`check_key`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    /// An object decrypted under the key.
    Opens(String),
    /// The bucket holds no bae objects yet.
    Empty,
}

/// Tries the key on a few small objects (heads, checkpoint metadata,
/// batches): one that decrypts proves it; if every one tried fails, the key
/// is wrong. An empty bucket proves nothing either way.
pub async fn check_key(bucket: &dyn Bucket, key: &LibraryKey) -> Result<KeyCheck, BootError> {
    let mut tried = Vec::new();
    for prefix in [layout::HEADS, layout::CHECKPOINTS, "ops/"] {
        let page = bucket
            .list(prefix, None)
            .await
            .map_err(|e| BootError::Sync(SyncError::Bucket(e)))?;
        let small = page.objects.iter().filter(|o| {
            prefix != layout::CHECKPOINTS || layout::parse_checkpoint_meta(o.key.as_str()).is_some()
        });
        for object in small.take(3) {
            let sealed = match bucket.get(&object.key).await {
                Ok(b) => b,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(BootError::Sync(SyncError::Bucket(e))),
            };
            if bae_crypto::decrypt_padded(key, object.key.as_str(), &sealed).is_ok() {
                return Ok(KeyCheck::Opens(object.key.as_str().to_owned()));
            }
            tried.push(object.key.as_str().to_owned());
        }
        if !tried.is_empty() {
            return Err(BootError::WrongKey {
                tried: tried.join(", "),
            });
        }
    }
    Ok(KeyCheck::Empty)
}

/// Which bucket and key a cache belongs to (`cache.json`). The key is
/// represented by a small object encrypted under it, never by the key.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct CacheOwner {
    bucket: String,
    key_check: String,
}

const KEY_CHECK_PATH: &str = "bae-server/cache-key-check";
const KEY_CHECK_TEXT: &[u8] = b"bae-server cache";

impl CacheOwner {
    fn new(bucket: &str, key: &LibraryKey) -> CacheOwner {
        let sealed = bae_crypto::encrypt(
            key,
            KEY_CHECK_PATH,
            KEY_CHECK_TEXT,
            bae_crypto::random_nonce(),
        );
        CacheOwner {
            bucket: bucket.to_owned(),
            key_check: hex::encode(sealed),
        }
    }

    fn matches(&self, bucket: &str, key: &LibraryKey) -> bool {
        self.bucket == bucket
            && hex::decode(&self.key_check).is_ok_and(|sealed| {
                bae_crypto::decrypt(key, KEY_CHECK_PATH, &sealed).is_ok_and(|t| t == KEY_CHECK_TEXT)
            })
    }
}

/// How to boot.
#[derive(Debug, Clone)]
pub struct BootOptions {
    /// The bucket.
    pub bucket: BucketUrl,
    /// Settings of the bucket that are not in its URL (credentials, retries).
    pub open: OpenOptions,
    /// The library key.
    pub key: LibraryKey,
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// Discard the cache and boot anew.
    pub refresh: bool,
    /// Show a progress bar (on a terminal) or log progress lines.
    pub progress: bool,
}

/// A booted library, ready to serve and to keep pulling.
#[derive(Debug)]
pub struct Booted {
    /// The library (its write connection; sync applies batches on it).
    pub lib: SharedLibrary,
    /// The sync engine, over the read-only bucket.
    pub syncer: Syncer,
    /// The read-only bucket.
    pub bucket: Arc<ReadOnlyBucket>,
    /// The library database file, for read-only connections.
    pub db_path: PathBuf,
    /// The image cache.
    pub images: ImageStore,
    /// What the bootstrap pull did.
    pub report: PullReport,
    /// Whether an existing cache was resumed.
    pub resumed: bool,
    /// Objects that failed authentication so far (checkpoints, images).
    pub problems: Arc<Problems>,
    /// Held while this server uses the cache directory.
    pub(crate) lock: std::fs::File,
}

fn cache_err(path: &Path, reason: impl ToString) -> BootError {
    BootError::Cache {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// Removes what the cache holds (not the lock).
fn clear_cache(dir: &Path) -> Result<(), BootError> {
    for name in ["library", "images"] {
        let p = dir.join(name);
        if p.exists() {
            std::fs::remove_dir_all(&p).map_err(|e| cache_err(&p, e))?;
        }
    }
    let owner = dir.join("cache.json");
    if owner.exists() {
        std::fs::remove_file(&owner).map_err(|e| cache_err(&owner, e))?;
    }
    Ok(())
}

/// Bytes the bootstrap will download, roughly: the newest checkpoint and
/// every image (for a fresh cache), and every batch after the cursors.
async fn planned_bytes(
    bucket: &dyn Bucket,
    checkpoint: Option<&bae_sync::CheckpointMeta>,
    cursors: &BTreeMap<bae_hlc::DeviceId, u64>,
) -> u64 {
    let mut total = checkpoint.map_or(0, |m| m.data_len);
    if cursors.is_empty()
        && let Ok(images) = bucket.list_all("images/").await
    {
        total += images.iter().map(|o| o.size).sum::<u64>();
    }
    let base = checkpoint.map_or(cursors, |m| &m.cursors);
    if let Ok(objects) = bucket.list_all("ops/").await {
        for o in objects {
            let Some(rest) = o.key.as_str().strip_prefix("ops/") else {
                continue;
            };
            let Some((dev, _)) = rest.split_once('/') else {
                continue;
            };
            let Ok(device) = dev.parse::<bae_hlc::DeviceId>() else {
                continue;
            };
            let seq = layout::parse_batch(device, o.key.as_str()).unwrap_or(0);
            if seq > base.get(&device).copied().unwrap_or(0) {
                total += o.size;
            }
        }
    }
    total
}

/// Shows bootstrap progress until dropped: a bar on a terminal, a log line
/// every few seconds otherwise.
struct Progress {
    task: tokio::task::JoinHandle<()>,
    done: Arc<Mutex<bool>>,
    tty: bool,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl Progress {
    fn start(bucket: Arc<ReadOnlyBucket>, total: u64, enabled: bool) -> Option<Progress> {
        if !enabled {
            return None;
        }
        let tty = std::io::stderr().is_terminal();
        let done = Arc::new(Mutex::new(false));
        let finished = Arc::clone(&done);
        let base = bucket.downloaded();
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let every = if tty {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(5)
            };
            loop {
                tokio::time::sleep(every).await;
                if *finished.lock().expect("progress poisoned") {
                    return;
                }
                let got = bucket.downloaded() - base;
                let pct = got
                    .saturating_mul(100)
                    .checked_div(total)
                    .unwrap_or(0)
                    .min(99);
                let rate = mib(got) / started.elapsed().as_secs_f64().max(0.001);
                if tty {
                    let filled = usize::try_from(pct * 30 / 100).unwrap_or(30);
                    eprint!(
                        "\rbooting [{}{}] {pct:>3}% {:.1}/{:.1} MiB {rate:.1} MiB/s ",
                        "#".repeat(filled),
                        " ".repeat(30 - filled),
                        mib(got),
                        mib(total),
                    );
                } else {
                    tracing::info!(
                        "bootstrap: {pct}% ({:.1} of about {:.1} MiB downloaded, {rate:.1} MiB/s)",
                        mib(got),
                        mib(total)
                    );
                }
            }
        });
        Some(Progress { task, done, tty })
    }

    fn finish(self) {
        *self.done.lock().expect("progress poisoned") = true;
        self.task.abort();
        if self.tty {
            eprintln!("\rbooting [{}] 100%", "#".repeat(30));
        }
    }
}

/// Puts the images a pull refused (their bytes failed authentication) among
/// the problems `/health` shows.
pub fn report_refused_images(problems: &Problems, report: &PullReport) {
    for (image_id, why) in &report.images_refused {
        problems.report(
            layout::image(image_id).as_str(),
            &format!("{why}; it is not served"),
        );
    }
}

/// Boots (or resumes) the library in the cache from the bucket.
pub async fn boot(options: &BootOptions) -> Result<Booted, BootError> {
    let url = options.bucket.to_string();
    let inner = bae_bucket::open_bucket(&options.bucket, &options.open)
        .await
        .map_err(|e| BootError::Bucket {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    let problems = Arc::new(Problems::default());
    let bucket = Arc::new(ReadOnlyBucket::new(inner));
    match check_key(bucket.as_ref(), &options.key).await? {
        KeyCheck::Opens(path) => tracing::debug!(path, "the library key opens the bucket"),
        KeyCheck::Empty => tracing::warn!(
            bucket = %url,
            "the bucket holds no bae library yet; serving an empty library until one appears"
        ),
    }

    let dir = &options.cache_dir;
    std::fs::create_dir_all(dir).map_err(|e| cache_err(dir, e))?;
    let lock_path = dir.join("lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| cache_err(&lock_path, e))?;
    lock.try_lock().map_err(|_| {
        cache_err(
            dir,
            "in use by another bae-server; give each server its own --cache-dir",
        )
    })?;
    let owner_path = dir.join("cache.json");
    let mut resumed = false;
    if options.refresh {
        tracing::info!(cache = %dir.display(), "--refresh: discarding the cache");
        clear_cache(dir)?;
    } else if let Ok(text) = std::fs::read_to_string(&owner_path) {
        match serde_json::from_str::<CacheOwner>(&text) {
            Ok(owner) if owner.matches(&url, &options.key) => resumed = true,
            _ => {
                tracing::warn!(
                    cache = %dir.display(),
                    "the cache belongs to another bucket or key; discarding it"
                );
                clear_cache(dir)?;
            }
        }
    } else if dir.join("library").exists() {
        clear_cache(dir)?;
    }
    if !resumed {
        let owner = serde_json::to_string(&CacheOwner::new(&url, &options.key))
            .expect("cache owner serializes");
        std::fs::write(&owner_path, owner).map_err(|e| cache_err(&owner_path, e))?;
    }

    let lib_dir = dir.join("library");
    let lib = LibraryManager::open(&lib_dir, LibraryOptions::default())
        .map_err(|e| cache_err(&lib_dir, e))?;
    let db_path = lib
        .database()
        .path()
        .expect("an opened library has a file")
        .to_owned();
    let cursors = bae_merge::cursors(lib.database().conn()).map_err(|e| cache_err(&db_path, e))?;
    let lib: SharedLibrary = Arc::new(Mutex::new(lib));
    let images = ImageStore::new(dir.join("images"));
    let mut syncer = Syncer::new(
        bucket.clone(),
        LibraryKey::from_bytes(*options.key.as_bytes()),
        images.clone(),
        SyncConfig::default(),
        Box::new(RandomNonces),
    );

    let fresh = cursors.is_empty();
    let checkpoints = if fresh {
        syncer.checkpoints().await?
    } else {
        Vec::new()
    };
    if resumed {
        tracing::info!(cache = %dir.display(), "resuming from the cache");
    }
    let total = planned_bytes(bucket.as_ref(), checkpoints.last(), &cursors).await;
    let progress = Progress::start(bucket.clone(), total, options.progress);

    let mut booted_from = None;
    for meta in checkpoints.iter().rev() {
        match syncer.boot_from(&lib, meta).await {
            Ok(()) => {
                booted_from = Some(meta.id.clone());
                break;
            }
            Err(e @ (SyncError::Tampered { .. } | SyncError::CheckpointUnusable { .. })) => {
                problems.report(layout::checkpoint_data(&meta.id).as_str(), &e.to_string());
            }
            Err(e) => {
                if let Some(p) = progress {
                    p.finish();
                }
                return Err(e.into());
            }
        }
    }
    if fresh && booted_from.is_none() && !checkpoints.is_empty() {
        // No checkpoint is usable: replay every batch instead (the pull
        // would otherwise try the newest checkpoint again).
        tracing::warn!("no usable checkpoint; replaying every batch");
        bucket.hide(layout::CHECKPOINTS);
    }
    let pulled = syncer.pull(&lib).await;
    if let Some(p) = progress {
        p.finish();
    }
    let mut report = pulled?;
    report_refused_images(&problems, &report);
    if report.booted_from.is_none() {
        report.booted_from = booted_from;
    }
    tracing::info!(
        booted_from = report.booted_from.as_deref().unwrap_or("(no checkpoint)"),
        batches = report.batches_applied,
        images = report.images_fetched,
        downloaded_mib = format!("{:.1}", mib(bucket.downloaded())),
        "library ready"
    );
    for (device, why) in &report.stopped {
        tracing::warn!(%device, reason = %why, "a device's stream stopped; its later changes are not served");
    }
    Ok(Booted {
        lib,
        syncer,
        bucket,
        db_path,
        images,
        report,
        resumed,
        problems,
        lock,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files() {
        let key = [0xabu8; 32];
        let hex_text = hex::encode(key);
        for text in [
            hex_text.clone(),
            format!("{hex_text}\n"),
            format!("  {}\n", hex_text.to_uppercase()),
            format!("# bae library key\nbae-library-key: {hex_text}\n"),
        ] {
            assert_eq!(
                parse_key(text.as_bytes()).unwrap().as_bytes(),
                &key,
                "{text:?}"
            );
        }
        assert_eq!(parse_key(&key).unwrap().as_bytes(), &key);
        let e = parse_key(b"abc").unwrap_err();
        assert!(e.contains("64 hex digits") && e.contains("3 bytes"), "{e}");
        assert!(
            parse_key("z".repeat(64).as_bytes())
                .unwrap_err()
                .contains("not hex")
        );
    }

    #[test]
    fn cache_owner_matches_bucket_and_key_only() {
        let key = LibraryKey::from_bytes([1; 32]);
        let owner = CacheOwner::new("file:///b", &key);
        assert!(owner.matches("file:///b", &key));
        assert!(!owner.matches("file:///other", &key));
        assert!(!owner.matches("file:///b", &LibraryKey::from_bytes([2; 32])));
        assert!(!owner.key_check.contains(&hex::encode([1u8; 32])));
    }
}
