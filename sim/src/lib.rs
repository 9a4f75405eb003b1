//! `bae-sim`: a deterministic simulation of bae-sync.
//!
//! Several virtual devices, each a turmoil host with its own SQLite library
//! on disk, its own skewed clock and the real sync code (`bae_sync::Syncer`
//! over `bae_bucket::S3Bucket` and aws-sdk-s3), share one in-memory S3
//! bucket served by s3s on another turmoil host. The driver partitions,
//! holds, crashes and restarts devices, makes the bucket fail and lag,
//! skews clocks, jumps time past the GC grace period, restores a device
//! from an old backup and adds new devices; then it heals everything, lets
//! every device sync until nothing changes, and checks the invariants in
//! [`check::CHECKERS`] (and GC safety as each deletion happens).
//!
//! The seed is the only randomness: `cargo xtask sim --seed S` replays a
//! run exactly. See `ARCHITECTURE.md` ("sim") for what is real and what is
//! simulated.

pub mod check;
pub mod config;
pub mod device;
pub mod net;
pub mod run;
pub mod s3;
pub mod world;

pub use config::{DEFAULT_SEEDS, Options, Swarm};
pub use run::{Outcome, run_seed};
