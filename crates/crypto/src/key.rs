//! The library key and random nonces.

use std::fmt;

use zeroize::Zeroize;

use crate::sodium;

/// The 32-byte XChaCha20-Poly1305 key that encrypts every object of a library.
///
/// The bytes are zeroed when the key is dropped, and `Debug` never shows
/// them. There is deliberately no `Display` and no `PartialEq` (a non
/// constant-time comparison of keys has no legitimate use).
#[derive(Clone)]
pub struct LibraryKey {
    bytes: [u8; sodium::KEY_LEN],
}

impl LibraryKey {
    /// A fresh key from libsodium's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; sodium::KEY_LEN];
        sodium::random_bytes(&mut bytes);
        Self { bytes }
    }

    /// A key from its 32 raw bytes (for example, unwrapped from storage, or
    /// derived from a seed in deterministic tests). The caller's copy of
    /// `bytes` is not zeroed.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self { bytes }
    }

    /// The 32 raw key bytes, for wrapping the key to store or share it.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl Drop for LibraryKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for LibraryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LibraryKey(<redacted>)")
    }
}

/// A fresh 24-byte base nonce from libsodium's CSPRNG, for [`crate::encrypt`]
/// and [`crate::encrypt_padded`].
pub fn random_nonce() -> [u8; 24] {
    let mut nonce = [0u8; sodium::NONCE_LEN];
    sodium::random_bytes(&mut nonce);
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let key = LibraryKey::from_bytes([0xab; 32]);
        let shown = format!("{key:?} {key:#?}");
        assert_eq!(format!("{key:?}"), "LibraryKey(<redacted>)");
        assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
    }

    #[test]
    fn generated_keys_and_nonces_are_random() {
        let (a, b) = (LibraryKey::generate(), LibraryKey::generate());
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_ne!(a.as_bytes(), &[0; 32]);
        assert_ne!(random_nonce(), random_nonce());
    }

    #[test]
    fn from_bytes_round_trips() {
        let bytes: [u8; 32] = std::array::from_fn(|i| i as u8);
        assert_eq!(LibraryKey::from_bytes(bytes).as_bytes(), &bytes);
        assert_eq!(LibraryKey::from_bytes(bytes).clone().as_bytes(), &bytes);
    }
}
