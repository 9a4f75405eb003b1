//! The `Bucket` trait and its value types.

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{BucketError, Operation};
use crate::key::ObjectKey;

/// A boxed, `Send` future: what [`Bucket`] methods return, so the trait stays
/// object-safe (`Arc<dyn Bucket>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What [`Bucket::put_if_absent`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PutOutcome {
    /// The object did not exist and now holds exactly the given bytes.
    Created,
    /// An object already existed under the key; it was left unchanged.
    AlreadyExists,
}

/// What [`Bucket::delete_if_match`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeleteOutcome {
    /// The object had the given etag and is gone, or there was none.
    Deleted,
    /// The object was rewritten since its etag was read; it was left alone.
    Changed,
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectMeta {
    /// The object's key.
    pub key: ObjectKey,
    /// Size in bytes.
    pub size: u64,
    /// An opaque version tag, without quotes: it changes whenever the object
    /// is rewritten (content hash for memory and S3 single-part uploads;
    /// inode, size and mtime for a local directory). Compare for equality
    /// only. `None` when the store did not report one (s3s-fs 0.14 listings):
    /// treat that as "may have changed".
    pub etag: Option<String>,
}

/// One page of [`Bucket::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Objects of this page, in ascending key order (see [`Bucket::list`]).
    pub objects: Vec<ObjectMeta>,
    /// Continuation token for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// A flat object store: the bucket the sync layer talks to.
///
/// See the crate documentation for what each implementation guarantees.
pub trait Bucket: Send + Sync + fmt::Debug {
    /// Stores `body` under `key`, replacing any object there. Atomic: readers
    /// see the old or the new object, never a mix.
    fn put<'a>(&'a self, key: &'a ObjectKey, body: Bytes)
    -> BoxFuture<'a, Result<(), BucketError>>;

    /// Stores `body` under `key` only if no object exists there (S3
    /// `If-None-Match: *`). Never replaces an existing object. Stores that
    /// cannot do this atomically answer
    /// [`BucketError::ConditionalCreateUnsupported`].
    fn put_if_absent<'a>(
        &'a self,
        key: &'a ObjectKey,
        body: Bytes,
    ) -> BoxFuture<'a, Result<PutOutcome, BucketError>>;

    /// The whole object; [`BucketError::NotFound`] if there is none.
    fn get<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Bytes, BucketError>>;

    /// Exactly the bytes `range` of the object. An empty range gives empty
    /// bytes without a request; an inverted range, or one that reaches past
    /// the end, gives [`BucketError::InvalidRange`].
    fn get_range<'a>(
        &'a self,
        key: &'a ObjectKey,
        range: Range<u64>,
    ) -> BoxFuture<'a, Result<Bytes, BucketError>>;

    /// Size and etag of the object; [`BucketError::NotFound`] if there is none.
    fn head<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<ObjectMeta, BucketError>>;

    /// One page of the objects whose key starts with `prefix`, in ascending
    /// key order. Pass the previous page's `next` to continue; every object
    /// present for the whole listing appears exactly once across the pages.
    /// `prefix` may end in a partial segment (`ops/dev`); an empty prefix
    /// lists everything.
    ///
    /// Order: keys in one directory (equal up to their last `/`, like
    /// `heads/*` or `ops/{device}/*`) come in bytewise order on every store.
    /// Across directories, AWS S3, s3s, memory and local directory keep
    /// bytewise order (`a-b/x` before `a/x`, since `-` < `/`), while SeaweedFS
    /// compares segment by segment (`a/x` before `a-b/x`). Do not rely on
    /// the order across directories.
    fn list<'a>(
        &'a self,
        prefix: &'a str,
        continuation: Option<String>,
    ) -> BoxFuture<'a, Result<ListPage, BucketError>>;

    /// Removes the object. Idempotent: deleting a missing key succeeds.
    fn delete<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<(), BucketError>>;

    /// Removes the object only while it is the version `etag` names (S3
    /// `If-Match` on DeleteObject): [`DeleteOutcome::Changed`] if it was
    /// rewritten since that etag was read, [`DeleteOutcome::Deleted`] if it
    /// is gone (or was already). A store that ignores the condition deletes
    /// whatever is there; see the crate documentation for what each store
    /// was seen to do.
    fn delete_if_match<'a>(
        &'a self,
        key: &'a ObjectKey,
        etag: &'a str,
    ) -> BoxFuture<'a, Result<DeleteOutcome, BucketError>>;

    /// Every object under `prefix`, following continuation tokens.
    fn list_all<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ObjectMeta>, BucketError>> {
        Box::pin(async move {
            let mut objects = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let page = self.list(prefix, token.clone()).await?;
                objects.extend(page.objects);
                match page.next {
                    None => return Ok(objects),
                    Some(next) if token.as_deref() == Some(next.as_str()) => {
                        return Err(BucketError::Store {
                            op: Operation::List,
                            target: prefix.to_owned(),
                            detail: format!("continuation token {next:?} did not advance"),
                        });
                    }
                    Some(next) => token = Some(next),
                }
            }
        })
    }
}

macro_rules! forward_bucket {
    ($ty:ty) => {
        impl<B: Bucket + ?Sized> Bucket for $ty {
            fn put<'a>(
                &'a self,
                key: &'a ObjectKey,
                body: Bytes,
            ) -> BoxFuture<'a, Result<(), BucketError>> {
                (**self).put(key, body)
            }
            fn put_if_absent<'a>(
                &'a self,
                key: &'a ObjectKey,
                body: Bytes,
            ) -> BoxFuture<'a, Result<PutOutcome, BucketError>> {
                (**self).put_if_absent(key, body)
            }
            fn get<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Bytes, BucketError>> {
                (**self).get(key)
            }
            fn get_range<'a>(
                &'a self,
                key: &'a ObjectKey,
                range: Range<u64>,
            ) -> BoxFuture<'a, Result<Bytes, BucketError>> {
                (**self).get_range(key, range)
            }
            fn head<'a>(
                &'a self,
                key: &'a ObjectKey,
            ) -> BoxFuture<'a, Result<ObjectMeta, BucketError>> {
                (**self).head(key)
            }
            fn list<'a>(
                &'a self,
                prefix: &'a str,
                continuation: Option<String>,
            ) -> BoxFuture<'a, Result<ListPage, BucketError>> {
                (**self).list(prefix, continuation)
            }
            fn delete<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<(), BucketError>> {
                (**self).delete(key)
            }
            fn delete_if_match<'a>(
                &'a self,
                key: &'a ObjectKey,
                etag: &'a str,
            ) -> BoxFuture<'a, Result<DeleteOutcome, BucketError>> {
                (**self).delete_if_match(key, etag)
            }
            fn list_all<'a>(
                &'a self,
                prefix: &'a str,
            ) -> BoxFuture<'a, Result<Vec<ObjectMeta>, BucketError>> {
                (**self).list_all(prefix)
            }
        }
    };
}

forward_bucket!(Arc<B>);
forward_bucket!(Box<B>);
forward_bucket!(&B);

/// Checks a `get_range` request before any store is asked: `Ok(true)` when
/// the range is empty (answer with empty bytes), an error when inverted.
pub(crate) fn check_range(key: &ObjectKey, range: &Range<u64>) -> Result<bool, BucketError> {
    if range.start > range.end {
        return Err(BucketError::InvalidRange {
            key: key.clone(),
            start: range.start,
            end: range.end,
            size: None,
        });
    }
    Ok(range.start == range.end)
}

/// Checks a list prefix, mapping the failure to [`BucketError::InvalidPrefix`].
pub(crate) fn check_list_prefix(prefix: &str) -> Result<(), BucketError> {
    crate::key::check_prefix(prefix).map_err(|reason| BucketError::InvalidPrefix {
        prefix: prefix.to_owned(),
        reason,
    })
}
