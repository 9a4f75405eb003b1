//! `bae ls`, `bae show`, `bae edit`, `bae rm`: reading and changing the
//! library through `LibraryManager`.

use std::path::Path;

use bae_library::{AlbumPatch, ArtistPatch, ReleasePatch, TrackPatch};
use bae_store::{Table, writes};
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde_json::{Map, Value, json};

use crate::device::Device;
use crate::error::{CliError, CliResult};
use crate::out;

/// What `bae ls` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Listing {
    /// Artists with their album and track counts.
    Artists,
    /// Albums with their artists, year, track count and cover.
    Albums,
    /// Tracks with their album, numbers, artists and duration.
    Tracks,
}

/// The kinds of rows an id can name.
const KINDS: [(Table, &str); 6] = [
    (Table::Artists, "artist"),
    (Table::Albums, "album"),
    (Table::Releases, "release"),
    (Table::Tracks, "track"),
    (Table::Files, "file"),
    (Table::LibraryImages, "image"),
];

/// Finds what an id (or a unique prefix of one, 4+ characters) names.
fn resolve(conn: &Connection, id: &str) -> CliResult<(Table, &'static str, String)> {
    let id = id.trim();
    if id.len() < 4 {
        return Err(CliError::usage(format!(
            "id '{id}' is too short; give at least 4 characters of an id from `bae ls`"
        )));
    }
    let mut found = Vec::new();
    for (table, kind) in KINDS {
        let mut stmt = conn.prepare(&format!(
            "SELECT id FROM {} WHERE id = ?1 OR (length(?1) < 36 AND id LIKE ?1 || '%' ESCAPE '\\') LIMIT 3",
            table.name()
        ))?;
        let escaped = id
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        for row in stmt.query_map([&escaped], |r| r.get::<_, String>(0))? {
            found.push((table, kind, row?));
        }
    }
    match found.len() {
        0 => Err(CliError::data(format!(
            "no artist, album, release, track, file or image has id '{id}' in this library; see `bae ls`"
        ))),
        1 => Ok(found.remove(0)),
        _ => Err(CliError::usage(format!(
            "id '{id}' is ambiguous ({}); give more of it",
            found
                .iter()
                .map(|(_, kind, id)| format!("{kind} {id}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn cell(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => json!(f),
        ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => json!(format!("<{} bytes>", b.len())),
    }
}

/// Rows of a query as JSON objects, leaving out the sync bookkeeping columns.
fn rows(conn: &Connection, sql: &str, params: &[&dyn rusqlite::ToSql]) -> CliResult<Vec<Value>> {
    let mut stmt = conn.prepare(sql)?;
    let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let mut out = Vec::new();
    let mut q = stmt.query(params)?;
    while let Some(row) = q.next()? {
        let mut obj = Map::new();
        for (i, name) in names.iter().enumerate() {
            if name.starts_with("_sync") {
                continue;
            }
            obj.insert(name.clone(), cell(row.get_ref(i)?));
        }
        out.push(Value::Object(obj));
    }
    Ok(out)
}

fn row(conn: &Connection, table: Table, id: &str) -> CliResult<Value> {
    rows(
        conn,
        &format!("SELECT * FROM {} WHERE id = ?", table.name()),
        &[&id],
    )?
    .into_iter()
    .next()
    .ok_or_else(|| CliError::data(format!("no {} row with id {id}", table.name())))
}

const ALBUM_ARTIST: &str = "(SELECT group_concat(name, ', ') FROM (SELECT ar.name FROM album_artists aa \
     JOIN artists ar ON ar.id = aa.artist_id WHERE aa.album_id = al.id ORDER BY aa.position, ar.name))";
const TRACK_ARTIST: &str = "(SELECT group_concat(name, ', ') FROM (SELECT ar.name FROM track_artists ta \
     JOIN artists ar ON ar.id = ta.artist_id WHERE ta.track_id = t.id ORDER BY ta.position, ar.name))";

fn list(conn: &Connection, what: Listing, album: Option<&str>) -> CliResult<Vec<Value>> {
    match what {
        Listing::Artists => rows(
            conn,
            "SELECT a.id, a.name, \
               (SELECT count(DISTINCT aa.album_id) FROM album_artists aa WHERE aa.artist_id = a.id) AS albums, \
               (SELECT count(DISTINCT ta.track_id) FROM track_artists ta WHERE ta.artist_id = a.id) AS tracks \
             FROM artists a ORDER BY lower(a.name), a.id",
            &[],
        ),
        Listing::Albums => rows(
            conn,
            &format!(
                "SELECT al.id, al.title, {ALBUM_ARTIST} AS artist, al.year, al.is_compilation AS compilation, \
                   (SELECT count(*) FROM tracks t JOIN releases r ON r.id = t.release_id WHERE r.album_id = al.id) AS tracks, \
                   EXISTS (SELECT 1 FROM library_images li WHERE li.album_id = al.id) AS cover \
                 FROM albums al ORDER BY lower(artist), al.year, lower(al.title), al.id"
            ),
            &[],
        ),
        Listing::Tracks => {
            let album_id = match album {
                Some(id) => Some(match resolve(conn, id)? {
                    (Table::Albums, _, id) => id,
                    (_, kind, id) => {
                        return Err(CliError::usage(format!(
                            "--album {id} is a {kind}, not an album"
                        )));
                    }
                }),
                None => None,
            };
            rows(
                conn,
                &format!(
                    "SELECT t.id, t.title, {TRACK_ARTIST} AS artist, al.id AS album_id, al.title AS album, \
                       t.disc_number AS disc, t.track_number AS track, t.duration_ms \
                     FROM tracks t JOIN releases r ON r.id = t.release_id JOIN albums al ON al.id = r.album_id \
                     WHERE ?1 IS NULL OR al.id = ?1 \
                     ORDER BY lower(al.title), al.id, r.id, t.disc_number, t.track_number, lower(t.title), t.id"
                ),
                &[&album_id],
            )
        }
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `bae ls`.
pub fn ls(dir: &Path, what: Listing, album: Option<&str>, json: bool) -> CliResult<()> {
    let device = Device::open(dir)?;
    let l = device.lib.lock().expect("library mutex");
    let items = list(l.database().conn(), what, album)?;
    if json {
        out::json(&Value::Array(items));
        return Ok(());
    }
    let mut text = String::new();
    for item in &items {
        let f = |k: &str| text_of(&item[k]);
        let line = match what {
            Listing::Artists => format!(
                "{}  {}  ({} albums, {} tracks)",
                f("id"),
                f("name"),
                f("albums"),
                f("tracks")
            ),
            Listing::Albums => format!(
                "{}  {} - {} ({}, {} tracks{})",
                f("id"),
                f("artist"),
                f("title"),
                f("year"),
                f("tracks"),
                if item["cover"] == json!(1) {
                    ", cover"
                } else {
                    ""
                }
            ),
            Listing::Tracks => format!(
                "{}  {} | {}-{:>2}  {} - {}  [{}]",
                f("id"),
                f("album"),
                f("disc"),
                f("track"),
                f("artist"),
                f("title"),
                out::duration(item["duration_ms"].as_i64())
            ),
        };
        text.push_str(&line);
        text.push('\n');
    }
    if items.is_empty() {
        text.push_str(&format!(
            "no {} yet; `bae import PATH` adds some\n",
            format!("{what:?}").to_lowercase()
        ));
    }
    out::print(&text);
    Ok(())
}

fn tracks_of_release(conn: &Connection, release_id: &str) -> CliResult<Vec<Value>> {
    rows(
        conn,
        &format!(
            "SELECT t.id, t.disc_number, t.track_number, t.title, {TRACK_ARTIST} AS artist, t.duration_ms, t.import_status \
             FROM tracks t WHERE t.release_id = ? ORDER BY t.disc_number, t.track_number, t.title, t.id"
        ),
        &[&release_id],
    )
}

fn describe(conn: &Connection, table: Table, kind: &str, id: &str) -> CliResult<Value> {
    let mut obj = Map::new();
    obj.insert("type".into(), json!(kind));
    obj.insert(kind.into(), row(conn, table, id)?);
    match table {
        Table::Artists => {
            obj.insert(
                "albums".into(),
                json!(rows(
                    conn,
                    "SELECT al.id, al.title, al.year FROM album_artists aa JOIN albums al ON al.id = aa.album_id \
                     WHERE aa.artist_id = ? ORDER BY al.year, al.title, al.id",
                    &[&id],
                )?),
            );
        }
        Table::Albums => {
            obj.insert(
                "artists".into(),
                json!(rows(
                    conn,
                    "SELECT ar.id, ar.name FROM album_artists aa JOIN artists ar ON ar.id = aa.artist_id \
                     WHERE aa.album_id = ? ORDER BY aa.position, ar.name",
                    &[&id],
                )?),
            );
            let mut releases = rows(
                conn,
                "SELECT * FROM releases WHERE album_id = ? ORDER BY created_at, id",
                &[&id],
            )?;
            for r in &mut releases {
                let rid = r["id"].as_str().unwrap_or_default().to_owned();
                r["tracks"] = json!(tracks_of_release(conn, &rid)?);
            }
            obj.insert("releases".into(), json!(releases));
            obj.insert(
                "cover".into(),
                rows(
                    conn,
                    "SELECT * FROM library_images WHERE album_id = ?",
                    &[&id],
                )?
                .into_iter()
                .next()
                .unwrap_or(Value::Null),
            );
        }
        Table::Releases => {
            obj.insert("tracks".into(), json!(tracks_of_release(conn, id)?));
            obj.insert(
                "files".into(),
                json!(rows(
                    conn,
                    "SELECT * FROM files WHERE release_id = ? ORDER BY original_filename, id",
                    &[&id]
                )?),
            );
        }
        Table::Tracks => {
            obj.insert(
                "artists".into(),
                json!(rows(
                    conn,
                    "SELECT ar.id, ar.name, ta.role FROM track_artists ta JOIN artists ar ON ar.id = ta.artist_id \
                     WHERE ta.track_id = ? ORDER BY ta.position, ar.name",
                    &[&id],
                )?),
            );
            obj.insert(
                "album".into(),
                rows(
                    conn,
                    "SELECT al.id, al.title FROM tracks t JOIN releases r ON r.id = t.release_id \
                     JOIN albums al ON al.id = r.album_id WHERE t.id = ?",
                    &[&id],
                )?
                .into_iter()
                .next()
                .unwrap_or(Value::Null),
            );
            let mut formats = rows(
                conn,
                "SELECT * FROM audio_formats WHERE track_id = ? ORDER BY id",
                &[&id],
            )?;
            for f in &mut formats {
                let fid = f["file_id"].as_str().unwrap_or_default().to_owned();
                f["file"] = row(conn, Table::Files, &fid).unwrap_or(Value::Null);
            }
            obj.insert("audio_formats".into(), json!(formats));
        }
        Table::Files => {
            obj.insert(
                "audio_formats".into(),
                json!(rows(
                    conn,
                    "SELECT * FROM audio_formats WHERE file_id = ? ORDER BY id",
                    &[&id]
                )?),
            );
            obj.insert(
                "stored_in_bucket".into(),
                json!(obj[kind]["encryption_nonce"] != Value::Null),
            );
        }
        _ => {}
    }
    Ok(Value::Object(obj))
}

/// Renders JSON as indented `key: value` lines.
fn render(v: &Value, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::Object(m) if !m.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        render(v, indent + 1, out);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        render(v, indent + 1, out);
                    }
                    Value::Array(_) => out.push_str(&format!("{pad}{k}: (none)\n")),
                    other => out.push_str(&format!("{pad}{k}: {}\n", text_of(other))),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                let mut inner = String::new();
                render(item, indent + 1, &mut inner);
                let trimmed = inner.trim_start();
                out.push_str(&format!("{pad}- {trimmed}"));
                if !trimmed.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", text_of(other))),
    }
}

/// `bae show`.
pub fn show(dir: &Path, id: &str, json: bool) -> CliResult<()> {
    let device = Device::open(dir)?;
    let l = device.lib.lock().expect("library mutex");
    let conn = l.database().conn();
    let (table, kind, id) = resolve(conn, id)?;
    let value = describe(conn, table, kind, &id)?;
    if json {
        out::json(&value);
    } else {
        let mut text = String::new();
        render(&value, 0, &mut text);
        out::print(&text);
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum FieldKind {
    Text,
    OptText,
    OptInt,
    Bool,
}

const FIELDS: &[(Table, &str, FieldKind)] = &[
    (Table::Artists, "name", FieldKind::Text),
    (Table::Artists, "sort_name", FieldKind::OptText),
    (Table::Artists, "musicbrainz_artist_id", FieldKind::OptText),
    (Table::Artists, "discogs_artist_id", FieldKind::OptText),
    (Table::Albums, "title", FieldKind::Text),
    (Table::Albums, "year", FieldKind::OptInt),
    (Table::Albums, "is_compilation", FieldKind::Bool),
    (Table::Releases, "release_name", FieldKind::OptText),
    (Table::Releases, "year", FieldKind::OptInt),
    (Table::Releases, "format", FieldKind::OptText),
    (Table::Releases, "label", FieldKind::OptText),
    (Table::Releases, "catalog_number", FieldKind::OptText),
    (Table::Releases, "country", FieldKind::OptText),
    (Table::Releases, "barcode", FieldKind::OptText),
    (Table::Releases, "private", FieldKind::Bool),
    (Table::Tracks, "title", FieldKind::Text),
    (Table::Tracks, "disc_number", FieldKind::OptInt),
    (Table::Tracks, "track_number", FieldKind::OptInt),
    (Table::Tracks, "duration_ms", FieldKind::OptInt),
];

#[derive(Debug, Clone)]
enum Parsed {
    Text(String),
    OptText(Option<String>),
    OptInt(Option<i64>),
    Bool(bool),
}

fn parse_change(table: Table, kind: &str, change: &str) -> CliResult<(&'static str, Parsed)> {
    let fields = || {
        FIELDS
            .iter()
            .filter(|(t, _, _)| *t == table)
            .map(|(_, f, _)| *f)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some((field, value)) = change.split_once('=') else {
        return Err(CliError::usage(format!(
            "'{change}' is not field=value; fields of a {kind}: {}",
            fields()
        )));
    };
    let field = field.trim();
    let Some((_, name, fk)) = FIELDS.iter().find(|(t, f, _)| *t == table && *f == field) else {
        return Err(CliError::usage(format!(
            "a {kind} has no field '{field}' that can be edited; fields of a {kind}: {}",
            fields()
        )));
    };
    let bad = |expected: &str| CliError::usage(format!("{field}={value}: expected {expected}"));
    let empty = value.trim().is_empty() || value.trim() == "null";
    let parsed = match fk {
        FieldKind::Text if value.trim().is_empty() => return Err(bad("a non-empty text")),
        FieldKind::Text => Parsed::Text(value.to_owned()),
        FieldKind::OptText => Parsed::OptText((!empty).then(|| value.to_owned())),
        FieldKind::OptInt if empty => Parsed::OptInt(None),
        FieldKind::OptInt => Parsed::OptInt(Some(
            value
                .trim()
                .parse()
                .map_err(|_| bad("a whole number, or nothing to clear it"))?,
        )),
        FieldKind::Bool => Parsed::Bool(match value.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => true,
            "false" | "no" | "0" => false,
            _ => return Err(bad("true or false")),
        }),
    };
    Ok((name, parsed))
}

fn text(p: &Parsed) -> String {
    match p {
        Parsed::Text(s) => s.clone(),
        _ => unreachable_kind(),
    }
}
fn opt_text(p: &Parsed) -> Option<String> {
    match p {
        Parsed::OptText(s) => s.clone(),
        _ => unreachable_kind(),
    }
}
fn opt_int(p: &Parsed) -> Option<i64> {
    match p {
        Parsed::OptInt(i) => *i,
        _ => unreachable_kind(),
    }
}
fn boolean(p: &Parsed) -> bool {
    match p {
        Parsed::Bool(b) => *b,
        _ => unreachable_kind(),
    }
}
fn unreachable_kind() -> ! {
    panic!("FIELDS and the patch builders disagree on a field's kind")
}

/// `bae edit`.
pub fn edit(dir: &Path, id: &str, changes: &[String]) -> CliResult<()> {
    let device = Device::open(dir)?;
    let mut l = device.lib.lock().expect("library mutex");
    let (table, kind, id) = resolve(l.database().conn(), id)?;
    if !matches!(
        table,
        Table::Artists | Table::Albums | Table::Releases | Table::Tracks
    ) {
        return Err(CliError::usage(format!(
            "a {kind} cannot be edited; edit its album, release or track instead"
        )));
    }
    let parsed: Vec<(&str, Parsed)> = changes
        .iter()
        .map(|c| parse_change(table, kind, c))
        .collect::<CliResult<_>>()?;
    let before = l.recorder().next_seq();
    l.write(|w| match table {
        Table::Artists => {
            let mut p = ArtistPatch::default();
            for (f, v) in &parsed {
                match *f {
                    "name" => p.name = Some(text(v)),
                    "sort_name" => p.sort_name = Some(opt_text(v)),
                    "musicbrainz_artist_id" => p.musicbrainz_artist_id = Some(opt_text(v)),
                    "discogs_artist_id" => p.discogs_artist_id = Some(opt_text(v)),
                    _ => unreachable_kind(),
                }
            }
            writes::update_artist(w, &id, &p)
        }
        Table::Albums => {
            let mut p = AlbumPatch::default();
            for (f, v) in &parsed {
                match *f {
                    "title" => p.title = Some(text(v)),
                    "year" => p.year = Some(opt_int(v)),
                    "is_compilation" => p.is_compilation = Some(boolean(v)),
                    _ => unreachable_kind(),
                }
            }
            writes::update_album(w, &id, &p)
        }
        Table::Releases => {
            let mut p = ReleasePatch::default();
            for (f, v) in &parsed {
                match *f {
                    "release_name" => p.release_name = Some(opt_text(v)),
                    "year" => p.year = Some(opt_int(v)),
                    "format" => p.format = Some(opt_text(v)),
                    "label" => p.label = Some(opt_text(v)),
                    "catalog_number" => p.catalog_number = Some(opt_text(v)),
                    "country" => p.country = Some(opt_text(v)),
                    "barcode" => p.barcode = Some(opt_text(v)),
                    "private" => p.private = Some(boolean(v)),
                    _ => unreachable_kind(),
                }
            }
            writes::update_release(w, &id, &p)
        }
        _ => {
            let mut p = TrackPatch::default();
            for (f, v) in &parsed {
                match *f {
                    "title" => p.title = Some(text(v)),
                    "disc_number" => p.disc_number = Some(opt_int(v)),
                    "track_number" => p.track_number = Some(opt_int(v)),
                    "duration_ms" => p.duration_ms = Some(opt_int(v)),
                    _ => unreachable_kind(),
                }
            }
            writes::update_track(w, &id, &p)
        }
    })?;
    let changed = l.recorder().next_seq() != before;
    out::print(&if changed {
        format!("updated {kind} {id}; `bae sync` pushes the change")
    } else {
        format!("{kind} {id} already had those values; nothing changed")
    });
    Ok(())
}

fn counts(conn: &Connection) -> rusqlite::Result<Vec<(Table, i64)>> {
    Table::SYNCED
        .iter()
        .map(|t| {
            conn.query_row(&format!("SELECT count(*) FROM {}", t.name()), [], |r| {
                r.get(0)
            })
            .map(|n| (*t, n))
        })
        .collect()
}

/// `bae rm`.
pub fn rm(dir: &Path, id: &str) -> CliResult<()> {
    let device = Device::open(dir)?;
    let mut l = device.lib.lock().expect("library mutex");
    let (table, kind, id) = resolve(l.database().conn(), id)?;
    let label: String = match table {
        Table::Artists => "name",
        Table::Albums | Table::Tracks => "title",
        Table::Files => "original_filename",
        Table::Releases => "coalesce(release_name, id)",
        _ => "id",
    }
    .to_owned();
    let name: String = l.database().conn().query_row(
        &format!("SELECT {label} FROM {} WHERE id = ?", table.name()),
        [&id],
        |r| r.get(0),
    )?;
    let removed = l.write(|w| {
        let before = counts(w.conn())?;
        match table {
            Table::Artists => writes::delete_artist(w, &id)?,
            Table::Albums => writes::delete_album(w, &id)?,
            Table::Releases => writes::delete_release(w, &id)?,
            Table::Tracks => writes::delete_track(w, &id)?,
            Table::Files => writes::delete_file(w, &id)?,
            _ => writes::delete_image(w, &id)?,
        }
        let after = counts(w.conn())?;
        Ok(before
            .into_iter()
            .zip(after)
            .filter(|((t, _), _)| *t != table)
            .filter_map(|((t, b), (_, a))| (b > a).then_some((t, b - a)))
            .collect::<Vec<_>>())
    })?;
    let cascade: Vec<String> = removed
        .iter()
        .map(|(t, n)| format!("{n} {}", t.name().replace('_', " ")))
        .collect();
    out::print(&format!(
        "removed {kind} '{name}' ({id}){}; `bae sync` pushes the removal",
        if cascade.is_empty() {
            String::new()
        } else {
            format!(" with {}", cascade.join(", "))
        }
    ));
    Ok(())
}
