//! Real audio files and a bae library.
//!
//! - [`probe`]: one file's tags and audio properties (`lofty`), SHA-256,
//!   embedded cover, and where its audio data sits (FLAC headers and seek
//!   table, WAV `data` chunk).
//! - [`import`]: scanning paths, grouping files into albums by their tags,
//!   and writing each album, with its release, tracks, artists, files,
//!   formats and cover, as one `LibraryManager` transaction (one op batch).
//! - [`storage`]: the bucket as file storage, each audio file encrypted in
//!   the chunked format under `storage/{ab}/{cd}/{file_id}`.
//! - [`demo`]: a small library of real, playable, tagged files.

mod cover;
pub mod demo;
pub mod import;
pub mod probe;
pub mod storage;
mod synth;

pub use import::{ImportReport, NoProgress, Problem, Progress, import_into, import_paths};
pub use storage::{FileStorage, StorageError, UploadReport};
