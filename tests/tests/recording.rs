//! Every public write method of `LibraryManager` records exactly the ops of
//! the rows and fields it changed: replaying the recorded batch on the state
//! before the call gives the state after it, and no op is spurious.

use std::collections::BTreeSet;

use bae_library::*;
use bae_oplog::Action;
use bae_store::{Table, Value};
use bae_tests::{Model, batches_since, memory_library, replay_strict, synced_model};

/// Calls one write method through `call` and checks what it recorded.
fn check(
    lib: &mut LibraryManager,
    covered: &mut BTreeSet<&'static str>,
    name: &'static str,
    call: impl FnOnce(&mut LibraryManager),
) {
    let before: Model = synced_model(lib.database());
    let seq = lib.recorder().next_seq();
    let events = lib.subscribe();
    call(lib);
    let after = synced_model(lib.database());
    let batches = batches_since(lib.database(), seq);
    assert!(batches.len() <= 1, "{name}: one call, at most one batch");
    let mut model = before.clone();
    for batch in &batches {
        assert_eq!(batch.seq, seq, "{name}: batches are numbered without gaps");
        assert_eq!(batch.device, lib.device_id());
        replay_strict(lib.database(), &mut model, batch, name);
    }
    assert_eq!(
        model, after,
        "{name}: the recorded ops must reproduce the write exactly"
    );
    if before == after {
        assert!(batches.is_empty(), "{name}: no synced change, no batch");
    } else {
        assert_eq!(
            batches.len(),
            1,
            "{name}: a synced change records one batch"
        );
    }
    let event = events
        .try_recv()
        .unwrap_or_else(|_| panic!("{name}: no event after a committed write"));
    assert_eq!(
        event,
        LibraryEvent::AlbumsChanged {
            batch_seq: batches.first().map(|b| b.seq)
        }
    );
    covered.insert(name);
}

fn image(hash: &str) -> NewImage {
    NewImage {
        content_type: "image/jpeg".into(),
        file_size: 1234,
        width: Some(500),
        height: Some(500),
        content_hash: hash.into(),
        source: "folder".into(),
        source_url: None,
    }
}

fn one_id(lib: &LibraryManager, sql: &str) -> String {
    lib.database()
        .conn()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn every_write_method_records_exactly_its_changes() {
    let (mut lib, clock) = memory_library(1);
    let mut covered = BTreeSet::new();
    let c = &mut covered;
    let mut artist = String::new();
    check(&mut lib, c, "create_artist", |l| {
        artist = l
            .create_artist(&NewArtist {
                name: "Nina Simone".into(),
                ..Default::default()
            })
            .unwrap();
    });
    let other = lib
        .create_artist(&NewArtist {
            name: "Other".into(),
            ..Default::default()
        })
        .unwrap();
    clock.advance_ms(10);
    check(&mut lib, c, "update_artist", |l| {
        // The name is unchanged: only sort_name (and updated_at) are recorded.
        let patch = ArtistPatch {
            name: Some("Nina Simone".into()),
            sort_name: Some(Some("Simone, Nina".into())),
            ..Default::default()
        };
        l.update_artist(&artist, &patch).unwrap();
    });
    let mut imported = None;
    check(&mut lib, c, "insert_album_with_release_and_tracks", |l| {
        let import = AlbumImport {
            album: NewAlbum {
                title: "Pastel Blues".into(),
                year: Some(1965),
                artist_ids: vec![artist.clone()],
                discogs: Some((Some("m1".into()), "r1".into())),
                musicbrainz: Some(("rg1".into(), Some("mbr1".into()))),
                ..Default::default()
            },
            release: NewRelease {
                format: Some("CD".into()),
                ..Default::default()
            },
            tracks: (1..=3)
                .map(|n| NewTrack {
                    title: format!("Track {n}"),
                    track_number: Some(n),
                    artist_ids: vec![artist.clone()],
                    ..Default::default()
                })
                .collect(),
        };
        imported = Some(l.insert_album_with_release_and_tracks(&import).unwrap());
    });
    let imported = imported.unwrap();
    let album = imported.album_id.clone();
    let release = imported.release_id.clone();
    let track = imported.track_ids[0].clone();
    clock.advance_ms(10);
    check(&mut lib, c, "update_album", |l| {
        l.update_album(
            &album,
            &AlbumPatch {
                title: Some("Pastel Blues".into()),
                year: Some(Some(1966)),
                ..Default::default()
            },
        )
        .unwrap();
    });
    check(&mut lib, c, "add_album_artist", |l| {
        l.add_album_artist(&album, &other, 1).unwrap();
    });
    let credit = one_id(&lib, "SELECT id FROM album_artists WHERE position = 1");
    check(&mut lib, c, "remove_album_artist", |l| {
        l.remove_album_artist(&credit).unwrap()
    });
    check(&mut lib, c, "set_album_discogs", |l| {
        l.set_album_discogs(&album, None, "r2").unwrap();
    });
    check(&mut lib, c, "set_album_musicbrainz", |l| {
        l.set_album_musicbrainz(&album, "rg2", None).unwrap();
    });
    let mut second_release = String::new();
    check(&mut lib, c, "add_release", |l| {
        second_release = l
            .add_release(
                &album,
                &NewRelease {
                    country: Some("US".into()),
                    ..Default::default()
                },
            )
            .unwrap();
    });
    clock.advance_ms(10);
    check(&mut lib, c, "update_release", |l| {
        l.update_release(
            &release,
            &ReleasePatch {
                label: Some(Some("Philips".into())),
                private: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    });
    check(&mut lib, c, "set_release_import_status", |l| {
        l.set_release_import_status(&release, ImportStatus::Importing)
            .unwrap()
    });
    let mut new_track = String::new();
    check(&mut lib, c, "add_track", |l| {
        new_track = l
            .add_track(
                &release,
                &NewTrack {
                    title: "Bonus".into(),
                    artist_ids: vec![other.clone()],
                    ..Default::default()
                },
            )
            .unwrap();
    });
    clock.advance_ms(10);
    check(&mut lib, c, "update_track", |l| {
        l.update_track(
            &track,
            &TrackPatch {
                title: Some("Be My Husband".into()),
                duration_ms: Some(Some(180_000)),
                ..Default::default()
            },
        )
        .unwrap();
    });
    check(&mut lib, c, "set_track_import_status", |l| {
        l.set_track_import_status(&track, ImportStatus::Importing)
            .unwrap()
    });
    check(&mut lib, c, "mark_track_complete", |l| {
        l.mark_track_complete(&track).unwrap()
    });
    let mut track_credit = String::new();
    check(&mut lib, c, "add_track_artist", |l| {
        track_credit = l
            .add_track_artist(&track, &other, 1, Some("piano"))
            .unwrap();
    });
    check(&mut lib, c, "remove_track_artist", |l| {
        l.remove_track_artist(&track_credit).unwrap()
    });
    let mut file = String::new();
    check(&mut lib, c, "add_file", |l| {
        file = l
            .add_file(
                &release,
                &NewFile {
                    original_filename: "01.flac".into(),
                    file_size: 31_337,
                    content_type: "audio/flac".into(),
                    content_hash: Some("ab".repeat(32)),
                    source_path: Some("/music/01.flac".into()),
                },
            )
            .unwrap();
    });
    clock.advance_ms(10);
    check(&mut lib, c, "update_file", |l| {
        l.update_file(
            &file,
            &FilePatch {
                encryption_scheme: Some("derived".into()),
                ..Default::default()
            },
        )
        .unwrap();
    });
    check(&mut lib, c, "set_file_location", |l| {
        // Device-local columns only: written, never recorded.
        l.set_file_location(&file, Some("/elsewhere/01.flac"), Some(&[7u8; 24]))
            .unwrap();
    });
    let location: (String, Vec<u8>) = lib
        .database()
        .conn()
        .query_row(
            "SELECT source_path, encryption_nonce FROM files WHERE id = ?",
            [&file],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(location, ("/elsewhere/01.flac".to_owned(), vec![7u8; 24]));
    let mut format = String::new();
    check(&mut lib, c, "add_audio_format", |l| {
        format = l
            .add_audio_format(&NewAudioFormat {
                track_id: track.clone(),
                file_id: file.clone(),
                content_type: "audio/flac".into(),
                sample_rate: 44_100,
                bits_per_sample: Some(16),
                channels: 2,
                seektable: Some(vec![1, 2, 3]),
                ..Default::default()
            })
            .unwrap();
    });
    check(&mut lib, c, "delete_audio_format", |l| {
        l.delete_audio_format(&format).unwrap()
    });
    check(&mut lib, c, "set_cover_image", |l| {
        l.set_cover_image(&album, &image("c1")).unwrap();
    });
    check(&mut lib, c, "set_cover_image", |l| {
        // Replacing the cover deletes the old one in the same batch.
        l.set_cover_image(&album, &image("c2")).unwrap();
    });
    let mut artist_image = String::new();
    check(&mut lib, c, "set_artist_image", |l| {
        artist_image = l.set_artist_image(&artist, &image("a1")).unwrap();
    });
    check(&mut lib, c, "delete_image", |l| {
        l.delete_image(&artist_image).unwrap()
    });
    let mut profile = String::new();
    check(&mut lib, c, "add_storage_profile", |l| {
        profile = l
            .add_storage_profile(&NewStorageProfile {
                name: "Cloud".into(),
                location: "cloud".into(),
                encrypted: true,
                ..Default::default()
            })
            .unwrap();
    });
    check(&mut lib, c, "set_release_storage", |l| {
        l.set_release_storage(&release, &profile).unwrap();
    });
    let mut torrent = String::new();
    check(&mut lib, c, "add_torrent", |l| {
        torrent = l
            .add_torrent(&NewTorrent {
                release_id: release.clone(),
                info_hash: "cd".repeat(20),
                torrent_name: "Pastel Blues".into(),
                total_size_bytes: 1 << 20,
                piece_length: 1 << 18,
                num_pieces: 4,
                pieces: (0..4)
                    .map(|i| (vec![file.clone()], i * 10, i * 10 + 9))
                    .collect(),
                ..Default::default()
            })
            .unwrap();
    });
    check(&mut lib, c, "delete_torrent", |l| {
        l.delete_torrent(&torrent).unwrap()
    });
    let mut import = String::new();
    check(&mut lib, c, "start_import", |l| {
        import = l
            .start_import(
                "/music/Pastel Blues",
                Some("Pastel Blues"),
                Some("Nina Simone"),
            )
            .unwrap();
    });
    check(&mut lib, c, "update_import", |l| {
        let progress = ImportProgress {
            status: "importing".into(),
            release_id: Some(release.clone()),
            progress_percent: 40,
            error_message: None,
        };
        l.update_import(&import, &progress).unwrap();
    });
    check(&mut lib, c, "write", |l| {
        // Several operations in one transaction are one batch.
        l.write(|w| {
            let a = bae_store::writes::create_artist(
                w,
                &NewArtist {
                    name: "Guest".into(),
                    ..Default::default()
                },
            )?;
            bae_store::writes::add_track_artist(w, &new_track, &a, 2, None)?;
            bae_store::writes::update_album(
                w,
                &album,
                &AlbumPatch {
                    is_compilation: Some(true),
                    ..Default::default()
                },
            )
        })
        .unwrap();
    });
    check(&mut lib, c, "delete_track", |l| {
        l.delete_track(&new_track).unwrap()
    });
    check(&mut lib, c, "delete_file", |l| {
        l.delete_file(&file).unwrap()
    });
    check(&mut lib, c, "delete_release", |l| {
        l.delete_release(&second_release).unwrap()
    });
    check(&mut lib, c, "delete_storage_profile", |l| {
        l.delete_storage_profile(&profile).unwrap()
    });
    check(&mut lib, c, "delete_album", |l| {
        l.delete_album(&album).unwrap()
    });
    check(&mut lib, c, "delete_artist", |l| {
        l.delete_artist(&artist).unwrap()
    });

    let all: BTreeSet<&str> = LibraryManager::WRITE_METHODS.iter().copied().collect();
    let missing: Vec<_> = all.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "write methods not proven to record: {missing:?}"
    );
}

/// A write method added outside the `write_methods!` list would escape the
/// test above; this reads the manager's source to make sure there is none.
#[test]
fn every_mutating_method_is_in_the_enumerated_list() {
    let source = include_str!("../../crates/library/src/manager.rs");
    // Not writes of library data: the sync layer's entry points.
    let allowed = ["write", "recorder_mut", "apply_remote", "reidentify"];
    let mut offenders = Vec::new();
    for line in source.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("pub fn ") {
            let name = rest.split(['(', '<']).next().unwrap();
            if rest.contains("&mut self") && !allowed.contains(&name) && !name.starts_with('$') {
                offenders.push(name.to_owned());
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "mutating methods outside write_methods!: {offenders:?}"
    );
    assert!(
        source.contains("pub fn $name(&mut self"),
        "the macro still generates the write methods"
    );
}

#[test]
fn a_cascade_is_recorded_child_first_and_local_rows_follow_sqlite() {
    let (mut lib, _) = memory_library(2);
    let artist = lib
        .create_artist(&NewArtist {
            name: "A".into(),
            ..Default::default()
        })
        .unwrap();
    let import = AlbumImport {
        album: NewAlbum {
            title: "T".into(),
            artist_ids: vec![artist.clone()],
            ..Default::default()
        },
        release: NewRelease::default(),
        tracks: vec![NewTrack {
            title: "x".into(),
            artist_ids: vec![artist.clone()],
            ..Default::default()
        }],
    };
    let ids = lib.insert_album_with_release_and_tracks(&import).unwrap();
    let file = lib
        .add_file(
            &ids.release_id,
            &NewFile {
                original_filename: "f".into(),
                file_size: 1,
                content_type: "audio/flac".into(),
                ..Default::default()
            },
        )
        .unwrap();
    lib.add_audio_format(&NewAudioFormat {
        track_id: ids.track_ids[0].clone(),
        file_id: file.clone(),
        content_type: "audio/flac".into(),
        sample_rate: 1,
        channels: 1,
        ..Default::default()
    })
    .unwrap();
    let profile = lib
        .add_storage_profile(&NewStorageProfile {
            name: "p".into(),
            location: "local".into(),
            ..Default::default()
        })
        .unwrap();
    lib.set_release_storage(&ids.release_id, &profile).unwrap();
    let seq = lib.recorder().next_seq();
    lib.delete_album(&ids.album_id).unwrap();
    let batch = &batches_since(lib.database(), seq)[0];
    let deleted: Vec<(Table, &str)> = batch
        .ops
        .iter()
        .map(|op| {
            assert_eq!(op.action, Action::Delete);
            (op.table, op.row_id.as_str())
        })
        .collect();
    // Every row under the album, each before its parent, the album last.
    assert_eq!(
        deleted.last(),
        Some(&(Table::Albums, ids.album_id.as_str()))
    );
    let pos = |t: Table| deleted.iter().position(|(tt, _)| *tt == t).unwrap();
    assert!(pos(Table::AudioFormats) < pos(Table::Tracks));
    assert!(pos(Table::AudioFormats) < pos(Table::Files));
    assert!(pos(Table::Tracks) < pos(Table::Releases));
    assert!(pos(Table::TrackArtists) < pos(Table::Tracks));
    assert_eq!(
        deleted.len(),
        7,
        "album, album credit, release, track, track credit, file, format: {deleted:?}"
    );
    let tombstones: i64 = lib
        .database()
        .conn()
        .query_row("SELECT count(*) FROM sync_tombstones", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tombstones, 7);
    let local: i64 = lib
        .database()
        .conn()
        .query_row("SELECT count(*) FROM release_storage", [], |r| r.get(0))
        .unwrap();
    assert_eq!(local, 0, "device-local rows follow SQLite's cascade");
    // The artist is untouched: deleting an album does not delete its artists.
    assert!(bae_store::row_exists(lib.database().conn(), Table::Artists, &artist).unwrap());
}

#[test]
fn field_clocks_follow_each_write() {
    let (mut lib, clock) = memory_library(3);
    let artist = lib
        .create_artist(&NewArtist {
            name: "A".into(),
            ..Default::default()
        })
        .unwrap();
    clock.advance_ms(5);
    lib.update_artist(
        &artist,
        &ArtistPatch {
            sort_name: Some(Some("A, The".into())),
            ..Default::default()
        },
    )
    .unwrap();
    let dump = bae_store::dump_synced(lib.database().conn(), lib.database().schema()).unwrap();
    let line = dump
        .text
        .lines()
        .find(|l| l.starts_with("artists "))
        .unwrap();
    let device = lib.device_id().to_simple();
    assert!(
        line.contains(&format!(" @1764000000000-00000-{device}")),
        "{line}"
    );
    assert!(
        line.contains(&format!(" sort_name@1764000000005-00000-{device}")),
        "{line}"
    );
    assert!(
        line.contains(&format!(" updated_at@1764000000005-00000-{device}")),
        "{line}"
    );
    assert!(
        !line.contains(" name@"),
        "unchanged fields keep the row clock: {line}"
    );
    lib.delete_artist(&artist).unwrap();
    let dump = bae_store::dump_synced(lib.database().conn(), lib.database().schema()).unwrap();
    assert_eq!(dump.rows, 0);
    assert_eq!(
        dump.text,
        format!("tombstone artists {artist} @1764000000005-00001-{device}\n")
    );
    // A newer insert with the same id revives the row and drops the tombstone.
    lib.write(|w| {
        let now = w.now_rfc3339();
        w.insert(
            Table::Artists,
            &[
                ("id", artist.clone().into()),
                ("name", "A".into()),
                ("sort_name", Value::Null),
                ("discogs_artist_id", Value::Null),
                ("musicbrainz_artist_id", Value::Null),
                ("created_at", now.clone().into()),
                ("updated_at", now.into()),
            ],
        )
    })
    .unwrap();
    let dump = bae_store::dump_synced(lib.database().conn(), lib.database().schema()).unwrap();
    assert_eq!((dump.rows, dump.tombstones), (1, 0));
}
