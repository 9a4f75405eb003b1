//! The writers the benchmark compares, each behind a [`Sink`] on its own
//! on-disk database:
//!
//! - [`Variant::Plain`]: bae's schema without sync metadata (migration 1
//!   only) and a [`Writer`] that executes the SQL and nothing else; deletes
//!   cascade through SQLite's own `ON DELETE CASCADE`.
//! - [`Variant::Recorded`]: the real thing, [`LibraryManager`] over the full
//!   schema: per-row clocks, field-clock overrides, tombstones, op log.
//! - [`Variant::FieldTable`]: the plain writer plus a naive per-field
//!   timestamp table (one row per synced field written, text HLCs, tombstones
//!   as rows of the same table, no op log): the layout we did not choose.
//!
//! All three make ids with [`SeededIds`] and read time from the workload's
//! virtual clock, so the same plan gives the same rows in each.

use std::path::Path;
use std::sync::Arc;

use bae_hlc::{Clock, DeviceId, ManualClock};
use bae_library::{LibraryManager, LibraryOptions};
use bae_oplog::{IdSource, SeededIds};
use bae_store::{
    Database, Schema, Table, Value, WriteError, Writer, delete_row, row_exists, update_row,
};
use rusqlite::{Connection, Transaction, params_from_iter};
use serde::Serialize;

use crate::workload::Sink;

/// The device every variant writes as.
pub const DEVICE: [u8; 16] = [0xbe; 16];

/// The naive layout's table (variant [`Variant::FieldTable`]). `hlc` is the
/// 52-character text form of [`bae_hlc::Hlc`]; a tombstone is the row with
/// `field = ''`.
pub const FIELD_TABLE_DDL: &str = "CREATE TABLE field_timestamps (
    tbl TEXT NOT NULL,
    row_id TEXT NOT NULL,
    field TEXT NOT NULL,
    hlc TEXT NOT NULL,
    PRIMARY KEY (tbl, row_id, field)
) WITHOUT ROWID";

/// One of the writers being compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// The writes without any recording: the baseline.
    Plain,
    /// The writes through `LibraryManager` and the op recorder.
    Recorded,
    /// The writes plus a per-field timestamp table, for comparison.
    FieldTable,
}

impl Variant {
    /// Every variant, the baseline first.
    pub const ALL: [Variant; 3] = [Variant::Plain, Variant::Recorded, Variant::FieldTable];

    /// A short identifier.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::Recorded => "recorded",
            Variant::FieldTable => "field_table",
        }
    }

    /// What it is, for tables.
    pub fn label(self) -> &'static str {
        match self {
            Variant::Plain => "plain writes (no recording)",
            Variant::Recorded => "recorded (LibraryManager: ops + field clocks)",
            Variant::FieldTable => "alternative: per-field timestamp table",
        }
    }

    /// Creates this variant's database at `path` (which must not exist yet)
    /// with ids seeded by `seed`.
    pub fn open(self, path: &Path, seed: u64) -> anyhow::Result<Box<dyn BenchSink>> {
        Ok(match self {
            Variant::Plain => Box::new(PlainSink::create(path, seed)?),
            Variant::Recorded => Box::new(RecordedSink::create(path, seed)?),
            Variant::FieldTable => Box::new(FieldTableSink::create(path, seed)?),
        })
    }
}

/// A [`Sink`] whose database the benchmark can measure afterwards.
pub trait BenchSink: Sink + std::fmt::Debug {
    /// The database written to.
    fn database(&self) -> &Database;
}

/// RFC 3339 text of a virtual time, exactly as the recorder formats its wall
/// clock.
pub fn rfc3339(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("wall times up to the year 2286 are representable");
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("rfc 3339 formats any time")
}

/// `INSERT` of exactly `fields`, built and cached like
/// [`bae_store::insert_row`]. That function insists on sync metadata for a
/// synced table, which a database without migration 2 has no columns for.
fn insert_plain(conn: &Connection, table: Table, fields: &[(&str, Value)]) -> rusqlite::Result<()> {
    let cols: Vec<&str> = fields.iter().map(|(c, _)| *c).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table.name(),
        cols.join(", "),
        vec!["?"; cols.len()].join(", ")
    );
    conn.prepare_cached(&sql)?
        .execute(params_from_iter(fields.iter().map(|(_, v)| v)))?;
    Ok(())
}

fn update_plain(
    conn: &Connection,
    table: Table,
    id: &str,
    fields: &[(&str, Value)],
) -> rusqlite::Result<bool> {
    let fields: Vec<(&str, &Value)> = fields.iter().map(|(c, v)| (*c, v)).collect();
    update_row(conn, table, id, &fields)
}

/// A [`Writer`] that only executes the SQL: no ops, no metadata, cascades by
/// SQLite.
#[derive(Debug)]
pub struct PlainWriter<'a> {
    tx: Transaction<'a>,
    ids: &'a mut SeededIds,
    now_ms: u64,
}

impl<'a> PlainWriter<'a> {
    /// A plain writer on the open transaction `tx`, making ids from `ids`,
    /// at virtual time `now_ms`.
    pub fn new(tx: Transaction<'a>, ids: &'a mut SeededIds, now_ms: u64) -> PlainWriter<'a> {
        PlainWriter { tx, ids, now_ms }
    }

    /// Commits the transaction.
    pub fn commit(self) -> rusqlite::Result<()> {
        self.tx.commit()
    }
}

impl Writer for PlainWriter<'_> {
    fn conn(&self) -> &Connection {
        &self.tx
    }

    fn new_id(&mut self) -> String {
        self.ids.new_id()
    }

    fn now_rfc3339(&self) -> String {
        rfc3339(self.now_ms)
    }

    fn insert(&mut self, table: Table, fields: &[(&str, Value)]) -> Result<(), WriteError> {
        Ok(insert_plain(&self.tx, table, fields)?)
    }

    fn update(
        &mut self,
        table: Table,
        id: &str,
        fields: &[(&str, Value)],
    ) -> Result<bool, WriteError> {
        Ok(update_plain(&self.tx, table, id, fields)?)
    }

    fn delete(&mut self, table: Table, id: &str) -> Result<bool, WriteError> {
        Ok(delete_row(&self.tx, table, id)?)
    }
}

/// Variant [`Variant::Plain`].
#[derive(Debug)]
pub struct PlainSink {
    db: Database,
    ids: SeededIds,
}

impl PlainSink {
    /// A new plain database at `path`: bae's schema, no sync metadata.
    pub fn create(path: &Path, seed: u64) -> anyhow::Result<PlainSink> {
        Ok(PlainSink {
            db: Database::open_at(Some(path), 1)?,
            ids: SeededIds::new(seed),
        })
    }
}

impl Sink for PlainSink {
    fn transaction(
        &mut self,
        at_ms: u64,
        f: &mut dyn FnMut(&mut dyn Writer) -> Result<(), WriteError>,
    ) -> anyhow::Result<()> {
        let tx = self.db.conn_mut().transaction()?;
        let mut w = PlainWriter {
            tx,
            ids: &mut self.ids,
            now_ms: at_ms,
        };
        f(&mut w)?;
        w.tx.commit()?;
        Ok(())
    }
}

impl BenchSink for PlainSink {
    fn database(&self) -> &Database {
        &self.db
    }
}

/// Variant [`Variant::Recorded`]: the real `LibraryManager`.
#[derive(Debug)]
pub struct RecordedSink {
    lib: LibraryManager,
    wall: ManualClock,
}

impl RecordedSink {
    /// A new library database at `path`, opened as bae opens one.
    pub fn create(path: &Path, seed: u64) -> anyhow::Result<RecordedSink> {
        let wall = ManualClock::new(crate::workload::START_MS);
        let options = LibraryOptions {
            wall_clock: Arc::new(wall.clone()),
            ids: Box::new(SeededIds::new(seed)),
        };
        let db = Database::open(path)?;
        let lib = LibraryManager::with_database(db, DeviceId::from_bytes(DEVICE), options)?;
        Ok(RecordedSink { lib, wall })
    }

    /// The library.
    pub fn library(&self) -> &LibraryManager {
        &self.lib
    }
}

impl Sink for RecordedSink {
    fn transaction(
        &mut self,
        at_ms: u64,
        f: &mut dyn FnMut(&mut dyn Writer) -> Result<(), WriteError>,
    ) -> anyhow::Result<()> {
        self.wall.set_ms(at_ms);
        self.lib.write(|w| f(w))?;
        Ok(())
    }
}

impl BenchSink for RecordedSink {
    fn database(&self) -> &Database {
        self.lib.database()
    }
}

/// The plain writer plus one `field_timestamps` row per synced field written.
#[derive(Debug)]
pub struct FieldTableWriter<'a> {
    tx: Transaction<'a>,
    ids: &'a mut SeededIds,
    now_ms: u64,
    clock: &'a Clock,
    schema: &'a Schema,
}

impl FieldTableWriter<'_> {
    fn stamp<'f>(
        &self,
        table: Table,
        id: &str,
        fields: impl Iterator<Item = &'f str>,
    ) -> rusqlite::Result<()> {
        let hlc = self.clock.now().to_string();
        let mut stmt = self.tx.prepare_cached(
            "INSERT OR REPLACE INTO field_timestamps (tbl, row_id, field, hlc) VALUES (?, ?, ?, ?)",
        )?;
        for field in fields {
            stmt.execute((table.name(), id, field, &hlc))?;
        }
        Ok(())
    }
}

impl Writer for FieldTableWriter<'_> {
    fn conn(&self) -> &Connection {
        &self.tx
    }

    fn new_id(&mut self) -> String {
        self.ids.new_id()
    }

    fn now_rfc3339(&self) -> String {
        rfc3339(self.now_ms)
    }

    fn insert(&mut self, table: Table, fields: &[(&str, Value)]) -> Result<(), WriteError> {
        insert_plain(&self.tx, table, fields)?;
        if table.is_synced() {
            let id = fields
                .iter()
                .find_map(|(c, v)| (*c == "id").then(|| v.as_text()).flatten())
                .expect("an insert carries its text id");
            // A newer insert replaces the row's tombstone, if any.
            self.tx
                .prepare_cached(
                    "DELETE FROM field_timestamps WHERE tbl = ? AND row_id = ? AND field = ''",
                )?
                .execute((table.name(), id))?;
            let ts = self.schema.table(table);
            self.stamp(table, id, ts.fields.iter().map(String::as_str))?;
        }
        Ok(())
    }

    fn update(
        &mut self,
        table: Table,
        id: &str,
        fields: &[(&str, Value)],
    ) -> Result<bool, WriteError> {
        let exists = update_plain(&self.tx, table, id, fields)?;
        if exists && table.is_synced() {
            let ts = self.schema.table(table);
            let synced = fields
                .iter()
                .map(|(c, _)| *c)
                .filter(|c| ts.is_synced_field(c));
            self.stamp(table, id, synced)?;
        }
        Ok(exists)
    }

    fn delete(&mut self, table: Table, id: &str) -> Result<bool, WriteError> {
        if !row_exists(&self.tx, table, id)? {
            return Ok(false);
        }
        // Like the recorder: synced children first, each with its tombstone.
        let schema = self.schema;
        for fk in schema
            .table(table)
            .children
            .iter()
            .filter(|fk| fk.child.is_synced())
        {
            let sql = format!(
                "SELECT id FROM {} WHERE {} = ? ORDER BY id",
                fk.child.name(),
                fk.column
            );
            let children: Vec<String> = self
                .tx
                .prepare_cached(&sql)?
                .query_map([id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for child in children {
                self.delete(fk.child, &child)?;
            }
        }
        delete_row(&self.tx, table, id)?;
        if table.is_synced() {
            self.tx
                .prepare_cached("DELETE FROM field_timestamps WHERE tbl = ? AND row_id = ?")?
                .execute((table.name(), id))?;
            self.stamp(table, id, std::iter::once(""))?;
        }
        Ok(true)
    }
}

/// Variant [`Variant::FieldTable`].
#[derive(Debug)]
pub struct FieldTableSink {
    db: Database,
    ids: SeededIds,
    wall: ManualClock,
    clock: Clock,
    schema: Arc<Schema>,
}

impl FieldTableSink {
    /// A new plain database at `path` with the `field_timestamps` table.
    pub fn create(path: &Path, seed: u64) -> anyhow::Result<FieldTableSink> {
        let db = Database::open_at(Some(path), 1)?;
        db.conn().execute_batch(FIELD_TABLE_DDL)?;
        let wall = ManualClock::new(crate::workload::START_MS);
        let clock = Clock::new(DeviceId::from_bytes(DEVICE), Arc::new(wall.clone()));
        Ok(FieldTableSink {
            schema: Arc::clone(db.schema()),
            db,
            ids: SeededIds::new(seed),
            wall,
            clock,
        })
    }
}

impl Sink for FieldTableSink {
    fn transaction(
        &mut self,
        at_ms: u64,
        f: &mut dyn FnMut(&mut dyn Writer) -> Result<(), WriteError>,
    ) -> anyhow::Result<()> {
        self.wall.set_ms(at_ms);
        let tx = self.db.conn_mut().transaction()?;
        let mut w = FieldTableWriter {
            tx,
            ids: &mut self.ids,
            now_ms: at_ms,
            clock: &self.clock,
            schema: &self.schema,
        };
        f(&mut w)?;
        w.tx.commit()?;
        Ok(())
    }
}

impl BenchSink for FieldTableSink {
    fn database(&self) -> &Database {
        &self.db
    }
}
