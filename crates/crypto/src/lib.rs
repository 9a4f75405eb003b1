//! Library-key encryption through libsodium: chunked XChaCha20-Poly1305 with range decryption.
