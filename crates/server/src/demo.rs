//! `bae-server --demo`: the demo library of `bae demo` (bae-media's
//! generator), imported by a device into a local-directory bucket with its
//! audio stored there, then served like any other bucket.
//!
//! Under the demo directory:
//!
//! ```text
//! music/            the generated audio files (what a person would import)
//! device/           the library of the device that imported them
//! bucket/           the bucket: what a cloud provider would see
//! library.key       the library key (0600)
//! credentials.yaml  the demo login, kept so a second run shows the same
//! server-cache/     bae-server's cache
//! ```
//!
//! A directory that already holds a demo is served again as it is.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use bae_bucket::{Bucket, LocalDirBucket, OpenOptions};
use bae_crypto::LibraryKey;
use bae_library::{LibraryManager, LibraryOptions};
use bae_media::demo::{DemoConfig, generate};
use bae_media::{FileStorage, NoProgress, import_paths};
use bae_sync::{ImageStore, RandomNonces, SharedLibrary, SyncConfig, Syncer};

use crate::boot::{BootOptions, read_key_file};
use crate::subsonic::{Access, Credentials};

/// A demo library ready to boot.
#[derive(Debug)]
pub struct Demo {
    /// How to boot it.
    pub boot: BootOptions,
    /// What to tell the user besides the URL: the login and where things are.
    pub note: String,
    /// The temporary directory when none was given; removed when dropped.
    pub tmp: Option<tempfile::TempDir>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct DemoLogin {
    username: String,
    password: String,
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// Generates, imports and syncs the demo library into `root`.
async fn create(root: &Path, seconds_per_track: f32) -> anyhow::Result<String> {
    let music = root.join("music");
    eprintln!(
        "bae-server: building the demo library in {} (generating audio takes a moment)",
        root.display()
    );
    let generated = tokio::task::spawn_blocking({
        let music = music.clone();
        move || {
            generate(
                &music,
                &DemoConfig {
                    seconds_per_track,
                    ..DemoConfig::default()
                },
            )
        }
    })
    .await?
    .context("generating the demo audio")?;
    let key = LibraryKey::generate();
    let bucket: Arc<dyn Bucket> =
        Arc::new(LocalDirBucket::create(root.join("bucket")).context("creating the demo bucket")?);
    let device = root.join("device");
    let lib: SharedLibrary = Arc::new(Mutex::new(
        LibraryManager::open(&device, LibraryOptions::default())
            .context("creating the demo device's library")?,
    ));
    let images = ImageStore::new(device.join("images"));
    let storage = FileStorage::new(Arc::clone(&bucket), LibraryKey::from_bytes(*key.as_bytes()));
    let imported = import_paths(&lib, &images, Some(&storage), &[music], &NoProgress).await;
    if let Some(problem) = imported.problems.first() {
        anyhow::bail!(
            "importing the demo failed: {}: {}",
            problem.path.display(),
            problem.reason
        );
    }
    let mut syncer = Syncer::new(
        bucket,
        LibraryKey::from_bytes(*key.as_bytes()),
        images,
        SyncConfig::default(),
        Box::new(RandomNonces),
    );
    syncer.sync(&lib).await.context("pushing the demo")?;
    syncer
        .checkpoint(&lib)
        .await
        .context("checkpointing the demo")?;
    write_private(
        &root.join("library.key"),
        &format!("{}\n", hex::encode(key.as_bytes())),
    )
    .context("writing the demo key")?;
    Ok(format!(
        "{} artists, {} albums, {} tracks ({:.1} MB of FLAC and WAV)",
        generated.artists().len(),
        generated.albums.len(),
        generated.track_count(),
        generated.total_bytes as f64 / 1e6
    ))
}

/// Builds the demo library under `dir` (a temporary directory if `None`),
/// `seconds_per_track` of audio per track, or reuses the one already there;
/// sets a demo login unless `access` already has credentials.
pub async fn build(
    dir: Option<&Path>,
    seconds_per_track: f32,
    access: &mut Access,
) -> anyhow::Result<Demo> {
    let (tmp, root): (Option<tempfile::TempDir>, PathBuf) = match dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            (None, d.to_owned())
        }
        None => {
            let t = tempfile::Builder::new().prefix("bae-demo-").tempdir()?;
            let p = t.path().to_owned();
            (Some(t), p)
        }
    };
    let key_file = root.join("library.key");
    let what = if key_file.exists() {
        "the demo library built earlier".to_owned()
    } else {
        if root.join("bucket").exists() {
            anyhow::bail!(
                "{} holds a bucket but no library.key: not a demo directory bae-server made; \
                 give --demo an empty or new directory",
                root.display()
            );
        }
        create(&root, seconds_per_track).await?
    };
    if *access == Access::Open {
        let login_file = root.join("credentials.yaml");
        let login = match std::fs::read_to_string(&login_file) {
            Ok(text) => serde_yaml::from_str::<DemoLogin>(&text)
                .with_context(|| format!("reading {}", login_file.display()))?,
            Err(_) => {
                let login = DemoLogin {
                    username: "bae".to_owned(),
                    password: hex::encode(&bae_crypto::random_nonce()[..6]),
                };
                write_private(&login_file, &serde_yaml::to_string(&login)?)
                    .with_context(|| format!("writing {}", login_file.display()))?;
                login
            }
        };
        *access = Access::User(Credentials {
            username: login.username,
            password: login.password,
            api_key: None,
        });
    }
    let (username, password) = match &*access {
        Access::User(c) => (c.username.clone(), c.password.clone()),
        Access::Open => unreachable!("set above"),
    };
    let bucket_dir = root.join("bucket");
    let note = [
        format!("bae-server: demo: {what}"),
        String::new(),
        "  Add this server to a Subsonic app (DSub, Symfonium, play:Sub, Feishin, ...):".into(),
        String::new(),
        format!("    username  {username}"),
        format!("    password  {password}"),
        String::new(),
        format!(
            "  {} holds the original files,",
            root.join("music").display()
        ),
        format!(
            "  {} what a cloud provider would see (all encrypted).",
            bucket_dir.display()
        ),
        "  Press Ctrl-C to stop.".into(),
    ]
    .join("\n");
    Ok(Demo {
        boot: BootOptions {
            bucket: format!("file://{}", bucket_dir.display())
                .parse()
                .context("the demo bucket path")?,
            open: OpenOptions::default(),
            key: read_key_file(&key_file)?,
            cache_dir: root.join("server-cache"),
            refresh: false,
            progress: true,
        },
        note,
        tmp,
    })
}
