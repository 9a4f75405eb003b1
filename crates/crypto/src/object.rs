//! The chunked object format (see the crate documentation for the layout).

use std::ops::Range;

use zeroize::Zeroizing;

use crate::error::DecryptError;
use crate::key::LibraryKey;
use crate::sodium;

/// Plaintext bytes per chunk; every chunk but the last holds exactly this many.
pub const CHUNK_LEN: u64 = 65_536;

/// Length of the base nonce at the front of every object.
pub(crate) const HEADER_LEN: u64 = sodium::NONCE_LEN as u64;
const TAG_LEN: u64 = sodium::TAG_LEN as u64;
/// Length of a sealed full chunk.
const SEALED_CHUNK_LEN: u64 = CHUNK_LEN + TAG_LEN;
/// The smallest object: header plus one empty sealed chunk.
const MIN_OBJECT_LEN: u64 = HEADER_LEN + TAG_LEN;

/// Which kind of object a chunk belongs to; its tag opens every chunk's
/// associated data, so one kind never decrypts as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Domain {
    /// Plain chunked objects: [`encrypt`] / [`decrypt`] / range decryption.
    Object,
    /// Padded frames: `encrypt_padded` / `decrypt_padded`.
    Padded,
}

impl Domain {
    fn tag(self) -> &'static [u8; 10] {
        match self {
            Domain::Object => b"bae-obj-v1",
            Domain::Padded => b"bae-pad-v1",
        }
    }
}

/// Where each chunk of an object lies, from its plaintext length alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Total plaintext length.
    pub(crate) plaintext_len: u64,
    /// Number of chunks, at least one.
    pub(crate) chunks: u64,
}

impl Layout {
    pub(crate) fn for_plaintext(plaintext_len: u64) -> Self {
        let chunks = plaintext_len.div_ceil(CHUNK_LEN).max(1);
        Self {
            plaintext_len,
            chunks,
        }
    }

    /// The layout of an object of `len` bytes, if encryption produces that
    /// length. It is the inverse of [`Layout::ciphertext_len`].
    pub(crate) fn for_ciphertext(len: u64) -> Result<Self, DecryptError> {
        if len < MIN_OBJECT_LEN {
            return Err(DecryptError::TooShort { len });
        }
        let body = len - HEADER_LEN;
        let chunks = body.div_ceil(SEALED_CHUNK_LEN);
        let last = body - (chunks - 1) * SEALED_CHUNK_LEN;
        // The final chunk holds at least its tag, and it is empty only when
        // it is the only chunk (encryption never appends an empty chunk).
        if last < TAG_LEN || (chunks > 1 && last == TAG_LEN) {
            return Err(DecryptError::BadLength { len });
        }
        Ok(Self {
            plaintext_len: body - chunks * TAG_LEN,
            chunks,
        })
    }

    /// Total object length, or `None` if it does not fit in a `u64`.
    pub(crate) fn checked_ciphertext_len(self) -> Option<u64> {
        self.plaintext_len
            .checked_add(self.chunks.checked_mul(TAG_LEN)?)?
            .checked_add(HEADER_LEN)
    }

    pub(crate) fn is_last(self, index: u64) -> bool {
        index + 1 == self.chunks
    }

    /// Plaintext offsets of chunk `index`.
    pub(crate) fn plain_range(self, index: u64) -> Range<u64> {
        let start = index * CHUNK_LEN;
        start..(start + CHUNK_LEN).min(self.plaintext_len)
    }

    /// Object offsets of sealed chunk `index` (its ciphertext and tag).
    pub(crate) fn sealed_range(self, index: u64) -> Range<u64> {
        let plain = self.plain_range(index);
        let start = HEADER_LEN + index * SEALED_CHUNK_LEN;
        start..start + (plain.end - plain.start) + TAG_LEN
    }
}

/// The per-chunk nonce: the base nonce with the chunk index (u64
/// little-endian) XORed into its last 8 bytes.
fn chunk_nonce(base: &[u8; 24], index: u64) -> [u8; 24] {
    let mut nonce = *base;
    for (byte, idx) in nonce[16..].iter_mut().zip(index.to_le_bytes()) {
        *byte ^= idx;
    }
    nonce
}

/// The associated data of one object, rewritten in place for each chunk:
/// `tag (10) || path_len (u64 LE) || path || index (u64 LE) || last (u8)`.
struct Aad {
    buf: Vec<u8>,
}

impl Aad {
    fn new(domain: Domain, path: &str) -> Self {
        let mut buf = Vec::with_capacity(10 + 8 + path.len() + 9);
        buf.extend_from_slice(domain.tag());
        buf.extend_from_slice(&(path.len() as u64).to_le_bytes());
        buf.extend_from_slice(path.as_bytes());
        buf.extend_from_slice(&[0; 9]);
        Self { buf }
    }

    fn for_chunk(&mut self, index: u64, last: bool) -> &[u8] {
        let n = self.buf.len();
        self.buf[n - 9..n - 1].copy_from_slice(&index.to_le_bytes());
        self.buf[n - 1] = u8::from(last);
        &self.buf
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).expect("length fits in usize")
}

/// The key, base nonce and associated data of one object: everything needed
/// to seal or open any of its chunks.
pub(crate) struct ChunkCipher<'a> {
    key: &'a LibraryKey,
    base_nonce: [u8; 24],
    aad: Aad,
}

impl<'a> ChunkCipher<'a> {
    pub(crate) fn new(
        domain: Domain,
        key: &'a LibraryKey,
        path: &str,
        base_nonce: [u8; 24],
    ) -> Self {
        Self {
            key,
            base_nonce,
            aad: Aad::new(domain, path),
        }
    }

    /// Appends chunk `index` of `layout`, sealed, to `out`.
    fn seal(&mut self, layout: Layout, index: u64, chunk: &[u8], out: &mut Vec<u8>) {
        let nonce = chunk_nonce(&self.base_nonce, index);
        let aad = self.aad.for_chunk(index, layout.is_last(index));
        sodium::seal(out, self.key.as_bytes(), &nonce, aad, chunk);
    }

    /// Opens chunk `index` of `layout` and appends its plaintext to `out`.
    pub(crate) fn open(
        &mut self,
        layout: Layout,
        index: u64,
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DecryptError> {
        let nonce = chunk_nonce(&self.base_nonce, index);
        let aad = self.aad.for_chunk(index, layout.is_last(index));
        sodium::open(out, self.key.as_bytes(), &nonce, aad, sealed)
            .map_err(|sodium::Forged| DecryptError::Authentication { chunk: index })
    }

    /// Opens chunks `chunks` of `layout`, whose sealed bytes (contiguous,
    /// starting with chunk `chunks.start`) are exactly `sealed`, appending
    /// their plaintext to `out`.
    pub(crate) fn open_chunks(
        &mut self,
        layout: Layout,
        chunks: Range<u64>,
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DecryptError> {
        let origin = layout.sealed_range(chunks.start).start;
        for index in chunks {
            let range = layout.sealed_range(index);
            let bytes = &sealed[to_usize(range.start - origin)..to_usize(range.end - origin)];
            self.open(layout, index, bytes, out)?;
        }
        Ok(())
    }
}

/// Encrypts `plaintext` as a `domain` object.
pub(crate) fn seal_object(
    domain: Domain,
    key: &LibraryKey,
    path: &str,
    plaintext: &[u8],
    base_nonce: [u8; 24],
) -> Vec<u8> {
    let layout = Layout::for_plaintext(plaintext.len() as u64);
    let total = layout
        .checked_ciphertext_len()
        .expect("in-memory plaintext fits an object");
    let mut out = Vec::with_capacity(to_usize(total));
    out.extend_from_slice(&base_nonce);
    let mut cipher = ChunkCipher::new(domain, key, path, base_nonce);
    for index in 0..layout.chunks {
        let plain = layout.plain_range(index);
        let chunk = &plaintext[to_usize(plain.start)..to_usize(plain.end)];
        cipher.seal(layout, index, chunk, &mut out);
    }
    assert_eq!(out.len() as u64, total, "object length matches its layout");
    out
}

/// Decrypts a whole `domain` object.
pub(crate) fn open_object(
    domain: Domain,
    key: &LibraryKey,
    path: &str,
    object: &[u8],
) -> Result<Vec<u8>, DecryptError> {
    let layout = Layout::for_ciphertext(object.len() as u64)?;
    let (header, sealed) = object
        .split_first_chunk::<24>()
        .expect("length was checked");
    // Zeroed if a later chunk fails, so no authenticated prefix lingers.
    let mut out = Zeroizing::new(Vec::with_capacity(to_usize(layout.plaintext_len)));
    ChunkCipher::new(domain, key, path, *header).open_chunks(
        layout,
        0..layout.chunks,
        sealed,
        &mut out,
    )?;
    Ok(std::mem::take(&mut *out))
}

/// Encrypts `plaintext` as the object stored at bucket path `path`.
///
/// `base_nonce` must never repeat under one key: pass [`crate::random_nonce`]
/// in production, and distinct nonces from a seeded generator in
/// deterministic simulations. The result is [`ciphertext_len`] of the
/// plaintext length long.
pub fn encrypt(key: &LibraryKey, path: &str, plaintext: &[u8], base_nonce: [u8; 24]) -> Vec<u8> {
    seal_object(Domain::Object, key, path, plaintext, base_nonce)
}

/// Decrypts and authenticates a whole object written by [`encrypt`] under
/// `key` at bucket path `path`.
pub fn decrypt(key: &LibraryKey, path: &str, object: &[u8]) -> Result<Vec<u8>, DecryptError> {
    open_object(Domain::Object, key, path, object)
}

/// The length of the object [`encrypt`] (or, for a framed length,
/// `encrypt_padded`) makes from `plaintext_len` bytes: 24 + `plaintext_len`
/// + 16 per chunk.
///
/// # Panics
///
/// If the result does not fit in a `u64` (plaintexts within about 2^52 bytes
/// of `u64::MAX`), which no real object reaches.
pub fn ciphertext_len(plaintext_len: u64) -> u64 {
    Layout::for_plaintext(plaintext_len)
        .checked_ciphertext_len()
        .expect("plaintext length too large for an encrypted object")
}

/// The plaintext length of an object of `ciphertext_len` bytes, or an error if
/// encryption never produces an object of that length.
///
/// The inverse of [`ciphertext_len`]. The length is not authenticated: an
/// object cut at a chunk boundary still has a valid length, and only
/// decrypting its (new) final chunk reveals the truncation.
pub fn plaintext_len(ciphertext_len: u64) -> Result<u64, DecryptError> {
    Layout::for_ciphertext(ciphertext_len).map(|layout| layout.plaintext_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_derivation_xors_little_endian_index_into_last_eight_bytes() {
        let base = [0u8; 24];
        let n = chunk_nonce(&base, 0x0102_0304_0506_0708);
        assert_eq!(&n[..16], &[0; 16]);
        assert_eq!(&n[16..], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(chunk_nonce(&[0xff; 24], 0), [0xff; 24]);
    }

    #[test]
    fn aad_layout() {
        let mut aad = Aad::new(Domain::Object, "ab");
        let expected_prefix = b"bae-obj-v1\x02\0\0\0\0\0\0\0ab";
        let got = aad.for_chunk(3, true).to_vec();
        assert_eq!(&got[..20], expected_prefix);
        assert_eq!(&got[20..], &[3, 0, 0, 0, 0, 0, 0, 0, 1]);
        let got = aad.for_chunk(0, false).to_vec();
        assert_eq!(&got[20..], &[0; 9]);
        assert_eq!(
            Aad::new(Domain::Padded, "").for_chunk(0, false)[..10],
            *b"bae-pad-v1"
        );
    }

    #[test]
    fn layout_of_boundary_sizes() {
        let c = CHUNK_LEN;
        for (plain, chunks) in [
            (0, 1),
            (1, 1),
            (c - 1, 1),
            (c, 1),
            (c + 1, 2),
            (3 * c + 7, 4),
        ] {
            let layout = Layout::for_plaintext(plain);
            assert_eq!(layout.chunks, chunks, "plaintext {plain}");
            let len = layout.checked_ciphertext_len().unwrap();
            assert_eq!(len, 24 + plain + 16 * chunks);
            assert_eq!(Layout::for_ciphertext(len), Ok(layout));
            let last = layout.sealed_range(chunks - 1);
            assert_eq!(last.end, len);
        }
        assert_eq!(
            Layout::for_plaintext(2 * c + 1).sealed_range(1),
            24 + c + 16..24 + 2 * (c + 16)
        );
        assert_eq!(
            Layout::for_plaintext(2 * c + 1).plain_range(2),
            2 * c..2 * c + 1
        );
    }

    #[test]
    fn ciphertext_len_overflow_is_detected() {
        assert_eq!(
            Layout::for_plaintext(u64::MAX).checked_ciphertext_len(),
            None
        );
        assert_eq!(
            Layout::for_plaintext(u64::MAX - 40).checked_ciphertext_len(),
            None
        );
    }
}
