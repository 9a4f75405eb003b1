//! bae's library store: the schema, its migrations and the SQLite database.
//!
//! This crate sits *below* the op log: it knows tables, rows and the on-disk
//! layout of the sync metadata, but records nothing. Writes go through the
//! [`Writer`] trait, whose only implementation outside tests is the op
//! recorder in `bae-oplog`; the typed write operations bae's app needs
//! ([`writes`]) are written against that trait, so each one is recorded
//! without knowing it.

mod database;
mod dump;
mod meta;
mod migrate;
mod schema;
mod sql;
mod table;
mod value;
mod writer;
pub mod writes;

pub use database::{Database, OpenError};
pub use dump::{SyncedDump, dump_synced, dump_value};
pub use meta::{DeviceIndex, FieldClock, FieldClocks, RowClock, Tombstone};
pub use migrate::SCHEMA_VERSION;
pub use schema::{Column, ForeignKey, Schema, TableSchema};
pub use sql::{RowData, delete_row, insert_row, read_fields, row_exists, update_row};
pub use table::Table;
pub use value::Value;
pub use writer::{WriteError, Writer};
