//! Decryption of an object as a stream, one chunk at a time.

use std::io::{self, Read};

use zeroize::Zeroizing;

use crate::error::DecryptError;
use crate::key::LibraryKey;
use crate::object::{ChunkCipher, Domain, HEADER_LEN, Layout};

/// Reads the plaintext of an object written by [`crate::encrypt`] from a
/// reader of its encrypted bytes, authenticating one chunk at a time: only
/// one chunk is ever in memory, so an object larger than memory (a
/// checkpoint of a large library) can be decrypted from a file.
///
/// Every byte it returns has been authenticated, but a later chunk may still
/// fail; a consumer must treat what it read as provisional until
/// [`Read::read`] returns 0 (the last chunk, flagged as last, authenticated).
/// A failure is an [`io::Error`] of kind [`io::ErrorKind::InvalidData`]
/// whose inner error is the [`DecryptError`] (see [`decrypt_error`]).
pub struct DecryptReader<'k, R> {
    inner: R,
    cipher: ChunkCipher<'k>,
    layout: Layout,
    next_chunk: u64,
    sealed: Vec<u8>,
    plain: Zeroizing<Vec<u8>>,
    pos: usize,
}

impl<R> std::fmt::Debug for DecryptReader<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptReader")
            .field("plaintext_len", &self.layout.plaintext_len)
            .field("next_chunk", &self.next_chunk)
            .finish_non_exhaustive()
    }
}

impl<'k, R: Read> DecryptReader<'k, R> {
    /// Starts reading the object stored at bucket path `path`, of
    /// `ciphertext_len` bytes in all, from `inner` (positioned at its
    /// first byte). Reads the 24-byte header.
    pub fn new(
        key: &'k LibraryKey,
        path: &str,
        mut inner: R,
        ciphertext_len: u64,
    ) -> io::Result<Self> {
        let layout = Layout::for_ciphertext(ciphertext_len).map_err(invalid)?;
        let mut header = [0u8; HEADER_LEN as usize];
        inner
            .read_exact(&mut header)
            .map_err(|e| truncated(e, ciphertext_len))?;
        Ok(Self {
            inner,
            cipher: ChunkCipher::new(Domain::Object, key, path, header),
            layout,
            next_chunk: 0,
            sealed: Vec::new(),
            plain: Zeroizing::new(Vec::new()),
            pos: 0,
        })
    }

    /// The plaintext length the object's length implies.
    pub fn plaintext_len(&self) -> u64 {
        self.layout.plaintext_len
    }

    fn fill(&mut self) -> io::Result<()> {
        let index = self.next_chunk;
        let range = self.layout.sealed_range(index);
        self.sealed.resize(
            usize::try_from(range.end - range.start).expect("a chunk fits"),
            0,
        );
        self.inner
            .read_exact(&mut self.sealed)
            .map_err(|e| truncated(e, range.end))?;
        self.plain.clear();
        self.pos = 0;
        self.cipher
            .open(self.layout, index, &self.sealed, &mut self.plain)
            .map_err(invalid)?;
        self.next_chunk += 1;
        Ok(())
    }
}

impl<R: Read> Read for DecryptReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.plain.len() {
            if self.next_chunk == self.layout.chunks {
                return Ok(0);
            }
            self.fill()?;
        }
        let n = buf.len().min(self.plain.len() - self.pos);
        buf[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The [`DecryptError`] inside an error of a [`DecryptReader`], if that is
/// what it is (and not an error of the underlying reader).
pub fn decrypt_error(e: &io::Error) -> Option<&DecryptError> {
    e.get_ref()?.downcast_ref::<DecryptError>()
}

fn invalid(e: DecryptError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The source ended before the length it was said to have: the object is
/// shorter than its length claimed.
fn truncated(e: io::Error, len: u64) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        invalid(DecryptError::BadLength { len })
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CHUNK_LEN, encrypt};

    fn read_all(key: &LibraryKey, path: &str, object: &[u8]) -> io::Result<Vec<u8>> {
        let mut r = DecryptReader::new(key, path, object, object.len() as u64)?;
        let mut out = Vec::new();
        // Small reads, so chunk boundaries fall inside reads.
        let mut buf = [0u8; 1000];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn streams_what_decrypt_returns_at_every_size() {
        let key = LibraryKey::from_bytes([7; 32]);
        let c = CHUNK_LEN as usize;
        for len in [0, 1, c - 1, c, c + 1, 3 * c + 17] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let object = encrypt(&key, "checkpoints/x.enc", &plain, [3; 24]);
            assert_eq!(
                read_all(&key, "checkpoints/x.enc", &object).unwrap(),
                plain,
                "{len}"
            );
        }
    }

    #[test]
    fn tampering_truncation_and_another_path_fail_with_the_decrypt_error() {
        let key = LibraryKey::from_bytes([7; 32]);
        let plain = vec![5u8; 3 * CHUNK_LEN as usize];
        let object = encrypt(&key, "p", &plain, [3; 24]);
        let mut flipped = object.clone();
        flipped[2 * CHUNK_LEN as usize] ^= 1;
        let e = read_all(&key, "p", &flipped).unwrap_err();
        assert!(
            matches!(
                decrypt_error(&e),
                Some(DecryptError::Authentication { chunk: 1 })
            ),
            "{e}"
        );
        // Cut at a chunk boundary: the new last chunk is not flagged last.
        let cut = &object[..object.len() - CHUNK_LEN as usize - 16];
        let e = read_all(&key, "p", cut).unwrap_err();
        assert!(
            matches!(decrypt_error(&e), Some(DecryptError::Authentication { .. })),
            "{e}"
        );
        let e = read_all(&key, "q", &object).unwrap_err();
        assert!(
            matches!(
                decrypt_error(&e),
                Some(DecryptError::Authentication { chunk: 0 })
            ),
            "{e}"
        );
        // A source shorter than the length it was announced with.
        let mut r = DecryptReader::new(&key, "p", &object[..100], object.len() as u64).unwrap();
        let e = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert!(
            matches!(decrypt_error(&e), Some(DecryptError::BadLength { .. })),
            "{e}"
        );
    }
}
