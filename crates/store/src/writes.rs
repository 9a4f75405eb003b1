//! The typed write operations bae's app needs, each written against
//! [`Writer`] so that it is recorded wherever it runs. A caller runs one or
//! several of them inside one recorder transaction: one transaction, one
//! batch.

use crate::{Table, Value, WriteError, Writer};

/// Progress of a release's or track's import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportStatus {
    /// Waiting to be imported.
    Queued,
    /// Being imported.
    Importing,
    /// Imported.
    Complete,
    /// The import failed.
    Failed,
}

impl ImportStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Queued => "queued",
            ImportStatus::Importing => "importing",
            ImportStatus::Complete => "complete",
            ImportStatus::Failed => "failed",
        }
    }
}

/// A new artist.
#[derive(Debug, Clone, Default)]
pub struct NewArtist {
    pub name: String,
    pub sort_name: Option<String>,
    pub discogs_artist_id: Option<String>,
    pub musicbrainz_artist_id: Option<String>,
}

/// Changes to an artist; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ArtistPatch {
    pub name: Option<String>,
    pub sort_name: Option<Option<String>>,
    pub discogs_artist_id: Option<Option<String>>,
    pub musicbrainz_artist_id: Option<Option<String>>,
}

/// A new album's own fields.
#[derive(Debug, Clone, Default)]
pub struct NewAlbum {
    pub title: String,
    pub year: Option<i64>,
    pub is_compilation: bool,
    /// Album artists, in credit order.
    pub artist_ids: Vec<String>,
    /// Discogs master and release ids.
    pub discogs: Option<(Option<String>, String)>,
    /// MusicBrainz release group and release ids.
    pub musicbrainz: Option<(String, Option<String>)>,
}

/// Changes to an album.
#[derive(Debug, Clone, Default)]
pub struct AlbumPatch {
    pub title: Option<String>,
    pub year: Option<Option<i64>>,
    pub is_compilation: Option<bool>,
}

/// A new release.
#[derive(Debug, Clone, Default)]
pub struct NewRelease {
    pub release_name: Option<String>,
    pub year: Option<i64>,
    pub format: Option<String>,
    pub label: Option<String>,
    pub catalog_number: Option<String>,
    pub country: Option<String>,
    pub barcode: Option<String>,
}

/// Changes to a release.
#[derive(Debug, Clone, Default)]
pub struct ReleasePatch {
    pub release_name: Option<Option<String>>,
    pub year: Option<Option<i64>>,
    pub format: Option<Option<String>>,
    pub label: Option<Option<String>>,
    pub catalog_number: Option<Option<String>>,
    pub country: Option<Option<String>>,
    pub barcode: Option<Option<String>>,
    pub private: Option<bool>,
}

/// A new track.
#[derive(Debug, Clone, Default)]
pub struct NewTrack {
    pub title: String,
    pub disc_number: Option<i64>,
    pub track_number: Option<i64>,
    pub duration_ms: Option<i64>,
    /// Track artists, in credit order.
    pub artist_ids: Vec<String>,
}

/// Changes to a track.
#[derive(Debug, Clone, Default)]
pub struct TrackPatch {
    pub title: Option<String>,
    pub disc_number: Option<Option<i64>>,
    pub track_number: Option<Option<i64>>,
    pub duration_ms: Option<Option<i64>>,
}

/// An album with one release and its tracks, written as one transaction.
#[derive(Debug, Clone, Default)]
pub struct AlbumImport {
    pub album: NewAlbum,
    pub release: NewRelease,
    pub tracks: Vec<NewTrack>,
}

/// The ids [`insert_album_with_release_and_tracks`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedAlbum {
    pub album_id: String,
    pub release_id: String,
    /// In the order of [`AlbumImport::tracks`].
    pub track_ids: Vec<String>,
}

/// A new audio file of a release.
#[derive(Debug, Clone, Default)]
pub struct NewFile {
    pub original_filename: String,
    pub file_size: i64,
    pub content_type: String,
    pub content_hash: Option<String>,
    /// Device-local: where this device keeps the file.
    pub source_path: Option<String>,
}

/// Changes to a file's synced fields.
#[derive(Debug, Clone, Default)]
pub struct FilePatch {
    pub original_filename: Option<String>,
    pub content_hash: Option<Option<String>>,
    /// `"master"` or `"derived"`.
    pub encryption_scheme: Option<String>,
}

/// The decoded-audio facts of one track inside one file.
#[derive(Debug, Clone, Default)]
pub struct NewAudioFormat {
    pub track_id: String,
    pub file_id: String,
    pub content_type: String,
    pub sample_rate: i64,
    pub bits_per_sample: Option<i64>,
    pub channels: i64,
    pub duration_ms: Option<i64>,
    pub start_byte_offset: Option<i64>,
    pub end_byte_offset: Option<i64>,
    pub pregap_ms: Option<i64>,
    pub flac_headers: Option<Vec<u8>>,
    pub seektable: Option<Vec<u8>>,
}

/// A new image's metadata; the bytes go to the bucket separately.
#[derive(Debug, Clone, Default)]
pub struct NewImage {
    pub content_type: String,
    pub file_size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    /// SHA-256 of the bytes, lowercase hex.
    pub content_hash: String,
    /// Where it came from: `"embedded"`, `"folder"`, `"musicbrainz"`, ...
    pub source: String,
    pub source_url: Option<String>,
}

/// A new storage profile (device-local).
#[derive(Debug, Clone, Default)]
pub struct NewStorageProfile {
    pub name: String,
    /// `"local"` or `"cloud"`.
    pub location: String,
    pub encrypted: bool,
    pub is_default: bool,
    pub local_path: Option<String>,
    pub cloud_bucket: Option<String>,
    pub cloud_region: Option<String>,
    pub cloud_endpoint: Option<String>,
}

/// A new torrent of a release (device-local).
#[derive(Debug, Clone, Default)]
pub struct NewTorrent {
    pub release_id: String,
    pub info_hash: String,
    pub magnet_link: Option<String>,
    pub torrent_name: String,
    pub total_size_bytes: i64,
    pub piece_length: i64,
    pub num_pieces: i64,
    /// For each piece: the file ids it spans and the byte range within them.
    pub pieces: Vec<(Vec<String>, i64, i64)>,
}

/// The progress of an import (device-local).
#[derive(Debug, Clone, Default)]
pub struct ImportProgress {
    /// `"preparing"`, `"importing"`, `"complete"` or `"failed"`.
    pub status: String,
    pub release_id: Option<String>,
    pub progress_percent: i64,
    pub error_message: Option<String>,
}

fn stamped(w: &dyn Writer, mut fields: Vec<(&'static str, Value)>) -> Vec<(&'static str, Value)> {
    let now = w.now_rfc3339();
    fields.push(("created_at", Value::Text(now.clone())));
    fields.push(("updated_at", Value::Text(now)));
    fields
}

fn patched(w: &dyn Writer, mut fields: Vec<(&'static str, Value)>) -> Vec<(&'static str, Value)> {
    if !fields.is_empty() {
        fields.push(("updated_at", Value::Text(w.now_rfc3339())));
    }
    fields
}

fn apply_patch(
    w: &mut dyn Writer,
    table: Table,
    id: &str,
    fields: Vec<(&'static str, Value)>,
) -> Result<(), WriteError> {
    let fields = patched(w, fields);
    if fields.is_empty() {
        return if crate::row_exists(w.conn(), table, id)? {
            Ok(())
        } else {
            Err(WriteError::NotFound {
                table,
                id: id.to_owned(),
            })
        };
    }
    if w.update(table, id, &fields)? {
        Ok(())
    } else {
        Err(WriteError::NotFound {
            table,
            id: id.to_owned(),
        })
    }
}

fn delete_existing(w: &mut dyn Writer, table: Table, id: &str) -> Result<(), WriteError> {
    if w.delete(table, id)? {
        Ok(())
    } else {
        Err(WriteError::NotFound {
            table,
            id: id.to_owned(),
        })
    }
}

fn push<T: Into<Value>>(fields: &mut Vec<(&'static str, Value)>, name: &'static str, v: Option<T>) {
    if let Some(v) = v {
        fields.push((name, v.into()));
    }
}

/// Adds an artist; returns its id.
pub fn create_artist(w: &mut dyn Writer, a: &NewArtist) -> Result<String, WriteError> {
    let id = w.new_id();
    let fields = stamped(
        w,
        vec![
            ("id", id.clone().into()),
            ("name", a.name.clone().into()),
            ("sort_name", a.sort_name.clone().into()),
            ("discogs_artist_id", a.discogs_artist_id.clone().into()),
            (
                "musicbrainz_artist_id",
                a.musicbrainz_artist_id.clone().into(),
            ),
        ],
    );
    w.insert(Table::Artists, &fields)?;
    Ok(id)
}

/// Changes an artist.
pub fn update_artist(w: &mut dyn Writer, id: &str, p: &ArtistPatch) -> Result<(), WriteError> {
    let mut f = Vec::new();
    push(&mut f, "name", p.name.clone());
    push(&mut f, "sort_name", p.sort_name.clone());
    push(&mut f, "discogs_artist_id", p.discogs_artist_id.clone());
    push(
        &mut f,
        "musicbrainz_artist_id",
        p.musicbrainz_artist_id.clone(),
    );
    apply_patch(w, Table::Artists, id, f)
}

/// Deletes an artist and every credit and image of theirs.
pub fn delete_artist(w: &mut dyn Writer, id: &str) -> Result<(), WriteError> {
    delete_existing(w, Table::Artists, id)
}

fn insert_album(w: &mut dyn Writer, a: &NewAlbum) -> Result<String, WriteError> {
    let album_id = w.new_id();
    let fields = stamped(
        w,
        vec![
            ("id", album_id.clone().into()),
            ("title", a.title.clone().into()),
            ("year", a.year.into()),
            ("is_compilation", a.is_compilation.into()),
        ],
    );
    w.insert(Table::Albums, &fields)?;
    for (position, artist_id) in a.artist_ids.iter().enumerate() {
        add_album_artist(w, &album_id, artist_id, position as i64)?;
    }
    if let Some((master, release)) = &a.discogs {
        set_album_discogs(w, &album_id, master.as_deref(), release)?;
    }
    if let Some((group, release)) = &a.musicbrainz {
        set_album_musicbrainz(w, &album_id, group, release.as_deref())?;
    }
    Ok(album_id)
}

/// Adds an album with one release, its tracks and every artist credit, in
/// the caller's transaction (so as one batch).
pub fn insert_album_with_release_and_tracks(
    w: &mut dyn Writer,
    import: &AlbumImport,
) -> Result<ImportedAlbum, WriteError> {
    let album_id = insert_album(w, &import.album)?;
    let release_id = add_release(w, &album_id, &import.release)?;
    let track_ids = import
        .tracks
        .iter()
        .map(|t| add_track(w, &release_id, t))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ImportedAlbum {
        album_id,
        release_id,
        track_ids,
    })
}

/// Changes an album.
pub fn update_album(w: &mut dyn Writer, id: &str, p: &AlbumPatch) -> Result<(), WriteError> {
    let mut f = Vec::new();
    push(&mut f, "title", p.title.clone());
    push(&mut f, "year", p.year);
    push(&mut f, "is_compilation", p.is_compilation);
    apply_patch(w, Table::Albums, id, f)
}

/// Deletes an album with its releases, tracks, files, credits and images.
pub fn delete_album(w: &mut dyn Writer, id: &str) -> Result<(), WriteError> {
    delete_existing(w, Table::Albums, id)
}

/// Credits an artist on an album; returns the credit's id.
pub fn add_album_artist(
    w: &mut dyn Writer,
    album_id: &str,
    artist_id: &str,
    position: i64,
) -> Result<String, WriteError> {
    let id = w.new_id();
    let fields = stamped(
        w,
        vec![
            ("id", id.clone().into()),
            ("album_id", album_id.into()),
            ("artist_id", artist_id.into()),
            ("position", position.into()),
        ],
    );
    w.insert(Table::AlbumArtists, &fields)?;
    Ok(id)
}

/// Removes an album credit by its id.
pub fn remove_album_artist(w: &mut dyn Writer, id: &str) -> Result<(), WriteError> {
    delete_existing(w, Table::AlbumArtists, id)
}

fn ids_where(
    w: &dyn Writer,
    table: Table,
    column: &str,
    value: &str,
) -> Result<Vec<String>, WriteError> {
    let sql = format!(
        "SELECT id FROM {} WHERE {column} = ? ORDER BY id",
        table.name()
    );
    let mut stmt = w.conn().prepare_cached(&sql)?;
    let ids = stmt
        .query_map([value], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

/// Sets the album's Discogs ids, replacing any it had.
pub fn set_album_discogs(
    w: &mut dyn Writer,
    album_id: &str,
    master_id: Option<&str>,
    release_id: &str,
) -> Result<String, WriteError> {
    for old in ids_where(w, Table::AlbumDiscogs, "album_id", album_id)? {
        w.delete(Table::AlbumDiscogs, &old)?;
    }
    let id = w.new_id();
    let fields = stamped(
        w,
        vec![
            ("id", id.clone().into()),
            ("album_id", album_id.into()),
            ("discogs_master_id", master_id.into()),
            ("discogs_release_id", release_id.into()),
        ],
    );
    w.insert(Table::AlbumDiscogs, &fields)?;
    Ok(id)
}

/// Sets the album's MusicBrainz ids, replacing any it had.
pub fn set_album_musicbrainz(
    w: &mut dyn Writer,
    album_id: &str,
    release_group_id: &str,
    release_id: Option<&str>,
) -> Result<String, WriteError> {
    for old in ids_where(w, Table::AlbumMusicbrainz, "album_id", album_id)? {
        w.delete(Table::AlbumMusicbrainz, &old)?;
    }
    let id = w.new_id();
    let fields = stamped(
        w,
        vec![
            ("id", id.clone().into()),
            ("album_id", album_id.into()),
            ("release_group_id", release_group_id.into()),
            ("release_id", release_id.into()),
        ],
    );
    w.insert(Table::AlbumMusicbrainz, &fields)?;
    Ok(id)
}

/// Adds a release to an album; returns its id.
pub fn add_release(
    w: &mut dyn Writer,
    album_id: &str,
    r: &NewRelease,
) -> Result<String, WriteError> {
    let id = w.new_id();
    let fields = stamped(
        w,
        vec![
            ("id", id.clone().into()),
            ("album_id", album_id.into()),
            ("release_name", r.release_name.clone().into()),
            ("year", r.year.into()),
            ("format", r.format.clone().into()),
            ("label", r.label.clone().into()),
            ("catalog_number", r.catalog_number.clone().into()),
            ("country", r.country.clone().into()),
            ("barcode", r.barcode.clone().into()),
            ("import_status", ImportStatus::Queued.as_str().into()),
            ("private", false.into()),
        ],
    );
    w.insert(Table::Releases, &fields)?;
    Ok(id)
}

/// Changes a release.
pub fn update_release(w: &mut dyn Writer, id: &str, p: &ReleasePatch) -> Result<(), WriteError> {
    let mut f = Vec::new();
    push(&mut f, "release_name", p.release_name.clone());
    push(&mut f, "year", p.year);
    push(&mut f, "format", p.format.clone());
    push(&mut f, "label", p.label.clone());
    push(&mut f, "catalog_number", p.catalog_number.clone());
    push(&mut f, "country", p.country.clone());
    push(&mut f, "barcode", p.barcode.clone());
    push(&mut f, "private", p.private);
    apply_patch(w, Table::Releases, id, f)
}

/// Sets a release's import status.
pub fn set_release_import_status(
    w: &mut dyn Writer,
    id: &str,
    status: ImportStatus,
) -> Result<(), WriteError> {
    apply_patch(
        w,
        Table::Releases,
        id,
        vec![("import_status", status.as_str().into())],
    )
}

/// Deletes a release with its tracks, files and formats.
pub fn delete_release(w: &mut dyn Writer, id: &str) -> Result<(), WriteError> {
    delete_existing(w, Table::Releases, id)
}

/// Adds a track to a release, with its artist credits; returns its id.
pub fn add_track(w: &mut dyn Writer, release_id: &str, t: &NewTrack) -> Result<String, WriteError> {
    let id = w.new_id();
    let fields = stamped(
        w,
        vec![
            ("id", id.clone().into()),
            ("release_id", release_id.into()),
            ("title", t.title.clone().into()),
            ("disc_number", t.disc_number.into()),
            ("track_number", t.track_number.into()),
            ("duration_ms", t.duration_ms.into()),
            ("import_status", ImportStatus::Queued.as_str().into()),
        ],
    );
    w.insert(Table::Tracks, &fields)?;
    for (position, artist_id) in t.artist_ids.iter().enumerate() {
        add_track_artist(w, &id, artist_id, position as i64, None)?;
    }
    Ok(id)
}

/// Changes a track.
pub fn update_track(w: &mut dyn Writer, id: &str, p: &TrackPatch) -> Result<(), WriteError> {
    let mut f = Vec::new();
    push(&mut f, "title", p.title.clone());
    push(&mut f, "disc_number", p.disc_number);
    push(&mut f, "track_number", p.track_number);
    push(&mut f, "duration_ms", p.duration_ms);
    apply_patch(w, Table::Tracks, id, f)
}

/// Sets a track's import status.
pub fn set_track_import_status(
    w: &mut dyn Writer,
    id: &str,
    status: ImportStatus,
) -> Result<(), WriteError> {
    apply_patch(
        w,
        Table::Tracks,
        id,
        vec![("import_status", status.as_str().into())],
    )
}

/// Marks a track imported.
pub fn mark_track_complete(w: &mut dyn Writer, id: &str) -> Result<(), WriteError> {
    set_track_import_status(w, id, ImportStatus::Complete)
}

/// Deletes a track with its credits and formats.
pub fn delete_track(w: &mut dyn Writer, id: &str) -> Result<(), WriteError> {
    delete_existing(w, Table::Tracks, id)
}

/// Credits an artist on a track; returns the credit's id.
pub fn add_track_artist(
    w: &mut dyn Writer,
    track_id: &str,
    artist_id: &str,
    position: i64,
    role: Option<&str>,
) -> Result<String, WriteError> {
    let id = w.new_id();
    let fields = stamped(
        w,
        vec![
            ("id", id.clone().into()),
            ("track_id", track_id.into()),
            ("artist_id", artist_id.into()),
            ("position", position.into()),
            ("role", role.into()),
        ],
    );
    w.insert(Table::TrackArtists, &fields)?;
    Ok(id)
}

/// Removes a track credit by its id.
pub fn remove_track_artist(w: &mut dyn Writer, id: &str) -> Result<(), WriteError> {
    delete_existing(w, Table::TrackArtists, id)
}

/// Attaches an audio file to a release; returns its id.
pub fn add_file(w: &mut dyn Writer, release_id: &str, f: &NewFile) -> Result<String, WriteError> {
    let id = w.new_id();
    let fields = stamped(
        w,
        vec![
            ("id", id.clone().into()),
            ("release_id", release_id.into()),
            ("original_filename", f.original_filename.clone().into()),
            ("file_size", f.file_size.into()),
            ("content_type", f.content_type.clone().into()),
            ("content_hash", f.content_hash.clone().into()),
            ("encryption_scheme", "master".into()),
            ("source_path", f.source_path.clone().into()),
        ],
    );
    w.insert(Table::Files, &fields)?;
    Ok(id)
}

/// Changes a file's synced fields.
pub fn update_file(w: &mut dyn Writer, id: &str, p: &FilePatch) -> Result<(), WriteError> {
    if let Some(scheme) = &p.encryption_scheme
        && scheme != "master"
        && scheme != "derived"
    {
        return Err(WriteError::InvalidValue {
            table: Table::Files,
            column: "encryption_scheme",
            reason: format!("{scheme:?} is neither \"master\" nor \"derived\""),
        });
    }
    let mut f = Vec::new();
    push(&mut f, "original_filename", p.original_filename.clone());
    push(&mut f, "content_hash", p.content_hash.clone());
    push(&mut f, "encryption_scheme", p.encryption_scheme.clone());
    apply_patch(w, Table::Files, id, f)
}

/// Sets where this device keeps a file and the nonce of its encrypted copy:
/// device-local columns, never synced.
pub fn set_file_location(
    w: &mut dyn Writer,
    id: &str,
    source_path: Option<&str>,
    encryption_nonce: Option<&[u8]>,
) -> Result<(), WriteError> {
    let fields = [
        ("source_path", source_path.into()),
        (
            "encryption_nonce",
            encryption_nonce.map(<[u8]>::to_vec).into(),
        ),
    ];
    if w.update(Table::Files, id, &fields)? {
        Ok(())
    } else {
        Err(WriteError::NotFound {
            table: Table::Files,
            id: id.to_owned(),
        })
    }
}

/// Deletes a file and the formats that point into it.
pub fn delete_file(w: &mut dyn Writer, id: &str) -> Result<(), WriteError> {
    delete_existing(w, Table::Files, id)
}

/// Records where and how a track's audio sits in a file; returns its id.
pub fn add_audio_format(w: &mut dyn Writer, a: &NewAudioFormat) -> Result<String, WriteError> {
    let id = w.new_id();
    let fields = stamped(
        w,
        vec![
            ("id", id.clone().into()),
            ("track_id", a.track_id.clone().into()),
            ("file_id", a.file_id.clone().into()),
            ("content_type", a.content_type.clone().into()),
            ("sample_rate", a.sample_rate.into()),
            ("bits_per_sample", a.bits_per_sample.into()),
            ("channels", a.channels.into()),
            ("duration_ms", a.duration_ms.into()),
            ("start_byte_offset", a.start_byte_offset.into()),
            ("end_byte_offset", a.end_byte_offset.into()),
            ("pregap_ms", a.pregap_ms.into()),
            ("flac_headers", a.flac_headers.clone().into()),
            ("seektable", a.seektable.clone().into()),
        ],
    );
    w.insert(Table::AudioFormats, &fields)?;
    Ok(id)
}

/// Deletes an audio format.
pub fn delete_audio_format(w: &mut dyn Writer, id: &str) -> Result<(), WriteError> {
    delete_existing(w, Table::AudioFormats, id)
}

fn insert_image(
    w: &mut dyn Writer,
    kind: &str,
    owner: (&'static str, &str),
    img: &NewImage,
) -> Result<String, WriteError> {
    let id = w.new_id();
    let fields = stamped(
        w,
        vec![
            ("id", id.clone().into()),
            ("kind", kind.into()),
            (
                "album_id",
                if owner.0 == "album_id" {
                    owner.1.into()
                } else {
                    Value::Null
                },
            ),
            (
                "artist_id",
                if owner.0 == "artist_id" {
                    owner.1.into()
                } else {
                    Value::Null
                },
            ),
            ("content_type", img.content_type.clone().into()),
            ("file_size", img.file_size.into()),
            ("width", img.width.into()),
            ("height", img.height.into()),
            ("content_hash", img.content_hash.clone().into()),
            ("source", img.source.clone().into()),
            ("source_url", img.source_url.clone().into()),
        ],
    );
    w.insert(Table::LibraryImages, &fields)?;
    Ok(id)
}

/// Sets an album's cover, replacing the previous one; returns the image id
/// under which the bytes go to the bucket.
pub fn set_cover_image(
    w: &mut dyn Writer,
    album_id: &str,
    img: &NewImage,
) -> Result<String, WriteError> {
    if !crate::row_exists(w.conn(), Table::Albums, album_id)? {
        return Err(WriteError::NotFound {
            table: Table::Albums,
            id: album_id.to_owned(),
        });
    }
    for old in ids_where(w, Table::LibraryImages, "album_id", album_id)? {
        w.delete(Table::LibraryImages, &old)?;
    }
    insert_image(w, "cover", ("album_id", album_id), img)
}

/// Sets an artist's image, replacing the previous one; returns its id.
pub fn set_artist_image(
    w: &mut dyn Writer,
    artist_id: &str,
    img: &NewImage,
) -> Result<String, WriteError> {
    if !crate::row_exists(w.conn(), Table::Artists, artist_id)? {
        return Err(WriteError::NotFound {
            table: Table::Artists,
            id: artist_id.to_owned(),
        });
    }
    for old in ids_where(w, Table::LibraryImages, "artist_id", artist_id)? {
        w.delete(Table::LibraryImages, &old)?;
    }
    insert_image(w, "artist", ("artist_id", artist_id), img)
}

/// Deletes an image.
pub fn delete_image(w: &mut dyn Writer, id: &str) -> Result<(), WriteError> {
    delete_existing(w, Table::LibraryImages, id)
}

/// Adds a storage profile (device-local); returns its id.
pub fn add_storage_profile(
    w: &mut dyn Writer,
    p: &NewStorageProfile,
) -> Result<String, WriteError> {
    let id = w.new_id();
    let fields = stamped(
        w,
        vec![
            ("id", id.clone().into()),
            ("name", p.name.clone().into()),
            ("location", p.location.clone().into()),
            ("encrypted", p.encrypted.into()),
            ("is_default", p.is_default.into()),
            ("local_path", p.local_path.clone().into()),
            ("cloud_bucket", p.cloud_bucket.clone().into()),
            ("cloud_region", p.cloud_region.clone().into()),
            ("cloud_endpoint", p.cloud_endpoint.clone().into()),
        ],
    );
    w.insert(Table::StorageProfiles, &fields)?;
    Ok(id)
}

/// Deletes a storage profile (device-local).
pub fn delete_storage_profile(w: &mut dyn Writer, id: &str) -> Result<(), WriteError> {
    delete_existing(w, Table::StorageProfiles, id)
}

/// Records which storage profile holds a release on this device.
pub fn set_release_storage(
    w: &mut dyn Writer,
    release_id: &str,
    storage_profile_id: &str,
) -> Result<String, WriteError> {
    for old in ids_where(w, Table::ReleaseStorage, "release_id", release_id)? {
        w.delete(Table::ReleaseStorage, &old)?;
    }
    let id = w.new_id();
    let fields = [
        ("id", id.clone().into()),
        ("release_id", release_id.into()),
        ("storage_profile_id", storage_profile_id.into()),
        ("created_at", w.now_rfc3339().into()),
    ];
    w.insert(Table::ReleaseStorage, &fields)?;
    Ok(id)
}

/// Adds a torrent of a release and its piece map (device-local).
pub fn add_torrent(w: &mut dyn Writer, t: &NewTorrent) -> Result<String, WriteError> {
    let id = w.new_id();
    let fields = [
        ("id", id.clone().into()),
        ("release_id", t.release_id.clone().into()),
        ("info_hash", t.info_hash.clone().into()),
        ("magnet_link", t.magnet_link.clone().into()),
        ("torrent_name", t.torrent_name.clone().into()),
        ("total_size_bytes", t.total_size_bytes.into()),
        ("piece_length", t.piece_length.into()),
        ("num_pieces", t.num_pieces.into()),
        ("is_seeding", false.into()),
        ("created_at", w.now_rfc3339().into()),
    ];
    w.insert(Table::Torrents, &fields)?;
    for (index, (file_ids, start, end)) in t.pieces.iter().enumerate() {
        let piece_id = w.new_id();
        let fields = [
            ("id", piece_id.into()),
            ("torrent_id", id.clone().into()),
            ("piece_index", (index as i64).into()),
            ("file_ids", file_ids.join(",").into()),
            ("start_byte_in_first_file", (*start).into()),
            ("end_byte_in_last_file", (*end).into()),
        ];
        w.insert(Table::TorrentPieceMappings, &fields)?;
    }
    Ok(id)
}

/// Deletes a torrent and its piece map (device-local).
pub fn delete_torrent(w: &mut dyn Writer, id: &str) -> Result<(), WriteError> {
    delete_existing(w, Table::Torrents, id)
}

/// Starts tracking an import of `folder_path` (device-local); returns its id.
pub fn start_import(
    w: &mut dyn Writer,
    folder_path: &str,
    album_title: Option<&str>,
    artist_name: Option<&str>,
) -> Result<String, WriteError> {
    let id = w.new_id();
    let fields = stamped(
        w,
        vec![
            ("id", id.clone().into()),
            ("status", "preparing".into()),
            ("folder_path", folder_path.into()),
            ("album_title", album_title.into()),
            ("artist_name", artist_name.into()),
            ("progress_percent", 0i64.into()),
        ],
    );
    w.insert(Table::Imports, &fields)?;
    Ok(id)
}

/// Updates an import's progress (device-local).
pub fn update_import(w: &mut dyn Writer, id: &str, p: &ImportProgress) -> Result<(), WriteError> {
    let fields = vec![
        ("status", p.status.clone().into()),
        ("release_id", p.release_id.clone().into()),
        ("progress_percent", p.progress_percent.into()),
        ("error_message", p.error_message.clone().into()),
    ];
    apply_patch(w, Table::Imports, id, fields)
}
