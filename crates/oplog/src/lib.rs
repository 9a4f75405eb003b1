//! Records every synced write as row-level ops in the same SQLite transaction.
