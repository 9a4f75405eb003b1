use std::fmt;

/// One of the sixteen tables of bae's library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Artists,
    Albums,
    AlbumDiscogs,
    AlbumMusicbrainz,
    AlbumArtists,
    Releases,
    Tracks,
    TrackArtists,
    Files,
    AudioFormats,
    LibraryImages,
    StorageProfiles,
    ReleaseStorage,
    Torrents,
    TorrentPieceMappings,
    Imports,
}

impl Table {
    /// Every table, synced ones first, each after the tables it references.
    pub const ALL: [Table; 16] = [
        Table::Artists,
        Table::Albums,
        Table::AlbumDiscogs,
        Table::AlbumMusicbrainz,
        Table::AlbumArtists,
        Table::Releases,
        Table::Tracks,
        Table::TrackArtists,
        Table::Files,
        Table::AudioFormats,
        Table::LibraryImages,
        Table::StorageProfiles,
        Table::ReleaseStorage,
        Table::Torrents,
        Table::TorrentPieceMappings,
        Table::Imports,
    ];

    /// The eleven synced tables, each after the tables it references, so that
    /// inserting in this order never meets a missing parent.
    pub const SYNCED: [Table; 11] = [
        Table::Artists,
        Table::Albums,
        Table::AlbumDiscogs,
        Table::AlbumMusicbrainz,
        Table::AlbumArtists,
        Table::Releases,
        Table::Tracks,
        Table::TrackArtists,
        Table::Files,
        Table::AudioFormats,
        Table::LibraryImages,
    ];

    /// The SQL name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Artists => "artists",
            Table::Albums => "albums",
            Table::AlbumDiscogs => "album_discogs",
            Table::AlbumMusicbrainz => "album_musicbrainz",
            Table::AlbumArtists => "album_artists",
            Table::Releases => "releases",
            Table::Tracks => "tracks",
            Table::TrackArtists => "track_artists",
            Table::Files => "files",
            Table::AudioFormats => "audio_formats",
            Table::LibraryImages => "library_images",
            Table::StorageProfiles => "storage_profiles",
            Table::ReleaseStorage => "release_storage",
            Table::Torrents => "torrents",
            Table::TorrentPieceMappings => "torrent_piece_mappings",
            Table::Imports => "imports",
        }
    }

    /// The table with this SQL name.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether the table's rows are synced between devices. The other five
    /// are device-local and never leave the device.
    pub fn is_synced(self) -> bool {
        Table::SYNCED.contains(&self)
    }

    /// Columns of a synced table that are device-local: written by this
    /// device only, never recorded, never overwritten by a merge.
    pub fn local_columns(self) -> &'static [&'static str] {
        match self {
            Table::Files => &["source_path", "encryption_nonce"],
            _ => &[],
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sets_agree() {
        for t in Table::ALL {
            assert_eq!(Table::from_name(t.name()), Some(t));
        }
        assert_eq!(Table::ALL.iter().filter(|t| t.is_synced()).count(), 11);
        assert_eq!(&Table::ALL[..11], &Table::SYNCED);
    }
}
