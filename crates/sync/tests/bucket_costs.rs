//! What sync costs in bucket requests, counted by the in-memory bucket.

mod common;

use std::sync::Arc;

use bae_bucket::{MemoryBucket, Operation};
use bae_hlc::ManualClock;
use bae_library::*;
use bae_sync::add_cover_image;
use common::*;

#[tokio::test]
async fn an_idle_poll_is_one_request_and_a_push_two() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let mut devices: Vec<Device> = (1..=5)
        .map(|n| Device::new(n, Arc::new(bucket.clone()), &clock))
        .collect();
    devices[0].import("x", 2);
    for _ in 0..2 {
        for d in devices.iter_mut() {
            d.sync().await;
        }
    }
    // Idle: nothing changed anywhere, so a pull lists heads and stops.
    bucket.reset_request_counts();
    let d = &mut devices[1];
    let report = d.syncer.pull(&d.lib).await.unwrap();
    assert_eq!(report.heads_fetched, 0);
    assert_eq!(
        bucket.request_counts().total(),
        1,
        "{:?}",
        bucket.request_counts()
    );
    assert_eq!(bucket.request_counts().of(Operation::List), 1);

    // One local transaction: the batch and the head.
    let d = &mut devices[2];
    d.with(|l| {
        l.update_album(
            &l_album(l),
            &AlbumPatch {
                year: Some(Some(2001)),
                ..Default::default()
            },
        )
    })
    .unwrap();
    bucket.reset_request_counts();
    let report = d.syncer.push(&d.lib).await.unwrap();
    assert_eq!(report.batches, 1);
    assert_eq!(
        bucket.request_counts().total(),
        2,
        "{:?}",
        bucket.request_counts()
    );
    assert_eq!(
        bucket.request_counts().of(Operation::Put)
            + bucket.request_counts().of(Operation::PutIfAbsent),
        2
    );

    // Another device pulls it: one list, one head, one batch.
    bucket.reset_request_counts();
    let d = &mut devices[3];
    let report = d.syncer.pull(&d.lib).await.unwrap();
    assert_eq!((report.heads_fetched, report.batches_applied), (1, 1));
    assert_eq!(
        bucket.request_counts().total(),
        3,
        "{:?}",
        bucket.request_counts()
    );
}

/// A transaction that sets a cover costs its image's bytes on top: the
/// image, the batch and the head, three PUTs and nothing else.
#[tokio::test]
async fn a_push_with_an_image_is_the_image_plus_two() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let mut a = Device::new(1, Arc::new(bucket.clone()), &clock);
    let album = a.import("x", 1);
    a.sync().await;
    a.with(|l| add_cover_image(l, &a.images, &album.album_id, &cover(), b"cover bytes"))
        .unwrap();
    bucket.reset_request_counts();
    let report = a.syncer.push(&a.lib).await.unwrap();
    assert_eq!((report.batches, report.images), (1, 1));
    let counts = bucket.request_counts();
    assert_eq!(counts.total(), 3, "{counts:?}");
    assert_eq!(
        counts.of(Operation::Put) + counts.of(Operation::PutIfAbsent),
        3
    );
}

fn l_album(l: &LibraryManager) -> String {
    l.database()
        .conn()
        .query_row("SELECT id FROM albums", [], |r| r.get(0))
        .unwrap()
}
