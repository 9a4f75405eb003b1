//! The Subsonic methods.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};

use super::params::{ApiError, Params};
use super::response::{Elem, Envelope, Val};
use super::{AppState, Reply, bytes_response};
use crate::db::ReadError;
use crate::library::{self, Album, AlbumOrder, Artist, ArtistRef, IGNORED_ARTICLES, Page, Song};
use crate::media::{MediaError, RangeRequest, parse_range};

/// The one music folder.
const FOLDER_ID: i64 = 1;

type Result<T> = std::result::Result<T, ApiError>;

fn internal(e: ReadError) -> ApiError {
    tracing::error!(error = %e, "library read failed");
    ApiError::generic(format!("internal error: {e}"))
}

pub(crate) async fn dispatch(
    app: &Arc<AppState>,
    method: &str,
    params: &Params,
    headers: &HeaderMap,
    head: bool,
) -> Result<Reply> {
    let doc = match method {
        "ping" => Envelope::ok(),
        "getLicense" => Envelope::with(
            "license",
            Elem::new()
                .attr("valid", true)
                .attr("email", "")
                .attr("licenseExpires", "2099-12-31T23:59:59Z"),
        ),
        "getOpenSubsonicExtensions" => Envelope::with_list(
            "openSubsonicExtensions",
            vec![
                Elem::new()
                    .attr("name", "apiKeyAuthentication")
                    .values("versions", vec![Val::Int(1)]),
                Elem::new()
                    .attr("name", "formPost")
                    .values("versions", vec![Val::Int(1)]),
            ],
        ),
        "getMusicFolders" => Envelope::with(
            "musicFolders",
            Elem::new().list(
                "musicFolder",
                vec![Elem::new().attr("id", FOLDER_ID).attr("name", "Music")],
            ),
        ),
        "getIndexes" => get_indexes(app, params).await?,
        "getArtists" => get_artists(app, params).await?,
        "getArtist" => get_artist(app, params).await?,
        "getAlbum" => get_album(app, params).await?,
        "getAlbumList2" => get_album_list2(app, params).await?,
        "getSong" => get_song(app, params).await?,
        "getRandomSongs" => get_random_songs(app, params).await?,
        "search3" => search3(app, params).await?,
        "getGenres" => Envelope::with("genres", Elem::new().list("genre", vec![])),
        "getCoverArt" => return get_cover_art(app, params).await.map(Reply::Raw),
        "stream" => {
            return stream(app, params, headers, false, head)
                .await
                .map(Reply::Raw);
        }
        "download" => {
            return stream(app, params, headers, true, head)
                .await
                .map(Reply::Raw);
        }
        other => {
            return Err(ApiError::generic(format!(
                "Unknown or unsupported method: {other} (bae-server is read-only)"
            )));
        }
    };
    Ok(Reply::Doc(doc))
}

fn check_folder(params: &Params) -> Result<()> {
    match params.get("musicFolderId") {
        None | Some("") => Ok(()),
        Some(v) if v.trim() == FOLDER_ID.to_string() => Ok(()),
        Some(v) if v.trim().parse::<i64>().is_ok() => Err(ApiError::not_found("Music folder", v)),
        Some(v) => Err(ApiError::invalid("musicFolderId", v, "a music folder id")),
    }
}

fn seconds(ms: Option<i64>) -> Option<i64> {
    ms.map(|ms| (ms + 500) / 1000)
}

fn refs(artists: &[ArtistRef]) -> Vec<Elem> {
    artists
        .iter()
        .map(|a| Elem::new().attr("id", &a.id).attr("name", &a.name))
        .collect()
}

fn display(artists: &[ArtistRef]) -> Option<String> {
    if artists.is_empty() {
        None
    } else {
        Some(
            artists
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )
    }
}

/// An `ArtistID3` (only fields every client's model accepts).
fn artist_elem(a: &Artist) -> Elem {
    Elem::new()
        .attr("id", &a.id)
        .attr("name", &a.name)
        .attr("albumCount", a.album_count)
        .opt("coverArt", a.image_id.as_ref())
        .opt("sortName", a.sort_name.as_ref())
        .opt("musicBrainzId", a.musicbrainz_id.as_ref())
}

/// An `AlbumID3`.
fn album_elem(a: &Album) -> Elem {
    Elem::new()
        .attr("id", &a.id)
        .attr("name", &a.title)
        .opt("artist", display(&a.artists))
        .opt("artistId", a.artists.first().map(|r| &r.id))
        .opt("coverArt", a.cover_id.as_ref())
        .attr("songCount", a.song_count)
        .attr("duration", seconds(Some(a.duration_ms)).unwrap_or(0))
        .attr("created", &a.created_at)
        .opt("year", a.year)
        .attr("isCompilation", a.is_compilation)
        .opt("musicBrainzId", a.musicbrainz_id.as_ref())
        .opt("displayArtist", display(&a.artists))
        .list("artists", refs(&a.artists))
}

/// A `Child` for a song.
fn song_elem(s: &Song) -> Elem {
    let artists = s.shown_artists();
    let duration = seconds(s.duration_ms);
    let mut e = Elem::new()
        .attr("id", &s.id)
        .attr("parent", &s.album_id)
        .attr("isDir", false)
        .attr("title", &s.title)
        .attr("album", &s.album_title)
        .opt("artist", display(artists))
        .opt("track", s.track_number)
        .opt("year", s.year)
        .opt("coverArt", s.cover_id.as_ref())
        .opt("duration", duration)
        .opt("discNumber", s.disc_number)
        .attr("created", &s.created_at)
        .attr("albumId", &s.album_id)
        .opt("artistId", artists.first().map(|a| &a.id))
        .attr("type", "music")
        .attr("mediaType", "song")
        .attr("isVideo", false);
    if let Some(f) = &s.file {
        let suffix = f.suffix();
        let album_artist = display(&s.album_artists).unwrap_or_else(|| "Unknown".to_owned());
        e = e
            .attr("size", f.file_size)
            .attr("contentType", &f.content_type)
            .attr("suffix", suffix)
            .opt(
                "bitRate",
                duration
                    .filter(|d| *d > 0)
                    .map(|d| f.file_size.saturating_mul(8) / d / 1000),
            )
            .opt("bitDepth", f.bits_per_sample)
            .opt("samplingRate", f.sample_rate)
            .opt("channelCount", f.channels)
            .attr(
                "path",
                format!(
                    "{}/{}/{}",
                    path_part(&album_artist),
                    path_part(&s.album_title),
                    path_part(&f.original_filename)
                ),
            );
    }
    e.opt("displayArtist", display(artists))
        .opt("displayAlbumArtist", display(&s.album_artists))
        .list("artists", refs(artists))
        .list("albumArtists", refs(&s.album_artists))
}

fn path_part(s: &str) -> String {
    s.replace('/', "_")
}

/// The sort key and index letter of an artist: articles in
/// [`IGNORED_ARTICLES`] are skipped; anything not a letter goes under `#`.
fn index_key(a: &Artist) -> (String, String) {
    let name = a.sort_name.clone().unwrap_or_else(|| {
        let mut name = a.name.trim().to_owned();
        for article in IGNORED_ARTICLES.split(' ') {
            if let Some(rest) = name.strip_prefix(&format!("{article} "))
                && !rest.trim().is_empty()
            {
                name = rest.trim().to_owned();
                break;
            }
        }
        name
    });
    let letter = match name.chars().next() {
        Some(c) if c.is_alphabetic() => c.to_uppercase().collect(),
        _ => "#".to_owned(),
    };
    (letter, name.to_lowercase())
}

fn indexed(artists: Vec<Artist>) -> Vec<Elem> {
    let mut groups: BTreeMap<(bool, String), Vec<(String, Artist)>> = BTreeMap::new();
    for a in artists {
        let (letter, key) = index_key(&a);
        groups
            .entry((letter == "#", letter))
            .or_default()
            .push((key, a));
    }
    groups
        .into_iter()
        .map(|((_, letter), mut members)| {
            members.sort_by(|x, y| x.0.cmp(&y.0).then_with(|| x.1.id.cmp(&y.1.id)));
            Elem::new().attr("name", letter).list(
                "artist",
                members.iter().map(|(_, a)| artist_elem(a)).collect(),
            )
        })
        .collect()
}

async fn get_artists(app: &AppState, params: &Params) -> Result<Envelope> {
    check_folder(params)?;
    let artists = app
        .pool
        .read(library::album_artists_all)
        .await
        .map_err(internal)?;
    Ok(Envelope::with(
        "artists",
        Elem::new()
            .attr("ignoredArticles", IGNORED_ARTICLES)
            .list("index", indexed(artists)),
    ))
}

async fn get_indexes(app: &AppState, params: &Params) -> Result<Envelope> {
    check_folder(params)?;
    params.opt_int("ifModifiedSince")?;
    let (artists, modified) = app
        .pool
        .read(|c| Ok((library::album_artists_all(c)?, library::last_modified(c)?)))
        .await
        .map_err(internal)?;
    let last_modified = modified
        .and_then(|m| {
            time::OffsetDateTime::parse(&m, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or(0, |t| {
            i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
        });
    Ok(Envelope::with(
        "indexes",
        Elem::new()
            .attr("lastModified", last_modified)
            .attr("ignoredArticles", IGNORED_ARTICLES)
            .list("index", indexed(artists)),
    ))
}

async fn get_artist(app: &AppState, params: &Params) -> Result<Envelope> {
    let id = params.required("id")?.to_owned();
    let found = app
        .pool
        .read(move |c| match library::artist(c, &id)? {
            Some(a) => Ok(Ok((library::albums_of_artist(c, &a.id)?, a))),
            None => Ok(Err(id)),
        })
        .await
        .map_err(internal)?;
    let (albums, artist) = found.map_err(|id| ApiError::not_found("Artist", &id))?;
    Ok(Envelope::with(
        "artist",
        artist_elem(&artist).list("album", albums.iter().map(album_elem).collect()),
    ))
}

async fn get_album(app: &AppState, params: &Params) -> Result<Envelope> {
    let id = params.required("id")?.to_owned();
    let found = app
        .pool
        .read(move |c| match library::album(c, &id)? {
            Some(a) => Ok(Ok((library::album_songs(c, &a.id)?, a))),
            None => Ok(Err(id)),
        })
        .await
        .map_err(internal)?;
    let (songs, album) = found.map_err(|id| ApiError::not_found("Album", &id))?;
    Ok(Envelope::with(
        "album",
        album_elem(&album).list("song", songs.iter().map(song_elem).collect()),
    ))
}

async fn get_album_list2(app: &AppState, params: &Params) -> Result<Envelope> {
    let list_type = params.required("type")?;
    check_folder(params)?;
    let size = params.int("size", 10, 0, 500)?;
    let offset = params.int("offset", 0, 0, i64::MAX)?;
    let order = match list_type {
        "newest" => Some(AlbumOrder::Newest),
        "alphabeticalByName" => Some(AlbumOrder::ByName),
        "alphabeticalByArtist" => Some(AlbumOrder::ByArtist),
        "random" => Some(AlbumOrder::Random),
        "byYear" => {
            let from = params
                .opt_int("fromYear")?
                .ok_or_else(|| ApiError::missing("fromYear"))?;
            let to = params
                .opt_int("toYear")?
                .ok_or_else(|| ApiError::missing("toYear"))?;
            Some(AlbumOrder::ByYear { from, to })
        }
        "byGenre" => {
            params.required("genre")?;
            // The library has no genres: nothing matches.
            None
        }
        // No play counts, ratings or stars in a read-only library.
        "frequent" | "recent" | "highest" | "starred" => None,
        other => {
            return Err(ApiError::invalid(
                "type",
                other,
                "one of random, newest, highest, frequent, recent, alphabeticalByName, \
                 alphabeticalByArtist, starred, byYear, byGenre",
            ));
        }
    };
    let albums = match order {
        Some(order) => app
            .pool
            .read(move |c| library::album_list(c, order, size, offset))
            .await
            .map_err(internal)?,
        None => Vec::new(),
    };
    Ok(Envelope::with(
        "albumList2",
        Elem::new().list("album", albums.iter().map(album_elem).collect()),
    ))
}

async fn get_song(app: &AppState, params: &Params) -> Result<Envelope> {
    let id = params.required("id")?.to_owned();
    let lookup = id.clone();
    let song = app
        .pool
        .read(move |c| library::song(c, &lookup))
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found("Song", &id))?;
    Ok(Envelope::with("song", song_elem(&song)))
}

async fn get_random_songs(app: &AppState, params: &Params) -> Result<Envelope> {
    check_folder(params)?;
    let size = params.int("size", 10, 0, 500)?;
    let from = params.opt_int("fromYear")?;
    let to = params.opt_int("toYear")?;
    let songs = if params.get("genre").is_some_and(|g| !g.is_empty()) {
        Vec::new()
    } else {
        app.pool
            .read(move |c| library::random_songs(c, size, from, to))
            .await
            .map_err(internal)?
    };
    Ok(Envelope::with(
        "randomSongs",
        Elem::new().list("song", songs.iter().map(song_elem).collect()),
    ))
}

async fn search3(app: &AppState, params: &Params) -> Result<Envelope> {
    // Some clients send no query at all to list everything.
    let query = params.get("query").unwrap_or("").to_owned();
    check_folder(params)?;
    let page = |count: &str, offset: &str| -> Result<Page> {
        Ok(Page {
            count: params.int(count, 20, 0, 500)?,
            offset: params.int(offset, 0, 0, i64::MAX)?,
        })
    };
    let artists = page("artistCount", "artistOffset")?;
    let albums = page("albumCount", "albumOffset")?;
    let songs = page("songCount", "songOffset")?;
    let (found_artists, found_albums, found_songs) = app
        .pool
        .read(move |c| library::search(c, &query, artists, albums, songs))
        .await
        .map_err(internal)?;
    Ok(Envelope::with(
        "searchResult3",
        Elem::new()
            .list("artist", found_artists.iter().map(artist_elem).collect())
            .list("album", found_albums.iter().map(album_elem).collect())
            .list("song", found_songs.iter().map(song_elem).collect()),
    ))
}

fn media_error(e: MediaError, what: &str, id: &str) -> ApiError {
    match e {
        MediaError::Missing { path } => {
            ApiError::not_found(&format!("{what} (object {path} is not in the bucket)"), id)
        }
        MediaError::Tampered { path, .. } => ApiError::generic(format!(
            "{what} {id} cannot be served: object {path} failed authentication \
             (modified, truncated or moved in the bucket)"
        )),
        other => ApiError::generic(format!("{what} {id} cannot be served: {other}")),
    }
}

async fn get_cover_art(app: &AppState, params: &Params) -> Result<axum::response::Response> {
    let id = params.required("id")?.to_owned();
    params.opt_int("size")?;
    let lookup = id.clone();
    let image = app
        .pool
        .read(move |c| library::image_for(c, &lookup))
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found("Cover art", &id))?;
    let bytes = app
        .media
        .image(&image.id)
        .await
        .map_err(|e| media_error(e, "Cover art", &id))?;
    Ok(bytes_response(
        StatusCode::OK,
        vec![
            (header::CONTENT_TYPE, image.content_type),
            (header::CACHE_CONTROL, "public, max-age=86400".to_owned()),
        ],
        Body::from(bytes),
    ))
}

/// Quotes a file name for `Content-Disposition`: an ASCII fallback and the
/// exact name in RFC 5987 form.
fn disposition(kind: &str, filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

async fn stream(
    app: &AppState,
    params: &Params,
    headers: &HeaderMap,
    download: bool,
    head: bool,
) -> Result<axum::response::Response> {
    let id = params.required("id")?.to_owned();
    // No transcoding: the original is always sent, whatever maxBitRate or
    // format ask for; malformed numbers are still refused.
    params.opt_int("maxBitRate")?;
    params.opt_int("timeOffset")?;
    let lookup = id.clone();
    let (file, exists) = app
        .pool
        .read(move |c| {
            Ok((
                library::audio_for(c, &lookup)?,
                library::song_exists(c, &lookup)?,
            ))
        })
        .await
        .map_err(internal)?;
    let Some(file) = file else {
        return Err(if exists {
            ApiError::not_found("Audio file for song", &id)
        } else {
            ApiError::not_found("Song", &id)
        });
    };
    let (key, info) = app
        .media
        .audio_info(&file.id)
        .await
        .map_err(|e| media_error(e, "Song", &id))?;
    let len = info.plaintext_len();
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let mut out_headers = vec![
        (header::CONTENT_TYPE, file.content_type.clone()),
        (header::ACCEPT_RANGES, "bytes".to_owned()),
        (header::ETAG, format!("\"{}\"", file.id)),
    ];
    if download {
        out_headers.push((
            header::CONTENT_DISPOSITION,
            disposition("attachment", &file.original_filename),
        ));
    }
    let (status, range) = match parse_range(range_header, len) {
        RangeRequest::Full => (StatusCode::OK, 0..len),
        RangeRequest::Partial(r) => {
            out_headers.push((
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{len}", r.start, r.end - 1),
            ));
            (StatusCode::PARTIAL_CONTENT, r)
        }
        RangeRequest::Unsatisfiable => {
            out_headers.push((header::CONTENT_RANGE, format!("bytes */{len}")));
            return Ok(bytes_response(
                StatusCode::RANGE_NOT_SATISFIABLE,
                out_headers,
                Body::empty(),
            ));
        }
    };
    out_headers.push((
        header::CONTENT_LENGTH,
        (range.end - range.start).to_string(),
    ));
    if head {
        return Ok(bytes_response(status, out_headers, Body::empty()));
    }
    let body = app
        .media
        .stream(key, info, range)
        .await
        .map_err(|e| media_error(e, "Song", &id))?;
    Ok(bytes_response(status, out_headers, Body::from_stream(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artist(name: &str, sort: Option<&str>) -> Artist {
        Artist {
            id: name.to_owned(),
            name: name.to_owned(),
            sort_name: sort.map(str::to_owned),
            musicbrainz_id: None,
            album_count: 1,
            image_id: None,
        }
    }

    #[test]
    fn index_letters_skip_articles() {
        assert_eq!(index_key(&artist("The Beatles", None)).0, "B");
        assert_eq!(index_key(&artist("The", None)).0, "T");
        assert_eq!(index_key(&artist("Los Lobos", None)).0, "L");
        assert_eq!(index_key(&artist("Björk", None)).0, "B");
        assert_eq!(index_key(&artist("école", None)).0, "É");
        assert_eq!(index_key(&artist("2Pac", None)).0, "#");
        assert_eq!(index_key(&artist("Prince", Some("Nelson"))).0, "N");
        let groups = indexed(vec![artist("2Pac", None), artist("abba", None)]);
        assert_eq!(groups[0].get("name"), Some(&Val::from("A")));
        assert_eq!(groups[1].get("name"), Some(&Val::from("#")), "# goes last");
    }

    #[test]
    fn dispositions_are_safe() {
        assert_eq!(
            disposition("attachment", "01 \"Ünïcode\".flac"),
            "attachment; filename=\"01 __n_code_.flac\"; \
             filename*=UTF-8''01%20%22%C3%9Cn%C3%AFcode%22.flac"
        );
    }
}
