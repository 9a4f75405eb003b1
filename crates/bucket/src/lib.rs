//! A small object-store trait with S3, local-directory and in-memory implementations.
