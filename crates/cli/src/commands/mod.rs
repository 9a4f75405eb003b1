//! The commands, by theme.

pub mod import;
pub mod library;
pub mod setup;
pub mod syncing;
