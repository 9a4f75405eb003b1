//! Importing: the demo library (albums, tracks, files, formats and covers,
//! one batch per album; storage upload), MP3, Ogg Opus and M4A files built
//! here with their tags, and bad files reported and skipped.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bae_bucket::MemoryBucket;
use bae_crypto::LibraryKey;
use bae_library::{LibraryManager, LibraryOptions};
use bae_media::demo::{DemoConfig, generate};
use bae_media::{FileStorage, ImportReport, NoProgress, import_paths};
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

/// Imports `paths` into a new library in `tmp`, with no file storage.
async fn import_new(tmp: &Path, paths: &[PathBuf]) -> (Arc<Mutex<LibraryManager>>, ImportReport) {
    let lib = LibraryManager::open(&tmp.join("lib"), LibraryOptions::default()).unwrap();
    let lib = Arc::new(Mutex::new(lib));
    let images = ImageStore::new(tmp.join("lib/images"));
    let report = import_paths(&lib, &images, None, paths, &NoProgress).await;
    (lib, report)
}

/// Writes a silent MP3 at `path` tagged (ID3v2) with its track `number`.
fn tagged_mp3(path: &Path, artist: &str, album: &str, title: &str, number: u32) {
    use lofty::id3::v2::Id3v2Tag;
    use lofty::prelude::*;

    std::fs::write(path, silent_mp3(100)).unwrap();
    let mut tag = Id3v2Tag::new();
    tag.set_title(title.to_owned());
    tag.set_artist(artist.to_owned());
    tag.set_album(album.to_owned());
    tag.set_track(number);
    tag.save_to_path(path, lofty::config::WriteOptions::default())
        .unwrap();
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
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("Various/mp3");
    std::fs::create_dir_all(&dir).unwrap();
    for (n, (artist, title)) in [("Ada", "First"), ("Grace", "Second")].iter().enumerate() {
        let path = dir.join(format!("{:02} {title}.mp3", n + 1));
        tagged_mp3(&path, artist, "Mixtape", title, n as u32 + 1);
    }
    let (lib, report) = import_new(tmp.path(), &[dir]).await;
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
    assert_eq!(count(&l, "tracks WHERE track_number IN (1, 2)"), 2);
    assert_eq!(
        count(
            &l,
            "audio_formats WHERE content_type = 'audio/mpeg' AND sample_rate = 44100 AND channels = 2 AND duration_ms BETWEEN 2500 AND 2700"
        ),
        2
    );
}

/// A file that cannot be read is reported with its path, and the rest of
/// the import goes on: the album beside it arrives with its good tracks.
#[tokio::test]
async fn a_bad_file_is_reported_and_the_rest_is_imported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("Ada/mp3");
    std::fs::create_dir_all(&dir).unwrap();
    for (n, title) in ["One", "Two"].iter().enumerate() {
        let path = dir.join(format!("{:02} {title}.mp3", n + 1));
        tagged_mp3(&path, "Ada", "Firsts", title, n as u32 + 1);
    }
    let corrupt = dir.join("03 Three.mp3");
    std::fs::write(&corrupt, [0u8; 10]).unwrap();
    let (lib, report) = import_new(tmp.path(), &[tmp.path().join("Ada")]).await;
    let paths: Vec<_> = report.problems.iter().map(|p| p.path.clone()).collect();
    assert_eq!(paths, vec![corrupt], "{:?}", report.problems);
    assert!(!report.problems[0].reason.is_empty());
    assert_eq!(report.albums.len(), 1);
    let l = lib.lock().unwrap();
    assert_eq!(count(&l, "albums WHERE title = 'Firsts'"), 1);
    assert_eq!(count(&l, "tracks"), 2);
    assert_eq!(count(&l, "tracks WHERE track_number IN (1, 2)"), 2);
}

/// The Ogg CRC-32 (polynomial 0x04c11db7, no reflection, zero start).
fn ogg_crc(bytes: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in bytes {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// One Ogg page holding whole `packets` (each under 255 bytes).
fn ogg_page(flags: u8, granule: u64, seq: u32, packets: &[Vec<u8>]) -> Vec<u8> {
    let mut page = b"OggS".to_vec();
    page.push(0);
    page.push(flags);
    page.extend_from_slice(&granule.to_le_bytes());
    page.extend_from_slice(&0x0bae_u32.to_le_bytes());
    page.extend_from_slice(&seq.to_le_bytes());
    page.extend_from_slice(&[0; 4]);
    page.push(packets.len() as u8);
    for p in packets {
        page.push(p.len() as u8);
    }
    for p in packets {
        page.extend_from_slice(p);
    }
    let crc = ogg_crc(&page);
    page[22..26].copy_from_slice(&crc.to_le_bytes());
    page
}

/// An Ogg Opus stream (stereo, 48 kHz) of `frames` silent 20 ms frames,
/// tagged with Vorbis comments.
fn silent_opus(frames: u64, comments: &[&str]) -> Vec<u8> {
    const PRE_SKIP: u16 = 312;
    let mut head = b"OpusHead".to_vec();
    head.push(1);
    head.push(2);
    head.extend_from_slice(&PRE_SKIP.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes());
    head.push(0);
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&4u32.to_le_bytes());
    tags.extend_from_slice(b"test");
    tags.extend_from_slice(&(comments.len() as u32).to_le_bytes());
    for c in comments {
        tags.extend_from_slice(&(c.len() as u32).to_le_bytes());
        tags.extend_from_slice(c.as_bytes());
    }
    // A CELT-only 20 ms frame code (TOC 0xfc: fullband, stereo, one frame)
    // with a body that decodes to silence.
    let audio: Vec<Vec<u8>> = (0..frames).map(|_| vec![0xfc, 0xff, 0xfe]).collect();
    let mut out = ogg_page(0x02, 0, 0, &[head]);
    out.extend(ogg_page(0, 0, 1, &[tags]));
    out.extend(ogg_page(
        0x04,
        u64::from(PRE_SKIP) + frames * 960,
        2,
        &audio,
    ));
    out
}

#[tokio::test]
async fn opus_files_import_with_their_vorbis_comments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("Ada/ogg");
    std::fs::create_dir_all(&dir).unwrap();
    for (n, title) in ["Alpha", "Beta"].iter().enumerate() {
        let comments = [
            format!("TITLE={title}"),
            "ARTIST=Ada".to_owned(),
            "ALBUM=Opus Works".to_owned(),
            format!("TRACKNUMBER={}", n + 1),
        ];
        let comments: Vec<&str> = comments.iter().map(String::as_str).collect();
        let path = dir.join(format!("{:02} {title}.opus", n + 1));
        std::fs::write(&path, silent_opus(100, &comments)).unwrap();
    }
    let (lib, report) = import_new(tmp.path(), &[dir]).await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.albums.len(), 1);
    assert_eq!(report.albums[0].artist, "Ada");
    let l = lib.lock().unwrap();
    assert_eq!(count(&l, "albums WHERE title = 'Opus Works'"), 1);
    assert_eq!(count(&l, "tracks WHERE title IN ('Alpha', 'Beta')"), 2);
    assert_eq!(count(&l, "tracks WHERE track_number IN (1, 2)"), 2);
    assert_eq!(
        count(
            &l,
            "audio_formats WHERE content_type = 'audio/opus' AND sample_rate = 48000 AND channels = 2 AND duration_ms BETWEEN 1900 AND 2100"
        ),
        2
    );
}

/// An ISO box: size, type, body.
fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

/// A full box: version 0 and `flags` before the body.
fn mp4_full_box(kind: &[u8; 4], flags: u32, body: &[u8]) -> Vec<u8> {
    let mut full = flags.to_be_bytes().to_vec();
    full.extend_from_slice(body);
    mp4_box(kind, &full)
}

/// An M4A (AAC-LC, stereo, 44.1 kHz) of `seconds` with no tags and no
/// samples: the boxes a player, and lofty, read its properties from.
fn untagged_m4a(seconds: u32) -> Vec<u8> {
    let identity: Vec<u8> = [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let be32 = |v: u32| v.to_be_bytes().to_vec();
    let mvhd = [
        be32(0),
        be32(0),
        be32(1000),
        be32(seconds * 1000),
        be32(0x0001_0000),
        vec![0x01, 0x00],
        vec![0; 10],
        identity.clone(),
        vec![0; 24],
        be32(2),
    ]
    .concat();
    let tkhd = [
        be32(0),
        be32(0),
        be32(1),
        be32(0),
        be32(seconds * 1000),
        vec![0; 8],
        vec![0; 4],
        vec![0x01, 0x00, 0, 0],
        identity,
        be32(0),
        be32(0),
    ]
    .concat();
    let mdhd = [
        be32(0),
        be32(0),
        be32(44_100),
        be32(seconds * 44_100),
        vec![0x55, 0xc4, 0, 0],
    ]
    .concat();
    let hdlr = [be32(0), b"soun".to_vec(), vec![0; 12], vec![0]].concat();
    // ES descriptor: decoder config (AAC, audio stream) with the AAC-LC
    // audio specific config for 44.1 kHz stereo, and the SL config.
    let esds = [
        vec![0x03, 25, 0, 1, 0],
        vec![0x04, 17, 0x40, 0x15, 0, 0, 0],
        be32(128_000),
        be32(128_000),
        vec![0x05, 2, 0x12, 0x10],
        vec![0x06, 1, 0x02],
    ]
    .concat();
    let mp4a = [
        vec![0; 6],
        vec![0, 1],
        vec![0; 8],
        vec![0, 2, 0, 16, 0, 0, 0, 0],
        be32(44_100 << 16),
        mp4_full_box(b"esds", 0, &esds),
    ]
    .concat();
    let stsd = [be32(1), mp4_box(b"mp4a", &mp4a)].concat();
    let stbl = [
        mp4_full_box(b"stsd", 0, &stsd),
        mp4_full_box(b"stts", 0, &be32(0)),
        mp4_full_box(b"stsc", 0, &be32(0)),
        mp4_full_box(b"stsz", 0, &[be32(0), be32(0)].concat()),
        mp4_full_box(b"stco", 0, &be32(0)),
    ]
    .concat();
    let dref = [be32(1), mp4_full_box(b"url ", 1, &[])].concat();
    let minf = [
        mp4_full_box(b"smhd", 0, &[0; 4]),
        mp4_box(b"dinf", &mp4_full_box(b"dref", 0, &dref)),
        mp4_box(b"stbl", &stbl),
    ]
    .concat();
    let mdia = [
        mp4_full_box(b"mdhd", 0, &mdhd),
        mp4_full_box(b"hdlr", 0, &hdlr),
        mp4_box(b"minf", &minf),
    ]
    .concat();
    let trak = [mp4_full_box(b"tkhd", 7, &tkhd), mp4_box(b"mdia", &mdia)].concat();
    let moov = [mp4_full_box(b"mvhd", 0, &mvhd), mp4_box(b"trak", &trak)].concat();
    [
        mp4_box(b"ftyp", b"M4A \0\0\0\0M4A mp42isom"),
        mp4_box(b"moov", &moov),
        mp4_box(b"mdat", &[]),
    ]
    .concat()
}

#[tokio::test]
async fn m4a_files_import_with_their_ilst_tags() {
    use lofty::mp4::Ilst;
    use lofty::prelude::*;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("Ada/m4a");
    std::fs::create_dir_all(&dir).unwrap();
    for (n, title) in ["Moov", "Trak"].iter().enumerate() {
        let path = dir.join(format!("{:02} {title}.m4a", n + 1));
        std::fs::write(&path, untagged_m4a(3)).unwrap();
        let mut tag = Ilst::new();
        tag.set_title((*title).to_owned());
        tag.set_artist("Ada".to_owned());
        tag.set_album("Boxes".to_owned());
        tag.set_track(n as u32 + 1);
        tag.save_to_path(&path, lofty::config::WriteOptions::default())
            .unwrap();
    }
    let (lib, report) = import_new(tmp.path(), &[dir]).await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.albums.len(), 1);
    assert_eq!(report.albums[0].artist, "Ada");
    let l = lib.lock().unwrap();
    assert_eq!(count(&l, "albums WHERE title = 'Boxes'"), 1);
    assert_eq!(count(&l, "tracks WHERE title IN ('Moov', 'Trak')"), 2);
    assert_eq!(count(&l, "tracks WHERE track_number IN (1, 2)"), 2);
    assert_eq!(
        count(
            &l,
            "audio_formats WHERE content_type = 'audio/mp4' AND sample_rate = 44100 AND channels = 2 AND duration_ms BETWEEN 2900 AND 3100"
        ),
        2
    );
}
