//! Audio and cover art from the bucket, decrypted on the fly.
//!
//! Audio files live at `storage/{ab}/{cd}/{file_id}` in the chunked format
//! of `bae-crypto`, so any plaintext byte range is served from the sealed
//! chunks that cover it: a `Range` request costs only those chunks, and a
//! whole file is streamed window by window without holding it in memory.
//! Nothing unauthenticated is ever sent: a chunk that fails decryption ends
//! the response (before the headers when it is the first one).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bae_bucket::{Bucket, BucketError, ObjectKey};
use bae_crypto::{CHUNK_LEN, DecryptError, LibraryKey};
use bae_sync::{ImageStore, layout};
use bytes::Bytes;
use futures_util::Stream;

/// Plaintext bytes fetched and decrypted per bucket request while streaming.
pub const WINDOW: u64 = 16 * CHUNK_LEN;
/// Most object sizes and headers kept in memory.
const MAX_CACHED_OBJECTS: usize = 4096;
/// Most problem reports kept for `/health`.
const MAX_PROBLEMS: usize = 100;

/// Why a media object could not be served.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The object is not in the bucket.
    #[error("{path} is not in the bucket")]
    Missing {
        /// The object.
        path: String,
    },
    /// The object failed authentication: modified, truncated or moved.
    #[error("{path} failed authentication ({reason}); it is not served")]
    Tampered {
        /// The object.
        path: String,
        /// What decryption said.
        reason: String,
    },
    /// The bucket failed.
    #[error(transparent)]
    Bucket(BucketError),
    /// The local image cache failed.
    #[error("image cache: {0}")]
    Cache(String),
}

/// Objects that failed authentication (or could not be read), by path, for
/// `/health`: they are reported, and everything else is still served.
#[derive(Debug, Default)]
pub struct Problems {
    inner: Mutex<BTreeMap<String, String>>,
}

impl Problems {
    /// Records a problem with an object.
    pub fn report(&self, path: &str, reason: &str) {
        tracing::warn!(path, reason, "object not served");
        let mut inner = self.inner.lock().expect("problems mutex poisoned");
        if inner.len() < MAX_PROBLEMS || inner.contains_key(path) {
            inner.insert(path.to_owned(), reason.to_owned());
        }
    }

    /// The problems seen so far.
    pub fn all(&self) -> BTreeMap<String, String> {
        self.inner.lock().expect("problems mutex poisoned").clone()
    }
}

/// Size and base nonce of an encrypted object; objects are written once,
/// so these never change for a key.
#[derive(Debug, Clone, Copy)]
pub struct ObjectInfo {
    ciphertext_len: u64,
    plaintext_len: u64,
    header: [u8; 24],
}

impl ObjectInfo {
    /// The decrypted size.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }
}

/// Reads audio and images out of the bucket.
#[derive(Debug)]
pub struct Media {
    bucket: Arc<dyn Bucket>,
    key: LibraryKey,
    images: ImageStore,
    objects: Mutex<HashMap<String, ObjectInfo>>,
    problems: Arc<Problems>,
}

impl Media {
    /// Media from `bucket` under `key`, caching image bytes in `images`.
    pub fn new(
        bucket: Arc<dyn Bucket>,
        key: LibraryKey,
        images: ImageStore,
        problems: Arc<Problems>,
    ) -> Media {
        Media {
            bucket,
            key,
            images,
            objects: Mutex::new(HashMap::new()),
            problems,
        }
    }

    /// The problems seen.
    pub fn problems(&self) -> &Arc<Problems> {
        &self.problems
    }

    fn bucket_error(&self, path: &str, e: BucketError) -> MediaError {
        if e.is_not_found() {
            MediaError::Missing {
                path: path.to_owned(),
            }
        } else {
            MediaError::Bucket(e)
        }
    }

    fn tampered(&self, path: &str, source: DecryptError) -> MediaError {
        let e = MediaError::Tampered {
            path: path.to_owned(),
            reason: source.to_string(),
        };
        self.problems.report(path, &e.to_string());
        e
    }

    /// The size and header of an audio file's object.
    pub async fn audio_info(&self, file_id: &str) -> Result<(ObjectKey, ObjectInfo), MediaError> {
        let key = layout::storage(file_id);
        let path = key.as_str().to_owned();
        if let Some(info) = self
            .objects
            .lock()
            .expect("object cache poisoned")
            .get(&path)
        {
            return Ok((key, *info));
        }
        let meta = self
            .bucket
            .head(&key)
            .await
            .map_err(|e| self.bucket_error(&path, e))?;
        let plaintext_len =
            bae_crypto::plaintext_len(meta.size).map_err(|e| self.tampered(&path, e))?;
        let head = self
            .bucket
            .get_range(&key, 0..24)
            .await
            .map_err(|e| self.bucket_error(&path, e))?;
        let header: [u8; 24] = head.as_ref().try_into().map_err(|_| {
            self.tampered(
                &path,
                DecryptError::FetchLength {
                    expected: 24,
                    actual: head.len() as u64,
                },
            )
        })?;
        let info = ObjectInfo {
            ciphertext_len: meta.size,
            plaintext_len,
            header,
        };
        let mut objects = self.objects.lock().expect("object cache poisoned");
        if objects.len() >= MAX_CACHED_OBJECTS {
            objects.clear();
        }
        objects.insert(path, info);
        Ok((key, info))
    }

    /// Decrypts plaintext bytes `range` (non-empty, within the object).
    pub async fn read(
        &self,
        key: &ObjectKey,
        info: &ObjectInfo,
        range: Range<u64>,
    ) -> Result<Bytes, MediaError> {
        let path = key.as_str();
        let plan = bae_crypto::range_plan(range, info.ciphertext_len)
            .map_err(|e| self.tampered(path, e))?;
        let sealed = self
            .bucket
            .get_range(key, plan.chunks_range())
            .await
            .map_err(|e| self.bucket_error(path, e))?;
        let plain = bae_crypto::decrypt_range(&self.key, path, &plan, &info.header, &sealed)
            .map_err(|e| self.tampered(path, e))?;
        Ok(Bytes::from(plain))
    }

    /// Streams plaintext bytes `range`, one window per bucket request; the
    /// first window is read before this returns, so a missing or tampered
    /// object is an error here rather than a cut-off response.
    pub async fn stream(
        self: &Arc<Self>,
        key: ObjectKey,
        info: ObjectInfo,
        range: Range<u64>,
    ) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static, MediaError>
    {
        let first_end = window_end(range.start, range.end);
        let first = if range.start < first_end {
            Some(self.read(&key, &info, range.start..first_end).await?)
        } else {
            None
        };
        let media = Arc::clone(self);
        let state = (first, first_end, range.end);
        Ok(futures_util::stream::unfold(
            state,
            move |(ready, at, end)| {
                let media = Arc::clone(&media);
                let key = key.clone();
                async move {
                    if let Some(bytes) = ready {
                        return Some((Ok(bytes), (None, at, end)));
                    }
                    if at >= end {
                        return None;
                    }
                    let next = window_end(at, end);
                    match media.read(&key, &info, at..next).await {
                        Ok(bytes) => Some((Ok(bytes), (None, next, end))),
                        Err(e) => {
                            tracing::warn!(error = %e, "stream cut short");
                            // Ending the stream with an error aborts the
                            // response: the client sees a broken transfer,
                            // never bytes that were not authenticated.
                            Some((Err(std::io::Error::other(e.to_string())), (None, end, end)))
                        }
                    }
                }
            },
        ))
    }

    /// An image's bytes: from the local cache, else from the bucket (then
    /// cached).
    pub async fn image(&self, image_id: &str) -> Result<Vec<u8>, MediaError> {
        if let Some(bytes) = self
            .images
            .get(image_id)
            .map_err(|e| MediaError::Cache(e.to_string()))?
        {
            return Ok(bytes);
        }
        let key = layout::image(image_id);
        let path = key.as_str();
        let sealed = self
            .bucket
            .get(&key)
            .await
            .map_err(|e| self.bucket_error(path, e))?;
        let bytes =
            bae_crypto::decrypt(&self.key, path, &sealed).map_err(|e| self.tampered(path, e))?;
        if let Err(e) = self.images.put(image_id, &bytes) {
            tracing::warn!(image_id, error = %e, "could not cache image bytes");
        }
        Ok(bytes)
    }
}

/// The end of the window starting at `at`: at most [`WINDOW`] bytes, ending
/// on a chunk boundary so each request fetches whole chunks once.
fn window_end(at: u64, end: u64) -> u64 {
    let boundary = (at / CHUNK_LEN) * CHUNK_LEN + WINDOW;
    boundary.min(end)
}

/// A parsed `Range` header against a resource of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// No (usable) range: send everything with 200.
    Full,
    /// One satisfiable range: send it with 206.
    Partial(Range<u64>),
    /// Nothing of it is inside the resource: 416.
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n`. A header that does not
/// parse, or asks for several ranges, is ignored (RFC 9110 allows a server
/// to answer any range request with the whole resource).
pub fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = match (a.is_empty(), b.is_empty()) {
        (true, true) => return RangeRequest::Full,
        (true, false) => match b.parse::<u64>() {
            Ok(0) => return RangeRequest::Unsatisfiable,
            Ok(n) => len.saturating_sub(n)..len,
            Err(_) => return RangeRequest::Full,
        },
        (false, _) => {
            let Ok(start) = a.parse::<u64>() else {
                return RangeRequest::Full;
            };
            let end = if b.is_empty() {
                len
            } else {
                match b.parse::<u64>() {
                    Ok(last) if last >= start => last.saturating_add(1).min(len),
                    _ => return RangeRequest::Full,
                }
            };
            start..end
        }
    };
    if parsed.start >= len || parsed.start >= parsed.end {
        RangeRequest::Unsatisfiable
    } else {
        RangeRequest::Partial(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::*;
        let check =
            |h: &str, want: RangeRequest| assert_eq!(parse_range(Some(h), 1000), want, "{h}");
        check("bytes=0-99", Partial(0..100));
        check("bytes=100-", Partial(100..1000));
        check("bytes=-10", Partial(990..1000));
        check("bytes=-5000", Partial(0..1000));
        check("bytes=990-5000", Partial(990..1000));
        check("bytes=999-999", Partial(999..1000));
        check("bytes=1000-", Unsatisfiable);
        check("bytes=-0", Unsatisfiable);
        check("bytes=5-1", Full);
        check("bytes=0-1,5-6", Full);
        check("bytes=x-1", Full);
        check("items=0-1", Full);
        check("bytes=-", Full);
        assert_eq!(parse_range(None, 1000), Full);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
    }

    #[test]
    fn windows_end_on_chunk_boundaries() {
        assert_eq!(window_end(0, u64::MAX), WINDOW);
        assert_eq!(window_end(10, u64::MAX), WINDOW);
        assert_eq!(window_end(CHUNK_LEN + 5, u64::MAX), CHUNK_LEN + WINDOW);
        assert_eq!(window_end(0, 100), 100);
    }
}
