//! Decrypting a plaintext byte range from a partial fetch of an object.

use std::ops::Range;

use zeroize::Zeroizing;

use crate::error::DecryptError;
use crate::key::LibraryKey;
use crate::object::{CHUNK_LEN, ChunkCipher, Domain, HEADER_LEN, Layout};

/// Which ciphertext bytes to fetch to decrypt one plaintext range, made by
/// [`range_plan`] and consumed by [`decrypt_range`].
///
/// Fetch [`header_range`](Self::header_range) (the base nonce, which may be
/// cached per object) and [`chunks_range`](Self::chunks_range) (the sealed
/// chunks covering the range). When `chunks_range().start` is 24 the two are
/// adjacent and one fetch of `0..chunks_range().end` covers both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangePlan {
    plain: Range<u64>,
    layout: Layout,
    chunks: Range<u64>,
}

impl RangePlan {
    /// Object byte range of the 24-byte header (base nonce): always `0..24`.
    pub fn header_range(&self) -> Range<u64> {
        0..HEADER_LEN
    }

    /// Object byte range of the sealed chunks covering the plaintext range.
    pub fn chunks_range(&self) -> Range<u64> {
        let first = self.layout.sealed_range(self.chunks.start);
        let last = self.layout.sealed_range(self.chunks.end - 1);
        first.start..last.end
    }

    /// The plaintext range this plan decrypts.
    pub fn plaintext_range(&self) -> Range<u64> {
        self.plain.clone()
    }
}

/// Plans the fetch for plaintext bytes `plain` of an object `ciphertext_len`
/// bytes long (as reported by the bucket, e.g. a HEAD's `Content-Length`).
///
/// `plain` must be non-empty and end at or before the plaintext length.
/// The last chunk is identified from `ciphertext_len`, so a range touching
/// the end of a truncated object fails to decrypt.
pub fn range_plan(plain: Range<u64>, ciphertext_len: u64) -> Result<RangePlan, DecryptError> {
    let layout = Layout::for_ciphertext(ciphertext_len)?;
    if plain.start >= plain.end || plain.end > layout.plaintext_len {
        return Err(DecryptError::RangeOutOfBounds {
            start: plain.start,
            end: plain.end,
            len: layout.plaintext_len,
        });
    }
    let chunks = plain.start / CHUNK_LEN..(plain.end - 1) / CHUNK_LEN + 1;
    Ok(RangePlan {
        plain,
        layout,
        chunks,
    })
}

/// Decrypts and authenticates the plaintext range of `plan`, given the
/// object's 24-byte `header` and `fetched_chunks`, exactly the bytes at
/// `plan.chunks_range()` of the object stored at `path`. Returns exactly
/// the planned plaintext bytes.
pub fn decrypt_range(
    key: &LibraryKey,
    path: &str,
    plan: &RangePlan,
    header: &[u8; 24],
    fetched_chunks: &[u8],
) -> Result<Vec<u8>, DecryptError> {
    let expected = plan.chunks_range();
    let expected = expected.end - expected.start;
    if fetched_chunks.len() as u64 != expected {
        return Err(DecryptError::FetchLength {
            expected,
            actual: fetched_chunks.len() as u64,
        });
    }
    let covered = plan.layout.plain_range(plan.chunks.start).start
        ..plan.layout.plain_range(plan.chunks.end - 1).end;
    let mut plaintext = Zeroizing::new(Vec::with_capacity(
        usize::try_from(covered.end - covered.start).expect("fetched chunks fit in memory"),
    ));
    ChunkCipher::new(Domain::Object, key, path, *header).open_chunks(
        plan.layout,
        plan.chunks.clone(),
        fetched_chunks,
        &mut plaintext,
    )?;
    let start = usize::try_from(plan.plain.start - covered.start).expect("offset within chunks");
    let end = usize::try_from(plan.plain.end - covered.start).expect("offset within chunks");
    Ok(plaintext[start..end].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_covers_exactly_the_touched_chunks() {
        let c = CHUNK_LEN;
        let len = crate::ciphertext_len(3 * c + 7);
        let plan = range_plan(c - 1..c + 1, len).unwrap();
        assert_eq!(plan.chunks, 0..2);
        assert_eq!(plan.chunks_range(), 24..24 + 2 * (c + 16));
        let plan = range_plan(3 * c..3 * c + 7, len).unwrap();
        assert_eq!(plan.chunks, 3..4);
        assert_eq!(plan.chunks_range(), 24 + 3 * (c + 16)..len);
        assert_eq!(plan.header_range(), 0..24);
        assert_eq!(plan.plaintext_range(), 3 * c..3 * c + 7);
    }
}
