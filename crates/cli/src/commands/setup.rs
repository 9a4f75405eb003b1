//! `bae init`, `bae join`, `bae key export`.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use bae_bucket::{Bucket, BucketUrl};
use bae_crypto::LibraryKey;

use crate::S3Args;
use crate::device::{
    CREDENTIALS_FILE, Credentials, Device, KeyPlace, Rollback, SETTINGS_FILE, Settings,
    keyring_allowed, keyring_key, open_bucket, parse_bucket_url, parse_key, probe_bucket,
    store_key, write_private,
};
use crate::error::{CliError, CliResult};
use crate::out;

/// Where `bae join` reads the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file.
    File(PathBuf),
    /// Standard input.
    Stdin,
    /// The OS keyring, under the bucket URL.
    Keyring,
}

impl KeySource {
    /// From `--key-file` / `--key-stdin`; neither means the keyring.
    pub fn from_flags(file: Option<PathBuf>, stdin: bool) -> KeySource {
        match (file, stdin) {
            (Some(f), _) => KeySource::File(f),
            (None, true) => KeySource::Stdin,
            (None, false) => KeySource::Keyring,
        }
    }
}

fn credentials(s3: &S3Args) -> Option<Credentials> {
    match (&s3.access_key_id, &s3.secret_access_key) {
        (Some(id), Some(secret)) => Some(Credentials {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
        }),
        _ => None,
    }
}

/// Writes `bae.yaml` and, if given, the S3 credentials (0600).
fn write_settings(dir: &Path, settings: &Settings, creds: Option<&Credentials>) -> CliResult<()> {
    if let Some(c) = creds {
        let text = serde_yaml::to_string(c).expect("credentials serialize");
        write_private(&dir.join(CREDENTIALS_FILE), &text)?;
    }
    let path = dir.join(SETTINGS_FILE);
    let text = format!(
        "# This device's bae settings: the bucket it syncs through, whether audio files\n\
         # are kept there too (storage/), and where the library key is.\n{}",
        serde_yaml::to_string(settings).expect("settings serialize")
    );
    std::fs::write(&path, text).map_err(|e| CliError::io("write", &path, &e))
}

fn create_dir(dir: &Path) -> CliResult<()> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::io("create library directory", dir, &e))
}

fn key_place_text(place: KeyPlace, dir: &Path) -> String {
    match place {
        KeyPlace::Keyring => "in the OS keyring".to_owned(),
        KeyPlace::File => format!(
            "in {} (no OS keyring here; the file is readable by you only)",
            dir.join(crate::device::KEY_FILE).display()
        ),
    }
}

/// `bae init`.
pub async fn init(
    dir: &Path,
    bucket_url: &str,
    store_files: bool,
    no_keyring: bool,
    s3: &S3Args,
) -> CliResult<()> {
    let url = parse_bucket_url(bucket_url)?;
    let creds = credentials(s3);
    let rollback = Rollback::begin(dir)?;
    let bucket = open_bucket(&url, creds.as_ref(), true).await?;
    if probe_bucket(bucket.as_ref(), &url).await? {
        return Err(CliError::usage(format!(
            "bucket {url} already holds a bae library; attach it with `bae join --bucket {url} --key-file FILE`"
        )));
    }
    create_dir(dir)?;
    let key = LibraryKey::generate();
    let place = store_key(dir, &url.to_string(), &key, keyring_allowed(no_keyring))?;
    let settings = Settings {
        bucket: url.to_string(),
        store_files,
        key: place,
        gc_grace_days: 30,
    };
    write_settings(dir, &settings, creds.as_ref())?;
    let device = Device::open(dir)?;
    let mut syncer = device.syncer_on(bucket, key);
    syncer
        .push(&device.lib)
        .await
        .map_err(|e| CliError::sync(&format!("cannot write to bucket {url}"), e))?;
    let device_id = device.lib.lock().expect("library mutex").device_id();
    rollback.commit();
    out::print(&format!(
        "created a library at {}\n  device  {device_id}\n  bucket  {url}{}\n  key     {}",
        dir.display(),
        if store_files {
            " (also file storage)"
        } else {
            ""
        },
        key_place_text(place, dir),
    ));
    out::note(
        "keep a copy of the key somewhere safe: `bae key export`. Without it the bucket cannot be read.",
    );
    Ok(())
}

fn read_key(source: &KeySource, url: &BucketUrl) -> CliResult<(LibraryKey, String)> {
    match source {
        KeySource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::data(format!("cannot read key file {}: {e}", path.display()))
            })?;
            let name = format!("key file {}", path.display());
            Ok((parse_key(&text, &name)?, name))
        }
        KeySource::Stdin => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| {
                CliError::data(format!("cannot read the key from standard input: {e}"))
            })?;
            let name = "the key on standard input".to_owned();
            Ok((parse_key(&text, &name)?, name))
        }
        KeySource::Keyring => {
            let text = keyring_key(&url.to_string()).ok_or_else(|| {
                CliError::usage(format!(
                    "no key given and none in the OS keyring for {url}; pass --key-file FILE or --key-stdin"
                ))
            })?;
            let name = "the key in the OS keyring".to_owned();
            Ok((parse_key(&text, &name)?, name))
        }
    }
}

/// Checks the key against one head in the bucket: it must decrypt.
async fn check_key(
    bucket: &dyn Bucket,
    url: &BucketUrl,
    key: &LibraryKey,
    source: &str,
) -> CliResult<()> {
    let heads = bucket
        .list(bae_sync::layout::HEADS, None)
        .await
        .map_err(|e| crate::device::unreachable(url, &e))?;
    let Some(head) = heads.objects.first() else {
        return Err(CliError::bucket(format!(
            "bucket {url} holds no bae library (nothing under heads/); start one with `bae init`"
        )));
    };
    let sealed = bucket
        .get(&head.key)
        .await
        .map_err(|e| CliError::bucket(format!("cannot read {} in bucket {url}: {e}", head.key)))?;
    bae_crypto::decrypt_padded(key, head.key.as_str(), &sealed).map_err(|_| {
        CliError::data(format!(
            "{source} does not open the library in bucket {url}: {} fails authentication with it (wrong key?)",
            head.key
        ))
    })?;
    Ok(())
}

/// `bae join`.
pub async fn join(
    dir: &Path,
    bucket_url: &str,
    source: KeySource,
    store_files: bool,
    no_keyring: bool,
    s3: &S3Args,
) -> CliResult<()> {
    let url = parse_bucket_url(bucket_url)?;
    let creds = credentials(s3);
    let rollback = Rollback::begin(dir)?;
    let (key, source_name) = read_key(&source, &url)?;
    let bucket = open_bucket(&url, creds.as_ref(), false).await?;
    check_key(bucket.as_ref(), &url, &key, &source_name).await?;
    create_dir(dir)?;
    let place = store_key(
        dir,
        &url.to_string(),
        &key,
        keyring_allowed(no_keyring) && source != KeySource::Keyring,
    )?;
    let place = if source == KeySource::Keyring && keyring_allowed(no_keyring) {
        // Already there; the file written above is the fallback only.
        let _ = std::fs::remove_file(dir.join(crate::device::KEY_FILE));
        KeyPlace::Keyring
    } else {
        place
    };
    let settings = Settings {
        bucket: url.to_string(),
        store_files,
        key: place,
        gc_grace_days: 30,
    };
    write_settings(dir, &settings, creds.as_ref())?;
    let device = Device::open(dir)?;
    let mut syncer = device.syncer_on(bucket, key);
    let (_, pulled) = syncer
        .sync(&device.lib)
        .await
        .map_err(|e| CliError::sync(&format!("cannot bootstrap from bucket {url}"), e))?;
    let (device_id, albums, tracks) = {
        let l = device.lib.lock().expect("library mutex");
        let conn = l.database().conn();
        let albums: i64 = conn.query_row("SELECT count(*) FROM albums", [], |r| r.get(0))?;
        let tracks: i64 = conn.query_row("SELECT count(*) FROM tracks", [], |r| r.get(0))?;
        (l.device_id(), albums, tracks)
    };
    rollback.commit();
    out::print(&format!(
        "joined the library in {url} at {}\n  device  {device_id}\n  pulled  {} batches{}, {} images\n  library {albums} albums, {tracks} tracks\n  key     {}",
        dir.display(),
        pulled.batches_applied,
        pulled
            .booted_from
            .as_ref()
            .map(|c| format!(" after checkpoint {c}"))
            .unwrap_or_default(),
        pulled.images_fetched,
        key_place_text(place, dir),
    ));
    for (device, reason) in &pulled.stopped {
        out::warn(&format!("stream of device {device} stopped: {reason}"));
    }
    Ok(())
}

/// `bae key export`.
pub fn key_export(dir: &Path, output: Option<&Path>) -> CliResult<()> {
    let device = Device::open(dir)?;
    let text = crate::device::key_text(&device.key()?);
    match output {
        Some(path) => {
            write_private(path, &format!("{text}\n"))?;
            out::note(&format!(
                "wrote the library key to {} (readable by you only); anyone with it and the bucket can read the library",
                path.display()
            ));
        }
        None => out::print(&text),
    }
    Ok(())
}
