//! Why an object could not be decrypted.

/// Why an object, a range of one, or a padded object could not be decrypted.
///
/// Every variant means the bytes are not what this key wrote at this path;
/// none of them returns any plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// The object is shorter than the smallest encrypted object (24-byte header plus one 16-byte tag).
    #[error(
        "object is {len} bytes, shorter than the 40 bytes of the smallest encrypted object: \
         it was truncated or is not an encrypted object"
    )]
    TooShort {
        /// Length of the object in bytes.
        len: u64,
    },
    /// The object's length is not one encryption produces (its final chunk is shorter than it can be).
    #[error(
        "object length {len} is not a length encryption produces: \
         it was truncated inside a chunk or has bytes appended"
    )]
    BadLength {
        /// Length of the object in bytes.
        len: u64,
    },
    /// A chunk did not authenticate under this key, path, chunk index and last-chunk flag.
    #[error(
        "object failed authentication at chunk {chunk}: it was modified, truncated, \
         or belongs at another path, or it was encrypted under another key"
    )]
    Authentication {
        /// Zero-based index of the first chunk that failed.
        chunk: u64,
    },
    /// A padded object authenticated, but its length field points past the end or its padding is not zero.
    #[error(
        "padded object has a length field past its end or non-zero padding: \
         it was not written by encrypt_padded"
    )]
    BadPadding,
    /// The requested plaintext range is empty or extends past the end of the plaintext.
    #[error(
        "plaintext range {start}..{end} is empty or extends past the object's {len} bytes: \
         request a non-empty range inside 0..{len}"
    )]
    RangeOutOfBounds {
        /// Start of the requested range.
        start: u64,
        /// End (exclusive) of the requested range.
        end: u64,
        /// Plaintext length of the object.
        len: u64,
    },
    /// The ciphertext fetched for a range plan is not exactly the plan's `chunks_range()`.
    #[error(
        "fetched {actual} ciphertext bytes but the range plan needs exactly {expected}: \
         fetch exactly RangePlan::chunks_range() of an object of the planned length"
    )]
    FetchLength {
        /// Length of `RangePlan::chunks_range()`.
        expected: u64,
        /// Length of the bytes passed in.
        actual: u64,
    },
}
