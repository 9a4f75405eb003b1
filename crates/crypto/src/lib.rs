//! Library-key encryption through libsodium: chunked XChaCha20-Poly1305 with
//! range decryption.
//!
//! Every object bae-sync puts in a bucket is encrypted under the library's
//! [`LibraryKey`] in the one format below. This documentation is the
//! format's definition; changing any byte of it means a new format tag.
//!
//! # Object format (`bae-obj-v1`)
//!
//! ```text
//! object = base_nonce (24 B) || sealed_0 || sealed_1 || ... || sealed_{n-1}
//! sealed_i = XChaCha20-Poly1305-IETF(key, nonce_i, aad_i, chunk_i)
//!          = ciphertext_i (len(chunk_i) B) || tag_i (16 B)
//! ```
//!
//! - **Chunks.** The plaintext is split into chunks of [`CHUNK_LEN`]
//!   (65,536) bytes; every chunk but the last is full, and the last holds
//!   1..=65,536 bytes. An empty plaintext is exactly one empty chunk, so
//!   `n = max(1, ceil(len / 65536))` and an object is never zero chunks.
//!   Object length: `24 + len + 16 n` ([`ciphertext_len`]); sealed chunk `i`
//!   starts at byte `24 + i * 65552`.
//! - **Base nonce.** 24 random bytes ([`random_nonce`]), stored in clear at
//!   the front. A base nonce must never be reused under one key.
//! - **Per-chunk nonce.** `nonce_i` is the base nonce with the chunk index,
//!   as a little-endian `u64`, XORed into its last 8 bytes (bytes 16..24).
//!   Chunk 0 uses the base nonce itself.
//! - **Associated data** of chunk `i` (nothing of it is stored):
//!
//!   ```text
//!   aad_i = "bae-obj-v1" (10 ASCII bytes)
//!        || len(path) (u64 LE) || path (UTF-8 bytes of the bucket path)
//!        || i (u64 LE)
//!        || last (1 byte: 0x01 for chunk n-1, else 0x00)
//!   ```
//!
//!   The path binds the object to where it is stored: an object moved,
//!   swapped or replayed under another path (another `seq`) fails. The index
//!   makes reordered chunks fail, and the last flag makes an object cut at a
//!   chunk boundary fail (its new final chunk was sealed as not last), as
//!   does one with chunks appended (its old final chunk was sealed as last).
//!   Any failure is a [`DecryptError`]; no unauthenticated plaintext is ever
//!   returned.
//!
//! # Range decryption
//!
//! Since every chunk is sealed on its own, a plaintext byte range can be
//! decrypted from the header and the chunks covering it alone, for streaming
//! audio from a bucket with HTTP `Range` requests: [`range_plan`] says which
//! bytes to fetch, [`decrypt_range`] decrypts them. The last chunk is located
//! from the object's length, so the last flag is still authenticated.
//!
//! # Padded objects (`bae-pad-v1`)
//!
//! Small objects (op batches, heads) are padded so their size says little
//! about their content: [`encrypt_padded`] encrypts the frame
//!
//! ```text
//! frame = len (u64 LE) || plaintext (len B) || zeros, padme_len(8 + len) B in all
//! ```
//!
//! in the object format above, with the format tag `"bae-pad-v1"` in place
//! of `"bae-obj-v1"` (so a padded object never decrypts as a plain one, nor
//! the reverse). [`padme_len`] is PADMÉ: at most 12% overhead, and few
//! distinct sizes. [`decrypt_padded`] rejects a frame that is not exactly
//! this shape.

mod error;
mod key;
mod object;
mod padded;
mod range;
mod reader;
mod sodium;

pub use error::DecryptError;
pub use key::{LibraryKey, random_nonce};
pub use object::{CHUNK_LEN, ciphertext_len, decrypt, encrypt, plaintext_len};
pub use padded::{decrypt_padded, encrypt_padded, padme_len};
pub use range::{RangePlan, decrypt_range, range_plan};
pub use reader::{DecryptReader, decrypt_error};
