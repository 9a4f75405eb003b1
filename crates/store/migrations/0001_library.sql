-- bae's library schema: sixteen tables. Eleven are synced between devices,
-- five are device-local (storage_profiles, release_storage, torrents,
-- torrent_piece_mappings, imports). Ids are UUIDv4 text, timestamps RFC 3339.
--
-- Synced tables follow two rules so that a merge can never fail on a row
-- another device wrote legally: no UNIQUE constraint but the primary key, and
-- every foreign key between synced tables is ON DELETE CASCADE (a cascade is
-- recorded as explicit child deletes, see crates/oplog).

CREATE TABLE artists (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    sort_name TEXT,
    discogs_artist_id TEXT,
    musicbrainz_artist_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE albums (
    id TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    year INTEGER,
    is_compilation INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE album_discogs (
    id TEXT PRIMARY KEY NOT NULL,
    album_id TEXT NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
    discogs_master_id TEXT,
    discogs_release_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX album_discogs_album ON album_discogs (album_id);

CREATE TABLE album_musicbrainz (
    id TEXT PRIMARY KEY NOT NULL,
    album_id TEXT NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
    release_group_id TEXT NOT NULL,
    release_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX album_musicbrainz_album ON album_musicbrainz (album_id);

CREATE TABLE album_artists (
    id TEXT PRIMARY KEY NOT NULL,
    album_id TEXT NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
    artist_id TEXT NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX album_artists_album ON album_artists (album_id);
CREATE INDEX album_artists_artist ON album_artists (artist_id);

CREATE TABLE releases (
    id TEXT PRIMARY KEY NOT NULL,
    album_id TEXT NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
    release_name TEXT,
    year INTEGER,
    format TEXT,
    label TEXT,
    catalog_number TEXT,
    country TEXT,
    barcode TEXT,
    -- 'queued' | 'importing' | 'complete' | 'failed'
    import_status TEXT NOT NULL DEFAULT 'queued',
    -- A private release is never announced by public discovery.
    private INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX releases_album ON releases (album_id);

CREATE TABLE tracks (
    id TEXT PRIMARY KEY NOT NULL,
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    disc_number INTEGER,
    track_number INTEGER,
    duration_ms INTEGER,
    -- 'queued' | 'importing' | 'complete' | 'failed'
    import_status TEXT NOT NULL DEFAULT 'queued',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX tracks_release ON tracks (release_id);

CREATE TABLE track_artists (
    id TEXT PRIMARY KEY NOT NULL,
    track_id TEXT NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    artist_id TEXT NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    role TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX track_artists_track ON track_artists (track_id);
CREATE INDEX track_artists_artist ON track_artists (artist_id);

CREATE TABLE files (
    id TEXT PRIMARY KEY NOT NULL,
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    original_filename TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    -- SHA-256 of the plaintext, lowercase hex.
    content_hash TEXT,
    -- 'master' (library key) or 'derived' (per-release key, for sharing).
    encryption_scheme TEXT NOT NULL DEFAULT 'master',
    -- Device-local: where this device keeps the file. Never synced.
    source_path TEXT,
    -- Device-local: cached base nonce of the encrypted copy. Never synced.
    encryption_nonce BLOB,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX files_release ON files (release_id);

CREATE TABLE audio_formats (
    id TEXT PRIMARY KEY NOT NULL,
    track_id TEXT NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    content_type TEXT NOT NULL,
    sample_rate INTEGER NOT NULL,
    bits_per_sample INTEGER,
    channels INTEGER NOT NULL,
    duration_ms INTEGER,
    -- Where the track's audio sits inside the file (a CUE image holds many).
    start_byte_offset INTEGER,
    end_byte_offset INTEGER,
    pregap_ms INTEGER,
    -- FLAC headers and seek table: expensive to recompute, so synced.
    flac_headers BLOB,
    seektable BLOB,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX audio_formats_track ON audio_formats (track_id);
CREATE INDEX audio_formats_file ON audio_formats (file_id);

-- Cover art and artist images. The bytes live in the bucket under
-- images/{ab}/{cd}/{id}; this row is what syncs.
CREATE TABLE library_images (
    id TEXT PRIMARY KEY NOT NULL,
    -- 'cover' (album_id set) or 'artist' (artist_id set).
    kind TEXT NOT NULL,
    album_id TEXT REFERENCES albums (id) ON DELETE CASCADE,
    artist_id TEXT REFERENCES artists (id) ON DELETE CASCADE,
    content_type TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    width INTEGER,
    height INTEGER,
    content_hash TEXT NOT NULL,
    source TEXT NOT NULL,
    source_url TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX library_images_album ON library_images (album_id);
CREATE INDEX library_images_artist ON library_images (artist_id);

-- Device-local tables.

CREATE TABLE storage_profiles (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    -- 'local' | 'cloud'
    location TEXT NOT NULL,
    encrypted INTEGER NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    local_path TEXT,
    cloud_bucket TEXT,
    cloud_region TEXT,
    cloud_endpoint TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE release_storage (
    id TEXT PRIMARY KEY NOT NULL,
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    storage_profile_id TEXT NOT NULL REFERENCES storage_profiles (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    UNIQUE (release_id)
);
CREATE INDEX release_storage_profile ON release_storage (storage_profile_id);

CREATE TABLE torrents (
    id TEXT PRIMARY KEY NOT NULL,
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    info_hash TEXT NOT NULL,
    magnet_link TEXT,
    torrent_name TEXT NOT NULL,
    total_size_bytes INTEGER NOT NULL,
    piece_length INTEGER NOT NULL,
    num_pieces INTEGER NOT NULL,
    is_seeding INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX torrents_release ON torrents (release_id);

CREATE TABLE torrent_piece_mappings (
    id TEXT PRIMARY KEY NOT NULL,
    torrent_id TEXT NOT NULL REFERENCES torrents (id) ON DELETE CASCADE,
    piece_index INTEGER NOT NULL,
    file_ids TEXT NOT NULL,
    start_byte_in_first_file INTEGER NOT NULL,
    end_byte_in_last_file INTEGER NOT NULL,
    UNIQUE (torrent_id, piece_index)
);

CREATE TABLE imports (
    id TEXT PRIMARY KEY NOT NULL,
    -- 'preparing' | 'importing' | 'complete' | 'failed'
    status TEXT NOT NULL,
    release_id TEXT REFERENCES releases (id) ON DELETE SET NULL,
    folder_path TEXT NOT NULL,
    album_title TEXT,
    artist_name TEXT,
    progress_percent INTEGER NOT NULL DEFAULT 0,
    error_message TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX imports_release ON imports (release_id);
