//! bae-server: boots a bae library from its bucket and serves it read-only
//! over the Subsonic API.
//!
//! - [`boot`]: download the newest checkpoint, replay the batches after it,
//!   keep the result in a cache directory (resumed on restart).
//! - [`server`]: bind, serve ([`subsonic`]), and pull in the background on a
//!   write connection while reads use read-only ones ([`db`]).
//! - [`media`]: audio and covers decrypted from the bucket on the fly, by
//!   range.
//! - [`bucket`]: the bucket as the server sees it: read-only, enforced.
//!
//! Architecture invariant: the server never writes to the bucket; every
//! bucket it uses is wrapped in [`bucket::ReadOnlyBucket`].

pub mod boot;
pub mod bucket;
pub mod cli;
pub mod db;
pub mod demo;
pub mod library;
pub mod media;
pub mod server;
pub mod status;
pub mod subsonic;
