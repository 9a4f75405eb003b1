//! A pull or push cut off at any request leaves no half-applied batch, no
//! double application and no lost local write; the next attempt resumes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bae_bucket::{Bucket, BucketError, Fault, MemoryBucket, Operation};
use bae_hlc::ManualClock;
use common::*;

fn cut_off() -> BucketError {
    BucketError::transient(Operation::Get, "test", "connection cut")
}

/// Runs `step` on a device with the bucket failing its `n`th request and
/// every one after it, for every `n` until the step succeeds untouched; after
/// each cut the step is run again without faults and must reach the same
/// state as an uncut run.
#[tokio::test]
async fn a_pull_cut_at_every_request_resumes_exactly() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let mut a = Device::new(1, shared.clone(), &clock);
    let mut b = Device::new(2, shared.clone(), &clock);
    for i in 0..4 {
        a.import(&format!("a{i}"), 3);
        b.import(&format!("b{i}"), 2);
    }
    a.sync().await;
    b.sync().await;
    let mut reference = Device::new(9, shared.clone(), &clock);
    reference.syncer.pull(&reference.lib).await.unwrap();
    let expected = reference.dump();
    for cut in 1.. {
        let mut reader = Device::new(3, shared.clone(), &clock);
        let seen = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&seen);
        bucket.set_faults(move |_| {
            (counter.fetch_add(1, Ordering::SeqCst) + 1 >= cut).then(|| Fault::Reject(cut_off()))
        });
        let first = reader.syncer.pull(&reader.lib).await;
        bucket.clear_faults();
        if first.is_ok() {
            assert!(cut > 3, "the cut must have hit some request");
            break;
        }
        // Whatever was applied is whole batches, exactly those its cursors
        // claim: the state equals the reference merge of every device's
        // batches up to its cursor, no more and no less.
        let (cursors, schema) = reader.with(|l| {
            (
                bae_merge::cursors(l.database().conn()).unwrap(),
                l.database().schema().clone(),
            )
        });
        let mut applied = Vec::new();
        for (device, last) in &cursors {
            for seq in 1..=*last {
                let key = bae_sync::layout::batch(*device, seq);
                let sealed = bucket.get(&key).await.unwrap();
                let body =
                    bae_crypto::decrypt_padded(&common::key(), key.as_str(), &sealed).unwrap();
                applied.push(bae_oplog::Batch::decode(&body).unwrap());
            }
        }
        assert_eq!(
            reader.dump(),
            bae_merge::reference::merge(&schema, &applied),
            "cut at request {cut}: the state is the batches the cursors claim"
        );
        reader.syncer.pull(&reader.lib).await.unwrap();
        assert_eq!(reader.dump(), expected, "cut at request {cut}");
    }
}

#[tokio::test]
async fn a_push_cut_at_every_request_loses_nothing() {
    for cut in 1..12u64 {
        let bucket = MemoryBucket::new();
        let clock = ManualClock::new(T0);
        let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
        let mut a = Device::new(1, shared.clone(), &clock);
        for i in 0..3 {
            a.import(&format!("a{i}"), 2);
        }
        let seen = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&seen);
        // LoseResponse: the request is carried out but its answer is lost,
        // the worst case for "mark pushed only after the upload succeeded".
        bucket.set_faults(move |_| {
            (counter.fetch_add(1, Ordering::SeqCst) + 1 == cut)
                .then(|| Fault::LoseResponse(cut_off()))
        });
        let _ = a.syncer.push(&a.lib).await;
        bucket.clear_faults();
        a.syncer.push(&a.lib).await.unwrap();
        assert_eq!(a.with(|l| l.recorder().unpushed().unwrap().len()), 0);
        let mut reader = Device::new(2, shared.clone(), &clock);
        reader.syncer.pull(&reader.lib).await.unwrap();
        assert_eq!(reader.dump(), a.dump(), "cut at request {cut}");
    }
}
