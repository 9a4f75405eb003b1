//! A small object-store trait with S3, local-directory and in-memory implementations.
//!
//! bae's sync layer keeps a library in a plain bucket (see the design's
//! bucket layout: `heads/`, `ops/{device}/{seq}.enc`, `checkpoints/`, …).
//! This crate is the only code that talks to the store. Everything goes
//! through the object-safe [`Bucket`] trait (`Arc<dyn Bucket>`), with keys
//! validated once as [`ObjectKey`].
//!
//! # The contract
//!
//! | operation | guarantee |
//! |---|---|
//! | [`put`](Bucket::put) | atomic replace: readers see the old or the new bytes, never a mix |
//! | [`put_if_absent`](Bucket::put_if_absent) | atomic create-once: never replaces an object; [`PutOutcome::AlreadyExists`] if one is there |
//! | [`get`](Bucket::get) / [`head`](Bucket::head) | [`BucketError::NotFound`] for a missing key, distinct from every other failure |
//! | [`get_range`](Bucket::get_range) | exactly the bytes asked for, or [`BucketError::InvalidRange`] |
//! | [`list`](Bucket::list) | ascending key order (bytewise within a directory everywhere; across directories see [`Bucket::list`]), paginated by opaque continuation tokens; [`list_all`](Bucket::list_all) follows them |
//! | [`delete`](Bucket::delete) | idempotent |
//! | [`delete_if_match`](Bucket::delete_if_match) | removes only the version read; [`DeleteOutcome::Changed`] leaves a rewritten object (on stores that honor `If-Match`, see below) |
//!
//! Errors carry a kind: [`BucketError::is_transient`] (timeouts, connection
//! failures, 5xx, throttling) is worth retrying, everything else is not.
//! [`Retrying`] retries transient failures with capped exponential backoff and
//! seeded jitter on tokio time.
//!
//! # The stores
//!
//! - [`MemoryBucket`]: in memory, every operation atomic and linearizable.
//!   Clones share state; counts requests by kind ([`RequestCounts`]) and
//!   injects faults ([`MemoryBucket::fail_next`], [`MemoryBucket::set_faults`]).
//! - [`LocalDirBucket`]: one file per object under a directory, the embedded
//!   default. Writes go to a temporary file, are fsynced and renamed into
//!   place; `put_if_absent` links with `hard_link`, which refuses an existing
//!   target. Strongly consistent on a local filesystem. It cannot hold both
//!   `a/b` and `a/b/c` (file and directory of one name).
//! - [`S3Bucket`]: aws-sdk-s3 against AWS S3 or a compatible store, configured
//!   by [`S3Config`] or built around a ready client
//!   ([`S3Bucket::from_client`]). `put_if_absent` sends `If-None-Match: *`.
//!   A store that answers 501 `NotImplemented` gives
//!   [`BucketError::ConditionalCreateUnsupported`]; there is no silent
//!   fallback. A store that *ignores* the header cannot be detected without
//!   extra requests and would overwrite, so run the conformance suite
//!   against a new store before relying on it.
//!
//! What the S3 stores were seen to do (the tests start both):
//!
//! | | AWS S3 (documented) | SeaweedFS 4.48 | s3s-fs 0.14.1 |
//! |---|---|---|---|
//! | `If-None-Match: *` | yes (since 2024), atomic | yes, atomic (8 racers, 1 winner) | yes, but checks then writes: racers can all win, so the test server serializes conditional PUTs |
//! | ranges | 206 | 206 | 206 |
//! | pagination (`max-keys`) | yes | yes | yes |
//! | etags in listings | yes | yes | no (`ObjectMeta::etag` is `None`) |
//! | `If-Match` on DELETE | yes (since 2025): 412 for another version, 404 for none | yes: 412 for another version and for none | ignored: deletes whatever is there |
//! | order across directories | bytewise | segment-wise | bytewise |
//! | missing bucket | `NoSuchBucket` | `NoSuchBucket` | `NoSuchBucket` on list only; GET says `NoSuchKey`, PUT creates it |
//!
//! # Consistency
//!
//! Memory is linearizable. A local directory is strongly consistent on a local
//! filesystem (network filesystems vary). AWS S3 has strong read-after-write
//! and list-after-write consistency; other S3 stores vary, and the sync layer
//! must tolerate a listing that lags a write. [`Retrying`] turns a lost answer
//! to a successful `put_if_absent` into `Created` by comparing contents.
//!
//! [`BucketUrl`] parses `s3://bucket/prefix?region=…&endpoint=…&path_style=true`,
//! `file:///path` and `mem://name`; [`open_bucket`] opens one.
//!
//! # Testing support
//!
//! The `testing` cargo feature adds the `testing` module: an in-process
//! s3s-fs server on a loopback socket with fault switches, a SeaweedFS child
//! process, and the conformance suite every implementation here passes.
//! SeaweedFS comes from `scripts/install-test-deps.sh`.

mod bucket;
mod error;
mod key;
mod local;
mod memory;
mod open;
mod retry;
mod s3;
mod url;

#[cfg(feature = "testing")]
pub mod testing;

pub use crate::bucket::{BoxFuture, Bucket, DeleteOutcome, ListPage, ObjectMeta, PutOutcome};
pub use crate::error::{BucketError, Operation};
pub use crate::key::{KeyError, MAX_KEY_LEN, ObjectKey};
pub use crate::local::LocalDirBucket;
pub use crate::memory::{DEFAULT_PAGE_SIZE, Fault, MemoryBucket, RequestCounts, RequestInfo};
pub use crate::open::{OpenError, OpenOptions, open_bucket};
pub use crate::retry::{RetryPolicy, Retrying};
pub use crate::s3::{ChecksumMode, DEFAULT_REGION, S3Bucket, S3Config, S3Credentials};
pub use crate::url::{BucketUrl, BucketUrlError};
