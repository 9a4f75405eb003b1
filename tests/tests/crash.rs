//! Crash atomicity: a write is its data and its ops, or neither.

use std::path::Path;
use std::process::Command;

use bae_library::*;
use bae_store::{Table, WriteError, writes};
use bae_tests::{Model, batches_since, memory_library, replay_strict, synced_model};

fn crash(dir: &Path, mode: &str) {
    let status = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .arg(dir)
        .arg(mode)
        .status()
        .unwrap();
    assert!(!status.success(), "the writer must die, not exit cleanly");
}

fn reopen(dir: &Path) -> LibraryManager {
    LibraryManager::open(dir, LibraryOptions::default()).unwrap()
}

fn check_log_reproduces_state(lib: &LibraryManager) {
    let mut model = Model::new();
    for batch in batches_since(lib.database(), 1) {
        replay_strict(lib.database(), &mut model, &batch, "replay from empty");
    }
    assert_eq!(
        model,
        synced_model(lib.database()),
        "the op log alone reproduces the library"
    );
}

#[test]
fn a_process_killed_mid_transaction_leaves_neither_data_nor_ops() {
    let dir = tempfile::tempdir().unwrap();
    crash(dir.path(), "commit-then-abort");
    crash(dir.path(), "abort-mid-transaction");
    let lib = reopen(dir.path());
    let titles: Vec<String> = lib
        .database()
        .conn()
        .prepare("SELECT title FROM albums")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        titles,
        ["Kept"],
        "the committed album survives, the uncommitted one is gone"
    );
    let batches = batches_since(lib.database(), 1);
    assert_eq!(batches.len(), 1, "and so are its ops");
    assert_eq!(lib.recorder().next_seq(), 2, "the seq counter has no gap");
    check_log_reproduces_state(&lib);
}

#[test]
fn a_failed_transaction_rolls_back_data_ops_and_seq() {
    let (mut lib, _) = memory_library(4);
    lib.create_artist(&NewArtist {
        name: "kept".into(),
        ..Default::default()
    })
    .unwrap();
    let before = synced_model(lib.database());
    let seq = lib.recorder().next_seq();
    let events = lib.subscribe();
    let err = lib
        .write(|w| {
            writes::insert_album_with_release_and_tracks(
                w,
                &AlbumImport {
                    album: NewAlbum {
                        title: "x".into(),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )?;
            // A track of a release that does not exist: a foreign key failure
            // after several rows were already written in this transaction.
            writes::add_track(
                w,
                "00000000-0000-4000-8000-000000000000",
                &NewTrack {
                    title: "orphan".into(),
                    ..Default::default()
                },
            )
        })
        .unwrap_err();
    assert!(matches!(err, WriteError::Sqlite(_)), "{err}");
    assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
    assert_eq!(synced_model(lib.database()), before);
    assert!(batches_since(lib.database(), seq).is_empty());
    assert_eq!(lib.recorder().next_seq(), seq);
    assert!(
        events.try_recv().is_err(),
        "no event for a write that did not commit"
    );
    let tombstones: i64 = lib
        .database()
        .conn()
        .query_row("SELECT count(*) FROM sync_tombstones", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tombstones, 0);
    // The next write takes the very next seq.
    lib.create_artist(&NewArtist {
        name: "next".into(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(batches_since(lib.database(), seq)[0].seq, seq);
}

#[test]
fn typed_errors_for_missing_rows() {
    let (mut lib, _) = memory_library(5);
    let err = lib
        .update_album(
            "nope",
            &AlbumPatch {
                title: Some("x".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            WriteError::NotFound {
                table: Table::Albums,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.to_string(), "no albums row with id nope");
    let err = lib.delete_release("nope").unwrap_err();
    assert!(matches!(
        err,
        WriteError::NotFound {
            table: Table::Releases,
            ..
        }
    ));
    let err = lib
        .update_file(
            "nope",
            &FilePatch {
                encryption_scheme: Some("rot13".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("neither \"master\" nor \"derived\""),
        "{err}"
    );
    assert!(batches_since(lib.database(), 1).is_empty());
}

#[test]
fn reopening_resumes_the_clock_and_the_seq_even_if_wall_time_went_back() {
    let dir = tempfile::tempdir().unwrap();
    let wall = bae_hlc::ManualClock::new(2_000_000_000_000);
    let opts = |w: &bae_hlc::ManualClock| LibraryOptions {
        wall_clock: std::sync::Arc::new(w.clone()),
        ..Default::default()
    };
    let mut lib = LibraryManager::open(dir.path(), opts(&wall)).unwrap();
    let device = lib.device_id();
    lib.create_artist(&NewArtist {
        name: "a".into(),
        ..Default::default()
    })
    .unwrap();
    let first = batches_since(lib.database(), 1)[0].ops[0].hlc;
    drop(lib);
    wall.set_ms(1_000_000_000_000);
    let mut lib = LibraryManager::open(dir.path(), opts(&wall)).unwrap();
    assert_eq!(lib.device_id(), device, "config.yaml keeps the device id");
    lib.create_artist(&NewArtist {
        name: "b".into(),
        ..Default::default()
    })
    .unwrap();
    let batches = batches_since(lib.database(), 1);
    assert_eq!(batches.iter().map(|b| b.seq).collect::<Vec<_>>(), [1, 2]);
    assert!(
        batches[1].ops[0].hlc > first,
        "later writes order after earlier ones"
    );
}
