//! The whole sync flow — two and three devices, images, conflicting edits, a
//! cascade, a checkpoint, a new device booting from it, GC after the grace
//! period, and a device that returns after its batches were collected —
//! against every kind of bucket: in memory, a local directory, s3s-fs and
//! SeaweedFS on 127.0.0.1 (started here; `scripts/install-test-deps.sh`
//! installs SeaweedFS).

mod common;

use std::sync::Arc;

use bae_bucket::testing::{S3sFsServer, SeaweedServer};
use bae_bucket::{Bucket, LocalDirBucket, MemoryBucket};
use bae_hlc::ManualClock;
use bae_library::*;
use bae_sync::{SyncConfig, add_cover_image};
use common::*;

async fn full_flow(bucket: Arc<dyn Bucket>) {
    let clock = ManualClock::new(T0);
    let mut a = Device::new(1, bucket.clone(), &clock);
    let mut b = Device::new(2, bucket.clone(), &clock);

    // A imports an album with a cover; B gets rows and bytes.
    let album = a.import("Kind of Blue", 5);
    let bytes = b"\x89PNG not really a png".to_vec();
    let image = a
        .with(|l| add_cover_image(l, &a.images, &album.album_id, &cover(), &bytes))
        .unwrap();
    converge(&mut [&mut a, &mut b]).await;
    assert_eq!(b.title(&album.album_id).as_deref(), Some("Kind of Blue"));
    assert_eq!(
        b.images.get(&image).unwrap(),
        Some(bytes.clone()),
        "image bytes synced"
    );

    // Conflicting edits of one field: the later one wins on both.
    clock.advance_ms(10);
    a.with(|l| {
        l.update_album(
            &album.album_id,
            &AlbumPatch {
                title: Some("A's".into()),
                ..Default::default()
            },
        )
    })
    .unwrap();
    clock.advance_ms(10);
    b.with(|l| {
        l.update_album(
            &album.album_id,
            &AlbumPatch {
                title: Some("B's".into()),
                year: Some(Some(1959)),
                ..Default::default()
            },
        )
    })
    .unwrap();
    converge(&mut [&mut a, &mut b]).await;
    assert_eq!(a.title(&album.album_id).as_deref(), Some("B's"));

    // B imports more; a delete on A removes the album and its tracks on B.
    let second = b.import("Blue Train", 3);
    converge(&mut [&mut a, &mut b]).await;
    a.with(|l| l.delete_album(&album.album_id)).unwrap();
    converge(&mut [&mut a, &mut b]).await;
    assert_eq!(b.title(&album.album_id), None);
    let tracks = b.with(|l| {
        bae_store::row_exists(
            l.database().conn(),
            bae_store::Table::Tracks,
            &album.track_ids[0],
        )
        .unwrap()
    });
    assert!(!tracks, "the cascade reached B");

    // A checkpoint, more writes, then a third device boots from it.
    a.syncer.checkpoint(&a.lib).await.unwrap();
    clock.advance_ms(10);
    b.with(|l| {
        l.update_album(
            &second.album_id,
            &AlbumPatch {
                year: Some(Some(1957)),
                ..Default::default()
            },
        )
    })
    .unwrap();
    converge(&mut [&mut a, &mut b]).await;
    let mut c = Device::new(3, bucket.clone(), &clock);
    let pulled = c.syncer.pull(&c.lib).await.unwrap();
    assert!(
        pulled.booted_from.is_some(),
        "a new device boots from the checkpoint"
    );
    converge(&mut [&mut a, &mut b, &mut c]).await;

    // B goes offline and edits; the others go on past the grace period,
    // checkpoint and collect.
    clock.advance_ms(10);
    b.with(|l| {
        l.update_album(
            &second.album_id,
            &AlbumPatch {
                title: Some("Blue Train (offline edit)".into()),
                ..Default::default()
            },
        )
    })
    .unwrap();
    let third = a.import("Giant Steps", 2);
    converge(&mut [&mut a, &mut c]).await;
    a.syncer.checkpoint(&a.lib).await.unwrap();
    clock.advance_ms(31 * DAY_MS);
    converge(&mut [&mut a, &mut c]).await;
    let gc = a.syncer.gc(&a.lib).await.unwrap();
    assert!(gc.batches_deleted > 0, "{gc:?}");
    assert!(
        gc.checkpoints_deleted > 0,
        "the older checkpoint is gone: {gc:?}"
    );

    // B returns: its needed batches are gone, so it boots from the
    // checkpoint, keeps its offline edit and pushes it.
    converge(&mut [&mut b, &mut a, &mut c]).await;
    for d in [&a, &b, &c] {
        assert_eq!(
            d.title(&second.album_id).as_deref(),
            Some("Blue Train (offline edit)"),
            "device {}",
            d.id()
        );
        assert_eq!(d.title(&third.album_id).as_deref(), Some("Giant Steps"));
    }

    // A brand-new device after GC gets everything from checkpoint + batches.
    let mut d = Device::new(4, bucket.clone(), &clock);
    converge(&mut [&mut d, &mut a, &mut b, &mut c]).await;
    assert_eq!(d.rows(), a.rows());
}

#[tokio::test]
async fn full_flow_in_memory() {
    full_flow(Arc::new(MemoryBucket::new())).await;
}

#[tokio::test]
async fn full_flow_on_a_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    full_flow(Arc::new(
        LocalDirBucket::create(dir.path().join("bucket")).unwrap(),
    ))
    .await;
}

#[tokio::test]
async fn full_flow_on_s3s_fs() {
    let server = S3sFsServer::start().await.unwrap();
    let bucket = server
        .endpoint()
        .bucket("bae-sync-test", None)
        .await
        .unwrap();
    full_flow(Arc::new(bucket)).await;
}

#[tokio::test]
async fn full_flow_on_seaweedfs() {
    let server = SeaweedServer::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let bucket = server
        .endpoint()
        .bucket("bae-sync-test", None)
        .await
        .unwrap();
    full_flow(Arc::new(bucket)).await;
}

#[tokio::test]
async fn a_checkpoint_threshold_writes_checkpoints_on_its_own() {
    let bucket: Arc<dyn Bucket> = Arc::new(MemoryBucket::new());
    let clock = ManualClock::new(T0);
    let config = SyncConfig {
        checkpoint_every_ops: 20,
        ..SyncConfig::default()
    };
    let mut a = Device::with_config(1, bucket.clone(), &clock, config);
    a.import("One", 3);
    a.sync().await;
    assert!(
        a.syncer.checkpoints().await.unwrap().is_empty(),
        "below the threshold"
    );
    a.import("Two", 30);
    a.sync().await;
    assert_eq!(a.syncer.checkpoints().await.unwrap().len(), 1);
}
