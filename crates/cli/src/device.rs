//! A device on disk: the library directory, its settings (`bae.yaml`), the
//! library key (OS keyring or a 0600 key file) and the bucket.
//!
//! ```text
//! {library}/config.yaml       device_id (bae-library)
//! {library}/library.db        the library (bae-store)
//! {library}/images/           image bytes (bae-sync ImageStore)
//! {library}/bae.yaml          bucket URL, file storage, where the key is
//! {library}/library.key       the key, when there is no OS keyring (0600)
//! {library}/s3-credentials.yaml  S3 keys given as flags (0600)
//! {library}/sync-state.json   the last sync's outcome, for `bae status`
//! ```

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bae_bucket::{Bucket, BucketUrl, OpenError, OpenOptions, S3Credentials};
use bae_crypto::LibraryKey;
use bae_library::{LibraryManager, LibraryOptions};
use bae_sync::{ImageStore, RandomNonces, SharedLibrary, SyncConfig, Syncer};
use serde::{Deserialize, Serialize};

use crate::error::{CliError, CliResult};

/// The device settings file.
pub const SETTINGS_FILE: &str = "bae.yaml";
/// The key file, when the key is not in the OS keyring.
pub const KEY_FILE: &str = "library.key";
/// S3 credentials given as flags.
pub const CREDENTIALS_FILE: &str = "s3-credentials.yaml";
/// The outcome of the last `bae sync`.
pub const STATE_FILE: &str = "sync-state.json";
/// The keyring service name.
const KEYRING_SERVICE: &str = "bae-sync";

/// Where the library key is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyPlace {
    /// The OS keyring, under the bucket URL.
    Keyring,
    /// `library.key` in the library directory.
    File,
}

/// `bae.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The bucket URL (canonical form).
    pub bucket: String,
    /// Whether audio files are uploaded, encrypted, to `storage/`.
    pub store_files: bool,
    /// Where the library key is.
    pub key: KeyPlace,
    /// GC grace period in days.
    #[serde(default = "default_grace_days")]
    pub gc_grace_days: u64,
}

fn default_grace_days() -> u64 {
    30
}

/// S3 credentials given as flags, kept for later commands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

/// The library directory: `--library`, `BAE_LIBRARY`, or the platform data
/// directory.
pub fn library_dir(flag: Option<PathBuf>) -> CliResult<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir);
    }
    directories::ProjectDirs::from("", "", "bae")
        .map(|d| d.data_dir().to_owned())
        .ok_or_else(|| {
            CliError::usage(
                "no home directory to keep the library in; pass --library DIR or set BAE_LIBRARY",
            )
        })
}

/// Parses a bucket URL, as a usage error naming it.
pub fn parse_bucket_url(url: &str) -> CliResult<BucketUrl> {
    let parsed: BucketUrl = url.parse().map_err(CliError::usage)?;
    if matches!(parsed, BucketUrl::Memory(_)) {
        return Err(CliError::usage(format!(
            "bucket url '{url}' is an in-memory bucket, which dies with the process; use s3:// or file://"
        )));
    }
    Ok(parsed)
}

/// Opens the bucket a URL names. `create_dir` creates a local directory
/// whose parent exists (for `bae init`).
pub async fn open_bucket(
    url: &BucketUrl,
    credentials: Option<&Credentials>,
    create_dir: bool,
) -> CliResult<Arc<dyn Bucket>> {
    if create_dir
        && let BucketUrl::File(path) = url
        && !path.exists()
    {
        let parent = path.parent().unwrap_or(Path::new("/"));
        if !parent.is_dir() {
            return Err(CliError::bucket(format!(
                "bucket directory {} cannot be created: {} does not exist",
                path.display(),
                parent.display()
            )));
        }
        std::fs::create_dir(path).map_err(|e| {
            CliError::bucket(format!(
                "cannot create bucket directory {}: {e}",
                path.display()
            ))
        })?;
    }
    let options = OpenOptions {
        credentials: credentials
            .map(|c| S3Credentials::fixed(&c.access_key_id, &c.secret_access_key)),
        ..OpenOptions::default()
    };
    bae_bucket::open_bucket(url, &options)
        .await
        .map_err(|e| match e {
            OpenError::InvalidS3Config { .. } => CliError::usage(format!("bucket {url}: {e}")),
            OpenError::DirectoryMissing { path } => CliError::bucket(format!(
                "bucket directory {} does not exist (moved, unmounted, or a typo in {url}?)",
                path.display()
            )),
            e => CliError::bucket(e),
        })
}

/// Checks that the bucket answers: one listing of `heads/`. Returns whether
/// it holds a library (any head).
pub async fn probe_bucket(bucket: &dyn Bucket, url: &BucketUrl) -> CliResult<bool> {
    match bucket.list(bae_sync::layout::HEADS, None).await {
        Ok(page) => Ok(!page.objects.is_empty()),
        Err(e) => Err(unreachable(url, &e)),
    }
}

/// "Cannot reach the bucket", with the cause in a few words.
pub fn unreachable(url: &BucketUrl, e: &bae_bucket::BucketError) -> CliError {
    CliError::bucket(format!(
        "cannot reach bucket {url}: {}",
        crate::error::short_cause(e)
    ))
}

/// Parses a key in its text form: 64 hex digits.
pub fn parse_key(text: &str, source: &str) -> CliResult<LibraryKey> {
    let hex = text.trim();
    let bad = || {
        CliError::data(format!(
            "{source} is not a bae library key (expected 64 hex digits, as `bae key export` prints)"
        ))
    };
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(bad());
    }
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(LibraryKey::from_bytes(bytes))
}

/// The text form of a key.
pub fn key_text(key: &LibraryKey) -> String {
    key.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `text` to a new file only its owner can read (0600 on Unix).
pub fn write_private(path: &Path, text: &str) -> CliResult<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| CliError::io("create", path, &e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::io("write", path, &e))
}

fn keyring_entry(bucket_url: &str) -> Result<keyring::Entry, keyring::Error> {
    keyring::Entry::new(KEYRING_SERVICE, &format!("library key for {bucket_url}"))
}

/// Runs a keyring call on its own thread: the Secret Service client blocks
/// on its own executor, which must not run inside our tokio runtime.
fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    std::thread::spawn(f).join().ok()
}

/// Whether the OS keyring may be tried (`BAE_NO_KEYRING` unset and not
/// refused by flag).
pub fn keyring_allowed(no_keyring: bool) -> bool {
    !no_keyring && std::env::var_os("BAE_NO_KEYRING").is_none_or(|v| v.is_empty() || v == "0")
}

/// Stores the key: in the OS keyring if one answers (and a read-back gives
/// the same key), else in `library.key` (0600).
pub fn store_key(
    dir: &Path,
    bucket_url: &str,
    key: &LibraryKey,
    try_keyring: bool,
) -> CliResult<KeyPlace> {
    let text = key_text(key);
    if try_keyring {
        let url = bucket_url.to_owned();
        let secret = text.clone();
        // Read back through a new entry: only a store that really keeps
        // the secret gives it back.
        let stored = on_thread(move || -> Result<bool, keyring::Error> {
            keyring_entry(&url)?.set_password(&secret)?;
            Ok(keyring_entry(&url)?.get_password()? == secret)
        });
        if let Some(Ok(true)) = stored {
            return Ok(KeyPlace::Keyring);
        }
    }
    write_private(&dir.join(KEY_FILE), &format!("{text}\n"))?;
    Ok(KeyPlace::File)
}

/// A key from the OS keyring stored for `bucket_url`, if any.
pub fn keyring_key(bucket_url: &str) -> Option<String> {
    let url = bucket_url.to_owned();
    on_thread(move || keyring_entry(&url).and_then(|e| e.get_password()).ok()).flatten()
}

/// An initialized device: its library, settings and image store.
#[derive(Debug)]
pub struct Device {
    /// The library directory.
    pub dir: PathBuf,
    /// `bae.yaml`.
    pub settings: Settings,
    /// The library, shared with the syncer.
    pub lib: SharedLibrary,
    /// The image bytes.
    pub images: ImageStore,
}

impl Device {
    /// Opens the device in `dir`; a directory without `bae.yaml` is not one.
    pub fn open(dir: &Path) -> CliResult<Device> {
        let path = dir.join(SETTINGS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CliError::usage(format!(
                    "no bae library at {}: run `bae init` or `bae join` first (or pass --library DIR)",
                    dir.display()
                )));
            }
            Err(e) => return Err(CliError::io("read", &path, &e)),
        };
        let settings: Settings = serde_yaml::from_str(&text)
            .map_err(|e| CliError::data(format!("malformed {}: {e}", path.display())))?;
        let lib = LibraryManager::open(dir, LibraryOptions::default()).map_err(|e| {
            CliError::internal(format!("cannot open library {}: {e}", dir.display()))
        })?;
        Ok(Device {
            dir: dir.to_owned(),
            settings,
            lib: Arc::new(Mutex::new(lib)),
            images: ImageStore::new(dir.join("images")),
        })
    }

    /// The bucket URL.
    pub fn bucket_url(&self) -> CliResult<BucketUrl> {
        self.settings
            .bucket
            .parse()
            .map_err(|e| CliError::data(format!("{}: {e}", self.dir.join(SETTINGS_FILE).display())))
    }

    /// S3 credentials given as flags at init or join, if any.
    pub fn credentials(&self) -> CliResult<Option<Credentials>> {
        let path = self.dir.join(CREDENTIALS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_yaml::from_str(&text)
                .map(Some)
                .map_err(|e| CliError::data(format!("malformed {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CliError::io("read", &path, &e)),
        }
    }

    /// The library key, from the keyring or the key file.
    pub fn key(&self) -> CliResult<LibraryKey> {
        match self.settings.key {
            KeyPlace::Keyring => {
                let text = keyring_key(&self.settings.bucket).ok_or_else(|| {
                    CliError::data(format!(
                        "the library key for {} is not in the OS keyring any more; \
                         put it back with `bae join` on a new library directory, or restore {}",
                        self.settings.bucket,
                        self.dir.join(KEY_FILE).display()
                    ))
                })?;
                parse_key(&text, "the key in the OS keyring")
            }
            KeyPlace::File => {
                let path = self.dir.join(KEY_FILE);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    CliError::data(format!(
                        "cannot read the library key {}: {e}",
                        path.display()
                    ))
                })?;
                parse_key(&text, &format!("key file {}", path.display()))
            }
        }
    }

    /// Opens the bucket.
    pub async fn bucket(&self) -> CliResult<Arc<dyn Bucket>> {
        open_bucket(&self.bucket_url()?, self.credentials()?.as_ref(), false).await
    }

    /// The sync engine for this device.
    pub async fn syncer(&self) -> CliResult<Syncer> {
        let bucket = self.bucket().await?;
        Ok(self.syncer_on(bucket, self.key()?))
    }

    /// An engine for reading the status only: it makes no request, so it
    /// gets an empty in-memory bucket and a blank key, which it never uses.
    pub fn offline_syncer(&self) -> Syncer {
        self.syncer_on(
            Arc::new(bae_bucket::MemoryBucket::new()),
            LibraryKey::from_bytes([0; 32]),
        )
    }

    /// The sync engine on an opened bucket.
    pub fn syncer_on(&self, bucket: Arc<dyn Bucket>, key: LibraryKey) -> Syncer {
        Syncer::new(
            bucket,
            key,
            self.images.clone(),
            SyncConfig {
                gc_grace_period_ms: self
                    .settings
                    .gc_grace_days
                    .saturating_mul(24 * 60 * 60 * 1000),
                ..SyncConfig::default()
            },
            Box::new(RandomNonces),
        )
    }
}

/// What `bae sync` saw last, for `bae status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// When it ran, RFC 3339.
    pub at: String,
    /// Its error, if it failed.
    pub error: Option<String>,
    /// Streams it found stopped: device id and why.
    pub stopped: Vec<(String, String)>,
    /// Devices whose clocks were refused: device id and why.
    pub clock_warnings: Vec<(String, String)>,
}

impl SyncState {
    /// Reads the state, if a sync ever ran.
    pub fn load(dir: &Path) -> Option<SyncState> {
        let text = std::fs::read_to_string(dir.join(STATE_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the state (temporary file, then rename).
    pub fn save(&self, dir: &Path) -> CliResult<()> {
        let path = dir.join(STATE_FILE);
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        let body = serde_json::to_string_pretty(self).expect("state serializes");
        std::fs::write(&tmp, body)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| CliError::io("write", &path, &e))
    }
}

/// Now as RFC 3339.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("now formats")
}

/// Milliseconds since the epoch as RFC 3339.
pub fn ms_rfc3339(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// Files a new device creates in its library directory, removed again when
/// `init` or `join` fails half-way, so a failed command leaves nothing.
#[derive(Debug)]
pub struct Rollback {
    dir: PathBuf,
    created_dir: bool,
    armed: bool,
}

impl Rollback {
    /// Prepares `dir` for a new device: it must not hold one already.
    pub fn begin(dir: &Path) -> CliResult<Rollback> {
        for name in [SETTINGS_FILE, bae_library::DATABASE_FILE] {
            if dir.join(name).exists() {
                return Err(CliError::usage(format!(
                    "{} already holds a bae library; pass another --library DIR",
                    dir.display()
                )));
            }
        }
        let created_dir = !dir.exists();
        Ok(Rollback {
            dir: dir.to_owned(),
            created_dir,
            armed: true,
        })
    }

    /// The device is complete: keep everything.
    pub fn commit(mut self) {
        self.armed = false;
    }
}

impl Drop for Rollback {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if self.created_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
            return;
        }
        let db = bae_library::DATABASE_FILE;
        for name in [
            SETTINGS_FILE.to_owned(),
            KEY_FILE.to_owned(),
            CREDENTIALS_FILE.to_owned(),
            STATE_FILE.to_owned(),
            bae_library::CONFIG_FILE.to_owned(),
            db.to_owned(),
            format!("{db}-wal"),
            format!("{db}-shm"),
            format!("{db}-journal"),
        ] {
            let _ = std::fs::remove_file(self.dir.join(name));
        }
        let _ = std::fs::remove_dir_all(self.dir.join("images"));
    }
}
