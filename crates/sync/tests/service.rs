//! The background service: a local write is pushed without waiting for the
//! timer, the timer pulls, and the status says who synced when.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bae_bucket::{Bucket, MemoryBucket};
use bae_hlc::ManualClock;
use bae_sync::SyncService;
use common::*;

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_pushed_promptly_and_pulled_on_the_timer() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let a = Device::new(1, shared.clone(), &clock);
    let b = Device::new(2, shared.clone(), &clock);
    let (a_lib, b_lib) = (a.lib.clone(), b.lib.clone());
    // A's timer never fires during the test: only its local write can push.
    let service_a = SyncService::start(a_lib.clone(), a.syncer, Duration::from_secs(3600));
    let service_b = SyncService::start(b_lib.clone(), b.syncer, Duration::from_millis(20));
    let album = a_lib
        .lock()
        .unwrap()
        .insert_album_with_release_and_tracks(&bae_library::AlbumImport {
            album: bae_library::NewAlbum {
                title: "pushed by a write".into(),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
    eventually("a's write to reach b", || {
        bae_store::row_exists(
            b_lib.lock().unwrap().database().conn(),
            bae_store::Table::Albums,
            &album.album_id,
        )
        .unwrap()
    })
    .await;
    let status = service_b.sync_now().await.unwrap();
    let from_a = &status.devices[&a_lib.lock().unwrap().device_id()];
    assert_eq!(from_a.last_sync_ms, T0, "last synced from device A at T");
    assert_eq!(from_a.applied_seq, from_a.pushed_seq);
    assert_eq!(service_a.status().pending_batches, 0);
    service_a.shutdown();
    service_b.shutdown();
}
