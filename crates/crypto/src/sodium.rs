//! The only place this crate calls libsodium: a safe wrapper over the three
//! functions it needs (random bytes, XChaCha20-Poly1305-IETF seal and open).
//!
//! Every function here calls [`init`] first, so no libsodium call can run
//! before `sodium_init`.

#![allow(unsafe_code)]

use std::ffi::c_ulonglong;
use std::sync::OnceLock;

use libsodium_sys as ffi;

/// Key length of XChaCha20-Poly1305-IETF.
pub(crate) const KEY_LEN: usize = ffi::crypto_aead_xchacha20poly1305_ietf_KEYBYTES as usize;
/// Nonce length of XChaCha20-Poly1305-IETF.
pub(crate) const NONCE_LEN: usize = ffi::crypto_aead_xchacha20poly1305_ietf_NPUBBYTES as usize;
/// Authentication tag length of XChaCha20-Poly1305-IETF.
pub(crate) const TAG_LEN: usize = ffi::crypto_aead_xchacha20poly1305_ietf_ABYTES as usize;

/// A sealed message did not authenticate under the given key, nonce and
/// associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Forged;

/// Runs `sodium_init` exactly once per process.
fn init() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        // SAFETY: `sodium_init` takes no arguments, is thread-safe and may be
        // called any number of times; it only sets up libsodium's globals.
        let rc = unsafe { ffi::sodium_init() };
        // 0: initialised now; 1: already initialised; -1: failure.
        assert_ne!(
            rc, -1,
            "libsodium failed to initialise (sodium_init returned -1)"
        );
    });
}

/// Fills `buf` with bytes from libsodium's CSPRNG.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    init();
    // SAFETY: `buf` is a valid, writable region of exactly `buf.len()` bytes,
    // and libsodium writes exactly `size` bytes into it.
    unsafe { ffi::randombytes_buf(buf.as_mut_ptr().cast(), buf.len()) }
}

/// Appends `msg` sealed with XChaCha20-Poly1305-IETF (ciphertext then 16-byte
/// tag, `msg.len() + TAG_LEN` bytes) to `out`.
pub(crate) fn seal(
    out: &mut Vec<u8>,
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    msg: &[u8],
) {
    init();
    let start = out.len();
    out.resize(start + msg.len() + TAG_LEN, 0);
    let dst = &mut out[start..];
    let mut written: c_ulonglong = 0;
    // SAFETY: `dst` is writable for `msg.len() + TAG_LEN` bytes, the size
    // libsodium writes. `msg` and `aad` are readable for the lengths passed,
    // `nonce` and `key` have the sizes libsodium reads (NPUBBYTES, KEYBYTES),
    // and `nsec` must be null for this construction. `dst` is a fresh region
    // of `out`, which cannot alias `msg`, `aad`, `nonce` or `key` (they are
    // shared borrows while `out` is borrowed mutably).
    let rc = unsafe {
        ffi::crypto_aead_xchacha20poly1305_ietf_encrypt(
            dst.as_mut_ptr(),
            &mut written,
            msg.as_ptr(),
            msg.len() as c_ulonglong,
            aad.as_ptr(),
            aad.len() as c_ulonglong,
            std::ptr::null(),
            nonce.as_ptr(),
            key.as_ptr(),
        )
    };
    assert_eq!(rc, 0, "crypto_aead_xchacha20poly1305_ietf_encrypt failed");
    assert_eq!(
        written,
        dst.len() as c_ulonglong,
        "libsodium wrote an unexpected length"
    );
}

/// Opens `sealed` (ciphertext then 16-byte tag) and appends the plaintext
/// (`sealed.len() - TAG_LEN` bytes) to `out`. On failure `out` is unchanged.
pub(crate) fn open(
    out: &mut Vec<u8>,
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    sealed: &[u8],
) -> Result<(), Forged> {
    init();
    let Some(plain_len) = sealed.len().checked_sub(TAG_LEN) else {
        return Err(Forged);
    };
    let start = out.len();
    out.resize(start + plain_len, 0);
    let dst = &mut out[start..];
    let mut written: c_ulonglong = 0;
    // SAFETY: `dst` is writable for `sealed.len() - TAG_LEN` bytes, the most
    // libsodium writes. `sealed` and `aad` are readable for the lengths
    // passed, `nonce` and `key` have the sizes libsodium reads, and `nsec`
    // must be null for this construction. `dst` cannot alias the inputs (they
    // are shared borrows while `out` is borrowed mutably). libsodium checks
    // the tag before writing plaintext and zeroes `dst` on failure.
    let rc = unsafe {
        ffi::crypto_aead_xchacha20poly1305_ietf_decrypt(
            dst.as_mut_ptr(),
            &mut written,
            std::ptr::null_mut(),
            sealed.as_ptr(),
            sealed.len() as c_ulonglong,
            aad.as_ptr(),
            aad.len() as c_ulonglong,
            nonce.as_ptr(),
            key.as_ptr(),
        )
    };
    if rc != 0 {
        out.truncate(start);
        return Err(Forged);
    }
    assert_eq!(
        written, plain_len as c_ulonglong,
        "libsodium wrote an unexpected length"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Known-answer checks: the object format, spelled out by hand here from
    //! the crate documentation, must match what `encrypt` produces byte for
    //! byte when fed straight to libsodium.

    use super::*;
    use crate::{CHUNK_LEN, LibraryKey, encrypt};

    /// Calls libsodium directly, without `seal`.
    fn raw_seal(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], msg: &[u8]) -> Vec<u8> {
        init();
        let mut out = vec![0u8; msg.len() + 16];
        let mut written: c_ulonglong = 0;
        // SAFETY: as in `seal`: `out` is writable for `msg.len() + 16` bytes,
        // every input is readable for the length passed, `nsec` is null.
        let rc = unsafe {
            ffi::crypto_aead_xchacha20poly1305_ietf_encrypt(
                out.as_mut_ptr(),
                &mut written,
                msg.as_ptr(),
                msg.len() as c_ulonglong,
                aad.as_ptr(),
                aad.len() as c_ulonglong,
                std::ptr::null(),
                nonce.as_ptr(),
                key.as_ptr(),
            )
        };
        assert_eq!(rc, 0);
        assert_eq!(written as usize, out.len());
        out
    }

    /// The associated data of the documented format, built by hand.
    fn hand_aad(path: &str, index: u64, last: bool) -> Vec<u8> {
        let mut aad = b"bae-obj-v1".to_vec();
        aad.extend_from_slice(&(path.len() as u64).to_le_bytes());
        aad.extend_from_slice(path.as_bytes());
        aad.extend_from_slice(&index.to_le_bytes());
        aad.push(u8::from(last));
        aad
    }

    #[test]
    fn constants_match_the_format() {
        assert_eq!((KEY_LEN, NONCE_LEN, TAG_LEN), (32, 24, 16));
    }

    #[test]
    fn encrypt_matches_direct_libsodium_calls() {
        let key_bytes: [u8; 32] = std::array::from_fn(|i| i as u8);
        let base: [u8; 24] = std::array::from_fn(|i| 0xa0 ^ i as u8);
        let path = "storage/ab/cd/file";
        let chunk = CHUNK_LEN as usize;
        let plaintext: Vec<u8> = (0..chunk + 5).map(|i| (i * 7 % 251) as u8).collect();

        let object = encrypt(&LibraryKey::from_bytes(key_bytes), path, &plaintext, base);

        // Chunk 0: nonce = base (index 0 XORs nothing), not last.
        let c0 = raw_seal(
            &key_bytes,
            &base,
            &hand_aad(path, 0, false),
            &plaintext[..chunk],
        );
        // Chunk 1: last 8 nonce bytes XOR 1u64 little-endian, last.
        let mut n1 = base;
        n1[16] ^= 1;
        let c1 = raw_seal(
            &key_bytes,
            &n1,
            &hand_aad(path, 1, true),
            &plaintext[chunk..],
        );

        let mut expected = base.to_vec();
        expected.extend_from_slice(&c0);
        expected.extend_from_slice(&c1);
        assert_eq!(object, expected);
    }

    #[test]
    fn open_rejects_inputs_shorter_than_a_tag_and_leaves_out_unchanged() {
        let mut out = vec![1, 2, 3];
        assert_eq!(
            open(&mut out, &[0; 32], &[0; 24], b"", &[0; 15]),
            Err(Forged)
        );
        assert_eq!(
            open(&mut out, &[0; 32], &[0; 24], b"", &[0; 16]),
            Err(Forged)
        );
        assert_eq!(out, [1, 2, 3]);
    }
}
