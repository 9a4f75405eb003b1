//! Padded small objects: PADMÉ size classes over the chunked format.

use zeroize::Zeroizing;

use crate::error::DecryptError;
use crate::key::LibraryKey;
use crate::object::{self, Domain};

/// Length of the little-endian u64 length field at the front of a frame.
const LEN_FIELD: u64 = 8;

/// The PADMÉ padded length of `len` (Nikitin et al., "Reducing Metadata
/// Leakage from Encrypted Files and Communication with PURBs", 2019).
///
/// With `E = floor(log2 len)` and `S = floor(log2 E) + 1`, `len` is rounded up
/// to a multiple of `2^(E - S)`. Lengths 0 and 1 are returned unchanged. The
/// result is at least `len`, monotone in `len`, at most 12% larger than `len`
/// (for every `len >= 1`), and takes only `O(log log len)` bits to describe.
/// It saturates at `u64::MAX` for lengths within 2^57 of it.
pub fn padme_len(len: u64) -> u64 {
    if len < 2 {
        return len;
    }
    let e = len.ilog2();
    let s = e.ilog2() + 1;
    let mask = (1u64 << (e - s)) - 1;
    len.checked_add(mask).map_or(u64::MAX, |n| n & !mask)
}

/// Encrypts `plaintext` padded to a PADMÉ size class, as the object stored at
/// bucket path `path`, so that its size reveals little about its content.
///
/// The encrypted frame is `len (u64 LE) || plaintext || zeros`, of
/// `padme_len(8 + len)` bytes. `base_nonce` must never repeat under one key,
/// as for [`crate::encrypt`]. Padded objects use their own format tag, so
/// they decrypt only with [`decrypt_padded`] (and plain objects only with
/// [`crate::decrypt`]).
pub fn encrypt_padded(
    key: &LibraryKey,
    path: &str,
    plaintext: &[u8],
    base_nonce: [u8; 24],
) -> Vec<u8> {
    let len = plaintext.len() as u64;
    let framed = padme_len(
        LEN_FIELD
            .checked_add(len)
            .expect("in-memory length fits a frame"),
    );
    let framed = usize::try_from(framed).expect("padded frame fits in memory");
    let mut frame = Zeroizing::new(Vec::with_capacity(framed));
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(plaintext);
    frame.resize(framed, 0);
    object::seal_object(Domain::Padded, key, path, &frame, base_nonce)
}

/// Decrypts and authenticates an object written by [`encrypt_padded`] under
/// `key` at bucket path `path`, and strips its framing.
pub fn decrypt_padded(
    key: &LibraryKey,
    path: &str,
    object: &[u8],
) -> Result<Vec<u8>, DecryptError> {
    let frame = Zeroizing::new(object::open_object(Domain::Padded, key, path, object)?);
    unframe(&frame).map(<[u8]>::to_vec)
}

/// The plaintext inside a decrypted frame, if the frame is canonical.
fn unframe(frame: &[u8]) -> Result<&[u8], DecryptError> {
    let (len, rest) = frame
        .split_first_chunk::<8>()
        .ok_or(DecryptError::BadPadding)?;
    let len = u64::from_le_bytes(*len);
    if len > rest.len() as u64 || padme_len(LEN_FIELD + len) != frame.len() as u64 {
        return Err(DecryptError::BadPadding);
    }
    let (body, padding) = rest.split_at(usize::try_from(len).expect("len <= rest.len()"));
    if padding.iter().any(|&b| b != 0) {
        return Err(DecryptError::BadPadding);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seals an arbitrary frame as a padded object, bypassing the framing.
    fn seal_frame(frame: &[u8]) -> (LibraryKey, Vec<u8>) {
        let key = LibraryKey::from_bytes([7; 32]);
        let object = object::seal_object(Domain::Padded, &key, "heads/d", frame, [1; 24]);
        (key, object)
    }

    fn frame(len: u64, body: &[u8], total: usize) -> Vec<u8> {
        let mut f = len.to_le_bytes().to_vec();
        f.extend_from_slice(body);
        f.resize(total, 0);
        f
    }

    #[test]
    fn authentic_but_malformed_frames_are_bad_padding() {
        let cases: &[(&str, Vec<u8>)] = &[
            ("empty frame", vec![]),
            ("frame shorter than the length field", vec![0; 7]),
            (
                "length past the end",
                frame(100, b"abc", padme_len(11) as usize),
            ),
            ("length u64::MAX", frame(u64::MAX, b"abc", 16)),
            ("frame longer than the padme size", frame(3, b"abc", 13)),
            ("frame shorter than the padme size", frame(17, &[9; 17], 25)),
            ("non-zero padding", {
                let mut f = frame(17, &[9; 17], padme_len(25) as usize);
                *f.last_mut().unwrap() = 1;
                f
            }),
        ];
        assert_ne!(padme_len(25), 25, "the non-zero padding case needs padding");
        for (name, frame) in cases {
            let (key, object) = seal_frame(frame);
            assert_eq!(
                decrypt_padded(&key, "heads/d", &object),
                Err(DecryptError::BadPadding),
                "{name}"
            );
        }
    }

    #[test]
    fn canonical_frame_decrypts() {
        let (key, object) = seal_frame(&frame(3, b"abc", padme_len(11) as usize));
        assert_eq!(decrypt_padded(&key, "heads/d", &object).unwrap(), b"abc");
    }

    #[test]
    fn padme_known_values() {
        let cases = [
            (0, 0),
            (1, 1),
            (2, 2),
            (7, 7),
            (9, 10),
            (100, 104),
            (129, 144),
            (1000, 1024),
            (1025, 1088),
            (65_537, 67_584),
            (u64::MAX, u64::MAX),
        ];
        for (len, padded) in cases {
            assert_eq!(padme_len(len), padded, "padme_len({len})");
        }
    }
}
