//! A bae library on disk and its only write gateway, [`LibraryManager`].
//!
//! A library directory holds `config.yaml` (this device's id) and
//! `library.db`. Writes flow `LibraryManager -> OpRecorder -> Database`: the
//! manager holds the recorder, never the bare database, so no write can skip
//! recording.

mod config;
mod manager;

pub use bae_store::writes::{
    AlbumImport, AlbumPatch, ArtistPatch, FilePatch, ImportProgress, ImportStatus, ImportedAlbum,
    NewAlbum, NewArtist, NewAudioFormat, NewFile, NewImage, NewRelease, NewStorageProfile,
    NewTorrent, NewTrack, ReleasePatch, TrackPatch,
};
pub use config::{CONFIG_FILE, ConfigError, LibraryConfig};
pub use manager::{
    DATABASE_FILE, LibraryEvent, LibraryManager, LibraryOptions, OpenLibraryError, ReidentifyError,
};
