//! An in-memory bucket for tests and simulations.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::{Bound, Range};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;

use crate::bucket::{
    BoxFuture, Bucket, DeleteOutcome, ListPage, ObjectMeta, PutOutcome, check_list_prefix,
    check_range,
};
use crate::error::{BucketError, Operation};
use crate::key::ObjectKey;

/// Default number of objects per [`Bucket::list`] page (S3's default).
pub const DEFAULT_PAGE_SIZE: usize = 1000;

/// How many requests of each kind a [`MemoryBucket`] has served (including
/// requests that failed, injected faults included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RequestCounts {
    /// `put` requests.
    pub put: u64,
    /// `put_if_absent` requests.
    pub put_if_absent: u64,
    /// `get` requests.
    pub get: u64,
    /// `get_range` requests (empty ranges are answered without one).
    pub get_range: u64,
    /// `head` requests.
    pub head: u64,
    /// `list` requests (one per page).
    pub list: u64,
    /// `delete` requests.
    pub delete: u64,
}

impl RequestCounts {
    /// The count for one kind of request.
    pub fn of(&self, op: Operation) -> u64 {
        match op {
            Operation::Put => self.put,
            Operation::PutIfAbsent => self.put_if_absent,
            Operation::Get => self.get,
            Operation::GetRange => self.get_range,
            Operation::Head => self.head,
            Operation::List => self.list,
            Operation::Delete => self.delete,
        }
    }

    /// All requests together.
    pub fn total(&self) -> u64 {
        Operation::ALL.iter().map(|&op| self.of(op)).sum()
    }

    fn bump(&mut self, op: Operation) {
        let slot = match op {
            Operation::Put => &mut self.put,
            Operation::PutIfAbsent => &mut self.put_if_absent,
            Operation::Get => &mut self.get,
            Operation::GetRange => &mut self.get_range,
            Operation::Head => &mut self.head,
            Operation::List => &mut self.list,
            Operation::Delete => &mut self.delete,
        };
        *slot += 1;
    }
}

/// A request as seen by a fault function (see [`MemoryBucket::set_faults`]).
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    /// The kind of request.
    pub op: Operation,
    /// Its key, or for `list` its prefix.
    pub target: &'a str,
    /// 0-based number of this request among all requests the bucket served.
    pub index: u64,
}

/// An injected failure (see [`MemoryBucket::set_faults`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The request fails without touching the bucket.
    Reject(BucketError),
    /// The request takes effect but its answer is lost: the caller gets the
    /// error (like a timeout after the store committed a write).
    LoseResponse(BucketError),
}

type FaultFn = dyn Fn(&RequestInfo<'_>) -> Option<Fault> + Send + Sync;

/// An in-memory bucket.
///
/// Clones share the same objects, counters and fault settings. ETags are a
/// deterministic 64-bit content hash (FNV-1a). Listing is bytewise ordered and
/// paginated like S3. Every operation is atomic (one mutex).
///
/// Test hooks: [`request_counts`](Self::request_counts),
/// [`fail_next`](Self::fail_next) and [`set_faults`](Self::set_faults).
#[derive(Clone, Default)]
pub struct MemoryBucket {
    shared: Arc<Mutex<State>>,
    page_size: Option<usize>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<ObjectKey, Bytes>,
    counts: RequestCounts,
    next_index: u64,
    fail_next: u32,
    faults: Option<Arc<FaultFn>>,
}

impl fmt::Debug for MemoryBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("MemoryBucket")
            .field("objects", &state.objects.len())
            .field("counts", &state.counts)
            .field("page_size", &self.page_size())
            .finish()
    }
}

impl MemoryBucket {
    /// A new, empty bucket.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide bucket called `name` (what `mem://name` opens):
    /// every call with the same name shares the same objects.
    pub fn named(name: &str) -> Self {
        static REGISTRY: OnceLock<Mutex<HashMap<String, MemoryBucket>>> = OnceLock::new();
        let registry = REGISTRY.get_or_init(Default::default);
        let mut map = registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry(name.to_owned()).or_default().clone()
    }

    /// This handle with at most `page_size` objects per list page (at least 1).
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = Some(page_size.max(1));
        self
    }

    fn page_size(&self) -> usize {
        self.page_size.unwrap_or(DEFAULT_PAGE_SIZE)
    }

    /// Requests served so far, by kind.
    pub fn request_counts(&self) -> RequestCounts {
        self.state().counts
    }

    /// Sets the request counters back to zero.
    pub fn reset_request_counts(&self) {
        self.state().counts = RequestCounts::default();
    }

    /// Makes the next `n` requests fail with [`BucketError::Transient`]
    /// before touching the bucket (on top of any fault function).
    pub fn fail_next(&self, n: u32) {
        self.state().fail_next = n;
    }

    /// Installs a deterministic fault function, asked once per request.
    /// Returning `None` lets the request through.
    pub fn set_faults(
        &self,
        faults: impl Fn(&RequestInfo<'_>) -> Option<Fault> + Send + Sync + 'static,
    ) {
        self.state().faults = Some(Arc::new(faults));
    }

    /// Removes the fault function and any pending [`fail_next`](Self::fail_next).
    pub fn clear_faults(&self) {
        let mut state = self.state();
        state.faults = None;
        state.fail_next = 0;
    }

    /// Number of objects stored.
    pub fn len(&self) -> usize {
        self.state().objects.len()
    }

    /// True when no object is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-updated
        // (every mutation is a single call), so poisoning is ignored.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs one request: counts it, applies faults, then `apply` under the lock.
    fn request<T>(
        &self,
        op: Operation,
        target: &str,
        apply: impl FnOnce(&mut BTreeMap<ObjectKey, Bytes>) -> Result<T, BucketError>,
    ) -> Result<T, BucketError> {
        let mut state = self.state();
        state.counts.bump(op);
        let index = state.next_index;
        state.next_index += 1;
        let fault = if state.fail_next > 0 {
            state.fail_next -= 1;
            Some(Fault::Reject(BucketError::transient(
                op,
                target,
                "injected fault (fail_next)",
            )))
        } else {
            state
                .faults
                .clone()
                .and_then(|f| f(&RequestInfo { op, target, index }))
        };
        match fault {
            Some(Fault::Reject(err)) => Err(err),
            Some(Fault::LoseResponse(err)) => {
                let _ = apply(&mut state.objects);
                Err(err)
            }
            None => apply(&mut state.objects),
        }
    }
}

/// FNV-1a, 64 bits: a deterministic content hash for etags.
pub(crate) fn content_etag(body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in body {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn not_found(key: &ObjectKey) -> BucketError {
    BucketError::NotFound { key: key.clone() }
}

impl Bucket for MemoryBucket {
    fn put<'a>(
        &'a self,
        key: &'a ObjectKey,
        body: Bytes,
    ) -> BoxFuture<'a, Result<(), BucketError>> {
        Box::pin(async move {
            self.request(Operation::Put, key.as_str(), |objects| {
                objects.insert(key.clone(), body);
                Ok(())
            })
        })
    }

    fn put_if_absent<'a>(
        &'a self,
        key: &'a ObjectKey,
        body: Bytes,
    ) -> BoxFuture<'a, Result<PutOutcome, BucketError>> {
        Box::pin(async move {
            self.request(Operation::PutIfAbsent, key.as_str(), |objects| {
                if objects.contains_key(key) {
                    Ok(PutOutcome::AlreadyExists)
                } else {
                    objects.insert(key.clone(), body);
                    Ok(PutOutcome::Created)
                }
            })
        })
    }

    fn get<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Bytes, BucketError>> {
        Box::pin(async move {
            self.request(Operation::Get, key.as_str(), |objects| {
                objects.get(key).cloned().ok_or_else(|| not_found(key))
            })
        })
    }

    fn get_range<'a>(
        &'a self,
        key: &'a ObjectKey,
        range: Range<u64>,
    ) -> BoxFuture<'a, Result<Bytes, BucketError>> {
        Box::pin(async move {
            if check_range(key, &range)? {
                return Ok(Bytes::new());
            }
            self.request(Operation::GetRange, key.as_str(), |objects| {
                let body = objects.get(key).ok_or_else(|| not_found(key))?;
                let size = body.len() as u64;
                if range.end > size {
                    return Err(BucketError::InvalidRange {
                        key: key.clone(),
                        start: range.start,
                        end: range.end,
                        size: Some(size),
                    });
                }
                // Both bounds are <= size, which came from a usize.
                Ok(body.slice(range.start as usize..range.end as usize))
            })
        })
    }

    fn head<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<ObjectMeta, BucketError>> {
        Box::pin(async move {
            self.request(Operation::Head, key.as_str(), |objects| {
                let body = objects.get(key).ok_or_else(|| not_found(key))?;
                Ok(ObjectMeta {
                    key: key.clone(),
                    size: body.len() as u64,
                    etag: Some(content_etag(body)),
                })
            })
        })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        continuation: Option<String>,
    ) -> BoxFuture<'a, Result<ListPage, BucketError>> {
        Box::pin(async move {
            check_list_prefix(prefix)?;
            let page_size = self.page_size();
            self.request(Operation::List, prefix, |objects| {
                let lower = match &continuation {
                    Some(token) if token.as_str() >= prefix => Bound::Excluded(token.as_str()),
                    _ => Bound::Included(prefix),
                };
                let mut page: Vec<ObjectMeta> = objects
                    .range::<str, _>((lower, Bound::Unbounded))
                    .take_while(|(key, _)| key.as_str().starts_with(prefix))
                    .take(page_size + 1)
                    .map(|(key, body)| ObjectMeta {
                        key: key.clone(),
                        size: body.len() as u64,
                        etag: Some(content_etag(body)),
                    })
                    .collect();
                let next = if page.len() > page_size {
                    page.truncate(page_size);
                    page.last().map(|meta| meta.key.to_string())
                } else {
                    None
                };
                Ok(ListPage {
                    objects: page,
                    next,
                })
            })
        })
    }

    fn delete<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<(), BucketError>> {
        Box::pin(async move {
            self.request(Operation::Delete, key.as_str(), |objects| {
                objects.remove(key);
                Ok(())
            })
        })
    }

    fn delete_if_match<'a>(
        &'a self,
        key: &'a ObjectKey,
        etag: &'a str,
    ) -> BoxFuture<'a, Result<DeleteOutcome, BucketError>> {
        Box::pin(async move {
            self.request(Operation::Delete, key.as_str(), |objects| {
                match objects.get(key) {
                    Some(body) if content_etag(body) != etag => Ok(DeleteOutcome::Changed),
                    _ => {
                        objects.remove(key);
                        Ok(DeleteOutcome::Deleted)
                    }
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> ObjectKey {
        ObjectKey::new(s).unwrap()
    }

    #[tokio::test]
    async fn an_idle_poll_costs_one_list() {
        let bucket = MemoryBucket::new();
        bucket
            .put(&key("heads/a.json.enc"), Bytes::from_static(b"h"))
            .await
            .unwrap();
        bucket.reset_request_counts();
        let heads = bucket.list_all("heads/").await.unwrap();
        assert_eq!(heads.len(), 1);
        assert_eq!(
            bucket.request_counts(),
            RequestCounts {
                list: 1,
                ..Default::default()
            }
        );
        assert_eq!(bucket.request_counts().total(), 1);
    }

    #[tokio::test]
    async fn clones_and_named_buckets_share_state() {
        let a = MemoryBucket::new();
        let b = a.clone();
        a.put(&key("x"), Bytes::from_static(b"1")).await.unwrap();
        assert_eq!(b.get(&key("x")).await.unwrap(), Bytes::from_static(b"1"));
        assert_eq!(b.request_counts().total(), 2);

        let n1 = MemoryBucket::named("memory-unit-test");
        let n2 = MemoryBucket::named("memory-unit-test");
        let other = MemoryBucket::named("memory-unit-test-other");
        n1.put(&key("y"), Bytes::from_static(b"2")).await.unwrap();
        assert!(n2.get(&key("y")).await.is_ok());
        assert!(other.get(&key("y")).await.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn fail_next_rejects_then_recovers() {
        let bucket = MemoryBucket::new();
        bucket.fail_next(2);
        for _ in 0..2 {
            let err = bucket
                .put(&key("k"), Bytes::from_static(b"v"))
                .await
                .unwrap_err();
            assert!(err.is_transient(), "{err}");
        }
        assert!(bucket.is_empty(), "rejected requests must not apply");
        bucket
            .put(&key("k"), Bytes::from_static(b"v"))
            .await
            .unwrap();
        assert_eq!(bucket.len(), 1);
        assert_eq!(bucket.request_counts().put, 3);
    }

    #[tokio::test]
    async fn fault_function_sees_requests_in_order_and_can_lose_responses() {
        let bucket = MemoryBucket::new();
        bucket.set_faults(|req| {
            (req.index == 1 && req.op == Operation::PutIfAbsent)
                .then(|| Fault::LoseResponse(BucketError::transient(req.op, req.target, "lost")))
        });
        bucket
            .put(&key("a"), Bytes::from_static(b"a"))
            .await
            .unwrap();
        let err = bucket
            .put_if_absent(&key("b"), Bytes::from_static(b"b"))
            .await
            .unwrap_err();
        assert!(err.is_transient());
        // the write happened although the caller saw an error
        assert_eq!(
            bucket.get(&key("b")).await.unwrap(),
            Bytes::from_static(b"b")
        );
        bucket.clear_faults();
        assert_eq!(
            bucket
                .put_if_absent(&key("b"), Bytes::from_static(b"c"))
                .await
                .unwrap(),
            PutOutcome::AlreadyExists
        );
    }

    #[test]
    fn etag_is_a_stable_content_hash() {
        assert_eq!(content_etag(b""), "cbf29ce484222325");
        assert_eq!(content_etag(b"a"), "af63dc4c8601ec8c");
        assert_ne!(content_etag(b"ab"), content_etag(b"ba"));
    }
}
