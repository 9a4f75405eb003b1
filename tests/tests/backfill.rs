//! A library written by a bae without sync metadata is backfilled once on
//! open: every existing row gets a clock and is recorded as an insert, so
//! that it reaches other devices too.

use bae_hlc::DeviceId;
use bae_library::{LibraryManager, LibraryOptions, NewArtist};
use bae_store::{Database, SCHEMA_VERSION};
use bae_tests::{Model, batches_since, replay_strict, synced_model};

const OLD_LIBRARY: &str = "
INSERT INTO artists VALUES ('a1', 'Miles Davis', NULL, NULL, NULL, '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z');
INSERT INTO albums VALUES ('al1', 'Kind of Blue', 1959, 0, '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z');
INSERT INTO album_artists VALUES ('aa1', 'al1', 'a1', 0, '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z');
INSERT INTO releases (id, album_id, created_at, updated_at) VALUES ('r1', 'al1', '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z');
INSERT INTO tracks (id, release_id, title, created_at, updated_at) VALUES ('t1', 'r1', 'So What', '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z');
INSERT INTO files (id, release_id, original_filename, file_size, content_type, source_path, created_at, updated_at)
    VALUES ('f1', 'r1', 'so-what.flac', 10, 'audio/flac', '/music/so-what.flac', '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z');
INSERT INTO storage_profiles (id, name, location, encrypted, created_at, updated_at)
    VALUES ('p1', 'Local', 'local', 0, '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z');
";

#[test]
fn an_old_library_is_backfilled_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("library.db");
    {
        let old = Database::open_at(Some(&path), 1).unwrap();
        old.conn().execute_batch(OLD_LIBRARY).unwrap();
    }
    let device = DeviceId::from_bytes([9; 16]);
    let lib = LibraryManager::with_database(
        Database::open(&path).unwrap(),
        device,
        LibraryOptions::default(),
    )
    .unwrap();
    assert_eq!(lib.database().schema_version().unwrap(), SCHEMA_VERSION);
    let batches = batches_since(lib.database(), 1);
    assert_eq!(batches.len(), 1, "one backfill batch");
    assert_eq!(
        batches[0].ops.len(),
        6,
        "six synced rows; the storage profile is device-local"
    );
    let mut model = Model::new();
    replay_strict(lib.database(), &mut model, &batches[0], "backfill");
    assert_eq!(
        model,
        synced_model(lib.database()),
        "the backfill batch reproduces the old library"
    );
    let unstamped: i64 = lib
        .database()
        .conn()
        .query_row(
            "SELECT count(*) FROM tracks WHERE _sync_hlc IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unstamped, 0);
    let source_path: String = lib
        .database()
        .conn()
        .query_row("SELECT source_path FROM files", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        source_path, "/music/so-what.flac",
        "device-local columns are kept, not recorded"
    );
    drop(lib);

    let mut lib = LibraryManager::with_database(
        Database::open(&path).unwrap(),
        device,
        LibraryOptions::default(),
    )
    .unwrap();
    assert_eq!(
        batches_since(lib.database(), 1).len(),
        1,
        "no second backfill"
    );
    lib.create_artist(&NewArtist {
        name: "Coltrane".into(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(batches_since(lib.database(), 2)[0].seq, 2);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("library.db");
    drop(Database::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let err = Database::open(&path).unwrap_err();
    assert!(err.to_string().contains("update bae"), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}
