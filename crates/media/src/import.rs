//! Importing audio files into a library: scan, group into albums, write
//! each album as one transaction (one op batch), then upload the files to
//! the bucket's file storage if there is one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use bae_library::{
    AlbumImport, ImportStatus, LibraryManager, NewAlbum, NewArtist, NewAudioFormat, NewFile,
    NewImage, NewRelease, NewTrack,
};
use bae_store::{Table, WriteError, Writer, writes};
use bae_sync::{ImageStore, SharedLibrary};

use crate::probe::{FoundImage, ScannedFile, folder_cover, io_reason, is_audio_path, probe_file};
use crate::storage::{FileStorage, UploadReport};

/// A path that could not be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file or directory.
    pub path: PathBuf,
    /// What went wrong, in words.
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// One album written to the library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedAlbumSummary {
    /// The album's id.
    pub album_id: String,
    /// Its release's id.
    pub release_id: String,
    /// Its title.
    pub title: String,
    /// Its album artist.
    pub artist: String,
    /// Tracks written.
    pub tracks: usize,
    /// Where its cover came from, if it got one: `"embedded"` or `"folder"`.
    pub cover: Option<&'static str>,
    /// The ids of its new file rows.
    pub file_ids: Vec<String>,
}

/// What [`import_paths`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Audio files read.
    pub files_scanned: usize,
    /// Albums written, one transaction each.
    pub albums: Vec<ImportedAlbumSummary>,
    /// Files skipped because the library already holds the same bytes.
    pub already_in_library: Vec<PathBuf>,
    /// Paths that could not be read or written; the rest went on.
    pub problems: Vec<Problem>,
    /// What the upload to the file storage did, if there is one.
    pub upload: Option<UploadReport>,
}

impl ImportReport {
    /// Tracks written.
    pub fn tracks(&self) -> usize {
        self.albums.iter().map(|a| a.tracks).sum()
    }
}

/// Hears how an import goes, for progress bars. Every method has a default
/// that does nothing.
pub trait Progress: Send + Sync {
    /// Scanning starts: `files` audio files to read.
    fn scan_start(&self, _files: u64) {}
    /// One file was read (or failed).
    fn scanned(&self, _path: &Path) {}
    /// Scanning is over.
    fn scan_done(&self) {}
    /// An album was written.
    fn album(&self, _album: &ImportedAlbumSummary) {}
    /// Uploading starts: `files` files, `bytes` bytes in all.
    fn upload_start(&self, _files: u64, _bytes: u64) {}
    /// One file of `bytes` bytes was uploaded (or failed).
    fn uploaded(&self, _bytes: u64) {}
    /// Uploading is over.
    fn upload_done(&self) {}
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Imports the audio files at `paths` (files, or directories searched
/// recursively), then, with `storage`, uploads every file of this device not
/// yet in the bucket's file storage.
///
/// One album is one transaction, so one op batch. A file that cannot be
/// read, or an album that cannot be written, is reported in
/// [`ImportReport::problems`] and the rest goes on. Files whose bytes the
/// library already holds are skipped. Scanning and writing block the
/// thread; on a shared runtime call this from `spawn_blocking` or a
/// dedicated runtime.
pub async fn import_paths(
    lib: &SharedLibrary,
    images: &ImageStore,
    storage: Option<&FileStorage>,
    paths: &[PathBuf],
    progress: &dyn Progress,
) -> ImportReport {
    let mut report = {
        let mut guard = lib.lock().expect("library mutex poisoned");
        import_into(&mut guard, images, paths, progress)
    };
    if let Some(storage) = storage {
        let upload = storage.upload_pending(lib, progress).await;
        report.problems.extend(upload.problems.iter().cloned());
        report.upload = Some(upload);
    }
    report
}

/// The synchronous part of [`import_paths`]: scan, group and write, no
/// upload.
pub fn import_into(
    lib: &mut LibraryManager,
    images: &ImageStore,
    paths: &[PathBuf],
    progress: &dyn Progress,
) -> ImportReport {
    let mut report = ImportReport::default();
    let files = collect_audio_files(paths, &mut report.problems);
    progress.scan_start(files.len() as u64);
    let known = known_hashes(lib);
    let mut scanned = Vec::new();
    let mut seen = BTreeSet::new();
    for path in files {
        match probe_file(&path) {
            Ok(file) => {
                report.files_scanned += 1;
                if known.contains(&file.sha256) || !seen.insert(file.sha256.clone()) {
                    report.already_in_library.push(path.clone());
                } else {
                    scanned.push(file);
                }
            }
            Err(e) => report.problems.push(Problem {
                path: path.clone(),
                reason: e.reason,
            }),
        }
        progress.scanned(&path);
    }
    progress.scan_done();
    for album in group(scanned) {
        match write_album(lib, images, &album) {
            Ok(summary) => {
                progress.album(&summary);
                report.albums.push(summary);
            }
            Err(e) => report.problems.push(Problem {
                path: album.dir.clone(),
                reason: format!("album {:?} was not imported: {e}", album.title),
            }),
        }
    }
    report
}

fn known_hashes(lib: &LibraryManager) -> BTreeSet<String> {
    let conn = lib.database().conn();
    let mut out = BTreeSet::new();
    if let Ok(mut stmt) =
        conn.prepare("SELECT content_hash FROM files WHERE content_hash IS NOT NULL")
        && let Ok(rows) = stmt.query_map([], |r| r.get::<_, String>(0))
    {
        out.extend(rows.filter_map(Result::ok));
    }
    out
}

/// Every audio file under `paths`, sorted within each directory. Paths that
/// cannot be read are problems; a file named explicitly that is not audio is
/// a problem too, one found in a directory is just not audio.
pub fn collect_audio_files(paths: &[PathBuf], problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut visited = BTreeSet::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => walk(path, &mut out, &mut visited, problems),
            Ok(_) if is_audio_path(path) => out.push(path.clone()),
            Ok(_) => problems.push(Problem {
                path: path.clone(),
                reason: format!(
                    "not an audio file (bae reads .{})",
                    crate::probe::AUDIO_EXTENSIONS.join(", .")
                ),
            }),
            Err(e) => problems.push(Problem {
                path: path.clone(),
                reason: io_reason(&e),
            }),
        }
    }
    out
}

fn walk(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    visited: &mut BTreeSet<PathBuf>,
    problems: &mut Vec<Problem>,
) {
    // A symlink cycle must not walk forever.
    if let Ok(canonical) = std::fs::canonicalize(dir)
        && !visited.insert(canonical)
    {
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(Problem {
                path: dir.to_owned(),
                reason: format!("cannot read directory: {}", io_reason(&e)),
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) => paths.push(e.path()),
            Err(e) => problems.push(Problem {
                path: dir.to_owned(),
                reason: format!("cannot read directory: {}", io_reason(&e)),
            }),
        }
    }
    paths.sort();
    for path in paths {
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => walk(&path, out, visited, problems),
            Ok(_) if is_audio_path(&path) => out.push(path),
            Ok(_) => {}
            Err(e) => {
                // A dangling symlink to something that is not audio is noise.
                if is_audio_path(&path) || std::fs::symlink_metadata(&path).is_err() {
                    problems.push(Problem {
                        path,
                        reason: io_reason(&e),
                    });
                }
            }
        }
    }
}

/// Files of one album, as grouped from their tags.
#[derive(Debug, Clone)]
pub struct AlbumGroup {
    /// The album title.
    pub title: String,
    /// The album artist.
    pub artist: String,
    /// Whether the tracks are by several artists.
    pub compilation: bool,
    /// The directory of its first file.
    pub dir: PathBuf,
    /// Its files, in disc and track order.
    pub files: Vec<ScannedFile>,
}

/// The artist credited for a whole compilation without an album artist.
pub const VARIOUS_ARTISTS: &str = "Various Artists";

/// Groups files into albums: by album title and album artist when the tags
/// have them; by album title and folder when they do not (so a compilation
/// without album-artist tags stays one album); by folder when there is no
/// album title (the folder's name becomes the title).
pub fn group(files: Vec<ScannedFile>) -> Vec<AlbumGroup> {
    let mut groups: BTreeMap<(String, String), Vec<ScannedFile>> = BTreeMap::new();
    for file in files {
        let dir = file
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let key = match (&file.album, &file.album_artist) {
            (Some(album), Some(artist)) => (
                album.to_lowercase(),
                format!("artist:{}", artist.to_lowercase()),
            ),
            (Some(album), None) => (album.to_lowercase(), format!("dir:{}", dir.display())),
            (None, _) => (String::new(), format!("dir:{}", dir.display())),
        };
        groups.entry(key).or_default().push(file);
    }
    let mut albums: Vec<AlbumGroup> = groups
        .into_values()
        .map(|mut files| {
            files.sort_by(|a, b| {
                (a.disc.unwrap_or(1), a.track.unwrap_or(u32::MAX), &a.path).cmp(&(
                    b.disc.unwrap_or(1),
                    b.track.unwrap_or(u32::MAX),
                    &b.path,
                ))
            });
            let dir = files[0]
                .path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let title =
                most_common(files.iter().filter_map(|f| f.album.clone())).unwrap_or_else(|| {
                    dir.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "Unknown Album".to_owned())
                });
            let track_artists: BTreeSet<String> =
                files.iter().filter_map(|f| f.artist.clone()).collect();
            let (artist, compilation) =
                match most_common(files.iter().filter_map(|f| f.album_artist.clone())) {
                    Some(a) => {
                        let various = a.eq_ignore_ascii_case(VARIOUS_ARTISTS);
                        (a, various || files.iter().any(|f| f.compilation))
                    }
                    None if track_artists.len() > 1 => (VARIOUS_ARTISTS.to_owned(), true),
                    None => (
                        track_artists
                            .into_iter()
                            .next()
                            .unwrap_or_else(|| "Unknown Artist".to_owned()),
                        files.iter().any(|f| f.compilation),
                    ),
                };
            AlbumGroup {
                title,
                artist,
                compilation,
                dir,
                files,
            }
        })
        .collect();
    albums.sort_by(|a, b| (&a.artist, &a.title).cmp(&(&b.artist, &b.title)));
    albums
}

fn most_common<I: IntoIterator<Item = String>>(items: I) -> Option<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for item in items {
        *counts.entry(item).or_default() += 1;
    }
    // Ties go to the first in sort order, so the choice is stable.
    counts
        .into_iter()
        .fold(None::<(String, usize)>, |best, (item, n)| match best {
            Some((_, m)) if m >= n => best,
            _ => Some((item, n)),
        })
        .map(|(item, _)| item)
}

/// The album's cover: a front cover embedded in one of its files, else an
/// image in its folder (or the folder above, for `CD1/`-style layouts).
fn album_cover(album: &AlbumGroup) -> Option<FoundImage> {
    if let Some(p) = album.files.iter().find_map(|f| f.picture.clone()) {
        return Some(p);
    }
    let dirs: BTreeSet<PathBuf> = album
        .files
        .iter()
        .filter_map(|f| f.path.parent().map(Path::to_path_buf))
        .collect();
    dirs.iter()
        .find_map(|d| folder_cover(d))
        .or_else(|| dirs.iter().find_map(|d| d.parent().and_then(folder_cover)))
        .map(|(_, img)| img)
}

/// Finds an artist by name (ignoring case), else creates one.
fn artist_id(
    w: &mut dyn Writer,
    cache: &mut HashMap<String, String>,
    name: &str,
    musicbrainz_id: Option<&str>,
) -> Result<String, WriteError> {
    let folded = name.to_lowercase();
    if let Some(id) = cache.get(&folded) {
        return Ok(id.clone());
    }
    let existing: Option<String> = {
        let mut stmt = w.conn().prepare(
            "SELECT id FROM artists WHERE lower(name) = ?1 ORDER BY created_at, id LIMIT 1",
        )?;
        let mut rows = stmt.query([&folded])?;
        rows.next()?.map(|r| r.get(0)).transpose()?
    };
    let id = match existing {
        Some(id) => id,
        None => writes::create_artist(
            w,
            &NewArtist {
                name: name.to_owned(),
                sort_name: None,
                discogs_artist_id: None,
                musicbrainz_artist_id: musicbrainz_id.map(str::to_owned),
            },
        )?,
    };
    cache.insert(folded, id.clone());
    Ok(id)
}

fn first<T: Clone>(files: &[ScannedFile], f: impl Fn(&ScannedFile) -> Option<T>) -> Option<T> {
    files.iter().find_map(f)
}

/// Writes one album, its release, tracks, files, formats and cover as one
/// transaction.
fn write_album(
    lib: &mut LibraryManager,
    images: &ImageStore,
    album: &AlbumGroup,
) -> Result<ImportedAlbumSummary, WriteError> {
    let cover = album_cover(album);
    let mut image_error: Option<String> = None;
    let result = lib.write(|w| {
        let mut artists = HashMap::new();
        let album_artist = artist_id(
            w,
            &mut artists,
            &album.artist,
            first(&album.files, |f| f.musicbrainz_album_artist_id.clone()).as_deref(),
        )?;
        let mut tracks = Vec::new();
        for (i, f) in album.files.iter().enumerate() {
            let artist = match &f.artist {
                Some(name) => artist_id(w, &mut artists, name, f.musicbrainz_artist_id.as_deref())?,
                None => album_artist.clone(),
            };
            tracks.push(NewTrack {
                title: f.title.clone().unwrap_or_else(|| {
                    f.path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| format!("Track {}", i + 1))
                }),
                disc_number: f.disc.map(i64::from),
                track_number: f.track.map(i64::from),
                duration_ms: Some(f.duration_ms as i64),
                artist_ids: vec![artist],
            });
        }
        let year = most_common(
            album
                .files
                .iter()
                .filter_map(|f| f.year.map(|y| y.to_string())),
        )
        .and_then(|y| y.parse().ok());
        let musicbrainz =
            first(&album.files, |f| f.musicbrainz_release_group_id.clone()).map(|rg| {
                (
                    rg,
                    first(&album.files, |f| f.musicbrainz_release_id.clone()),
                )
            });
        let import = AlbumImport {
            album: NewAlbum {
                title: album.title.clone(),
                year,
                is_compilation: album.compilation,
                artist_ids: vec![album_artist.clone()],
                discogs: None,
                musicbrainz,
            },
            release: NewRelease {
                release_name: None,
                year,
                format: Some("Digital Media".to_owned()),
                label: first(&album.files, |f| f.label.clone()),
                catalog_number: first(&album.files, |f| f.catalog_number.clone()),
                country: first(&album.files, |f| f.country.clone()),
                barcode: first(&album.files, |f| f.barcode.clone()),
            },
            tracks,
        };
        let ids = writes::insert_album_with_release_and_tracks(w, &import)?;
        let mut file_ids = Vec::new();
        for (f, track_id) in album.files.iter().zip(&ids.track_ids) {
            let file_id = writes::add_file(
                w,
                &ids.release_id,
                &NewFile {
                    original_filename: f
                        .path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    file_size: f.size as i64,
                    content_type: f.content_type.clone(),
                    content_hash: Some(f.sha256.clone()),
                    source_path: Some(
                        std::path::absolute(&f.path)
                            .unwrap_or_else(|_| f.path.clone())
                            .display()
                            .to_string(),
                    ),
                },
            )?;
            writes::add_audio_format(
                w,
                &NewAudioFormat {
                    track_id: track_id.clone(),
                    file_id: file_id.clone(),
                    content_type: f.content_type.clone(),
                    sample_rate: i64::from(f.sample_rate),
                    bits_per_sample: f.bits_per_sample.map(i64::from),
                    channels: i64::from(f.channels),
                    duration_ms: Some(f.duration_ms as i64),
                    start_byte_offset: f.audio_range.map(|r| r.0 as i64),
                    end_byte_offset: f.audio_range.map(|r| r.1 as i64),
                    pregap_ms: None,
                    flac_headers: f.flac.as_ref().map(|l| l.headers.clone()),
                    seektable: f.flac.as_ref().and_then(|l| l.seektable.clone()),
                },
            )?;
            writes::mark_track_complete(w, track_id)?;
            file_ids.push(file_id);
        }
        writes::set_release_import_status(w, &ids.release_id, ImportStatus::Complete)?;
        let cover_source = match &cover {
            Some(img) => {
                let image_id = writes::set_cover_image(
                    w,
                    &ids.album_id,
                    &NewImage {
                        content_type: img.content_type.clone(),
                        file_size: img.data.len() as i64,
                        width: img.dimensions.map(|d| i64::from(d.0)),
                        height: img.dimensions.map(|d| i64::from(d.1)),
                        content_hash: img.sha256(),
                        source: img.source.to_owned(),
                        source_url: None,
                    },
                )?;
                // The bytes are stored before the row that names them commits,
                // so a pushed image op always has bytes to upload first.
                if let Err(e) = images.put(&image_id, &img.data) {
                    image_error = Some(e.to_string());
                    return Err(WriteError::InvalidValue {
                        table: Table::LibraryImages,
                        column: "id",
                        reason: "image bytes could not be stored".to_owned(),
                    });
                }
                Some(img.source)
            }
            None => None,
        };
        Ok(ImportedAlbumSummary {
            album_id: ids.album_id,
            release_id: ids.release_id,
            title: album.title.clone(),
            artist: album.artist.clone(),
            tracks: album.files.len(),
            cover: cover_source,
            file_ids,
        })
    });
    match (result, image_error) {
        (Err(_), Some(reason)) => Err(WriteError::InvalidValue {
            table: Table::LibraryImages,
            column: "id",
            reason,
        }),
        (result, _) => result,
    }
}
