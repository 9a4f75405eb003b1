//! SQLite's own ways of getting a library's rows into a database, which the
//! replay and bootstrap groups measure the merge against:
//!
//! - [`insert_rows`]: the final rows inserted directly, in one transaction
//!   with one prepared statement per table (no history, no metadata): the
//!   fastest SQLite can build the same tables.
//! - [`record_changesets`] / [`apply_changesets`]: SQLite's session
//!   extension. The workload's writes are recorded as one changeset per
//!   transaction on one database and applied, one by one, to another: how
//!   SQLite itself replays a history of writes.
//!
//! Both write bae's schema without sync metadata (migration 1 only), with
//! foreign keys on, WAL and `synchronous=NORMAL` as [`Database::open_at`]
//! sets them.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bae_oplog::SeededIds;
use bae_store::{Database, Table, Value, WriteError, Writer};
use rusqlite::params_from_iter;
use rusqlite::session::{ConflictAction, ConflictType, Session};

use crate::sinks::PlainWriter;
use crate::workload::{Sink, Workload};

/// A synced row: its table, then `id` and the synced fields in schema order
/// (as [`crate::measure::synced_rows`] gives them).
pub type Row = (Table, Vec<Value>);

/// A new database at `path` with bae's schema and no sync metadata.
pub fn plain_database(path: &Path) -> anyhow::Result<Database> {
    Ok(Database::open_at(Some(path), 1)?)
}

/// The synced rows of a library with sync metadata, in the order the history
/// inserted them (by the clock of each row's current insert): the order a
/// replay of the batches creates them in. Parents come before their children,
/// as in the history.
pub fn rows_in_history_order(db: &Database) -> anyhow::Result<Vec<Row>> {
    let mut rows: Vec<(i64, usize, Row)> = Vec::new();
    for (t_index, table) in Table::SYNCED.into_iter().enumerate() {
        let ts = db.schema().table(table);
        let n = ts.fields.len();
        let sql = format!(
            "SELECT id, {}, _sync_hlc FROM {} ORDER BY id",
            ts.fields.join(", "),
            table.name()
        );
        let mut stmt = db.conn().prepare(&sql)?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            let values = (0..=n)
                .map(|i| r.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<Value>>>()?;
            rows.push((r.get(n + 1)?, t_index, (table, values)));
        }
    }
    // Each op has its own clock; the table index orders the (impossible)
    // ties parents first.
    rows.sort_by_key(|(hlc, t, _)| (*hlc, *t));
    Ok(rows.into_iter().map(|(_, _, row)| row).collect())
}

/// Inserts `rows` into `db` in one transaction, with one prepared `INSERT`
/// per table, in the order given.
pub fn insert_rows(db: &mut Database, rows: &[Row]) -> anyhow::Result<()> {
    let schema = Arc::clone(db.schema());
    let tx = db.conn_mut().transaction()?;
    {
        let mut inserts = Table::SYNCED
            .iter()
            .map(|&t| {
                let fields = &schema.table(t).fields;
                tx.prepare(&format!(
                    "INSERT INTO {} (id, {}) VALUES ({})",
                    t.name(),
                    fields.join(", "),
                    vec!["?"; fields.len() + 1].join(", ")
                ))
            })
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (table, values) in rows {
            let i = Table::SYNCED
                .iter()
                .position(|t| t == table)
                .expect("rows are of synced tables");
            inserts[i].execute(params_from_iter(values.iter()))?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The workload's writes as SQLite session changesets, one per transaction.
#[derive(Debug, Default)]
pub struct Changesets {
    /// One changeset per workload transaction, in order.
    pub sets: Vec<Vec<u8>>,
}

impl Changesets {
    /// Their total size.
    pub fn bytes(&self) -> u64 {
        self.sets.iter().map(|s| s.len() as u64).sum()
    }
}

/// Records every transaction of the workload as a changeset.
struct SessionSink {
    db: Database,
    ids: SeededIds,
    sets: Vec<Vec<u8>>,
}

impl Sink for SessionSink {
    fn transaction(
        &mut self,
        at_ms: u64,
        f: &mut dyn FnMut(&mut dyn Writer) -> Result<(), WriteError>,
    ) -> anyhow::Result<()> {
        let conn = self.db.conn();
        let mut session = Session::new(conn)?;
        session.attach::<&str>(None)?;
        let mut w = PlainWriter::new(conn.unchecked_transaction()?, &mut self.ids, at_ms);
        f(&mut w)?;
        w.commit()?;
        let mut set = Vec::new();
        session.changeset_strm(&mut set)?;
        self.sets.push(set);
        Ok(())
    }
}

/// Writes `workload` into a new plain database at `path` as the plain
/// writer does (ids from `seed`, so the same rows as every other sink),
/// recording each transaction as a changeset. Returns the changesets and the
/// database they were recorded on.
pub fn record_changesets(
    workload: &Workload,
    seed: u64,
    path: &Path,
) -> anyhow::Result<(Changesets, Database)> {
    let mut sink = SessionSink {
        db: plain_database(path)?,
        ids: SeededIds::new(seed),
        sets: Vec::new(),
    };
    workload.execute(&mut sink)?;
    Ok((Changesets { sets: sink.sets }, sink.db))
}

/// Applies every changeset to `db`, each in its own transaction
/// (`sqlite3changeset_apply_strm`). A delete of a row that is already gone
/// (a child removed by its parent's `ON DELETE CASCADE` earlier in the same
/// changeset) is omitted; any other conflict aborts. Returns how many
/// changes were omitted.
pub fn apply_changesets(db: &Database, changesets: &Changesets) -> anyhow::Result<u64> {
    let omitted = Arc::new(AtomicU64::new(0));
    for set in &changesets.sets {
        let omitted = Arc::clone(&omitted);
        db.conn().apply_strm(
            &mut set.as_slice(),
            None::<fn(&str) -> bool>,
            move |kind, _item| match kind {
                ConflictType::SQLITE_CHANGESET_NOTFOUND => {
                    omitted.fetch_add(1, Ordering::Relaxed);
                    ConflictAction::SQLITE_CHANGESET_OMIT
                }
                _ => ConflictAction::SQLITE_CHANGESET_ABORT,
            },
        )?;
    }
    Ok(omitted.load(Ordering::Relaxed))
}
