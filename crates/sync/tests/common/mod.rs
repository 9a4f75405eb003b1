//! Devices for sync tests: in-memory libraries on a manual clock, each with
//! its own image store, sharing one bucket and one library key.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bae_bucket::Bucket;
use bae_crypto::LibraryKey;
use bae_hlc::{DeviceId, ManualClock};
use bae_library::*;
use bae_oplog::SeededIds;
use bae_store::{Database, dump_synced};
use bae_sync::{ImageStore, SeededNonces, SharedLibrary, SyncConfig, Syncer};

pub const T0: u64 = 1_764_000_000_000;
pub const DAY_MS: u64 = 24 * 60 * 60 * 1000;

static NEXT_STREAM: AtomicU64 = AtomicU64::new(1);

pub fn key() -> LibraryKey {
    LibraryKey::from_bytes([7; 32])
}

pub struct Device {
    pub lib: SharedLibrary,
    pub syncer: Syncer,
    pub clock: ManualClock,
    pub images: ImageStore,
    _dir: tempfile::TempDir,
}

impl Device {
    pub fn new(n: u8, bucket: Arc<dyn Bucket>, clock: &ManualClock) -> Device {
        Device::with_config(n, bucket, clock, SyncConfig::default())
    }

    pub fn with_config(
        n: u8,
        bucket: Arc<dyn Bucket>,
        clock: &ManualClock,
        config: SyncConfig,
    ) -> Device {
        Device::on(
            Database::open_in_memory().unwrap(),
            n,
            bucket,
            clock,
            config,
        )
    }

    /// A device with id `n` whose database is the file at `path` (a backup).
    pub fn restored(
        n: u8,
        bucket: Arc<dyn Bucket>,
        clock: &ManualClock,
        path: &std::path::Path,
    ) -> Device {
        Device::on(
            Database::open(path).unwrap(),
            n,
            bucket,
            clock,
            SyncConfig::default(),
        )
    }

    /// Writes a copy of the database to `path`, as a backup would.
    pub fn backup(&self, path: &std::path::Path) {
        self.with(|l| {
            l.database()
                .conn()
                .execute("VACUUM INTO ?", [path.to_str().unwrap()])
                .unwrap()
        });
    }

    fn on(
        db: Database,
        n: u8,
        bucket: Arc<dyn Bucket>,
        clock: &ManualClock,
        config: SyncConfig,
    ) -> Device {
        // Every device built gets its own id and nonce streams, even two with
        // the same device id (a restored backup).
        let stream = NEXT_STREAM.fetch_add(1, Ordering::SeqCst);
        let options = LibraryOptions {
            wall_clock: Arc::new(clock.clone()),
            ids: Box::new(SeededIds::new(stream)),
        };
        let lib =
            LibraryManager::with_database(db, DeviceId::from_bytes([n; 16]), options).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let images = ImageStore::new(dir.path().join("images"));
        let syncer = Syncer::new(
            bucket,
            key(),
            images.clone(),
            config,
            Box::new(SeededNonces::new(stream)),
        );
        Device {
            lib: Arc::new(Mutex::new(lib)),
            syncer,
            clock: clock.clone(),
            images,
            _dir: dir,
        }
    }

    pub fn id(&self) -> DeviceId {
        self.lib.lock().unwrap().device_id()
    }

    pub fn dump(&self) -> String {
        let l = self.lib.lock().unwrap();
        dump_synced(l.database().conn(), l.database().schema())
            .unwrap()
            .text
    }

    pub fn rows(&self) -> usize {
        let l = self.lib.lock().unwrap();
        dump_synced(l.database().conn(), l.database().schema())
            .unwrap()
            .rows
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut LibraryManager) -> T) -> T {
        f(&mut self.lib.lock().unwrap())
    }

    pub async fn sync(&mut self) {
        self.syncer.sync(&self.lib).await.unwrap();
    }

    /// Imports an album with its artist as one transaction: one batch.
    pub fn import(&self, title: &str, tracks: usize) -> ImportedAlbum {
        self.with(|l| {
            l.write(|w| {
                let artist = bae_store::writes::create_artist(
                    w,
                    &NewArtist {
                        name: format!("{title} artist"),
                        ..Default::default()
                    },
                )?;
                bae_store::writes::insert_album_with_release_and_tracks(
                    w,
                    &AlbumImport {
                        album: NewAlbum {
                            title: title.into(),
                            artist_ids: vec![artist.clone()],
                            ..Default::default()
                        },
                        release: NewRelease {
                            format: Some("CD".into()),
                            ..Default::default()
                        },
                        tracks: (1..=tracks)
                            .map(|n| NewTrack {
                                title: format!("{title} {n}"),
                                track_number: Some(n as i64),
                                artist_ids: vec![artist.clone()],
                                ..Default::default()
                            })
                            .collect(),
                    },
                )
            })
            .unwrap()
        })
    }

    /// Every visible album title, sorted.
    pub fn album_titles(&self) -> Vec<String> {
        self.with(|l| {
            let mut stmt = l
                .database()
                .conn()
                .prepare("SELECT title FROM albums ORDER BY title")
                .unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        })
    }

    pub fn title(&self, album: &str) -> Option<String> {
        self.with(|l| {
            bae_store::read_fields(
                l.database().conn(),
                bae_store::Table::Albums,
                album,
                &["title"],
            )
            .unwrap()
            .map(|v| v[0].as_text().unwrap().to_owned())
        })
    }
}

/// Syncs every device until a full round changes nothing, then asserts they
/// all hold byte-identical synced state.
pub async fn converge(devices: &mut [&mut Device]) {
    for _ in 0..3 {
        for d in devices.iter_mut() {
            d.sync().await;
        }
    }
    let first = devices[0].dump();
    for d in devices.iter() {
        assert_eq!(d.dump(), first, "device {} diverged", d.id());
    }
}

pub fn cover() -> NewImage {
    NewImage {
        content_type: "image/png".into(),
        file_size: 4,
        content_hash: "00".repeat(32),
        source: "folder".into(),
        ..Default::default()
    }
}
