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
