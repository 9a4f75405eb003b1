//! Retries with capped exponential backoff and seeded jitter.

use std::fmt;
use std::ops::Range;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::bucket::{BoxFuture, Bucket, DeleteOutcome, ListPage, ObjectMeta, PutOutcome};
use crate::error::{BucketError, Operation};
use crate::key::ObjectKey;

/// How [`Retrying`] retries.
///
/// The wait before retry `n` (1-based) is drawn uniformly from
/// `[cap/2, cap]` with `cap = min(max_delay_ms, base_delay_ms * 2^(n-1))`
/// ("equal jitter"), from an RNG seeded with `seed`: the same seed and the
/// same failures give the same waits. Waiting uses `tokio::time`, so it
/// follows paused or simulated (turmoil) time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait cap before the first retry, in milliseconds.
    pub base_delay_ms: u64,
    /// Largest wait cap, in milliseconds.
    pub max_delay_ms: u64,
    /// Seed of the jitter RNG.
    pub seed: u64,
}

impl Default for RetryPolicy {
    /// 5 attempts, 100 ms base, 5 s cap, and a seed drawn from the OS (so
    /// devices do not retry in lockstep). Set `seed` for reproducible runs.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay_ms: 100,
            max_delay_ms: 5_000,
            seed: rand::random(),
        }
    }
}

impl RetryPolicy {
    /// A deterministic policy: the defaults with the given seed.
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }

    /// Wait cap before retry `retry` (1-based), in milliseconds.
    fn cap_ms(&self, retry: u32) -> u64 {
        let factor = 1u64
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u64::MAX);
        self.base_delay_ms
            .saturating_mul(factor)
            .min(self.max_delay_ms)
    }
}

/// A [`Bucket`] wrapper that retries transient failures.
///
/// Only [`BucketError::Transient`] is retried; every other error surfaces at
/// once. After `max_attempts` transient failures the result is
/// [`BucketError::RetriesExhausted`], which names the attempt count and holds
/// the last error.
///
/// `put_if_absent` needs care: if an attempt failed transiently and a later
/// one answers `AlreadyExists`, the earlier attempt may have created the
/// object before its answer was lost. The wrapper then reads the object and
/// answers `Created` if it holds exactly the bytes being written (bucket
/// objects are encrypted under fresh nonces, so equal bytes mean our own
/// write), `AlreadyExists` otherwise.
pub struct Retrying<B> {
    inner: B,
    policy: RetryPolicy,
    rng: Mutex<StdRng>,
}

impl<B: fmt::Debug> fmt::Debug for Retrying<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retrying")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish()
    }
}

impl<B: Bucket> Retrying<B> {
    /// Wraps `inner`.
    pub fn new(inner: B, policy: RetryPolicy) -> Self {
        let rng = Mutex::new(StdRng::seed_from_u64(policy.seed));
        Self { inner, policy, rng }
    }

    /// The wrapped bucket.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// The policy in force.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    fn delay(&self, retry: u32) -> Duration {
        let cap = self.policy.cap_ms(retry);
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Duration::from_millis(rng.random_range(cap / 2..=cap))
    }

    /// Runs `attempt` until it succeeds, fails permanently or runs out of
    /// attempts. Returns the result and whether any attempt failed transiently.
    async fn run<'a, T>(
        &'a self,
        op: Operation,
        target: &str,
        mut attempt: impl FnMut() -> BoxFuture<'a, Result<T, BucketError>>,
    ) -> (Result<T, BucketError>, bool) {
        let max = self.policy.max_attempts.max(1);
        let mut attempts = 0;
        loop {
            attempts += 1;
            match attempt().await {
                Err(err @ BucketError::Transient { .. }) => {
                    if attempts >= max {
                        let exhausted = BucketError::RetriesExhausted {
                            op,
                            target: target.to_owned(),
                            attempts,
                            last: Box::new(err),
                        };
                        return (Err(exhausted), true);
                    }
                    let wait = self.delay(attempts);
                    tracing::debug!(%op, target, attempts, ?wait, error = %err, "retrying");
                    tokio::time::sleep(wait).await;
                }
                other => return (other, attempts > 1),
            }
        }
    }
}

impl<B: Bucket> Bucket for Retrying<B> {
    fn put<'a>(
        &'a self,
        key: &'a ObjectKey,
        body: Bytes,
    ) -> BoxFuture<'a, Result<(), BucketError>> {
        Box::pin(async move {
            self.run(Operation::Put, key.as_str(), || {
                self.inner.put(key, body.clone())
            })
            .await
            .0
        })
    }

    fn put_if_absent<'a>(
        &'a self,
        key: &'a ObjectKey,
        body: Bytes,
    ) -> BoxFuture<'a, Result<PutOutcome, BucketError>> {
        Box::pin(async move {
            let (result, retried) = self
                .run(Operation::PutIfAbsent, key.as_str(), || {
                    self.inner.put_if_absent(key, body.clone())
                })
                .await;
            match result {
                Ok(PutOutcome::AlreadyExists) if retried => {
                    let (existing, _) = self
                        .run(Operation::Get, key.as_str(), || self.inner.get(key))
                        .await;
                    match existing {
                        Ok(existing) if existing == body => Ok(PutOutcome::Created),
                        Ok(_) => Ok(PutOutcome::AlreadyExists),
                        // Deleted in the meantime: it did exist, and not ours to judge.
                        Err(err) if err.is_not_found() => Ok(PutOutcome::AlreadyExists),
                        Err(err) => Err(err),
                    }
                }
                other => other,
            }
        })
    }

    fn get<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Bytes, BucketError>> {
        Box::pin(async move {
            self.run(Operation::Get, key.as_str(), || self.inner.get(key))
                .await
                .0
        })
    }

    fn get_range<'a>(
        &'a self,
        key: &'a ObjectKey,
        range: Range<u64>,
    ) -> BoxFuture<'a, Result<Bytes, BucketError>> {
        Box::pin(async move {
            self.run(Operation::GetRange, key.as_str(), || {
                self.inner.get_range(key, range.clone())
            })
            .await
            .0
        })
    }

    fn head<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<ObjectMeta, BucketError>> {
        Box::pin(async move {
            self.run(Operation::Head, key.as_str(), || self.inner.head(key))
                .await
                .0
        })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        continuation: Option<String>,
    ) -> BoxFuture<'a, Result<ListPage, BucketError>> {
        Box::pin(async move {
            self.run(Operation::List, prefix, || {
                self.inner.list(prefix, continuation.clone())
            })
            .await
            .0
        })
    }

    fn delete<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<(), BucketError>> {
        Box::pin(async move {
            self.run(Operation::Delete, key.as_str(), || self.inner.delete(key))
                .await
                .0
        })
    }

    fn delete_if_match<'a>(
        &'a self,
        key: &'a ObjectKey,
        etag: &'a str,
    ) -> BoxFuture<'a, Result<DeleteOutcome, BucketError>> {
        // A retry after a lost answer finds the object gone (`Deleted`, as
        // it was) or rewritten since (`Changed`, and it must stay).
        Box::pin(async move {
            self.run(Operation::Delete, key.as_str(), || {
                self.inner.delete_if_match(key, etag)
            })
            .await
            .0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{Fault, MemoryBucket};

    fn key(s: &str) -> ObjectKey {
        ObjectKey::new(s).unwrap()
    }

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay_ms: 100,
            max_delay_ms: 1_000,
            seed: 7,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_then_success_succeeds_after_counted_attempts() {
        let mem = MemoryBucket::new();
        mem.put(&key("a"), Bytes::from_static(b"v")).await.unwrap();
        mem.reset_request_counts();
        mem.fail_next(2);
        let bucket = Retrying::new(mem.clone(), policy(5));
        let start = tokio::time::Instant::now();
        assert_eq!(
            bucket.get(&key("a")).await.unwrap(),
            Bytes::from_static(b"v")
        );
        assert_eq!(mem.request_counts().get, 3, "two failures and one success");
        // waited two backoffs: [50,100] + [100,200] ms of (paused) tokio time
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(150) && waited <= Duration::from_millis(300),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_surface_at_once() {
        let mem = MemoryBucket::new();
        let bucket = Retrying::new(mem.clone(), policy(5));
        let err = bucket.get(&key("missing")).await.unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert_eq!(mem.request_counts().get, 1);

        mem.set_faults(|req| {
            Some(Fault::Reject(BucketError::AccessDenied {
                op: req.op,
                target: req.target.to_owned(),
                detail: "403".into(),
            }))
        });
        let err = bucket.put(&key("a"), Bytes::new()).await.unwrap_err();
        assert!(matches!(err, BucketError::AccessDenied { .. }), "{err}");
        assert_eq!(mem.request_counts().put, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn exhaustion_names_the_attempts() {
        let mem = MemoryBucket::new();
        mem.fail_next(100);
        let bucket = Retrying::new(mem.clone(), policy(4));
        let err = bucket.list_all("ops/").await.unwrap_err();
        match &err {
            BucketError::RetriesExhausted {
                op, attempts, last, ..
            } => {
                assert_eq!(*op, Operation::List);
                assert_eq!(*attempts, 4);
                assert!(last.is_transient());
            }
            other => panic!("expected RetriesExhausted, got {other:?}"),
        }
        assert!(err.to_string().contains("after 4 attempts"), "{err}");
        assert_eq!(mem.request_counts().list, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn lost_create_response_is_recognised_as_ours() {
        let mem = MemoryBucket::new();
        mem.set_faults(|req| {
            (req.index == 0)
                .then(|| Fault::LoseResponse(BucketError::transient(req.op, req.target, "timeout")))
        });
        let bucket = Retrying::new(mem.clone(), policy(3));
        let outcome = bucket
            .put_if_absent(&key("ops/d/1.enc"), Bytes::from_static(b"mine"))
            .await;
        assert_eq!(outcome.unwrap(), PutOutcome::Created);
        assert_eq!(mem.request_counts().put_if_absent, 2);
        assert_eq!(mem.request_counts().get, 1);

        // someone else's object stays AlreadyExists even after a retry
        mem.set_faults(|req| {
            (req.index == 3)
                .then(|| Fault::Reject(BucketError::transient(req.op, req.target, "503")))
        });
        let outcome = bucket
            .put_if_absent(&key("ops/d/1.enc"), Bytes::from_static(b"other"))
            .await;
        assert_eq!(outcome.unwrap(), PutOutcome::AlreadyExists);
        assert_eq!(
            mem.get(&key("ops/d/1.enc")).await.unwrap(),
            Bytes::from_static(b"mine")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn same_seed_same_waits() {
        async fn waits(seed: u64) -> Vec<Duration> {
            let mem = MemoryBucket::new();
            let bucket = Retrying::new(mem, RetryPolicy { seed, ..policy(6) });
            (1..=6).map(|n| bucket.delay(n)).collect()
        }
        let a = waits(1).await;
        assert_eq!(a, waits(1).await);
        assert_ne!(a, waits(2).await);
        for (n, wait) in a.iter().enumerate() {
            let cap = policy(6).cap_ms(n as u32 + 1);
            assert!(
                wait.as_millis() as u64 >= cap / 2 && wait.as_millis() as u64 <= cap,
                "{n}: {wait:?}"
            );
        }
    }

    #[test]
    fn caps_grow_exponentially_then_stop() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay_ms: 100,
            max_delay_ms: 1_000,
            seed: 0,
        };
        let caps: Vec<u64> = (1..=6).map(|n| p.cap_ms(n)).collect();
        assert_eq!(caps, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(p.cap_ms(200), 1_000, "no overflow on huge retry counts");
    }
}
