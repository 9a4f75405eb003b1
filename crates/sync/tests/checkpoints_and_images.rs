//! Torn checkpoints are never booted from; image bytes that are not in the
//! bucket yet are a gap that the library works around and fills later.

mod common;

use std::sync::Arc;

use bae_bucket::{Bucket, MemoryBucket};
use bae_hlc::ManualClock;
use bae_sync::{add_cover_image, layout};
use bytes::Bytes;
use common::*;

/// A checkpoint that lost its metadata, or whose data object is cut short,
/// is ignored: a new device replays the batches instead, and ends the same.
#[tokio::test]
async fn a_torn_checkpoint_is_not_used() {
    for tear in ["no metadata", "short data"] {
        let bucket = MemoryBucket::new();
        let clock = ManualClock::new(T0);
        let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
        let mut a = Device::new(1, shared.clone(), &clock);
        a.import("kept", 3);
        let meta = a.syncer.checkpoint(&a.lib).await.unwrap();
        match tear {
            "no metadata" => bucket
                .delete(&layout::checkpoint_meta(&meta.id))
                .await
                .unwrap(),
            _ => {
                let key = layout::checkpoint_data(&meta.id);
                let mut data = bucket.get(&key).await.unwrap().to_vec();
                data.truncate(data.len() - 100);
                bucket.put(&key, Bytes::from(data)).await.unwrap();
            }
        }
        let mut b = Device::new(2, shared.clone(), &clock);
        assert!(
            b.syncer.checkpoints().await.unwrap().is_empty(),
            "{tear}: the torn checkpoint is not listed"
        );
        let report = b.syncer.pull(&b.lib).await.unwrap();
        assert_eq!(report.booted_from, None, "{tear}");
        assert_eq!(
            report.batches_applied, 1,
            "{tear}: replayed the batch instead"
        );
        assert_eq!(b.dump(), a.dump(), "{tear}");
    }
}

#[tokio::test]
async fn missing_image_bytes_are_a_gap_filled_later() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let mut a = Device::new(1, shared.clone(), &clock);
    let mut b = Device::new(2, shared.clone(), &clock);
    let album = a.import("with cover", 1);
    let bytes = b"cover bytes".to_vec();
    let image = a
        .with(|l| add_cover_image(l, &a.images, &album.album_id, &cover(), &bytes))
        .unwrap();
    a.sync().await;
    // The bytes vanish from the bucket (a slow upload elsewhere, say).
    let key = layout::image(&image);
    let sealed = bucket.get(&key).await.unwrap();
    bucket.delete(&key).await.unwrap();
    let report = b.syncer.pull(&b.lib).await.unwrap();
    assert_eq!((report.image_gaps, report.images_fetched), (1, 0));
    assert_eq!(
        b.title(&album.album_id).as_deref(),
        Some("with cover"),
        "the library works without the bytes"
    );
    assert_eq!(b.images.get(&image).unwrap(), None);
    // Still missing: still a gap, retried on every pull.
    assert_eq!(b.syncer.pull(&b.lib).await.unwrap().image_gaps, 1);
    bucket.put(&key, sealed).await.unwrap();
    let report = b.syncer.pull(&b.lib).await.unwrap();
    assert_eq!((report.image_gaps, report.images_fetched), (0, 1));
    assert_eq!(b.images.get(&image).unwrap(), Some(bytes));
}

#[tokio::test]
async fn an_image_op_is_not_pushed_before_its_bytes() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let mut a = Device::new(1, Arc::new(bucket.clone()), &clock);
    let album = a.import("cover without bytes", 1);
    // A cover row whose bytes never reached the image store.
    a.with(|l| l.set_cover_image(&album.album_id, &cover()))
        .unwrap();
    let err = a.syncer.push(&a.lib).await.unwrap_err();
    assert!(err.to_string().contains("bytes of image"), "{err}");
    assert!(
        bucket
            .get(&layout::batch(a.id(), 2))
            .await
            .unwrap_err()
            .is_not_found(),
        "the image batch stayed local"
    );
    assert!(
        bucket.get(&layout::batch(a.id(), 1)).await.is_ok(),
        "earlier batches were pushed"
    );
}
