//! The server's view of the bucket: read-only, counting what it downloads.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bae_bucket::{
    BoxFuture, Bucket, BucketError, DeleteOutcome, ListPage, ObjectKey, ObjectMeta, Operation,
    PutOutcome,
};
use bytes::Bytes;

/// Wraps a bucket so that nothing can write to it: every put and delete is
/// refused, whatever code asks. bae-server never writes to the bucket, and
/// this is where that is enforced rather than hoped for.
///
/// It also counts the bytes downloaded (the bootstrap's progress) and can
/// hide key prefixes (a checkpoint that failed authentication, so the
/// bootstrap replays batches instead). Images that fail authentication are
/// the sync engine's to refuse (`PullReport::images_refused`).
pub struct ReadOnlyBucket {
    inner: Arc<dyn Bucket>,
    hidden: RwLock<Vec<String>>,
    downloaded: AtomicU64,
}

impl fmt::Debug for ReadOnlyBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadOnlyBucket")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl ReadOnlyBucket {
    /// A read-only view of `inner`.
    pub fn new(inner: Arc<dyn Bucket>) -> ReadOnlyBucket {
        ReadOnlyBucket {
            inner,
            hidden: RwLock::new(Vec::new()),
            downloaded: AtomicU64::new(0),
        }
    }

    /// Bytes downloaded so far (object bodies and ranges).
    pub fn downloaded(&self) -> u64 {
        self.downloaded.load(Ordering::Relaxed)
    }

    /// Hides every key starting with `prefix` from now on: listings leave
    /// it out and reads answer not found.
    pub fn hide(&self, prefix: &str) {
        self.hidden
            .write()
            .expect("hidden list poisoned")
            .push(prefix.to_owned());
    }

    fn is_hidden(&self, key: &str) -> bool {
        self.hidden
            .read()
            .expect("hidden list poisoned")
            .iter()
            .any(|p| key.starts_with(p.as_str()))
    }

    fn refuse(op: Operation, key: &ObjectKey) -> BucketError {
        BucketError::AccessDenied {
            op,
            target: key.as_str().to_owned(),
            detail: "bae-server is read-only and never writes to the bucket".to_owned(),
        }
    }
}

impl Bucket for ReadOnlyBucket {
    fn put<'a>(
        &'a self,
        key: &'a ObjectKey,
        _body: Bytes,
    ) -> BoxFuture<'a, Result<(), BucketError>> {
        Box::pin(async move { Err(Self::refuse(Operation::Put, key)) })
    }

    fn put_if_absent<'a>(
        &'a self,
        key: &'a ObjectKey,
        _body: Bytes,
    ) -> BoxFuture<'a, Result<PutOutcome, BucketError>> {
        Box::pin(async move { Err(Self::refuse(Operation::PutIfAbsent, key)) })
    }

    fn get<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Bytes, BucketError>> {
        Box::pin(async move {
            if self.is_hidden(key.as_str()) {
                return Err(BucketError::NotFound { key: key.clone() });
            }
            let bytes = self.inner.get(key).await?;
            self.downloaded
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            Ok(bytes)
        })
    }

    fn get_range<'a>(
        &'a self,
        key: &'a ObjectKey,
        range: Range<u64>,
    ) -> BoxFuture<'a, Result<Bytes, BucketError>> {
        Box::pin(async move {
            if self.is_hidden(key.as_str()) {
                return Err(BucketError::NotFound { key: key.clone() });
            }
            let bytes = self.inner.get_range(key, range).await?;
            self.downloaded
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            Ok(bytes)
        })
    }

    fn head<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<ObjectMeta, BucketError>> {
        Box::pin(async move {
            if self.is_hidden(key.as_str()) {
                return Err(BucketError::NotFound { key: key.clone() });
            }
            self.inner.head(key).await
        })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        continuation: Option<String>,
    ) -> BoxFuture<'a, Result<ListPage, BucketError>> {
        Box::pin(async move {
            let mut page = self.inner.list(prefix, continuation).await?;
            page.objects.retain(|o| !self.is_hidden(o.key.as_str()));
            Ok(page)
        })
    }

    fn delete<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<(), BucketError>> {
        Box::pin(async move { Err(Self::refuse(Operation::Delete, key)) })
    }

    fn delete_if_match<'a>(
        &'a self,
        key: &'a ObjectKey,
        _etag: &'a str,
    ) -> BoxFuture<'a, Result<DeleteOutcome, BucketError>> {
        Box::pin(async move { Err(Self::refuse(Operation::Delete, key)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bae_bucket::MemoryBucket;

    #[tokio::test]
    async fn refuses_writes_counts_reads_and_hides() {
        let mem = Arc::new(MemoryBucket::new());
        let a = ObjectKey::new("checkpoints/a.enc").unwrap();
        let b = ObjectKey::new("heads/b.json.enc").unwrap();
        mem.put(&a, Bytes::from_static(b"aaaa")).await.unwrap();
        mem.put(&b, Bytes::from_static(b"bb")).await.unwrap();
        let ro = ReadOnlyBucket::new(mem.clone());
        assert!(matches!(
            ro.put(&a, Bytes::new()).await,
            Err(BucketError::AccessDenied { .. })
        ));
        assert!(ro.put_if_absent(&a, Bytes::new()).await.is_err());
        assert!(ro.delete(&a).await.is_err());
        assert!(ro.delete_if_match(&a, "x").await.is_err());
        assert_eq!(mem.get(&a).await.unwrap(), Bytes::from_static(b"aaaa"));
        assert_eq!(ro.get(&a).await.unwrap().len(), 4);
        assert_eq!(ro.get_range(&b, 0..1).await.unwrap().len(), 1);
        assert_eq!(ro.downloaded(), 5);
        ro.hide("checkpoints/");
        assert!(ro.get(&a).await.unwrap_err().is_not_found());
        assert!(ro.head(&a).await.unwrap_err().is_not_found());
        let listed: Vec<String> = ro
            .list_all("")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key.as_str().to_owned())
            .collect();
        assert_eq!(listed, vec!["heads/b.json.enc"]);
    }
}
