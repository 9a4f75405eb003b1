//! Importing the demo library: albums, tracks, files, formats and covers,
//! one batch per album; storage upload; bad files reported and skipped.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bae_bucket::MemoryBucket;
use bae_crypto::LibraryKey;
use bae_library::{LibraryManager, LibraryOptions};
use bae_media::demo::{DemoConfig, generate};
use bae_media::{FileStorage, NoProgress, import_paths};
use bae_sync::ImageStore;

fn count(lib: &LibraryManager, table: &str) -> i64 {
    lib.database()
        .conn()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn small() -> DemoConfig {
    DemoConfig {
        seconds_per_track: 0.5,
        sample_rate: 8_000,
        cover_size: 32,
        seed: 5,
    }
}

#[tokio::test]
async fn demo_imports_as_one_batch_per_album_and_uploads_files() {
    let tmp = tempfile::tempdir().unwrap();
    let music = tmp.path().join("music");
    let demo = generate(&music, &small()).unwrap();
    // A corrupt file among good ones is reported; the rest goes on.
    let bad = music.join("Square Root").join("broken.flac");
    std::fs::write(&bad, b"this is not audio").unwrap();

    let lib = LibraryManager::open(&tmp.path().join("lib"), LibraryOptions::default()).unwrap();
    let lib = Arc::new(Mutex::new(lib));
    let images = ImageStore::new(tmp.path().join("lib/images"));
    let bucket = Arc::new(MemoryBucket::new());
    let key = LibraryKey::generate();
    let storage = FileStorage::new(bucket.clone(), LibraryKey::from_bytes(*key.as_bytes()));
    let before = lib.lock().unwrap().recorder().next_seq();
    let report = import_paths(
        &lib,
        &images,
        Some(&storage),
        std::slice::from_ref(&music),
        &NoProgress,
    )
    .await;

    assert_eq!(report.albums.len(), 5, "{report:#?}");
    assert_eq!(report.tracks(), 40);
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].path, bad);
    assert!(
        report.problems[0].reason.contains("FLAC"),
        "{}",
        report.problems[0]
    );
    let upload = report.upload.as_ref().unwrap();
    assert_eq!(upload.uploaded, 40);
    let (id, path) = {
        let l = lib.lock().unwrap();
        assert_eq!(l.recorder().next_seq() - before, 5, "one batch per album");
        assert_eq!(count(&l, "artists"), 3);
        assert_eq!(count(&l, "albums"), 5);
        assert_eq!(count(&l, "releases"), 5);
        assert_eq!(count(&l, "tracks"), 40);
        assert_eq!(count(&l, "files"), 40);
        assert_eq!(count(&l, "audio_formats"), 40);
        assert_eq!(count(&l, "library_images"), 5);
        assert_eq!(count(&l, "files WHERE encryption_nonce IS NULL"), 0);
        assert_eq!(
            count(
                &l,
                "tracks WHERE import_status = 'complete' AND duration_ms BETWEEN 450 AND 550"
            ),
            40
        );
        assert_eq!(
            count(
                &l,
                "audio_formats WHERE content_type = 'audio/flac' AND flac_headers IS NOT NULL"
            ),
            32
        );
        assert_eq!(
            count(
                &l,
                "audio_formats WHERE content_type = 'audio/wav' AND start_byte_offset = 44"
            ),
            8
        );
        assert_eq!(
            count(
                &l,
                "audio_formats WHERE sample_rate = 8000 AND channels = 2 AND bits_per_sample = 16"
            ),
            40
        );
        assert_eq!(count(&l, "tracks WHERE disc_number = 2"), 4);
        assert_eq!(
            count(
                &l,
                "library_images WHERE source = 'embedded' AND width = 32"
            ),
            2
        );
        // Every stored object decrypts to the file's bytes.
        l.database()
            .conn()
            .query_row(
                "SELECT id, source_path FROM files ORDER BY source_path LIMIT 1",
                [],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .unwrap()
    };
    let plain = storage.download(&id).await.unwrap();
    assert_eq!(plain, std::fs::read(PathBuf::from(path)).unwrap());
    assert!(demo.files().count() == 40);

    // Importing again adds nothing: the same bytes are already there.
    let again = import_paths(&lib, &images, Some(&storage), &[music], &NoProgress).await;
    assert!(again.albums.is_empty());
    assert_eq!(again.already_in_library.len(), 40);
    assert_eq!(again.upload.unwrap().uploaded, 0);
    assert_eq!(lib.lock().unwrap().recorder().next_seq() - before, 5);
}

#[tokio::test]
async fn unreadable_paths_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = LibraryManager::open(&tmp.path().join("lib"), LibraryOptions::default()).unwrap();
    let lib = Arc::new(Mutex::new(lib));
    let images = ImageStore::new(tmp.path().join("lib/images"));
    let corrupt = tmp.path().join("corrupt.mp3");
    std::fs::write(&corrupt, [0u8; 10]).unwrap();
    let text = tmp.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let missing = tmp.path().join("missing");
    let before = lib.lock().unwrap().recorder().next_seq();
    let report = import_paths(
        &lib,
        &images,
        None,
        &[corrupt.clone(), text.clone(), missing.clone()],
        &NoProgress,
    )
    .await;
    let paths: Vec<_> = report.problems.iter().map(|p| p.path.clone()).collect();
    assert_eq!(paths, vec![text, missing, corrupt], "{:?}", report.problems);
    assert!(report.albums.is_empty());
    assert_eq!(lib.lock().unwrap().recorder().next_seq(), before);
}

/// A silent MPEG-1 Layer III stream (128 kbit/s, 44.1 kHz, stereo): every
/// frame a header and zeros, which decoders play as silence.
fn silent_mp3(frames: usize) -> Vec<u8> {
    let mut frame = vec![0u8; 417];
    frame[..4].copy_from_slice(&[0xff, 0xfb, 0x90, 0x00]);
    frame.repeat(frames)
}

#[tokio::test]
async fn mp3_files_import_with_their_id3_tags() {
    use lofty::id3::v2::Id3v2Tag;
    use lofty::prelude::*;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("Various/Mixtape");
    std::fs::create_dir_all(&dir).unwrap();
    for (n, (artist, title)) in [("Ada", "First"), ("Grace", "Second")].iter().enumerate() {
        let path = dir.join(format!("{:02} {title}.mp3", n + 1));
        std::fs::write(&path, silent_mp3(100)).unwrap();
        let mut tag = Id3v2Tag::new();
        tag.set_title((*title).to_owned());
        tag.set_artist((*artist).to_owned());
        tag.set_album("Mixtape".to_owned());
        tag.set_track(n as u32 + 1);
        tag.save_to_path(&path, lofty::config::WriteOptions::default())
            .unwrap();
    }
    let lib = LibraryManager::open(&tmp.path().join("lib"), LibraryOptions::default()).unwrap();
    let lib = Arc::new(Mutex::new(lib));
    let images = ImageStore::new(tmp.path().join("lib/images"));
    let report = import_paths(&lib, &images, None, &[dir], &NoProgress).await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.albums.len(), 1);
    // Two track artists and no album artist: a compilation.
    assert_eq!(report.albums[0].artist, "Various Artists");
    let l = lib.lock().unwrap();
    assert_eq!(
        count(&l, "albums WHERE is_compilation = 1 AND title = 'Mixtape'"),
        1
    );
    assert_eq!(count(&l, "artists"), 3);
    assert_eq!(
        count(
            &l,
            "audio_formats WHERE content_type = 'audio/mpeg' AND sample_rate = 44100 AND channels = 2 AND duration_ms BETWEEN 2500 AND 2700"
        ),
        2
    );
}
