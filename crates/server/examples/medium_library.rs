//! Writes the medium benchmark library (bae-bench's workload: 2,000 artists,
//! 1,000 albums, 15,000 tracks, 30,000 files, with its edits, deletes and
//! re-imports) into a local-directory bucket, with a checkpoint, and stores
//! the audio of a few tracks under `storage/`, for load-testing bae-server:
//!
//! ```sh
//! cargo run --release -p bae-server --example medium_library -- DIR [smoke|medium] [AUDIO_TRACKS]
//! bae-server --bucket file://DIR/bucket --key-file DIR/library.key --cache-dir DIR/cache
//! ```
//!
//! Prints the id of a track whose audio is stored (for `stream`).

#![allow(clippy::print_stdout)] // Reports what it wrote.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use bae_bench::workload::{START_MS, Scale, Sink, Spec, Workload};
use bae_bucket::{Bucket, LocalDirBucket};
use bae_crypto::LibraryKey;
use bae_hlc::ManualClock;
use bae_library::{LibraryManager, LibraryOptions};
use bae_oplog::SeededIds;
use bae_store::{WriteError, Writer};
use bae_sync::{ImageStore, RandomNonces, SharedLibrary, SyncConfig, Syncer, layout};
use bytes::Bytes;

/// Writes the workload through a real `LibraryManager` on a virtual clock,
/// keeping every image's bytes in the image store (a push uploads them).
struct LibrarySink {
    lib: SharedLibrary,
    wall: ManualClock,
    images: ImageStore,
    stored: HashSet<String>,
}

impl Sink for LibrarySink {
    fn transaction(
        &mut self,
        at_ms: u64,
        f: &mut dyn FnMut(&mut dyn Writer) -> Result<(), WriteError>,
    ) -> anyhow::Result<()> {
        self.wall.set_ms(at_ms);
        let mut lib = self.lib.lock().expect("not poisoned");
        lib.write(|w| f(w))?;
        let mut stmt = lib
            .database()
            .conn()
            .prepare_cached("SELECT id, file_size FROM library_images")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (id, size) = row?;
            if self.stored.insert(id.clone()) {
                let bytes: Vec<u8> = id
                    .bytes()
                    .cycle()
                    .take(size.clamp(1, 64 * 1024) as usize)
                    .collect();
                self.images.put(&id, &bytes)?;
            }
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .context("usage: medium_library DIR [smoke|medium] [AUDIO_TRACKS]")?,
    );
    let scale = match args.next().as_deref() {
        None | Some("medium") => Scale::Medium,
        Some("smoke") => Scale::Smoke,
        Some(other) => anyhow::bail!("unknown scale {other}; smoke or medium"),
    };
    let audio_tracks: usize = args.next().map_or(Ok(2), |n| n.parse())?;
    anyhow::ensure!(
        !dir.join("bucket").exists(),
        "{} already holds a bucket",
        dir.display()
    );

    let workload = Workload::generate(&Spec::for_scale(scale, 1));
    let wall = ManualClock::new(START_MS);
    let device = dir.join("device");
    let lib = LibraryManager::open(
        &device,
        LibraryOptions {
            wall_clock: Arc::new(wall.clone()),
            ids: Box::new(SeededIds::new(1)),
        },
    )?;
    let lib: SharedLibrary = Arc::new(Mutex::new(lib));
    let images = ImageStore::new(device.join("images"));
    let started = std::time::Instant::now();
    let mut sink = LibrarySink {
        lib: Arc::clone(&lib),
        wall,
        images: images.clone(),
        stored: HashSet::new(),
    };
    workload.execute(&mut sink)?;
    println!(
        "wrote {} transactions in {:.1}s",
        workload.txns.len(),
        started.elapsed().as_secs_f64()
    );

    let key = LibraryKey::generate();
    let bucket: Arc<dyn Bucket> = Arc::new(LocalDirBucket::create(dir.join("bucket"))?);
    let mut syncer = Syncer::new(
        Arc::clone(&bucket),
        LibraryKey::from_bytes(*key.as_bytes()),
        images,
        SyncConfig::default(),
        Box::new(RandomNonces),
    );
    let pushed = syncer.push(&lib).await?;
    let meta = syncer.checkpoint(&lib).await?;
    println!(
        "pushed {} batches and {} images, checkpoint {} ({:.1} MB) in {:.1}s",
        pushed.batches,
        pushed.images,
        meta.id,
        meta.data_len as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    // Audio for the first tracks (by title), as many bytes as their files say.
    let tracks: Vec<(String, String, i64)> = {
        let l = lib.lock().expect("not poisoned");
        let mut stmt = l.database().conn().prepare(
            "SELECT t.id, f.id, f.file_size FROM tracks t \
             JOIN audio_formats af ON af.track_id = t.id JOIN files f ON f.id = af.file_id \
             ORDER BY t.title, t.id LIMIT ?",
        )?;
        stmt.query_map([audio_tracks as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?
    };
    for (i, (_, file_id, size)) in tracks.iter().enumerate() {
        let plain: Vec<u8> = (0..*size as usize).map(|n| (n * 31 + i) as u8).collect();
        let key_path = layout::storage(file_id);
        let sealed =
            bae_crypto::encrypt(&key, key_path.as_str(), &plain, bae_crypto::random_nonce());
        bucket.put(&key_path, Bytes::from(sealed)).await?;
    }
    std::fs::write(
        dir.join("library.key"),
        format!("{}\n", hex::encode(key.as_bytes())),
    )?;
    if let Some((track, _, size)) = tracks.first() {
        println!("a track with audio: {track} ({size} bytes)");
        std::fs::write(dir.join("stream-track-id"), track)?;
    }
    println!(
        "bucket {} ready: bae-server --bucket file://{} --key-file {}",
        dir.join("bucket").display(),
        dir.join("bucket").display(),
        dir.join("library.key").display()
    );
    Ok(())
}
