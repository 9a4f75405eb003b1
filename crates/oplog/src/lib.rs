//! Every synced write recorded as row-level ops, in the same SQLite
//! transaction as the write.
//!
//! [`OpRecorder`] owns the library [`bae_store::Database`] and hands out
//! [`RecordingTx`] transactions, which implement [`bae_store::Writer`]: each
//! insert, update and delete of a synced table writes the row, stamps its
//! field clocks and appends an [`Op`]; committing the transaction stores the
//! ops as one [`Batch`] in `op_log`, numbered by the device's gap-free `seq`.
//! Rolling it back (or a crash before commit) leaves neither data nor ops.

mod batch;
mod ids;
mod recorder;

pub use batch::{Action, BATCH_FORMAT_VERSION, Batch, DecodeError, Op};
pub use ids::{IdSource, RandomIds, SeededIds};
pub use recorder::{OpRecorder, OpenError, RecordingTx, StoredBatch};
