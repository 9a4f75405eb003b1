-- Sync metadata (DESIGN.md, Phase 0). Kept next to the data it describes so
-- that a write and its metadata are one row write: see ARCHITECTURE.md,
-- "Field timestamps", for the measurement behind this layout.
--
-- Every synced table gains three columns:
--   _sync_hlc   the packed HLC (wall_ms << 16 | counter) of the insert that
--               created the row's current incarnation; every field carries it
--               unless overridden
--   _sync_dev   the writing device, as an index into sync_devices
--   _sync_fhlc  NULL, or the fields whose HLC is newer than _sync_hlc: a
--               sequence of 13-byte entries (column index u8, packed HLC i64
--               little-endian, device index u32 little-endian)
-- They are NULL only between this migration and the one-time backfill that
-- opening a library runs (crates/oplog).
ALTER TABLE artists ADD COLUMN _sync_hlc INTEGER;
ALTER TABLE artists ADD COLUMN _sync_dev INTEGER;
ALTER TABLE artists ADD COLUMN _sync_fhlc BLOB;
ALTER TABLE albums ADD COLUMN _sync_hlc INTEGER;
ALTER TABLE albums ADD COLUMN _sync_dev INTEGER;
ALTER TABLE albums ADD COLUMN _sync_fhlc BLOB;
ALTER TABLE album_discogs ADD COLUMN _sync_hlc INTEGER;
ALTER TABLE album_discogs ADD COLUMN _sync_dev INTEGER;
ALTER TABLE album_discogs ADD COLUMN _sync_fhlc BLOB;
ALTER TABLE album_musicbrainz ADD COLUMN _sync_hlc INTEGER;
ALTER TABLE album_musicbrainz ADD COLUMN _sync_dev INTEGER;
ALTER TABLE album_musicbrainz ADD COLUMN _sync_fhlc BLOB;
ALTER TABLE album_artists ADD COLUMN _sync_hlc INTEGER;
ALTER TABLE album_artists ADD COLUMN _sync_dev INTEGER;
ALTER TABLE album_artists ADD COLUMN _sync_fhlc BLOB;
ALTER TABLE releases ADD COLUMN _sync_hlc INTEGER;
ALTER TABLE releases ADD COLUMN _sync_dev INTEGER;
ALTER TABLE releases ADD COLUMN _sync_fhlc BLOB;
ALTER TABLE tracks ADD COLUMN _sync_hlc INTEGER;
ALTER TABLE tracks ADD COLUMN _sync_dev INTEGER;
ALTER TABLE tracks ADD COLUMN _sync_fhlc BLOB;
ALTER TABLE track_artists ADD COLUMN _sync_hlc INTEGER;
ALTER TABLE track_artists ADD COLUMN _sync_dev INTEGER;
ALTER TABLE track_artists ADD COLUMN _sync_fhlc BLOB;
ALTER TABLE files ADD COLUMN _sync_hlc INTEGER;
ALTER TABLE files ADD COLUMN _sync_dev INTEGER;
ALTER TABLE files ADD COLUMN _sync_fhlc BLOB;
ALTER TABLE audio_formats ADD COLUMN _sync_hlc INTEGER;
ALTER TABLE audio_formats ADD COLUMN _sync_dev INTEGER;
ALTER TABLE audio_formats ADD COLUMN _sync_fhlc BLOB;
ALTER TABLE library_images ADD COLUMN _sync_hlc INTEGER;
ALTER TABLE library_images ADD COLUMN _sync_dev INTEGER;
ALTER TABLE library_images ADD COLUMN _sync_fhlc BLOB;

-- Rows that exist but are not visible because a parent is absent (DESIGN.md,
-- merge case 6): a child written by a device that had not seen its parent's
-- delete, or one whose parent has not arrived yet. Each shadow table has the
-- columns of its table, in the same order, without constraints; a row moves
-- between the two as its parents come and go, so the merge never fails on a
-- foreign key and never drops a row.
CREATE TABLE _shadow_artists AS SELECT * FROM artists WHERE 0;
CREATE UNIQUE INDEX _shadow_artists_id ON _shadow_artists (id);
CREATE TABLE _shadow_albums AS SELECT * FROM albums WHERE 0;
CREATE UNIQUE INDEX _shadow_albums_id ON _shadow_albums (id);
CREATE TABLE _shadow_album_discogs AS SELECT * FROM album_discogs WHERE 0;
CREATE UNIQUE INDEX _shadow_album_discogs_id ON _shadow_album_discogs (id);
CREATE INDEX _shadow_album_discogs_album_id ON _shadow_album_discogs (album_id);
CREATE TABLE _shadow_album_musicbrainz AS SELECT * FROM album_musicbrainz WHERE 0;
CREATE UNIQUE INDEX _shadow_album_musicbrainz_id ON _shadow_album_musicbrainz (id);
CREATE INDEX _shadow_album_musicbrainz_album_id ON _shadow_album_musicbrainz (album_id);
CREATE TABLE _shadow_album_artists AS SELECT * FROM album_artists WHERE 0;
CREATE UNIQUE INDEX _shadow_album_artists_id ON _shadow_album_artists (id);
CREATE INDEX _shadow_album_artists_album_id ON _shadow_album_artists (album_id);
CREATE INDEX _shadow_album_artists_artist_id ON _shadow_album_artists (artist_id);
CREATE TABLE _shadow_releases AS SELECT * FROM releases WHERE 0;
CREATE UNIQUE INDEX _shadow_releases_id ON _shadow_releases (id);
CREATE INDEX _shadow_releases_album_id ON _shadow_releases (album_id);
CREATE TABLE _shadow_tracks AS SELECT * FROM tracks WHERE 0;
CREATE UNIQUE INDEX _shadow_tracks_id ON _shadow_tracks (id);
CREATE INDEX _shadow_tracks_release_id ON _shadow_tracks (release_id);
CREATE TABLE _shadow_track_artists AS SELECT * FROM track_artists WHERE 0;
CREATE UNIQUE INDEX _shadow_track_artists_id ON _shadow_track_artists (id);
CREATE INDEX _shadow_track_artists_track_id ON _shadow_track_artists (track_id);
CREATE INDEX _shadow_track_artists_artist_id ON _shadow_track_artists (artist_id);
CREATE TABLE _shadow_files AS SELECT * FROM files WHERE 0;
CREATE UNIQUE INDEX _shadow_files_id ON _shadow_files (id);
CREATE INDEX _shadow_files_release_id ON _shadow_files (release_id);
CREATE TABLE _shadow_audio_formats AS SELECT * FROM audio_formats WHERE 0;
CREATE UNIQUE INDEX _shadow_audio_formats_id ON _shadow_audio_formats (id);
CREATE INDEX _shadow_audio_formats_track_id ON _shadow_audio_formats (track_id);
CREATE INDEX _shadow_audio_formats_file_id ON _shadow_audio_formats (file_id);
CREATE TABLE _shadow_library_images AS SELECT * FROM library_images WHERE 0;
CREATE UNIQUE INDEX _shadow_library_images_id ON _shadow_library_images (id);
CREATE INDEX _shadow_library_images_album_id ON _shadow_library_images (album_id);
CREATE INDEX _shadow_library_images_artist_id ON _shadow_library_images (artist_id);

-- Field writes that are newer than everything known about their row's
-- existence: updates of a deleted row (they win if a newer insert revives
-- it) and updates that arrived before the row's first insert (merge case 4).
-- value has no declared type, so SQLite stores each value as it is.
CREATE TABLE sync_pending (
    tbl TEXT NOT NULL,
    id TEXT NOT NULL,
    field TEXT NOT NULL,
    value,
    hlc INTEGER NOT NULL,
    dev INTEGER NOT NULL,
    PRIMARY KEY (tbl, id, field)
) WITHOUT ROWID;

-- The last seq applied from each other device; advanced in the same
-- transaction as the batch it covers.
CREATE TABLE sync_cursors (
    device_id BLOB PRIMARY KEY NOT NULL,
    seq INTEGER NOT NULL
);

-- Device ids are 16 bytes; rows refer to them by a small local index. The
-- index is local to this database: anything leaving the device (ops,
-- checkpoints, canonical dumps) carries the device id itself.
CREATE TABLE sync_devices (
    idx INTEGER PRIMARY KEY,
    device_id BLOB NOT NULL UNIQUE
);

-- A deleted row's existence HLC. A row is present iff its newest insert is
-- newer than its newest delete; an insert newer than the tombstone removes it.
CREATE TABLE sync_tombstones (
    tbl TEXT NOT NULL,
    id TEXT NOT NULL,
    hlc INTEGER NOT NULL,
    dev INTEGER NOT NULL,
    PRIMARY KEY (tbl, id)
) WITHOUT ROWID;

-- This device's batches, one row per local transaction that changed synced
-- data. seq is the device's gap-free batch counter (it names the bucket object
-- ops/{device_id}/{seq}.enc); body is the batch in its wire encoding
-- (crates/oplog, batch.rs), so pushing needs no re-encoding.
CREATE TABLE op_log (
    seq INTEGER PRIMARY KEY,
    hlc TEXT NOT NULL,
    op_count INTEGER NOT NULL,
    pushed INTEGER NOT NULL DEFAULT 0,
    body BLOB NOT NULL
);

-- Small per-device settings of the sync layer (key/value).
CREATE TABLE sync_local (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- The last head read from each other device (heads/{device}.json.enc): its
-- listing ETag, so that an unchanged head is not fetched again, and its
-- decrypted body (JSON), for status and GC.
CREATE TABLE sync_heads (
    device_id BLOB PRIMARY KEY NOT NULL,
    etag TEXT NOT NULL,
    body TEXT NOT NULL
);

-- Images whose bytes this device has uploaded (state 'uploaded') or could
-- not fetch yet (state 'gap', retried on every pull).
CREATE TABLE sync_images (
    id TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL
);
