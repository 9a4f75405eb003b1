//! Deliberate bugs, compiled only with the `planted-bugs` feature and off
//! until [`set`] names one. The simulation (`sim/tests/planted.rs`) switches
//! each on to show that it catches it. Never enabled in normal builds.

use std::sync::atomic::{AtomicU8, Ordering};

/// The planted bugs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// Field updates apply in arrival order, ignoring their HLC.
    ArrivalOrder = 1,
    /// The pull cursor advances in its own transaction before the batch is
    /// applied (an await point between them).
    CursorOutsideTx = 2,
    /// GC ignores the grace period and the heads' cursors.
    GcNoGrace = 3,
    /// An insert of a deleted row ignores the tombstone's clock.
    NoTombstone = 4,
}

/// Every bug with its command-line name.
pub const ALL: [(&str, Bug); 4] = [
    ("arrival-order", Bug::ArrivalOrder),
    ("cursor-outside-tx", Bug::CursorOutsideTx),
    ("gc-no-grace", Bug::GcNoGrace),
    ("no-tombstone", Bug::NoTombstone),
];

static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// Switches on the bug named `name` (process-wide), or every bug off for
/// any other name; false if no such bug.
pub fn set(name: &str) -> bool {
    let bug = ALL.iter().find(|(n, _)| *n == name).map(|(_, b)| *b);
    ACTIVE.store(bug.map_or(0, |b| b as u8), Ordering::SeqCst);
    bug.is_some()
}

/// Whether `bug` is on.
pub fn is(bug: Bug) -> bool {
    ACTIVE.load(Ordering::SeqCst) == bug as u8
}
