//! Two devices syncing one library through a local-directory bucket, the
//! embedded default: `cargo run -p bae-sync --example two_devices [DIR]`.
//!
//! Device A imports albums (one with a cover image) and syncs; device B pulls
//! them; both edit the same album, sync again, and agree. Everything lands
//! under DIR (a temporary directory by default): `a/` and `b/` are the two
//! libraries, `bucket/` is what a cloud provider would see.

#![allow(clippy::print_stdout)] // A demo talks to its user on stdout.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bae_bucket::LocalDirBucket;
use bae_crypto::LibraryKey;
use bae_library::*;
use bae_sync::{ImageStore, RandomNonces, SyncConfig, Syncer, add_cover_image};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| tmp.path().to_owned(), PathBuf::from);
    let bucket = Arc::new(LocalDirBucket::create(dir.join("bucket"))?);
    let key = LibraryKey::generate();

    let open = |name: &str| -> Result<_, Box<dyn std::error::Error>> {
        let lib = LibraryManager::open(&dir.join(name), LibraryOptions::default())?;
        let images = ImageStore::new(dir.join(name).join("images"));
        let syncer = Syncer::new(
            bucket.clone(),
            LibraryKey::from_bytes(*key.as_bytes()),
            images.clone(),
            SyncConfig::default(),
            Box::new(RandomNonces),
        );
        Ok((Arc::new(Mutex::new(lib)), syncer, images))
    };
    let (a, mut sync_a, images_a) = open("a")?;
    let (b, mut sync_b, _) = open("b")?;

    let album = {
        let mut lib = a.lock().expect("not poisoned");
        let artist = lib.create_artist(&NewArtist {
            name: "John Coltrane".into(),
            ..Default::default()
        })?;
        for (title, n) in [("Blue Train", 5), ("Giant Steps", 7)] {
            lib.insert_album_with_release_and_tracks(&AlbumImport {
                album: NewAlbum {
                    title: title.into(),
                    year: Some(1957),
                    artist_ids: vec![artist.clone()],
                    ..Default::default()
                },
                release: NewRelease {
                    format: Some("LP".into()),
                    ..Default::default()
                },
                tracks: (1..=n)
                    .map(|i| NewTrack {
                        title: format!("{title} #{i}"),
                        track_number: Some(i),
                        ..Default::default()
                    })
                    .collect(),
            })?;
        }
        let album: String =
            lib.database()
                .conn()
                .query_row("SELECT id FROM albums ORDER BY title", [], |r| r.get(0))?;
        let cover = NewImage {
            content_type: "image/png".into(),
            file_size: 8,
            content_hash: "ab".repeat(32),
            source: "folder".into(),
            ..Default::default()
        };
        add_cover_image(&mut lib, &images_a, &album, &cover, b"\x89PNG...")?;
        album
    };
    let (pushed, _) = sync_a.sync(&a).await?;
    println!(
        "device A pushed {} batches and {} image(s)",
        pushed.batches, pushed.images
    );
    let (_, pulled) = sync_b.sync(&b).await?;
    println!(
        "device B pulled {} batches and {} image(s)",
        pulled.batches_applied, pulled.images_fetched
    );

    // Both edit the same album's title; the later edit wins on both.
    a.lock().expect("not poisoned").update_album(
        &album,
        &AlbumPatch {
            title: Some("Blue Train (A)".into()),
            ..Default::default()
        },
    )?;
    b.lock().expect("not poisoned").update_album(
        &album,
        &AlbumPatch {
            title: Some("Blue Train (B)".into()),
            ..Default::default()
        },
    )?;
    for _ in 0..2 {
        sync_a.sync(&a).await?;
        sync_b.sync(&b).await?;
    }
    let title = |lib: &Arc<Mutex<LibraryManager>>| -> rusqlite::Result<String> {
        lib.lock()
            .expect("not poisoned")
            .database()
            .conn()
            .query_row("SELECT title FROM albums WHERE id = ?", [&album], |r| {
                r.get(0)
            })
    };
    println!(
        "after a conflicting edit: A sees {:?}, B sees {:?}",
        title(&a)?,
        title(&b)?
    );
    assert_eq!(title(&a)?, title(&b)?);

    println!(
        "\nthe bucket ({}), all encrypted:",
        dir.join("bucket").display()
    );
    for object in bae_bucket::Bucket::list_all(bucket.as_ref(), "").await? {
        println!("  {:>7} B  {}", object.size, object.key);
    }
    Ok(())
}
