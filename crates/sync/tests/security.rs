//! Tampered objects are rejected with a typed error, nothing of them is
//! applied, and the device keeps syncing everything else.

mod common;

use std::sync::Arc;

use bae_bucket::{Bucket, MemoryBucket, ObjectKey};
use bae_hlc::ManualClock;
use bae_sync::layout;
use bytes::Bytes;
use common::*;

/// Two writers and a reader: the writer `a`'s batch 2 gets `tamper`ed;
/// `b`'s stream must still arrive, and `a`'s must stop before batch 2.
async fn check(tamper: impl Fn(&MemoryBucket, bae_hlc::DeviceId), expect: &str) {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let mut a = Device::new(1, shared.clone(), &clock);
    let mut b = Device::new(2, shared.clone(), &clock);
    let mut reader = Device::new(3, shared.clone(), &clock);
    a.import("first", 1);
    a.import("second (tampered)", 1);
    a.import("third", 1);
    b.import("from b", 1);
    a.sync().await;
    b.sync().await;
    tamper(&bucket, a.id());
    let report = reader.syncer.pull(&reader.lib).await.unwrap();
    assert_eq!(report.stopped.len(), 1, "{report:?}");
    assert_eq!(report.stopped[0].0, a.id());
    assert!(
        report.stopped[0].1.contains(expect),
        "{expect:?} not in {:?}",
        report.stopped[0].1
    );
    let titles = reader.album_titles();
    assert_eq!(
        titles,
        ["first", "from b"],
        "a's stream stops before the bad batch; b's arrives"
    );
    let cursors = reader.with(|l| bae_merge::cursors(l.database().conn()).unwrap());
    assert_eq!(cursors[&a.id()], 1);
}

async fn get(bucket: &MemoryBucket, key: &ObjectKey) -> Vec<u8> {
    bucket.get(key).await.unwrap().to_vec()
}

async fn put(bucket: &MemoryBucket, key: &ObjectKey, bytes: Vec<u8>) {
    bucket.put(key, Bytes::from(bytes)).await.unwrap();
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_flipped_byte_is_rejected() {
    check(
        |bucket, a| {
            let key = layout::batch(a, 2);
            let mut bytes = block_on(get(bucket, &key));
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x01;
            block_on(put(bucket, &key, bytes));
        },
        "failed authentication",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn an_object_moved_to_another_path_is_rejected() {
    // A valid object of this library (a's head) put where batch 2 belongs.
    check(
        |bucket, a| {
            let bytes = block_on(get(bucket, &layout::head(a)));
            block_on(put(bucket, &layout::batch(a, 2), bytes));
        },
        "failed authentication",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_batch_replayed_under_another_seq_is_rejected() {
    // Batch 3 put where batch 2 belongs.
    check(
        |bucket, a| {
            let bytes = block_on(get(bucket, &layout::batch(a, 3)));
            block_on(put(bucket, &layout::batch(a, 2), bytes));
        },
        "failed authentication",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_truncated_object_is_rejected() {
    check(
        |bucket, a| {
            let key = layout::batch(a, 2);
            let mut bytes = block_on(get(bucket, &key));
            bytes.truncate(bytes.len() - 5);
            block_on(put(bucket, &key, bytes));
        },
        "failed authentication",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn an_object_under_another_key_is_rejected() {
    // Encrypted by someone with another library key, at the right path.
    check(
        |bucket, a| {
            let key = layout::batch(a, 2);
            let foreign = bae_crypto::encrypt_padded(
                &bae_crypto::LibraryKey::from_bytes([9; 32]),
                key.as_str(),
                b"BAEB\x01",
                [0; 24],
            );
            block_on(put(bucket, &key, foreign));
        },
        "failed authentication",
    )
    .await;
}

#[tokio::test]
async fn a_head_under_another_device_is_rejected() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let mut a = Device::new(1, Arc::new(bucket.clone()), &clock);
    let mut reader = Device::new(3, Arc::new(bucket.clone()), &clock);
    a.import("x", 1);
    a.sync().await;
    let bytes = bucket.get(&layout::head(a.id())).await.unwrap();
    bucket
        .put(&layout::head(bae_hlc::DeviceId::from_bytes([5; 16])), bytes)
        .await
        .unwrap();
    let err = reader.syncer.pull(&reader.lib).await.unwrap_err();
    assert!(err.to_string().contains("failed authentication"), "{err}");
    assert_eq!(reader.rows(), 0, "nothing applied");
}

#[tokio::test]
async fn the_bucket_holds_no_plaintext() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let mut a = Device::new(1, Arc::new(bucket.clone()), &clock);
    a.import("A Love Supreme", 4);
    a.sync().await;
    a.syncer.checkpoint(&a.lib).await.unwrap();
    for object in bucket.list_all("").await.unwrap() {
        let bytes = bucket.get(&object.key).await.unwrap();
        for needle in ["A Love Supreme", "artist", "CD", "tracks"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle:?} in {}",
                object.key
            );
        }
    }
}

#[tokio::test]
async fn a_database_restored_from_backup_takes_a_new_id_and_loses_nothing() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.db");
    let mut a = Device::new(1, shared.clone(), &clock);
    a.import("one", 1);
    a.sync().await;
    a.backup(&backup);
    a.import("two", 1);
    a.sync().await;
    // The backup comes back on another machine with the same device id and
    // writes its own batch 2, which differs from the bucket's batch 2.
    clock.advance_ms(5);
    let mut restored = Device::restored(1, shared.clone(), &clock, &backup);
    restored.import("after restore", 1);
    let first_two = bucket.get(&layout::batch(a.id(), 2)).await.unwrap();
    restored.sync().await;
    assert_ne!(restored.id(), a.id(), "the restored database took a new id");
    assert_eq!(
        bucket.get(&layout::batch(a.id(), 2)).await.unwrap(),
        first_two,
        "history was not overwritten"
    );
    let mut reader = Device::new(3, shared.clone(), &clock);
    converge(&mut [&mut a, &mut restored, &mut reader]).await;
    let titles = reader.album_titles();
    assert_eq!(
        titles,
        ["after restore", "one", "two"],
        "nothing written on either side is lost"
    );
}

#[tokio::test]
async fn a_newer_schema_stops_only_that_stream() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let mut a = Device::new(1, shared.clone(), &clock);
    let mut b = Device::new(2, shared.clone(), &clock);
    let mut reader = Device::new(3, shared.clone(), &clock);
    a.import("a", 1);
    b.import("b", 1);
    a.sync().await;
    b.sync().await;
    // Rewrite a's batch 1 as if written by a newer bae (properly encrypted).
    let key = layout::batch(a.id(), 1);
    let body = bae_crypto::decrypt_padded(
        &common::key(),
        key.as_str(),
        &bucket.get(&key).await.unwrap(),
    )
    .unwrap();
    let mut batch = bae_oplog::Batch::decode(&body).unwrap();
    batch.schema_version += 1;
    let sealed = bae_crypto::encrypt_padded(&common::key(), key.as_str(), &batch.encode(), [3; 24]);
    bucket.put(&key, Bytes::from(sealed)).await.unwrap();
    let report = reader.syncer.pull(&reader.lib).await.unwrap();
    assert_eq!(report.stopped.len(), 1);
    assert!(
        report.stopped[0].1.contains("update bae"),
        "{:?}",
        report.stopped
    );
    let titles = reader.album_titles();
    assert_eq!(titles, ["b"], "b's stream arrived, a's stopped");
    // The stream is kept, not skipped: the next pull tries again.
    let again = reader.syncer.pull(&reader.lib).await.unwrap();
    assert_eq!(again.stopped.len(), 1);
}

/// A checkpoint written by a newer bae (a schema this build does not know)
/// is not booted from: the pull fails with an error that says to update
/// bae and the new device stays as it was; the next pull follows the
/// batches instead.
#[tokio::test]
async fn a_checkpoint_from_a_newer_schema_is_refused() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let mut a = Device::new(1, shared.clone(), &clock);
    a.import("a", 2);
    a.sync().await;
    let meta = a.syncer.checkpoint(&a.lib).await.unwrap();
    // Rewrite it as if a newer bae had written it, properly encrypted and
    // with metadata that matches, so only the schema version is wrong.
    let data_key = layout::checkpoint_data(&meta.id);
    let schema = a.with(|l| l.database().schema().clone());
    let plain = bae_crypto::decrypt(
        &common::key(),
        data_key.as_str(),
        &bucket.get(&data_key).await.unwrap(),
    )
    .unwrap();
    let mut checkpoint = bae_merge::Checkpoint::decode(&plain, &schema).unwrap();
    checkpoint.schema_version += 1;
    let sealed = bae_crypto::encrypt(
        &common::key(),
        data_key.as_str(),
        &checkpoint.encode(),
        [5; 24],
    );
    let newer = bae_sync::CheckpointMeta {
        data_len: sealed.len() as u64,
        schema_version: checkpoint.schema_version,
        ..meta.clone()
    };
    bucket.put(&data_key, Bytes::from(sealed)).await.unwrap();
    let meta_key = layout::checkpoint_meta(&meta.id);
    let body = serde_json::to_vec(&newer).unwrap();
    let sealed = bae_crypto::encrypt_padded(&common::key(), meta_key.as_str(), &body, [6; 24]);
    bucket.put(&meta_key, Bytes::from(sealed)).await.unwrap();

    let mut fresh = Device::new(2, shared.clone(), &clock);
    let err = fresh.syncer.pull(&fresh.lib).await.unwrap_err();
    assert!(
        matches!(err, bae_sync::SyncError::CheckpointUnusable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("update bae"), "{err}");
    assert_eq!(fresh.rows(), 0, "nothing of it was applied");
    // The next pull does not try it again: it follows the batches, which
    // are still in the bucket, to the same state.
    let report = fresh.syncer.pull(&fresh.lib).await.unwrap();
    assert_eq!(report.booted_from, None);
    assert_eq!(fresh.dump(), a.dump());
}

/// A backup restored after GC collected its device's later batches and
/// silent head: only a checkpoint still shows how far that id's history
/// went. The restored database must take a new id; reusing the old one
/// would upload a new batch under a seq every other device has already
/// applied, and they would never see it. Found by the simulation (seeds
/// with restores, long offline stretches and GC).
#[tokio::test]
async fn a_backup_restored_after_gc_collected_its_history_takes_a_new_id() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let config = bae_sync::SyncConfig {
        checkpoint_every_ops: 10_000,
        gc_grace_period_ms: DAY_MS,
        ..bae_sync::SyncConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.db");
    let mut a = Device::with_config(1, shared.clone(), &clock, config.clone());
    let mut b = Device::with_config(2, shared.clone(), &clock, config);
    a.import("one", 1);
    a.sync().await;
    a.backup(&backup);
    a.import("two", 1);
    a.sync().await;
    b.sync().await;
    b.syncer.checkpoint(&b.lib).await.unwrap();
    // `a` goes silent; past the grace period, b's GC collects a's batches
    // (the checkpoint covers them) and a's head.
    clock.advance_ms(2 * DAY_MS);
    b.sync().await;
    b.syncer.gc(&b.lib).await.unwrap();
    let old = a.id();
    drop(a);
    assert!(
        bucket.get(&layout::head(old)).await.is_err(),
        "GC collected the silent head"
    );
    assert!(bucket.get(&layout::batch(old, 2)).await.is_err());
    let mut restored = Device::restored(1, shared.clone(), &clock, &backup);
    restored.import("after restore", 1);
    restored.sync().await;
    assert_ne!(restored.id(), old, "the restored database took a new id");
    b.sync().await;
    assert_eq!(
        b.album_titles(),
        ["after restore", "one", "two"],
        "nothing written on either side is lost"
    );
    assert_eq!(b.dump(), restored.dump());
}

/// GC deletes the head of a device that looked silent when it read the
/// heads; if that device pushed in the meantime, the deletion takes its new
/// head. The device's next sync must put it back, or a device that never
/// read it would never pull those batches. Found by the simulation (seed
/// 932: GC across a time jump racing a restored device's first pushes).
#[tokio::test]
async fn a_head_deleted_by_a_racing_gc_is_written_again() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let mut a = Device::new(1, shared.clone(), &clock);
    a.import("one", 1);
    a.sync().await;
    // The stale deletion lands after a's push.
    bucket.delete(&layout::head(a.id())).await.unwrap();
    a.sync().await;
    let mut b = Device::new(2, shared.clone(), &clock);
    b.sync().await;
    assert_eq!(b.album_titles(), ["one"], "b learned of a's batches");
}
