use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use bae_hlc::{Clock, DeviceId, SystemClock, WallClock};
use bae_oplog::{IdSource, OpRecorder, RandomIds, RecordingTx};
use bae_store::writes::{self, *};
use bae_store::{Database, WriteError, Writer};

use crate::{ConfigError, LibraryConfig};

/// The name of the library database in a library directory.
pub const DATABASE_FILE: &str = "library.db";

/// What changed, sent to subscribers after a write committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LibraryEvent {
    /// The library's contents changed. `batch_seq` is the op batch the write
    /// recorded, or `None` when it changed only device-local data.
    AlbumsChanged {
        /// The recorded batch, if any.
        batch_seq: Option<u64>,
    },
}

/// Why a library could not take a new device id.
#[derive(Debug, thiserror::Error)]
pub enum ReidentifyError {
    /// `config.yaml` could not be rewritten.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The op log could not be re-recorded.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// How to open a library: the injected clock and id source.
#[derive(Debug)]
pub struct LibraryOptions {
    /// The wall clock the HLC reads. The simulation passes a skewed one.
    pub wall_clock: Arc<dyn WallClock>,
    /// Where new row ids come from.
    pub ids: Box<dyn IdSource>,
}

impl Default for LibraryOptions {
    fn default() -> LibraryOptions {
        LibraryOptions {
            wall_clock: Arc::new(SystemClock),
            ids: Box::new(RandomIds),
        }
    }
}

/// Why a library could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenLibraryError {
    /// The library directory could not be created.
    #[error("cannot create library directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `config.yaml` is unreadable or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] bae_store::OpenError),
    /// The sync metadata could not be prepared.
    #[error(transparent)]
    Recorder(#[from] bae_oplog::OpenError),
}

/// The only write gateway to a bae library.
///
/// Every write method runs in one SQLite transaction that records its ops as
/// one batch, and sends [`LibraryEvent::AlbumsChanged`] to subscribers after
/// it committed.
#[derive(Debug)]
pub struct LibraryManager {
    recorder: OpRecorder,
    device_id: DeviceId,
    dir: Option<PathBuf>,
    subscribers: Mutex<Vec<mpsc::Sender<LibraryEvent>>>,
}

/// Generates a write method per typed write operation, and the list of their
/// names that the recording test enumerates.
macro_rules! write_methods {
    ($( $(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty; )*) => {
        $(
            $(#[$doc])*
            pub fn $name(&mut self, $($arg: $ty),*) -> Result<$ret, WriteError> {
                self.write(|w| writes::$name(w, $($arg),*))
            }
        )*

        /// The names of the write methods above (and [`LibraryManager::write`]),
        /// so that a test can prove each one is recorded.
        pub const WRITE_METHODS: &'static [&'static str] = &["write", $(stringify!($name)),*];
    };
}

impl LibraryManager {
    /// Opens the library in `dir`, creating the directory, `config.yaml` and
    /// the database as needed.
    pub fn open(dir: &Path, options: LibraryOptions) -> Result<LibraryManager, OpenLibraryError> {
        std::fs::create_dir_all(dir).map_err(|source| OpenLibraryError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let (config, _) = LibraryConfig::load_or_create(dir)?;
        let db = Database::open(&dir.join(DATABASE_FILE))?;
        let mut manager = LibraryManager::with_database(db, config.device_id, options)?;
        manager.dir = Some(dir.to_owned());
        Ok(manager)
    }

    /// A library over an already opened database, for tests, benchmarks and
    /// the simulation, which keep their own device ids.
    pub fn with_database(
        db: Database,
        device_id: DeviceId,
        options: LibraryOptions,
    ) -> Result<LibraryManager, OpenLibraryError> {
        let clock = Arc::new(Clock::new(device_id, options.wall_clock));
        let recorder = OpRecorder::open(db, clock, options.ids)?;
        Ok(LibraryManager {
            recorder,
            device_id,
            dir: None,
            subscribers: Mutex::new(Vec::new()),
        })
    }

    /// This device's id.
    pub fn device_id(&self) -> DeviceId {
        self.device_id
    }

    /// The library directory, if opened from one.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The database, for reads.
    pub fn database(&self) -> &Database {
        self.recorder.database()
    }

    /// The recorder, for the sync layer: unpushed batches, the clock.
    pub fn recorder(&self) -> &OpRecorder {
        &self.recorder
    }

    /// The recorder, mutably, for the sync layer to mark batches pushed.
    pub fn recorder_mut(&mut self) -> &mut OpRecorder {
        &mut self.recorder
    }

    /// Runs `f` on the connection to apply other devices' batches (the merge,
    /// or booting from a checkpoint), then tells subscribers the library
    /// changed. Local writes never come this way: they go through the
    /// recorder.
    pub fn apply_remote<T>(&mut self, f: impl FnOnce(&mut rusqlite::Connection) -> T) -> T {
        let value = f(self.recorder.remote_connection());
        self.notify(LibraryEvent::AlbumsChanged { batch_seq: None });
        value
    }

    /// Takes a new device id (see [`OpRecorder::reidentify`]) and writes it
    /// to `config.yaml`; returns the batches re-recorded under it.
    pub fn reidentify(
        &mut self,
        new_device: DeviceId,
        keep_through: u64,
    ) -> Result<Vec<bae_oplog::Batch>, ReidentifyError> {
        if let Some(dir) = &self.dir {
            LibraryConfig {
                device_id: new_device,
            }
            .replace(dir)?;
        }
        let batches = self.recorder.reidentify(new_device, keep_through)?;
        self.device_id = new_device;
        Ok(batches)
    }

    /// A channel that receives an event after every committed write.
    pub fn subscribe(&self) -> mpsc::Receiver<LibraryEvent> {
        let (tx, rx) = mpsc::channel();
        self.subscribers
            .lock()
            .expect("subscribers mutex poisoned")
            .push(tx);
        rx
    }

    fn notify(&self, event: LibraryEvent) {
        // A dropped receiver unsubscribes.
        self.subscribers
            .lock()
            .expect("subscribers mutex poisoned")
            .retain(|s| s.send(event.clone()).is_ok());
    }

    /// Runs several write operations as one transaction, so as one batch:
    /// all of them commit or none does.
    pub fn write<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Writer) -> Result<T, WriteError>,
    ) -> Result<T, WriteError> {
        let (value, batch_seq) = self.recorder.write(|tx: &mut RecordingTx<'_>| f(tx))?;
        self.notify(LibraryEvent::AlbumsChanged { batch_seq });
        Ok(value)
    }

    write_methods! {
        /// Adds an artist; returns its id.
        fn create_artist(artist: &NewArtist) -> String;
        /// Changes an artist.
        fn update_artist(id: &str, patch: &ArtistPatch) -> ();
        /// Deletes an artist with their credits and images.
        fn delete_artist(id: &str) -> ();
        /// Adds an album with its release, tracks, artist credits and ids.
        fn insert_album_with_release_and_tracks(import: &AlbumImport) -> ImportedAlbum;
        /// Changes an album.
        fn update_album(id: &str, patch: &AlbumPatch) -> ();
        /// Deletes an album and everything under it.
        fn delete_album(id: &str) -> ();
        /// Credits an artist on an album.
        fn add_album_artist(album_id: &str, artist_id: &str, position: i64) -> String;
        /// Removes an album credit.
        fn remove_album_artist(id: &str) -> ();
        /// Sets an album's Discogs ids.
        fn set_album_discogs(album_id: &str, master_id: Option<&str>, release_id: &str) -> String;
        /// Sets an album's MusicBrainz ids.
        fn set_album_musicbrainz(album_id: &str, release_group_id: &str, release_id: Option<&str>) -> String;
        /// Adds a release to an album.
        fn add_release(album_id: &str, release: &NewRelease) -> String;
        /// Changes a release.
        fn update_release(id: &str, patch: &ReleasePatch) -> ();
        /// Sets a release's import status.
        fn set_release_import_status(id: &str, status: ImportStatus) -> ();
        /// Deletes a release and everything under it.
        fn delete_release(id: &str) -> ();
        /// Adds a track to a release.
        fn add_track(release_id: &str, track: &NewTrack) -> String;
        /// Changes a track.
        fn update_track(id: &str, patch: &TrackPatch) -> ();
        /// Sets a track's import status.
        fn set_track_import_status(id: &str, status: ImportStatus) -> ();
        /// Marks a track imported.
        fn mark_track_complete(id: &str) -> ();
        /// Deletes a track with its credits and formats.
        fn delete_track(id: &str) -> ();
        /// Credits an artist on a track.
        fn add_track_artist(track_id: &str, artist_id: &str, position: i64, role: Option<&str>) -> String;
        /// Removes a track credit.
        fn remove_track_artist(id: &str) -> ();
        /// Attaches an audio file to a release.
        fn add_file(release_id: &str, file: &NewFile) -> String;
        /// Changes a file's synced fields.
        fn update_file(id: &str, patch: &FilePatch) -> ();
        /// Sets a file's device-local location and nonce (never synced).
        fn set_file_location(id: &str, source_path: Option<&str>, encryption_nonce: Option<&[u8]>) -> ();
        /// Deletes a file and the formats pointing into it.
        fn delete_file(id: &str) -> ();
        /// Records a track's audio format inside a file.
        fn add_audio_format(format: &NewAudioFormat) -> String;
        /// Deletes an audio format.
        fn delete_audio_format(id: &str) -> ();
        /// Sets an album's cover image.
        fn set_cover_image(album_id: &str, image: &NewImage) -> String;
        /// Sets an artist's image.
        fn set_artist_image(artist_id: &str, image: &NewImage) -> String;
        /// Deletes an image.
        fn delete_image(id: &str) -> ();
        /// Adds a storage profile (device-local).
        fn add_storage_profile(profile: &NewStorageProfile) -> String;
        /// Deletes a storage profile (device-local).
        fn delete_storage_profile(id: &str) -> ();
        /// Records where this device stores a release (device-local).
        fn set_release_storage(release_id: &str, storage_profile_id: &str) -> String;
        /// Adds a torrent and its piece map (device-local).
        fn add_torrent(torrent: &NewTorrent) -> String;
        /// Deletes a torrent (device-local).
        fn delete_torrent(id: &str) -> ();
        /// Starts tracking an import (device-local).
        fn start_import(folder_path: &str, album_title: Option<&str>, artist_name: Option<&str>) -> String;
        /// Updates an import's progress (device-local).
        fn update_import(id: &str, progress: &ImportProgress) -> ();
    }
}
