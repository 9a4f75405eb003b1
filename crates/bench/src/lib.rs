//! bae's benchmark harness (`cargo xtask bench`) and the deterministic
//! library workload it writes.
//!
//! - [`workload`]: a seeded plan of transactions building a music library the
//!   way bae's app does, and an executor that writes it through any
//!   [`workload::Sink`]. Tests and the simulation can reuse it.
//! - [`sinks`]: the writers benchmarks compare (plain SQL, the real
//!   `LibraryManager`, an alternative metadata layout).
//! - [`fixture`]: the workload written by several devices syncing through
//!   one bucket, which the replay, bootstrap, metadata and memory groups read.
//! - [`baselines`]: SQLite's own ways to the same rows (direct inserts, the
//!   session extension's changesets).
//! - [`measure`]: database sizes, per-object bytes, synced-data digests.
//! - [`groups`]: the benchmark groups; each answers one question and
//!   returns a [`report::GroupReport`].
//! - [`report`], [`machine`]: the report, as text and JSON.

pub mod baselines;
pub mod fixture;
pub mod groups;
pub mod machine;
pub mod measure;
pub mod report;
pub mod rng;
pub mod sinks;
pub mod workload;
