//! Row-level SQL shared by the recorder and the merge. Statements are built
//! from the schema's column names (never from input) and cached by SQLite.

use rusqlite::{Connection, OptionalExtension, params_from_iter};

use crate::{Table, Value};

/// A row's fields by name, in a stable order.
pub type RowData = Vec<(String, Value)>;

/// Inserts one row. `meta` is the row's `(_sync_hlc, _sync_dev)` for a synced
/// table and `None` for a device-local one.
pub fn insert_row(
    conn: &Connection,
    table: Table,
    fields: &[(&str, Value)],
    meta: Option<(i64, i64)>,
) -> rusqlite::Result<()> {
    assert_eq!(
        meta.is_some(),
        table.is_synced(),
        "sync metadata iff {table} is synced"
    );
    let mut cols: Vec<&str> = fields.iter().map(|(c, _)| *c).collect();
    if meta.is_some() {
        cols.extend(["_sync_hlc", "_sync_dev"]);
    }
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table.name(),
        cols.join(", "),
        vec!["?"; cols.len()].join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let meta_values = meta.map(|(h, d)| [Value::Integer(h), Value::Integer(d)]);
    let values = fields
        .iter()
        .map(|(_, v)| v)
        .chain(meta_values.iter().flatten());
    stmt.execute(params_from_iter(values))?;
    Ok(())
}

/// Sets `fields` of row `id`; returns whether the row exists.
pub fn update_row(
    conn: &Connection,
    table: Table,
    id: &str,
    fields: &[(&str, &Value)],
) -> rusqlite::Result<bool> {
    assert!(
        !fields.is_empty(),
        "an update of {table} must set something"
    );
    let sets: Vec<String> = fields.iter().map(|(c, _)| format!("{c} = ?")).collect();
    let sql = format!(
        "UPDATE {} SET {} WHERE id = ?",
        table.name(),
        sets.join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let id = Value::Text(id.to_owned());
    let n = stmt.execute(params_from_iter(
        fields.iter().map(|(_, v)| *v).chain([&id]),
    ))?;
    Ok(n == 1)
}

/// Deletes row `id`; returns whether it existed.
pub fn delete_row(conn: &Connection, table: Table, id: &str) -> rusqlite::Result<bool> {
    let sql = format!("DELETE FROM {} WHERE id = ?", table.name());
    Ok(conn.prepare_cached(&sql)?.execute([id])? == 1)
}

/// Reads `columns` of row `id`, or `None` if there is no such row.
pub fn read_fields(
    conn: &Connection,
    table: Table,
    id: &str,
    columns: &[&str],
) -> rusqlite::Result<Option<Vec<Value>>> {
    assert!(!columns.is_empty());
    let sql = format!(
        "SELECT {} FROM {} WHERE id = ?",
        columns.join(", "),
        table.name()
    );
    conn.prepare_cached(&sql)?
        .query_row([id], |r| {
            (0..columns.len()).map(|i| r.get::<_, Value>(i)).collect()
        })
        .optional()
}

/// Whether row `id` exists.
pub fn row_exists(conn: &Connection, table: Table, id: &str) -> rusqlite::Result<bool> {
    let sql = format!("SELECT 1 FROM {} WHERE id = ?", table.name());
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}
