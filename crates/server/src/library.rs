//! What the Subsonic API needs of the library, read from bae's schema
//! (`crates/store/migrations/0001_library.sql`).
//!
//! The mapping: a Subsonic artist is a row of `artists`; an album is a row
//! of `albums`, its songs the tracks of all its releases (release by
//! release, then disc and track number); a song's audio is the file its
//! first `audio_formats` row points at, streamed from `storage/…` in the
//! bucket; cover art is the album's newest `library_images` row of kind
//! `cover`. Ids are bae's own (UUIDs), distinct across tables, so one id
//! names one thing whichever method it is given to.
//!
//! Only visible rows are in these tables (the merge keeps rows whose parent
//! is gone in shadow tables), so every join here finds its parent.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params_from_iter};

/// An artist credited on an album or a song.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtistRef {
    /// Artist id.
    pub id: String,
    /// Artist name.
    pub name: String,
}

/// An artist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artist {
    /// Artist id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Name to sort by, if different.
    pub sort_name: Option<String>,
    /// MusicBrainz artist id.
    pub musicbrainz_id: Option<String>,
    /// Albums crediting the artist.
    pub album_count: i64,
    /// The artist's newest image.
    pub image_id: Option<String>,
}

/// An album with what a listing shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Album {
    /// Album id.
    pub id: String,
    /// Title.
    pub title: String,
    /// The album's year, else its earliest release's.
    pub year: Option<i64>,
    /// A compilation.
    pub is_compilation: bool,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Tracks over all releases.
    pub song_count: i64,
    /// Sum of the tracks' durations.
    pub duration_ms: i64,
    /// The newest cover image.
    pub cover_id: Option<String>,
    /// MusicBrainz release id.
    pub musicbrainz_id: Option<String>,
    /// Album artists in credit order.
    pub artists: Vec<ArtistRef>,
}

/// The audio file of a song.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFile {
    /// File id: the object is `storage/{ab}/{cd}/{id}`.
    pub id: String,
    /// The name it was imported under.
    pub original_filename: String,
    /// Plaintext size in bytes.
    pub file_size: i64,
    /// MIME type.
    pub content_type: String,
    /// Sample rate, Hz.
    pub sample_rate: Option<i64>,
    /// Bits per sample.
    pub bits_per_sample: Option<i64>,
    /// Channels.
    pub channels: Option<i64>,
    /// Duration from the audio format.
    pub duration_ms: Option<i64>,
}

impl AudioFile {
    /// The file name's extension, else one for the content type.
    pub fn suffix(&self) -> String {
        if let Some((_, ext)) = self.original_filename.rsplit_once('.')
            && !ext.is_empty()
            && ext.len() <= 5
            && ext.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return ext.to_ascii_lowercase();
        }
        match self.content_type.as_str() {
            "audio/flac" | "audio/x-flac" => "flac",
            "audio/mpeg" | "audio/mp3" => "mp3",
            "audio/ogg" | "audio/vorbis" => "ogg",
            "audio/opus" => "opus",
            "audio/mp4" | "audio/aac" | "audio/x-m4a" => "m4a",
            "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
            _ => "bin",
        }
        .to_owned()
    }
}

/// A song (a track) with everything a client shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Song {
    /// Track id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Disc number.
    pub disc_number: Option<i64>,
    /// Track number.
    pub track_number: Option<i64>,
    /// Duration (the track's, else its audio format's).
    pub duration_ms: Option<i64>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// The album.
    pub album_id: String,
    /// The album's title.
    pub album_title: String,
    /// The release's year, else the album's.
    pub year: Option<i64>,
    /// The album's cover.
    pub cover_id: Option<String>,
    /// Track artists in credit order.
    pub artists: Vec<ArtistRef>,
    /// Album artists in credit order.
    pub album_artists: Vec<ArtistRef>,
    /// The audio, if the library knows of a file for it.
    pub file: Option<AudioFile>,
}

impl Song {
    /// The artists to show: the track's, else the album's.
    pub fn shown_artists(&self) -> &[ArtistRef] {
        if self.artists.is_empty() {
            &self.album_artists
        } else {
            &self.artists
        }
    }
}

/// An image's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Image id: the object is `images/{ab}/{cd}/{id}`.
    pub id: String,
    /// MIME type.
    pub content_type: String,
}

/// The orders of `getAlbumList2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlbumOrder {
    /// Newest first (by the time the album was added).
    Newest,
    /// By title.
    ByName,
    /// By first album artist, then title.
    ByArtist,
    /// Random.
    Random,
    /// Albums from `from` to `to` (inclusive, either order), in that
    /// direction.
    ByYear {
        /// First year.
        from: i64,
        /// Last year.
        to: i64,
    },
}

const ALBUM_COLUMNS: &str = "\
    al.id, al.title, \
    coalesce(al.year, (SELECT min(r.year) FROM releases r WHERE r.album_id = al.id)), \
    al.is_compilation, al.created_at, \
    (SELECT count(*) FROM releases r JOIN tracks t ON t.release_id = r.id WHERE r.album_id = al.id), \
    (SELECT coalesce(sum(coalesce(t.duration_ms, 0)), 0) FROM releases r \
        JOIN tracks t ON t.release_id = r.id WHERE r.album_id = al.id), \
    (SELECT li.id FROM library_images li WHERE li.album_id = al.id AND li.kind = 'cover' \
        ORDER BY li.created_at DESC, li.id DESC LIMIT 1), \
    (SELECT mb.release_id FROM album_musicbrainz mb WHERE mb.album_id = al.id \
        ORDER BY mb.id LIMIT 1)";

const SONG_COLUMNS: &str = "\
    t.id, t.title, t.disc_number, t.track_number, coalesce(t.duration_ms, af.duration_ms), \
    t.created_at, al.id, al.title, coalesce(r.year, al.year), \
    (SELECT li.id FROM library_images li WHERE li.album_id = al.id AND li.kind = 'cover' \
        ORDER BY li.created_at DESC, li.id DESC LIMIT 1), \
    f.id, f.original_filename, f.file_size, f.content_type, \
    af.sample_rate, af.bits_per_sample, af.channels, af.duration_ms";

const SONG_FROM: &str = "\
    FROM tracks t JOIN releases r ON r.id = t.release_id JOIN albums al ON al.id = r.album_id \
    LEFT JOIN audio_formats af ON af.id = (SELECT af2.id FROM audio_formats af2 \
        WHERE af2.track_id = t.id ORDER BY af2.created_at, af2.id LIMIT 1) \
    LEFT JOIN files f ON f.id = af.file_id";

const SONG_ORDER: &str = "r.created_at, r.id, coalesce(t.disc_number, 1), t.track_number, t.title";

fn album_from_row(r: &Row<'_>) -> rusqlite::Result<Album> {
    Ok(Album {
        id: r.get(0)?,
        title: r.get(1)?,
        year: r.get(2)?,
        is_compilation: r.get::<_, i64>(3)? != 0,
        created_at: r.get(4)?,
        song_count: r.get(5)?,
        duration_ms: r.get(6)?,
        cover_id: r.get(7)?,
        musicbrainz_id: r.get(8)?,
        artists: Vec::new(),
    })
}

fn song_from_row(r: &Row<'_>) -> rusqlite::Result<Song> {
    let file = match r.get::<_, Option<String>>(10)? {
        Some(id) => Some(AudioFile {
            id,
            original_filename: r.get(11)?,
            file_size: r.get(12)?,
            content_type: r.get(13)?,
            sample_rate: r.get(14)?,
            bits_per_sample: r.get(15)?,
            channels: r.get(16)?,
            duration_ms: r.get(17)?,
        }),
        None => None,
    };
    Ok(Song {
        id: r.get(0)?,
        title: r.get(1)?,
        disc_number: r.get(2)?,
        track_number: r.get(3)?,
        duration_ms: r.get(4)?,
        created_at: r.get(5)?,
        album_id: r.get(6)?,
        album_title: r.get(7)?,
        year: r.get(8)?,
        cover_id: r.get(9)?,
        artists: Vec::new(),
        album_artists: Vec::new(),
        file,
    })
}

fn album_artists(conn: &Connection, album_id: &str) -> rusqlite::Result<Vec<ArtistRef>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ar.id, ar.name FROM album_artists aa JOIN artists ar ON ar.id = aa.artist_id \
         WHERE aa.album_id = ? ORDER BY aa.position, aa.id",
    )?;
    stmt.query_map([album_id], |r| {
        Ok(ArtistRef {
            id: r.get(0)?,
            name: r.get(1)?,
        })
    })?
    .collect()
}

fn track_artists(conn: &Connection, track_id: &str) -> rusqlite::Result<Vec<ArtistRef>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ar.id, ar.name FROM track_artists ta JOIN artists ar ON ar.id = ta.artist_id \
         WHERE ta.track_id = ? ORDER BY ta.position, ta.id",
    )?;
    stmt.query_map([track_id], |r| {
        Ok(ArtistRef {
            id: r.get(0)?,
            name: r.get(1)?,
        })
    })?
    .collect()
}

fn with_album_artists(conn: &Connection, mut albums: Vec<Album>) -> rusqlite::Result<Vec<Album>> {
    for album in &mut albums {
        album.artists = album_artists(conn, &album.id)?;
    }
    Ok(albums)
}

fn with_song_artists(conn: &Connection, mut songs: Vec<Song>) -> rusqlite::Result<Vec<Song>> {
    let mut by_album: HashMap<String, Vec<ArtistRef>> = HashMap::new();
    for song in &mut songs {
        song.artists = track_artists(conn, &song.id)?;
        if !by_album.contains_key(&song.album_id) {
            let artists = album_artists(conn, &song.album_id)?;
            by_album.insert(song.album_id.clone(), artists);
        }
        song.album_artists = by_album[&song.album_id].clone();
    }
    Ok(songs)
}

/// Albums in two steps: the ids `tail` selects (filtering, ordering and
/// paging on `albums al` alone, so the per-album subqueries run only for
/// the page), then each album by id.
fn albums_where(
    conn: &Connection,
    tail: &str,
    params: Vec<rusqlite::types::Value>,
) -> rusqlite::Result<Vec<Album>> {
    let ids: Vec<String> = conn
        .prepare_cached(&format!("SELECT al.id FROM albums al {tail}"))?
        .query_map(params_from_iter(params), |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ALBUM_COLUMNS} FROM albums al WHERE al.id = ?"
    ))?;
    let mut albums = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(album) = stmt.query_row([&id], album_from_row).optional()? {
            albums.push(album);
        }
    }
    with_album_artists(conn, albums)
}

/// Joins a track's release `r` and album `al`, for song queries that
/// filter or order by them.
const TRACK_JOINS: &str =
    "JOIN releases r ON r.id = t.release_id JOIN albums al ON al.id = r.album_id";

/// Songs in two steps, like [`albums_where`]: the track ids `tail` selects
/// from `tracks t` (with [`TRACK_JOINS`] if it needs them), then each song
/// by id.
fn songs_where(
    conn: &Connection,
    tail: &str,
    params: Vec<rusqlite::types::Value>,
) -> rusqlite::Result<Vec<Song>> {
    let ids: Vec<String> = conn
        .prepare_cached(&format!("SELECT t.id FROM tracks t {tail}"))?
        .query_map(params_from_iter(params), |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {SONG_COLUMNS} {SONG_FROM} WHERE t.id = ?"))?;
    let mut songs = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(song) = stmt.query_row([&id], song_from_row).optional()? {
            songs.push(song);
        }
    }
    with_song_artists(conn, songs)
}

const ARTIST_COLUMNS: &str = "\
    ar.id, ar.name, ar.sort_name, ar.musicbrainz_artist_id, \
    (SELECT count(DISTINCT aa.album_id) FROM album_artists aa WHERE aa.artist_id = ar.id), \
    (SELECT li.id FROM library_images li WHERE li.artist_id = ar.id AND li.kind = 'artist' \
        ORDER BY li.created_at DESC, li.id DESC LIMIT 1)";

fn artist_from_row(r: &Row<'_>) -> rusqlite::Result<Artist> {
    Ok(Artist {
        id: r.get(0)?,
        name: r.get(1)?,
        sort_name: r.get(2)?,
        musicbrainz_id: r.get(3)?,
        album_count: r.get(4)?,
        image_id: r.get(5)?,
    })
}

/// Every artist credited on at least one album, by name.
pub fn album_artists_all(conn: &Connection) -> rusqlite::Result<Vec<Artist>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ARTIST_COLUMNS} FROM artists ar \
         WHERE EXISTS (SELECT 1 FROM album_artists aa WHERE aa.artist_id = ar.id) \
         ORDER BY coalesce(ar.sort_name, ar.name) COLLATE NOCASE, ar.id"
    ))?;
    stmt.query_map([], artist_from_row)?.collect()
}

/// One artist.
pub fn artist(conn: &Connection, id: &str) -> rusqlite::Result<Option<Artist>> {
    conn.prepare_cached(&format!(
        "SELECT {ARTIST_COLUMNS} FROM artists ar WHERE ar.id = ?"
    ))?
    .query_row([id], artist_from_row)
    .optional()
}

/// The albums crediting an artist, oldest year first.
pub fn albums_of_artist(conn: &Connection, artist_id: &str) -> rusqlite::Result<Vec<Album>> {
    albums_where(
        conn,
        "WHERE al.id IN (SELECT aa.album_id FROM album_artists aa WHERE aa.artist_id = ?) \
         ORDER BY al.year, al.title COLLATE NOCASE, al.id",
        vec![artist_id.to_owned().into()],
    )
}

/// One album.
pub fn album(conn: &Connection, id: &str) -> rusqlite::Result<Option<Album>> {
    Ok(albums_where(conn, "WHERE al.id = ?", vec![id.to_owned().into()])?.pop())
}

/// An album's songs, release by release, then by disc and track.
pub fn album_songs(conn: &Connection, album_id: &str) -> rusqlite::Result<Vec<Song>> {
    songs_where(
        conn,
        &format!("{TRACK_JOINS} WHERE al.id = ? ORDER BY {SONG_ORDER}"),
        vec![album_id.to_owned().into()],
    )
}

/// One song.
pub fn song(conn: &Connection, id: &str) -> rusqlite::Result<Option<Song>> {
    Ok(songs_where(conn, "WHERE t.id = ?", vec![id.to_owned().into()])?.pop())
}

/// Articles ignored when sorting and indexing artists by name.
pub const IGNORED_ARTICLES: &str = "The El La Los Las Le Les";

/// SQL for an artist's sort key: its sort name, else its name without a
/// leading article of [`IGNORED_ARTICLES`].
fn sort_key_sql(table: &str) -> String {
    let name = format!("{table}.name");
    let mut sql = format!("coalesce({table}.sort_name, CASE");
    for article in IGNORED_ARTICLES.split(' ') {
        sql.push_str(&format!(
            " WHEN {name} LIKE '{article} _%' THEN substr({name}, {})",
            article.len() + 2
        ));
    }
    sql.push_str(&format!(" ELSE {name} END)"));
    sql
}

/// A page of albums in `order`.
pub fn album_list(
    conn: &Connection,
    order: AlbumOrder,
    size: i64,
    offset: i64,
) -> rusqlite::Result<Vec<Album>> {
    let first_artist = format!(
        "(SELECT {} FROM album_artists aa \
         JOIN artists ar ON ar.id = aa.artist_id WHERE aa.album_id = al.id \
         ORDER BY aa.position LIMIT 1)",
        sort_key_sql("ar")
    );
    let year = "coalesce(al.year, (SELECT min(r.year) FROM releases r WHERE r.album_id = al.id))";
    let (tail, mut params): (String, Vec<rusqlite::types::Value>) = match order {
        AlbumOrder::Newest => ("ORDER BY al.created_at DESC, al.id DESC".to_owned(), vec![]),
        AlbumOrder::ByName => ("ORDER BY al.title COLLATE NOCASE, al.id".to_owned(), vec![]),
        AlbumOrder::ByArtist => (
            format!("ORDER BY {first_artist} COLLATE NOCASE, al.title COLLATE NOCASE, al.id"),
            vec![],
        ),
        AlbumOrder::Random => ("ORDER BY random()".to_owned(), vec![]),
        AlbumOrder::ByYear { from, to } => {
            let dir = if from <= to { "ASC" } else { "DESC" };
            (
                format!(
                    "WHERE {year} BETWEEN ? AND ? \
                     ORDER BY {year} {dir}, al.title COLLATE NOCASE, al.id"
                ),
                vec![from.min(to).into(), from.max(to).into()],
            )
        }
    };
    params.push(size.into());
    params.push(offset.into());
    albums_where(conn, &format!("{tail} LIMIT ? OFFSET ?"), params)
}

/// Up to `size` random songs, optionally within years.
pub fn random_songs(
    conn: &Connection,
    size: i64,
    from_year: Option<i64>,
    to_year: Option<i64>,
) -> rusqlite::Result<Vec<Song>> {
    songs_where(
        conn,
        &format!(
            "{TRACK_JOINS} WHERE coalesce(r.year, al.year, 0) >= coalesce(?, -9999) \
               AND coalesce(r.year, al.year, 99999) <= coalesce(?, 99999) \
             ORDER BY random() LIMIT ?"
        ),
        vec![from_year.into(), to_year.into(), size.into()],
    )
}

/// The conditions requiring every term of `query` to match, and their
/// parameters: `per_term` is one term's condition, with `{p}` wherever the
/// term's `LIKE` pattern goes. An empty query (or `""`, which clients send
/// to list everything) matches everything.
fn like_terms(per_term: &str, query: &str) -> (String, Vec<rusqlite::types::Value>) {
    let terms: Vec<String> = query
        .split_whitespace()
        .map(|t| t.trim_matches('"').trim_end_matches('*'))
        .filter(|t| !t.is_empty())
        .map(|t| {
            let mut escaped = String::from("%");
            for c in t.chars() {
                if matches!(c, '%' | '_' | '\\') {
                    escaped.push('\\');
                }
                escaped.push(c);
            }
            escaped.push('%');
            escaped
        })
        .collect();
    if terms.is_empty() {
        return ("1".to_owned(), vec![]);
    }
    let slots = per_term.matches("{p}").count();
    let one = per_term.replace("{p}", "? ESCAPE '\\'");
    let cond = vec![one; terms.len()].join(" AND ");
    let params = terms
        .into_iter()
        .flat_map(|t| std::iter::repeat_n(t, slots))
        .map(Into::into)
        .collect();
    (cond, params)
}

/// The ids of artists whose name matches a pattern.
const ARTIST_MATCH: &str = "(SELECT ar.id FROM artists ar WHERE ar.name LIKE {p})";

/// Paging of one kind of search result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// How many.
    pub count: i64,
    /// From where.
    pub offset: i64,
}

/// `search3`: artists by name, albums by title or album artist, songs by
/// title, album or artist; every term must match, case-insensitively.
pub fn search(
    conn: &Connection,
    query: &str,
    artists: Page,
    albums: Page,
    songs: Page,
) -> rusqlite::Result<(Vec<Artist>, Vec<Album>, Vec<Song>)> {
    let found_artists = if artists.count > 0 {
        let (cond, mut params) = like_terms(
            "(ar.name LIKE {p} OR coalesce(ar.sort_name, '') LIKE {p})",
            query,
        );
        params.push(artists.count.into());
        params.push(artists.offset.into());
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ARTIST_COLUMNS} FROM artists ar WHERE {cond} \
             ORDER BY ar.name COLLATE NOCASE, ar.id LIMIT ? OFFSET ?"
        ))?;
        stmt.query_map(params_from_iter(params), artist_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let found_albums = if albums.count > 0 {
        let (cond, mut params) = like_terms(
            &format!(
                "(al.title LIKE {{p}} OR al.id IN (SELECT aa.album_id FROM album_artists aa \
                 WHERE aa.artist_id IN {ARTIST_MATCH}))"
            ),
            query,
        );
        params.push(albums.count.into());
        params.push(albums.offset.into());
        albums_where(
            conn,
            &format!("WHERE {cond} ORDER BY al.title COLLATE NOCASE, al.id LIMIT ? OFFSET ?"),
            params,
        )?
    } else {
        Vec::new()
    };
    let found_songs = if songs.count > 0 {
        // Every subquery here is independent of the row, so SQLite builds
        // each set once and the scan of the tracks only looks them up.
        let (cond, mut params) = like_terms(
            &format!(
                "(t.title LIKE {{p}} \
                 OR t.release_id IN (SELECT r.id FROM releases r \
                     JOIN albums al ON al.id = r.album_id WHERE al.title LIKE {{p}}) \
                 OR t.id IN (SELECT ta.track_id FROM track_artists ta \
                     WHERE ta.artist_id IN {ARTIST_MATCH}))"
            ),
            query,
        );
        params.push(songs.count.into());
        params.push(songs.offset.into());
        songs_where(
            conn,
            &format!("WHERE {cond} ORDER BY t.title COLLATE NOCASE, t.id LIMIT ? OFFSET ?"),
            params,
        )?
    } else {
        Vec::new()
    };
    Ok((found_artists, found_albums, found_songs))
}

/// The image `id` names: an image itself, or the cover of an album, of a
/// song's album, or an artist's image.
pub fn image_for(conn: &Connection, id: &str) -> rusqlite::Result<Option<Image>> {
    conn.prepare_cached(
        "SELECT li.id, li.content_type FROM library_images li WHERE li.id = ?1 \
         UNION ALL SELECT * FROM (SELECT li.id, li.content_type FROM library_images li \
             WHERE li.kind = 'cover' AND li.album_id = ?1 \
             ORDER BY li.created_at DESC, li.id DESC LIMIT 1) \
         UNION ALL SELECT * FROM (SELECT li.id, li.content_type FROM tracks t \
             JOIN releases r ON r.id = t.release_id \
             JOIN library_images li ON li.album_id = r.album_id AND li.kind = 'cover' \
             WHERE t.id = ?1 ORDER BY li.created_at DESC, li.id DESC LIMIT 1) \
         UNION ALL SELECT * FROM (SELECT li.id, li.content_type FROM library_images li \
             WHERE li.kind = 'artist' AND li.artist_id = ?1 \
             ORDER BY li.created_at DESC, li.id DESC LIMIT 1) \
         LIMIT 1",
    )?
    .query_row([id], |r| {
        Ok(Image {
            id: r.get(0)?,
            content_type: r.get(1)?,
        })
    })
    .optional()
}

/// The audio file to stream for `id`: a song's (see [`Song::file`]), or a
/// file given by its own id.
pub fn audio_for(conn: &Connection, id: &str) -> rusqlite::Result<Option<AudioFile>> {
    if let Some(song) = song(conn, id)? {
        return Ok(song.file);
    }
    conn.prepare_cached(
        "SELECT f.id, f.original_filename, f.file_size, f.content_type FROM files f WHERE f.id = ?",
    )?
    .query_row([id], |r| {
        Ok(AudioFile {
            id: r.get(0)?,
            original_filename: r.get(1)?,
            file_size: r.get(2)?,
            content_type: r.get(3)?,
            sample_rate: None,
            bits_per_sample: None,
            channels: None,
            duration_ms: None,
        })
    })
    .optional()
}

/// Whether a track with this id exists (to tell "no such song" from "no
/// audio for it").
pub fn song_exists(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM tracks WHERE id = ?")?
        .query_row([id], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
}

/// Counts for `/health`: artists, albums, songs.
pub fn counts(conn: &Connection) -> rusqlite::Result<(i64, i64, i64)> {
    conn.query_row(
        "SELECT (SELECT count(*) FROM artists), (SELECT count(*) FROM albums), \
         (SELECT count(*) FROM tracks)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// The newest `updated_at` of artists and albums, as RFC 3339 text.
pub fn last_modified(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT max(m) FROM (SELECT max(updated_at) AS m FROM artists \
         UNION ALL SELECT max(updated_at) FROM albums)",
        [],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_from_name_or_type() {
        let mut f = AudioFile {
            id: "x".into(),
            original_filename: "01 Intro.FLAC".into(),
            file_size: 1,
            content_type: "audio/flac".into(),
            sample_rate: None,
            bits_per_sample: None,
            channels: None,
            duration_ms: None,
        };
        assert_eq!(f.suffix(), "flac");
        f.original_filename = "no extension".into();
        f.content_type = "audio/mpeg".into();
        assert_eq!(f.suffix(), "mp3");
    }

    #[test]
    fn search_terms_escape_wildcards() {
        let (cond, params) = like_terms("(a LIKE {p} OR b LIKE {p})", "\"50% off_\" blue*");
        let one = "(a LIKE ? ESCAPE '\\' OR b LIKE ? ESCAPE '\\')";
        assert_eq!(cond, [one; 3].join(" AND "));
        let text: Vec<rusqlite::types::Value> = [
            "%50\\%%", "%50\\%%", "%off\\_%", "%off\\_%", "%blue%", "%blue%",
        ]
        .into_iter()
        .map(|s| rusqlite::types::Value::from(s.to_owned()))
        .collect();
        assert_eq!(params, text);
        assert_eq!(like_terms("a LIKE {p}", "  \"\" ").0, "1");
    }
}
