//! The conformance suite: one set of checks every [`Bucket`] must pass.

use std::collections::BTreeMap;
use std::future::poll_fn;
use std::task::Poll;

use bytes::Bytes;

use crate::{BoxFuture, Bucket, BucketError, DeleteOutcome, ObjectKey, PutOutcome};

/// Knobs of [`check_bucket`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConformanceOptions {
    /// Key prefix the suite works under (it must hold no objects); lets
    /// several runs share one bucket.
    pub namespace: String,
    /// The page size the bucket was configured with (1 to 10), so the suite
    /// can check that listings really span several pages.
    pub page_size: usize,
    /// Whether to race concurrent `put_if_absent` calls on one key and demand
    /// exactly one `Created`. Off only for stores known to check-then-write.
    pub race_put_if_absent: bool,
    /// Whether listings must carry etags equal to `head`'s. Off for stores
    /// whose listings omit them (s3s-fs 0.14); `head` etags are always checked.
    pub listing_etags: bool,
    /// Whether `delete_if_match` must leave an object rewritten since its
    /// etag was read. Off for stores that ignore `If-Match` on DELETE and
    /// delete whatever is there; a matching delete is checked either way.
    pub conditional_delete: bool,
    /// The listing order the store must show across directories.
    pub order: ListOrder,
}

/// Listing orders (see [`Bucket::list`]). Within one directory (keys equal up
/// to their last '/') both are plain bytewise order; they differ across
/// directories: bytewise puts `a-b/x` before `a/x` ('-' < '/'), segment-wise
/// compares `a` with `a-b` first and puts `a/x` first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOrder {
    /// Whole keys compared bytewise: AWS S3, s3s-fs, memory, local directory.
    Bytewise,
    /// Keys compared segment by segment: SeaweedFS (its filer walks directories).
    SegmentWise,
}

impl ListOrder {
    fn sorted(self, keys: &mut [String]) {
        match self {
            ListOrder::Bytewise => keys.sort(),
            ListOrder::SegmentWise => {
                keys.sort_by(|a, b| a.split('/').cmp(b.split('/')));
            }
        }
    }
}

impl ConformanceOptions {
    /// Options with the given namespace and page size, race check on.
    pub fn new(namespace: impl Into<String>, page_size: usize) -> Self {
        Self {
            namespace: namespace.into(),
            page_size,
            race_put_if_absent: true,
            listing_etags: true,
            conditional_delete: true,
            order: ListOrder::Bytewise,
        }
    }
}

/// Polls all futures concurrently on the current task; results in input order.
async fn join_all<'a, T>(futures: Vec<BoxFuture<'a, T>>) -> Vec<T> {
    let mut futures: Vec<Option<BoxFuture<'a, T>>> = futures.into_iter().map(Some).collect();
    let mut results: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for (slot, result) in futures.iter_mut().zip(results.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *result = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    results
        .into_iter()
        .map(|r| r.expect("every future completed"))
        .collect()
}

/// Deterministic non-trivial bytes.
fn pattern(len: usize, salt: u8) -> Bytes {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8 ^ salt)
        .collect::<Vec<u8>>()
        .into()
}

fn expect_not_found<T: std::fmt::Debug>(result: Result<T, BucketError>, what: &str) {
    match result {
        Err(BucketError::NotFound { .. }) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

fn expect_invalid_range(result: Result<Bytes, BucketError>, what: &str) {
    match result {
        Err(BucketError::InvalidRange { .. }) => {}
        Ok(bytes) => panic!("{what}: expected InvalidRange, got {} bytes", bytes.len()),
        Err(other) => panic!("{what}: expected InvalidRange, got {other}"),
    }
}

fn keys_of(objects: &[crate::ObjectMeta]) -> Vec<String> {
    objects.iter().map(|o| o.key.to_string()).collect()
}

/// Runs the conformance suite against `bucket`; panics naming the failed check.
///
/// Covers put/get (empty, small, 300 KiB, overwrite), head, `get_range`
/// (many ranges, to the end, across 64 KiB, empty, out of bounds, inverted),
/// `put_if_absent` (second call `AlreadyExists` with content unchanged,
/// concurrent racers), listing with prefixes (full and partial segments,
/// bytewise order across `dev1-old/` and `dev1/`), pagination, etags,
/// delete (idempotent, then NotFound), conditional delete (a rewritten object
/// stays, the version read goes, a missing one is gone). Leaves the
/// namespace empty.
pub async fn check_bucket(bucket: &dyn Bucket, options: &ConformanceOptions) {
    let page_size = options.page_size;
    assert!(
        (1..=10).contains(&page_size),
        "configure the bucket with a page size of 1 to 10 so listings span pages (got {page_size})"
    );
    let ns = options.namespace.trim_matches('/');
    let key = |rel: &str| ObjectKey::new(format!("{ns}/{rel}")).expect("valid test key");
    let prefix = |rel: &str| format!("{ns}/{rel}");

    // -- empty namespace, missing keys
    let listed = bucket
        .list_all(&prefix(""))
        .await
        .expect("list of the empty namespace");
    assert!(
        listed.is_empty(),
        "namespace '{ns}' must start empty, found {:?}",
        keys_of(&listed)
    );
    let missing = key("missing/object");
    expect_not_found(bucket.get(&missing).await, "get of a missing key");
    expect_not_found(bucket.head(&missing).await, "head of a missing key");
    expect_not_found(
        bucket.get_range(&missing, 0..1).await,
        "get_range of a missing key",
    );
    bucket
        .delete(&missing)
        .await
        .expect("delete of a missing key must succeed");

    // -- put / get / head / overwrite
    let small = key("blobs/small");
    bucket
        .put(&small, Bytes::from_static(b"hello"))
        .await
        .expect("put small");
    assert_eq!(
        bucket.get(&small).await.expect("get small"),
        Bytes::from_static(b"hello")
    );
    let first = bucket.head(&small).await.expect("head small");
    assert_eq!(
        (first.key.clone(), first.size),
        (small.clone(), 5),
        "head of small"
    );
    assert!(
        first.etag.as_ref().is_some_and(|e| !e.is_empty()),
        "head must give an etag"
    );
    bucket
        .put(&small, Bytes::from_static(b"hello, again"))
        .await
        .expect("overwrite small");
    assert_eq!(
        bucket.get(&small).await.expect("get overwritten"),
        Bytes::from_static(b"hello, again")
    );
    let second = bucket.head(&small).await.expect("head overwritten");
    assert_eq!(second.size, 12, "size after overwrite");
    assert_ne!(
        first.etag, second.etag,
        "etag must change when the content changes"
    );

    let empty = key("blobs/empty");
    bucket
        .put(&empty, Bytes::new())
        .await
        .expect("put empty object");
    assert_eq!(
        bucket.get(&empty).await.expect("get empty object"),
        Bytes::new()
    );
    assert_eq!(
        bucket.head(&empty).await.expect("head empty object").size,
        0
    );

    let big = key("blobs/big");
    let big_body = pattern(300 * 1024, 1);
    bucket
        .put(&big, big_body.clone())
        .await
        .expect("put 300 KiB");
    assert!(
        bucket.get(&big).await.expect("get 300 KiB") == big_body,
        "300 KiB object round trip"
    );

    // -- ranges
    let ranged = key("blobs/ranged");
    let body = pattern(100_000, 2);
    bucket
        .put(&ranged, body.clone())
        .await
        .expect("put ranged object");
    for range in [
        0..1,
        0..10,
        10..20,
        65_530..65_546,
        12_345..54_321,
        99_990..100_000,
        99_999..100_000,
        0..100_000,
    ] {
        let got = bucket
            .get_range(&ranged, range.clone())
            .await
            .unwrap_or_else(|e| panic!("get_range {range:?}: {e}"));
        let want = body.slice(range.start as usize..range.end as usize);
        assert!(
            got == want,
            "get_range {range:?}: got {} bytes, want {} (or different bytes)",
            got.len(),
            want.len()
        );
    }
    assert_eq!(
        bucket
            .get_range(&ranged, 500..500)
            .await
            .expect("empty range"),
        Bytes::new()
    );
    expect_invalid_range(
        bucket.get_range(&ranged, 99_990..100_001).await,
        "range one past the end",
    );
    expect_invalid_range(
        bucket.get_range(&ranged, 100_000..100_010).await,
        "range starting at the end",
    );
    expect_invalid_range(
        bucket.get_range(&ranged, 200_000..200_001).await,
        "range far past the end",
    );
    #[allow(clippy::reversed_empty_ranges)]
    let inverted = 20..10;
    expect_invalid_range(bucket.get_range(&ranged, inverted).await, "inverted range");

    // -- put_if_absent
    let once = key("ops/dev1/00000001.enc");
    assert_eq!(
        bucket
            .put_if_absent(&once, Bytes::from_static(b"first"))
            .await
            .expect("put_if_absent new"),
        PutOutcome::Created
    );
    assert_eq!(
        bucket
            .put_if_absent(&once, Bytes::from_static(b"second"))
            .await
            .expect("put_if_absent existing"),
        PutOutcome::AlreadyExists
    );
    assert_eq!(
        bucket.get(&once).await.expect("get after put_if_absent"),
        Bytes::from_static(b"first"),
        "put_if_absent must not overwrite"
    );
    bucket.delete(&once).await.expect("delete once");
    assert_eq!(
        bucket
            .put_if_absent(&once, Bytes::from_static(b"third"))
            .await
            .expect("put_if_absent after delete"),
        PutOutcome::Created
    );
    assert_eq!(
        bucket.get(&once).await.expect("get third"),
        Bytes::from_static(b"third")
    );

    if options.race_put_if_absent {
        let raced = key("race/00000001.enc");
        let racers: Vec<BoxFuture<'_, Result<PutOutcome, BucketError>>> = (0..8u8)
            .map(|i| bucket.put_if_absent(&raced, Bytes::from(vec![i; 64])))
            .collect();
        let outcomes = join_all(racers).await;
        let created: Vec<usize> = outcomes
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match o {
                Ok(PutOutcome::Created) => Some(i),
                Ok(PutOutcome::AlreadyExists) => None,
                Err(e) => panic!("racing put_if_absent failed: {e}"),
            })
            .collect();
        assert_eq!(
            created.len(),
            1,
            "exactly one racer must create the object, got {created:?}"
        );
        let winner = created[0] as u8;
        assert_eq!(
            bucket.get(&raced).await.expect("get raced"),
            Bytes::from(vec![winner; 64]),
            "the winner's bytes stay"
        );
        bucket.delete(&raced).await.expect("delete raced");
    }

    // -- listing
    let mut expected_ops: BTreeMap<String, Bytes> = BTreeMap::new();
    for device in ["dev1", "dev1-old", "dev2"] {
        for seq in 1..=9u32 {
            let rel = format!("ops/{device}/{seq:08}.enc");
            let body = Bytes::from(format!("{device}:{seq}:{}", "x".repeat(seq as usize)));
            bucket
                .put(&key(&rel), body.clone())
                .await
                .unwrap_or_else(|e| panic!("put {rel}: {e}"));
            expected_ops.insert(prefix(&rel), body);
        }
        bucket
            .put(
                &key(&format!("heads/{device}.json.enc")),
                Bytes::from_static(b"{}"),
            )
            .await
            .expect("put head");
    }
    let ops = bucket
        .list_all(&prefix("ops/"))
        .await
        .expect("list_all ops/");
    let mut expected_keys: Vec<String> = expected_ops.keys().cloned().collect();
    options.order.sorted(&mut expected_keys);
    assert_eq!(
        keys_of(&ops),
        expected_keys,
        "list_all ops/: keys in {:?} order",
        options.order
    );
    for meta in &ops {
        assert_eq!(
            meta.size,
            expected_ops[meta.key.as_str()].len() as u64,
            "listed size of {}",
            meta.key
        );
        if options.listing_etags {
            assert!(
                meta.etag.as_ref().is_some_and(|e| !e.is_empty()),
                "listed etag of {}",
                meta.key
            );
        }
    }

    let mut pages = Vec::new();
    let mut token = None;
    loop {
        let page = bucket
            .list(&prefix("ops/"), token.clone())
            .await
            .expect("list page");
        assert!(
            page.objects.len() <= page_size,
            "page of {} objects exceeds page size {page_size}",
            page.objects.len()
        );
        let next = page.next.clone();
        pages.push(page);
        match next {
            Some(next) => token = Some(next),
            None => break,
        }
        assert!(
            pages.len() <= expected_ops.len() + 1,
            "pagination does not end"
        );
    }
    let min_pages = expected_ops.len().div_ceil(page_size);
    assert!(
        pages.len() >= min_pages,
        "{} keys at page size {page_size} need at least {min_pages} pages, got {}",
        expected_ops.len(),
        pages.len()
    );
    let paged: Vec<String> = pages.iter().flat_map(|p| keys_of(&p.objects)).collect();
    assert_eq!(paged, keys_of(&ops), "pages concatenated equal list_all");

    let dev1 = bucket
        .list_all(&prefix("ops/dev1/"))
        .await
        .expect("list ops/dev1/");
    assert_eq!(
        dev1.len(),
        9,
        "ops/dev1/ holds 9 keys, not dev1-old's: {:?}",
        keys_of(&dev1)
    );
    let dev1_partial = bucket
        .list_all(&prefix("ops/dev1"))
        .await
        .expect("list ops/dev1");
    assert_eq!(
        dev1_partial.len(),
        18,
        "partial segment ops/dev1 matches dev1/ and dev1-old/"
    );
    let mut in_order = keys_of(&dev1_partial);
    options.order.sorted(&mut in_order);
    assert_eq!(
        keys_of(&dev1_partial),
        in_order,
        "partial-prefix listing in order"
    );
    let seqs = bucket
        .list_all(&prefix("ops/dev2/0000000"))
        .await
        .expect("list ops/dev2/0000000");
    assert_eq!(seqs.len(), 9, "partial last segment");
    let heads = bucket
        .list_all(&prefix("heads/"))
        .await
        .expect("list heads/");
    assert_eq!(
        keys_of(&heads),
        [
            "heads/dev1-old.json.enc",
            "heads/dev1.json.enc",
            "heads/dev2.json.enc"
        ]
        .map(&prefix)
    );
    assert!(
        bucket
            .list_all(&prefix("nothing-here/"))
            .await
            .expect("list empty prefix")
            .is_empty()
    );
    let page = bucket
        .list(&prefix("nothing-here/"), None)
        .await
        .expect("list page of empty prefix");
    assert!(
        page.objects.is_empty() && page.next.is_none(),
        "empty listing has no next token"
    );

    let blobs = bucket
        .list_all(&prefix("blobs/"))
        .await
        .expect("list blobs/");
    let listed_small = blobs
        .iter()
        .find(|m| m.key == small)
        .expect("small is listed");
    if options.listing_etags {
        let head_etag = bucket.head(&small).await.expect("head small").etag;
        assert_eq!(
            listed_small.etag, head_etag,
            "list and head agree on the etag"
        );
    }
    assert_eq!(listed_small.size, 12);

    // -- delete
    let gone = key("ops/dev2/00000005.enc");
    bucket.delete(&gone).await.expect("delete");
    expect_not_found(bucket.get(&gone).await, "get after delete");
    expect_not_found(bucket.head(&gone).await, "head after delete");
    bucket
        .delete(&gone)
        .await
        .expect("second delete is a no-op");
    let dev2 = bucket
        .list_all(&prefix("ops/dev2/"))
        .await
        .expect("list after delete");
    assert_eq!(dev2.len(), 8, "deleted key no longer listed");

    // -- conditional delete
    let cond = key("heads/cond.json.enc");
    bucket
        .put(&cond, Bytes::from_static(b"first"))
        .await
        .expect("put");
    let first = bucket.head(&cond).await.expect("head").etag;
    let first = first.expect("head carries an etag");
    bucket
        .put(&cond, Bytes::from_static(b"second, longer"))
        .await
        .expect("overwrite");
    if options.conditional_delete {
        let outcome = bucket
            .delete_if_match(&cond, &first)
            .await
            .expect("conditional delete of a rewritten object");
        assert_eq!(outcome, DeleteOutcome::Changed, "a rewritten object stays");
        assert_eq!(
            bucket.get(&cond).await.expect("get after a refused delete"),
            Bytes::from_static(b"second, longer")
        );
    }
    let second = bucket.head(&cond).await.expect("head").etag;
    let second = second.expect("head carries an etag");
    let outcome = bucket
        .delete_if_match(&cond, &second)
        .await
        .expect("conditional delete of the version read");
    assert_eq!(outcome, DeleteOutcome::Deleted);
    expect_not_found(bucket.get(&cond).await, "get after a conditional delete");
    let outcome = bucket
        .delete_if_match(&cond, &second)
        .await
        .expect("conditional delete of a missing object");
    assert_eq!(outcome, DeleteOutcome::Deleted, "a missing object is gone");

    // -- cleanup
    for meta in bucket
        .list_all(&prefix(""))
        .await
        .expect("list for cleanup")
    {
        bucket
            .delete(&meta.key)
            .await
            .unwrap_or_else(|e| panic!("cleanup delete {}: {e}", meta.key));
    }
    let left = bucket
        .list_all(&prefix(""))
        .await
        .expect("list after cleanup");
    assert!(
        left.is_empty(),
        "namespace not empty after cleanup: {:?}",
        keys_of(&left)
    );
}

/// Writes `count` keys under `namespace` (16 at a time), lists them with the
/// bucket's default page size, checks order and completeness, deletes them.
pub async fn check_many_keys(bucket: &dyn Bucket, namespace: &str, count: usize) {
    let ns = namespace.trim_matches('/');
    let keys: Vec<ObjectKey> = (0..count)
        .map(|i| ObjectKey::new(format!("{ns}/ops/dev/{i:08}.enc")).expect("valid key"))
        .collect();
    for chunk in keys.chunks(16) {
        let puts: Vec<BoxFuture<'_, Result<(), BucketError>>> = chunk
            .iter()
            .map(|k| bucket.put(k, Bytes::from_static(b"op")))
            .collect();
        for result in join_all(puts).await {
            result.expect("put of many keys");
        }
    }
    let listed = bucket
        .list_all(&format!("{ns}/"))
        .await
        .expect("list_all of many keys");
    assert_eq!(listed.len(), count, "all {count} keys listed");
    assert!(
        listed.iter().zip(&keys).all(|(m, k)| &m.key == k),
        "many keys listed in order"
    );
    for chunk in keys.chunks(16) {
        let deletes: Vec<BoxFuture<'_, Result<(), BucketError>>> =
            chunk.iter().map(|k| bucket.delete(k)).collect();
        for result in join_all(deletes).await {
            result.expect("delete of many keys");
        }
    }
    assert!(
        bucket
            .list_all(&format!("{ns}/"))
            .await
            .expect("list after deleting")
            .is_empty()
    );
}
