//! Sync through a bucket: push and pull of encrypted op batches, heads,
//! checkpoints, GC and image bytes.
//!
//! [`Syncer`] does one step at a time (push, pull, checkpoint, GC,
//! bootstrap), each leaving the library and the bucket consistent if it is
//! interrupted anywhere; [`SyncService`] runs them on a timer and after local
//! writes. The bucket layout is [`layout`]; every object in it is encrypted
//! under the library key with its path bound into the associated data.
//!
//! Architecture invariant: this crate is the only one that knows the bucket
//! layout, and it never interprets a batch's ops (that is `bae-merge`).

mod engine;
mod error;
mod head;
mod images;
pub mod layout;
mod service;

pub use engine::{
    GcReport, NonceSource, PullReport, PushReport, RandomNonces, SeededNonces, SharedLibrary,
    SyncConfig, Syncer,
};
pub use error::SyncError;
pub use head::{CheckpointMeta, Head};
pub use images::{ImageStore, add_cover_image};
pub use service::{DeviceStatus, SyncService, SyncStatus};
