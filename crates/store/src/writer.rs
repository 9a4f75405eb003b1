use rusqlite::Connection;

use crate::{Table, Value};

/// Row-level writes inside one transaction.
///
/// The op recorder implements this: each call writes the row *and* records
/// it. The typed operations in [`crate::writes`] are written against this
/// trait so that none of them can reach the database unrecorded.
pub trait Writer {
    /// The transaction's connection, for reads inside the write.
    fn conn(&self) -> &Connection;

    /// A new row id (UUIDv4 text). Injected so that simulations are
    /// reproducible from a seed.
    fn new_id(&mut self) -> String;

    /// The write's wall time as RFC 3339, for `created_at` / `updated_at`.
    fn now_rfc3339(&self) -> String;

    /// Inserts a row. `fields` holds `id` and every column the caller sets;
    /// for a synced table it must hold every synced column.
    fn insert(&mut self, table: Table, fields: &[(&str, Value)]) -> Result<(), WriteError>;

    /// Sets `fields` of row `id`, recording only the fields whose value
    /// changes. Returns whether the row exists.
    fn update(
        &mut self,
        table: Table,
        id: &str,
        fields: &[(&str, Value)],
    ) -> Result<bool, WriteError>;

    /// Deletes row `id` and, first, every row that references it (recorded
    /// one by one). Returns whether the row existed.
    fn delete(&mut self, table: Table, id: &str) -> Result<bool, WriteError>;
}

/// Why a write failed. The transaction it was part of is rolled back: neither
/// the data nor its ops are kept.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// SQLite refused the write (a constraint, a full disk, an I/O error).
    #[error("library write failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The write refers to a row that does not exist.
    #[error("no {table} row with id {id}")]
    NotFound {
        /// The table searched.
        table: Table,
        /// The missing id.
        id: String,
    },
    /// A value is not one the column accepts.
    #[error("invalid value for {table}.{column}: {reason}")]
    InvalidValue {
        /// The table.
        table: Table,
        /// The column.
        column: &'static str,
        /// What was wrong.
        reason: String,
    },
}
