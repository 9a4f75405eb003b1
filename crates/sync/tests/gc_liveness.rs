//! GC must never collect a head, or batches, that a device still needs
//! because that device merely looks silent by the wall clocks.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bae_bucket::{
    BoxFuture, Bucket, BucketError, DeleteOutcome, ListPage, MemoryBucket, ObjectKey, ObjectMeta,
    PutOutcome,
};
use bae_hlc::ManualClock;
use bae_sync::{SyncConfig, layout};
use bytes::Bytes;
use common::*;
use tokio::sync::Notify;

/// Syncs `d` on a thread of its own, giving up after 30 s: a pull that
/// boots round in circles never returns, and never yields to a timer either
/// (the memory bucket answers at once).
fn sync_on_a_thread(mut d: Device) -> (Device, Result<(), bae_sync::SyncError>) {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(d.syncer.sync(&d.lib)).map(|_| ());
        let _ = done.send((d, result));
    });
    finished
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the sync ends")
}

fn config() -> SyncConfig {
    SyncConfig {
        checkpoint_every_ops: 10_000,
        gc_grace_period_ms: DAY_MS,
        ..SyncConfig::default()
    }
}

/// `a` writes "two"; `c` applies it and checkpoints; `b` has not pulled it
/// yet. Past the grace period every head in the bucket looks silent,
/// including the one of `b`, which is the device running GC. GC judged `b`
/// by that stale head, collected `a`'s head and batch 2, and `b` never
/// learned of "two". Found by the simulation (seed 745: GC right after the
/// heal that followed time jumps past the grace period).
#[tokio::test]
async fn gc_keeps_what_the_collecting_device_has_not_applied() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let mut a = Device::with_config(1, shared.clone(), &clock, config());
    let mut b = Device::with_config(2, shared.clone(), &clock, config());
    let mut c = Device::with_config(3, shared.clone(), &clock, config());
    a.import("one", 1);
    a.sync().await;
    b.sync().await;
    a.import("two", 1);
    a.sync().await;
    c.sync().await;
    c.syncer.checkpoint(&c.lib).await.unwrap();
    clock.advance_ms(2 * DAY_MS);
    b.syncer.gc(&b.lib).await.unwrap();
    assert!(
        bucket.get(&layout::head(a.id())).await.is_ok(),
        "b has not applied all of a's batches: a's head stays"
    );
    b.sync().await;
    assert_eq!(b.album_titles(), ["one", "two"]);
    assert_eq!(b.dump(), c.dump());
}

/// As above, but `c` collects while `b` is offline: `b`'s head looks silent
/// and shows it has not applied a's batch 2. The batch may go (a checkpoint
/// covers it, and `b` boots from that), but `a`'s head must stay, or `b`
/// would come back never knowing that `a` wrote more.
#[tokio::test]
async fn gc_keeps_a_head_a_silent_device_has_not_applied() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let mut a = Device::with_config(1, shared.clone(), &clock, config());
    let mut b = Device::with_config(2, shared.clone(), &clock, config());
    let mut c = Device::with_config(3, shared.clone(), &clock, config());
    a.import("one", 1);
    a.sync().await;
    b.sync().await;
    a.import("two", 1);
    a.sync().await;
    c.sync().await;
    c.syncer.checkpoint(&c.lib).await.unwrap();
    clock.advance_ms(2 * DAY_MS);
    c.syncer.gc(&c.lib).await.unwrap();
    assert!(
        bucket.get(&layout::head(a.id())).await.is_ok(),
        "b has not applied all of a's batches: a's head stays"
    );
    b.sync().await;
    assert_eq!(b.album_titles(), ["one", "two"]);
    assert_eq!(b.dump(), c.dump());
}

/// Two GC runs with different bases: the first, with `a`'s own checkpoint
/// (it covers a's batches 1 and 2 and nothing else), collects a's batches;
/// the second, with `c`'s newer checkpoint (a's batch 1 and b's batch 1),
/// collected b's batch 1. No checkpoint then covered every collected
/// batch: a new device booted from one, found the other's batches gone,
/// booted from the other, and so on for ever. GC must only collect with a
/// base that covers what is already gone. Found by the simulation (seed
/// 904: the devices never reached quiescence).
#[tokio::test]
async fn gc_leaves_one_checkpoint_covering_everything_collected() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let mut a = Device::with_config(1, shared.clone(), &clock, config());
    let mut b = Device::with_config(2, shared.clone(), &clock, config());
    let mut c = Device::with_config(3, shared.clone(), &clock, config());
    a.import("a1", 1);
    a.syncer.push(&a.lib).await.unwrap();
    b.import("b1", 1);
    b.sync().await;
    c.sync().await;
    a.import("a2", 1);
    a.syncer.push(&a.lib).await.unwrap();
    // a has pulled nothing: its checkpoint covers its own batches only.
    let own = a.syncer.checkpoint(&a.lib).await.unwrap();
    assert_eq!(own.cursors.len(), 1);
    clock.advance_ms(DAY_MS / 2);
    c.syncer.checkpoint(&c.lib).await.unwrap();
    // Only a's checkpoint is past the grace period: a's batches go.
    clock.advance_ms(DAY_MS * 3 / 4);
    c.sync().await;
    c.syncer.gc(&c.lib).await.unwrap();
    assert!(bucket.get(&layout::batch(a.id(), 2)).await.is_err());
    // Now c's is too, and it does not cover a's batch 2.
    clock.advance_ms(DAY_MS);
    c.syncer.gc(&c.lib).await.unwrap();
    let d = Device::with_config(4, shared.clone(), &clock, config());
    let (d, synced) = sync_on_a_thread(d);
    synced.unwrap();
    c.sync().await;
    assert_eq!(d.album_titles(), ["a1", "a2", "b1"]);
    assert_eq!(d.dump(), c.dump());
}

/// Whatever GC did, a pull must end: with a's batches covered only by a's
/// checkpoint and b's batch only by c's, no single checkpoint brings a new
/// device up to date, and booting from each in turn went on for ever. The
/// pull now boots only from a checkpoint covering every gap it has met, and
/// reports the gap no checkpoint covers.
#[tokio::test]
async fn a_pull_stops_when_no_checkpoint_covers_every_gap() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let mut a = Device::with_config(1, shared.clone(), &clock, config());
    let mut b = Device::with_config(2, shared.clone(), &clock, config());
    let mut c = Device::with_config(3, shared.clone(), &clock, config());
    a.import("a1", 1);
    a.syncer.push(&a.lib).await.unwrap();
    b.import("b1", 1);
    b.sync().await;
    c.sync().await;
    a.import("a2", 1);
    a.syncer.push(&a.lib).await.unwrap();
    a.syncer.checkpoint(&a.lib).await.unwrap();
    clock.advance_ms(1);
    c.syncer.checkpoint(&c.lib).await.unwrap();
    for key in [
        layout::batch(a.id(), 1),
        layout::batch(a.id(), 2),
        layout::batch(b.id(), 1),
    ] {
        bucket.delete(&key).await.unwrap();
    }
    let d = Device::with_config(4, shared.clone(), &clock, config());
    let (_, synced) = sync_on_a_thread(d);
    assert!(
        matches!(synced, Err(bae_sync::SyncError::Unrecoverable { .. })),
        "{synced:?}"
    );
}

/// `a` uploaded batch 2 but not the head after it, then its database was
/// restored from a backup: the restored database takes a new id and
/// rewrites the former head up to batch 2. GC that read the lagging head
/// just before that rewrite deleted the rewritten one, and nobody ever
/// learned of batch 2. A head behind the batches in the bucket is kept.
/// Found by the simulation (seed 745, once GC no longer judged the
/// collecting device by its stale head).
#[tokio::test]
async fn gc_keeps_a_head_behind_its_batches() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.db");
    let mut a = Device::with_config(1, shared.clone(), &clock, config());
    let mut c = Device::with_config(3, shared.clone(), &clock, config());
    a.import("one", 1);
    a.sync().await;
    a.backup(&backup);
    c.sync().await;
    c.syncer.checkpoint(&c.lib).await.unwrap();
    let old = a.id();
    let head = layout::head(old);
    let lagging = bucket.get(&head).await.unwrap();
    a.import("two", 1);
    a.syncer.push(&a.lib).await.unwrap();
    // The head write after batch 2 was lost.
    bucket.put(&head, lagging.clone()).await.unwrap();
    drop(a);
    clock.advance_ms(2 * DAY_MS);
    c.sync().await;
    let mut restored = Device::restored(1, shared.clone(), &clock, &backup);
    restored.syncer.push(&restored.lib).await.unwrap();
    assert_ne!(restored.id(), old);
    let rewritten = bucket.get(&head).await.unwrap();
    // GC reads the heads before the rewrite and deletes after it.
    bucket.put(&head, lagging).await.unwrap();
    c.syncer.gc(&c.lib).await.unwrap();
    if bucket.get(&head).await.is_ok() {
        bucket.put(&head, rewritten).await.unwrap();
    }
    c.sync().await;
    assert_eq!(c.album_titles(), ["one", "two"]);
}

/// A bucket that holds the first delete of one key until the test lets it
/// go: the moment between GC deciding to delete a head and doing it.
#[derive(Debug)]
struct HeldDelete {
    inner: MemoryBucket,
    key: ObjectKey,
    armed: AtomicBool,
    reached: Notify,
    go: Notify,
}

impl HeldDelete {
    async fn hold(&self, key: &ObjectKey) {
        if *key == self.key && self.armed.swap(false, Ordering::SeqCst) {
            self.reached.notify_one();
            self.go.notified().await;
        }
    }
}

impl Bucket for HeldDelete {
    fn put<'a>(
        &'a self,
        key: &'a ObjectKey,
        body: Bytes,
    ) -> BoxFuture<'a, Result<(), BucketError>> {
        self.inner.put(key, body)
    }
    fn put_if_absent<'a>(
        &'a self,
        key: &'a ObjectKey,
        body: Bytes,
    ) -> BoxFuture<'a, Result<PutOutcome, BucketError>> {
        self.inner.put_if_absent(key, body)
    }
    fn get<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Bytes, BucketError>> {
        self.inner.get(key)
    }
    fn get_range<'a>(
        &'a self,
        key: &'a ObjectKey,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'a, Result<Bytes, BucketError>> {
        self.inner.get_range(key, range)
    }
    fn head<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<ObjectMeta, BucketError>> {
        self.inner.head(key)
    }
    fn list<'a>(
        &'a self,
        prefix: &'a str,
        continuation: Option<String>,
    ) -> BoxFuture<'a, Result<ListPage, BucketError>> {
        self.inner.list(prefix, continuation)
    }
    fn delete<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<(), BucketError>> {
        Box::pin(async move {
            self.hold(key).await;
            self.inner.delete(key).await
        })
    }
    fn delete_if_match<'a>(
        &'a self,
        key: &'a ObjectKey,
        etag: &'a str,
    ) -> BoxFuture<'a, Result<DeleteOutcome, BucketError>> {
        Box::pin(async move {
            self.hold(key).await;
            self.inner.delete_if_match(key, etag).await
        })
    }
}

/// `b` is silent past the grace period, so GC by `c` decides to delete its
/// head; before the delete goes out, `b` comes back, pushes "two" and
/// rewrites its head. Deleting that head would leave every other device
/// never learning of "two" (and for good, had `b` moved to a new id after a
/// restore). GC deletes only the version of the head it read. Found by the
/// simulation (seed 5737: a GC run slowed to 12 s by a latent link).
#[tokio::test]
async fn gc_keeps_a_head_rewritten_while_it_ran() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let mut a = Device::with_config(1, shared.clone(), &clock, config());
    let mut b = Device::with_config(2, shared.clone(), &clock, config());
    let held = Arc::new(HeldDelete {
        inner: bucket.clone(),
        key: layout::head(b.id()),
        armed: AtomicBool::new(true),
        reached: Notify::new(),
        go: Notify::new(),
    });
    let mut c = Device::with_config(3, held.clone(), &clock, config());
    a.import("one", 1);
    a.sync().await;
    b.sync().await;
    c.sync().await;
    c.syncer.checkpoint(&c.lib).await.unwrap();
    clock.advance_ms(2 * DAY_MS);
    a.sync().await;
    c.sync().await;
    b.import("two", 1);
    let (collected, ()) = tokio::join!(c.syncer.gc(&c.lib), async {
        // Fails, rather than hangs, if GC no longer goes to delete b's head.
        tokio::time::timeout(std::time::Duration::from_secs(30), held.reached.notified())
            .await
            .expect("GC goes to delete b's silent head");
        b.sync().await;
        held.go.notify_one();
    });
    collected.unwrap();
    assert!(
        bucket.get(&layout::head(b.id())).await.is_ok(),
        "b's rewritten head stays"
    );
    a.sync().await;
    assert_eq!(a.album_titles(), ["one", "two"]);
}

/// A device whose head is gone (collected, or never written again after a
/// restore moved its device to a new id) still has its batches pulled as
/// far as any other head shows they were applied.
#[tokio::test]
async fn a_pull_goes_as_far_as_any_head_has_applied() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let mut a = Device::with_config(1, shared.clone(), &clock, config());
    let mut b = Device::with_config(2, shared.clone(), &clock, config());
    let mut c = Device::with_config(3, shared.clone(), &clock, config());
    a.import("one", 1);
    a.sync().await;
    b.sync().await;
    c.sync().await;
    a.import("two", 1);
    a.sync().await;
    b.sync().await;
    // a's head now announcing batch 2 is lost; only b's head shows it.
    bucket.delete(&layout::head(a.id())).await.unwrap();
    drop(a);
    c.sync().await;
    assert_eq!(c.album_titles(), ["one", "two"]);
    assert_eq!(c.dump(), b.dump());
}
