//! Deterministic per-field last-writer-wins merge of op batches.
//!
//! The law: the synced state of a library is a function of the *set* of
//! batches it has seen, never of the order they arrived in. Per row:
//!
//! - **Existence** is last-writer-wins over the row's inserts and deletes.
//! - **Each field** is last-writer-wins over the inserts (which set every
//!   field) and the updates of that field.
//! - **Visibility**: a row is visible iff it exists and every row it
//!   references is visible. A row that exists but is not visible is kept in
//!   its table's shadow table and moves back when its parents return, so no
//!   batch ever fails on a foreign key and none is ever dropped.
//!
//! Everything that can still win later is kept (tombstones, and field writes
//! newer than what is known of their row's existence, in `sync_pending`);
//! everything that can never win again is discarded.
//!
//! [`Merger::apply_batch`] applies one batch in one SQLite transaction
//! together with the advance of that device's pull cursor;
//! [`Merger::apply_batches`] applies several in one transaction, each under
//! a savepoint, for bulk pulls. [`reference`]
//! computes the same state the slow, obvious way; with the `cross-check`
//! feature every applied batch is checked against it.
//!
//! Architecture invariant: this crate does no I/O but SQLite, and never
//! writes device-local tables or columns.

mod apply;
mod checkpoint;
#[cfg(feature = "planted-bugs")]
pub mod planted;
pub mod reference;

pub use apply::{Applied, GroupApplied, MergeError, Merger, cursors};
pub use checkpoint::{
    BootError, CHECKPOINT_FORMAT_VERSION, Checkpoint, CheckpointError, CheckpointHeader,
    CheckpointItem, CheckpointReader, CheckpointRow, ReadError,
};
