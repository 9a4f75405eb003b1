use std::sync::Arc;

use bae_hlc::{Clock, Hlc};
use bae_store::{
    Database, DeviceIndex, FieldClocks, RowClock, SCHEMA_VERSION, Schema, Table, Tombstone, Value,
    WriteError, Writer, delete_row, insert_row, read_fields, row_exists, update_row,
};
use rusqlite::{Connection, OptionalExtension, Transaction};

use crate::{Action, Batch, IdSource, Op};

/// Records every synced write of one library database.
///
/// It owns the database: whoever holds the recorder (the `LibraryManager`)
/// can write only through [`OpRecorder::transaction`], and reads through
/// [`OpRecorder::database`].
#[derive(Debug)]
pub struct OpRecorder {
    db: Database,
    schema: Arc<Schema>,
    clock: Arc<Clock>,
    ids: Box<dyn IdSource>,
    /// This device's index in `sync_devices`.
    self_dev: i64,
    /// The seq the next batch gets.
    next_seq: u64,
}

/// A batch as this device stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    /// Its seq.
    pub seq: u64,
    /// Its wire encoding.
    pub body: Vec<u8>,
}

/// Why the recorder could not start on a database.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Reading or backfilling the sync metadata failed.
    #[error("cannot prepare the library for sync: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The stored clock state is unreadable.
    #[error("corrupt sync state in the library database: {0}")]
    Corrupt(String),
}

impl From<WriteError> for OpenError {
    fn from(e: WriteError) -> OpenError {
        match e {
            WriteError::Sqlite(e) => OpenError::Sqlite(e),
            other => OpenError::Corrupt(other.to_string()),
        }
    }
}

fn local_get(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM sync_local WHERE key = ?")?
        .query_row([key], |r| r.get(0))
        .optional()
}

fn local_set(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_local (key, value) VALUES (?, ?) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([key, value])?;
    Ok(())
}

impl OpRecorder {
    /// Starts recording on `db` for the device of `clock`.
    ///
    /// Resumes the clock past every timestamp this device recorded, and, the
    /// first time a library is opened with sync metadata, backfills the
    /// clocks of rows written before it and records them as one batch of
    /// inserts so that they reach other devices too.
    pub fn open(
        mut db: Database,
        clock: Arc<Clock>,
        ids: Box<dyn IdSource>,
    ) -> Result<OpRecorder, OpenError> {
        let schema = Arc::clone(db.schema());
        let mut devices = DeviceIndex::default();
        let conn = db.conn_mut();
        let self_dev = devices.index_of(conn, clock.device())?;
        if let Some(last) = local_get(conn, "last_hlc")? {
            let last: Hlc = last
                .parse()
                .map_err(|e| OpenError::Corrupt(format!("{e}")))?;
            clock.resume_after(last);
        }
        let max_seq: Option<u64> =
            conn.query_row("SELECT max(seq) FROM op_log", [], |r| r.get(0))?;
        let stored_next = match local_get(conn, "next_seq")? {
            Some(s) => s
                .parse::<u64>()
                .map_err(|e| OpenError::Corrupt(format!("next_seq: {e}")))?,
            None => 1,
        };
        let next_seq = stored_next.max(max_seq.map_or(1, |m| m + 1));
        let mut recorder = OpRecorder {
            db,
            schema,
            clock,
            ids,
            self_dev,
            next_seq,
        };
        recorder.backfill()?;
        Ok(recorder)
    }

    /// The database, for reads.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The connection, for applying other devices' batches. Nothing written
    /// through it is recorded: it is for the merge only.
    pub fn remote_connection(&mut self) -> &mut Connection {
        self.db.conn_mut()
    }

    /// The clock that stamps this device's writes.
    pub fn clock(&self) -> &Arc<Clock> {
        &self.clock
    }

    /// A new id from this library's id source (a UUIDv4), for ids that are
    /// not rows: a new device id.
    pub fn new_id(&mut self) -> String {
        self.ids.new_id()
    }

    /// The seq the next batch will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Begins a write transaction. Commit it with [`RecordingTx::commit`];
    /// dropping it rolls back the data and its ops together.
    pub fn transaction(&mut self) -> Result<RecordingTx<'_>, WriteError> {
        let tx = self.db.conn_mut().transaction()?;
        Ok(RecordingTx {
            tx,
            schema: &self.schema,
            clock: &self.clock,
            ids: self.ids.as_mut(),
            self_dev: self.self_dev,
            next_seq: &mut self.next_seq,
            ops: Vec::new(),
        })
    }

    /// Runs `f` in one transaction and commits it if `f` succeeds. Returns
    /// `f`'s value and the seq of the batch it recorded, if it changed any
    /// synced data.
    pub fn write<T>(
        &mut self,
        f: impl FnOnce(&mut RecordingTx<'_>) -> Result<T, WriteError>,
    ) -> Result<(T, Option<u64>), WriteError> {
        let mut tx = self.transaction()?;
        let value = f(&mut tx)?;
        let seq = tx.commit()?;
        Ok((value, seq))
    }

    /// This device's batches not yet marked pushed, in seq order.
    pub fn unpushed(&self) -> rusqlite::Result<Vec<StoredBatch>> {
        let mut stmt = self
            .db
            .conn()
            .prepare_cached("SELECT seq, body FROM op_log WHERE pushed = 0 ORDER BY seq")?;
        stmt.query_map([], |r| {
            Ok(StoredBatch {
                seq: r.get(0)?,
                body: r.get(1)?,
            })
        })?
        .collect()
    }

    /// This device's batches with a seq above `seq`, pushed or not, in order.
    pub fn stored_after(&self, seq: u64) -> rusqlite::Result<Vec<StoredBatch>> {
        let mut stmt = self
            .db
            .conn()
            .prepare_cached("SELECT seq, body FROM op_log WHERE seq > ? ORDER BY seq")?;
        stmt.query_map([seq], |r| {
            Ok(StoredBatch {
                seq: r.get(0)?,
                body: r.get(1)?,
            })
        })?
        .collect()
    }

    /// The seq of this device's last batch marked pushed (0 for none).
    pub fn last_pushed_seq(&self) -> rusqlite::Result<u64> {
        self.db.conn().query_row(
            "SELECT coalesce(max(seq), 0) FROM op_log WHERE pushed = 1",
            [],
            |r| r.get(0),
        )
    }

    /// The stored batch `seq`, if this device still has it.
    pub fn stored(&self, seq: u64) -> rusqlite::Result<Option<StoredBatch>> {
        self.db
            .conn()
            .prepare_cached("SELECT seq, body FROM op_log WHERE seq = ?")?
            .query_row([seq], |r| {
                Ok(StoredBatch {
                    seq: r.get(0)?,
                    body: r.get(1)?,
                })
            })
            .optional()
    }

    /// Marks batch `seq` pushed, after its upload succeeded.
    pub fn mark_pushed(&mut self, seq: u64) -> rusqlite::Result<()> {
        let n = self
            .db
            .conn()
            .prepare_cached("UPDATE op_log SET pushed = 1 WHERE seq = ?")?
            .execute([seq])?;
        assert_eq!(n, 1, "marked an unknown batch {seq} pushed");
        Ok(())
    }

    /// Gives this database a new device id, for a database restored from a
    /// backup (or copied) whose old id has history in the bucket that this
    /// database never saw.
    ///
    /// Batches up to `keep_through` are the old id's, identical to what the
    /// bucket holds: they leave `op_log`, and the old id becomes a remote
    /// device whose cursor is `keep_through`, so its later batches are pulled
    /// like anyone's. Later batches were written only here: they are
    /// re-recorded under the new id with fresh timestamps (seq from 1) and
    /// returned, for the caller to apply again so the rows carry the new
    /// clocks too.
    pub fn reidentify(
        &mut self,
        new_device: bae_hlc::DeviceId,
        keep_through: u64,
    ) -> Result<Vec<Batch>, WriteError> {
        let old = self.clock.device();
        assert_ne!(old, new_device, "a new id must differ from the old one");
        let clock = Arc::new(self.clock.for_device(new_device));
        let tx = self.db.conn_mut().transaction()?;
        let later: Vec<Batch> = {
            let mut stmt = tx.prepare("SELECT body FROM op_log WHERE seq > ? ORDER BY seq")?;
            let rows = stmt.query_map([keep_through], |r| r.get::<_, Vec<u8>>(0))?;
            rows.map(|b| Ok(Batch::decode(&b?).expect("own batches decode")))
                .collect::<rusqlite::Result<_>>()?
        };
        tx.execute("DELETE FROM op_log", [])?;
        let mut restamped = Vec::with_capacity(later.len());
        for (i, batch) in later.into_iter().enumerate() {
            let ops: Vec<Op> = batch
                .ops
                .into_iter()
                .map(|op| Op {
                    hlc: clock.now(),
                    ..op
                })
                .collect();
            let batch = Batch {
                device: new_device,
                seq: i as u64 + 1,
                schema_version: SCHEMA_VERSION,
                ops,
            };
            tx.prepare_cached("INSERT INTO op_log (seq, hlc, op_count, body) VALUES (?, ?, ?, ?)")?
                .execute((
                    batch.seq,
                    batch.ops[0].hlc.to_string(),
                    batch.ops.len(),
                    batch.encode(),
                ))?;
            restamped.push(batch);
        }
        tx.prepare_cached(
            "INSERT INTO sync_cursors (device_id, seq) VALUES (?, ?) \
             ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq",
        )?
        .execute((old.as_bytes().as_slice(), keep_through))?;
        let next_seq = restamped.len() as u64 + 1;
        local_set(&tx, "next_seq", &next_seq.to_string())?;
        if let Some(last) = restamped.last().and_then(|b| b.ops.last()) {
            local_set(&tx, "last_hlc", &last.hlc.to_string())?;
        }
        let self_dev = DeviceIndex::default().index_of(&tx, new_device)?;
        tx.commit()?;
        self.clock = clock;
        self.self_dev = self_dev;
        self.next_seq = next_seq;
        Ok(restamped)
    }

    fn backfill(&mut self) -> Result<(), OpenError> {
        if local_get(self.db.conn(), "backfilled")?.is_some() {
            return Ok(());
        }
        let mut tx = self.transaction()?;
        for table in Table::SYNCED {
            let ts = tx.schema.table(table);
            let sql = format!(
                "SELECT id, {} FROM {} WHERE _sync_hlc IS NULL ORDER BY rowid",
                ts.fields.join(", "),
                table.name()
            );
            let rows: Vec<(String, Vec<Value>)> = {
                let mut stmt = tx.tx.prepare(&sql)?;
                stmt.query_map([], |r| {
                    let values = (0..ts.fields.len())
                        .map(|i| r.get(i + 1))
                        .collect::<rusqlite::Result<_>>()?;
                    Ok((r.get(0)?, values))
                })?
                .collect::<rusqlite::Result<_>>()?
            };
            let stamp = format!(
                "UPDATE {} SET _sync_hlc = ?, _sync_dev = ? WHERE id = ?",
                table.name()
            );
            for (id, values) in rows {
                let hlc = tx.clock.now();
                tx.tx
                    .prepare_cached(&stamp)?
                    .execute((hlc.packed(), tx.self_dev, &id))?;
                let fields = ts.fields.iter().cloned().zip(values).collect();
                tx.ops.push(Op {
                    hlc,
                    table,
                    row_id: id,
                    action: Action::Insert(fields),
                });
            }
        }
        local_set(&tx.tx, "backfilled", "1")?;
        tx.commit()?;
        Ok(())
    }
}

/// One write transaction of the recorder; see [`Writer`] for its operations.
pub struct RecordingTx<'a> {
    tx: Transaction<'a>,
    schema: &'a Schema,
    clock: &'a Clock,
    ids: &'a mut dyn IdSource,
    self_dev: i64,
    next_seq: &'a mut u64,
    ops: Vec<Op>,
}

impl std::fmt::Debug for RecordingTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingTx")
            .field("ops", &self.ops.len())
            .finish_non_exhaustive()
    }
}

impl RecordingTx<'_> {
    /// The ops recorded so far in this transaction.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Commits the data and, if any synced row changed, its ops as the next
    /// batch. Returns that batch's seq.
    pub fn commit(self) -> Result<Option<u64>, WriteError> {
        let RecordingTx {
            tx,
            clock,
            next_seq,
            ops,
            ..
        } = self;
        let seq = if ops.is_empty() {
            None
        } else {
            let seq = *next_seq;
            let last = ops.last().expect("non-empty").hlc;
            let batch = Batch {
                device: clock.device(),
                seq,
                schema_version: SCHEMA_VERSION,
                ops,
            };
            tx.prepare_cached("INSERT INTO op_log (seq, hlc, op_count, body) VALUES (?, ?, ?, ?)")?
                .execute((
                    seq,
                    batch.ops[0].hlc.to_string(),
                    batch.ops.len(),
                    batch.encode(),
                ))?;
            local_set(&tx, "next_seq", &(seq + 1).to_string())?;
            local_set(&tx, "last_hlc", &last.to_string())?;
            Some(seq)
        };
        tx.commit()?;
        if let Some(seq) = seq {
            // Only after the commit: a failed commit must not consume a seq,
            // or the device's batch counter would have a gap.
            *next_seq = seq + 1;
        }
        Ok(seq)
    }

    /// A timestamp for a local write of a row whose newest stored clock is
    /// `floor` (packed). Normally the clock is already past it, having
    /// observed every merged timestamp; a row last written by a device whose
    /// clock ran more than 24 hours ahead is the exception, and a local write
    /// must still win over it here and on every other device, so the clock
    /// moves past it.
    fn stamp_after(&self, floor: Option<i64>) -> (Hlc, RowClock) {
        if let Some(floor) = floor {
            self.clock
                .resume_after(Hlc::from_packed(floor, self.clock.device()));
        }
        let hlc = self.clock.now();
        (
            hlc,
            RowClock {
                hlc: hlc.packed(),
                dev: self.self_dev,
            },
        )
    }
}

impl Writer for RecordingTx<'_> {
    fn conn(&self) -> &Connection {
        &self.tx
    }

    fn new_id(&mut self) -> String {
        self.ids.new_id()
    }

    fn now_rfc3339(&self) -> String {
        let ms = i128::from(self.clock.wall_ms());
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
            .expect("wall times up to the year 2286 are representable");
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("rfc 3339 formats any time")
    }

    fn insert(&mut self, table: Table, fields: &[(&str, Value)]) -> Result<(), WriteError> {
        let ts = self.schema.table(table);
        for (name, _) in fields {
            assert!(ts.has_column(name), "{table} has no column {name}");
        }
        if !table.is_synced() {
            insert_row(&self.tx, table, fields, None)?;
            return Ok(());
        }
        let id = match fields.iter().find(|(c, _)| *c == "id") {
            Some((_, Value::Text(id))) => id.clone(),
            _ => panic!("an insert into {table} needs a text id"),
        };
        // The op carries every synced field in schema order, so that replaying
        // it reproduces the row exactly.
        let op_fields: Vec<(String, Value)> = ts
            .fields
            .iter()
            .map(|f| {
                let v = fields.iter().find(|(c, _)| c == f).map(|(_, v)| v.clone());
                (
                    f.clone(),
                    v.unwrap_or_else(|| panic!("an insert into {table} must set {f}")),
                )
            })
            .collect();
        // The id may be known here without a visible row: deleted (a
        // tombstone), hidden by the merge because a parent it referenced is
        // gone (a shadow row), or only written to by field updates that wait
        // for an insert (pending). The new insert must be newer than all of
        // it, and then replaces all of it, as on every other device.
        let tomb = Tombstone::get(&self.tx, table, &id)?;
        let shadow = ts.shadow_name();
        let hidden = read_clocks(&self.tx, &shadow, table, &id)?;
        let pending: Option<i64> = self
            .tx
            .prepare_cached("SELECT max(hlc) FROM sync_pending WHERE tbl = ? AND id = ?")?
            .query_row((table.name(), &id), |r| r.get(0))?;
        let floor = [tomb.map(|t| t.hlc), hidden, pending]
            .into_iter()
            .flatten()
            .max();
        let (hlc, clock) = self.stamp_after(floor);
        if hidden.is_some() {
            self.tx
                .prepare_cached(&format!("DELETE FROM {shadow} WHERE id = ?"))?
                .execute([&id])?;
        }
        insert_row(&self.tx, table, fields, Some((clock.hlc, clock.dev)))?;
        if tomb.is_some() {
            Tombstone::remove(&self.tx, table, &id)?;
        }
        if pending.is_some() {
            self.tx
                .prepare_cached("DELETE FROM sync_pending WHERE tbl = ? AND id = ?")?
                .execute((table.name(), &id))?;
        }
        promote_hidden_children(&self.tx, self.schema, table, &id)?;
        self.ops.push(Op {
            hlc,
            table,
            row_id: id,
            action: Action::Insert(op_fields),
        });
        Ok(())
    }

    fn update(
        &mut self,
        table: Table,
        id: &str,
        fields: &[(&str, Value)],
    ) -> Result<bool, WriteError> {
        let ts = self.schema.table(table);
        for (name, _) in fields {
            assert!(
                ts.has_column(name) && *name != "id",
                "{table} has no updatable column {name}"
            );
        }
        let mut columns: Vec<&str> = fields.iter().map(|(c, _)| *c).collect();
        if table.is_synced() {
            columns.extend(["_sync_hlc", "_sync_fhlc"]);
        }
        let Some(mut current) = read_fields(&self.tx, table, id, &columns)? else {
            return Ok(false);
        };
        let (base, fhlc) = if table.is_synced() {
            let fhlc = current.pop();
            (current.pop(), fhlc)
        } else {
            (None, None)
        };
        let mut changed: Vec<(&str, &Value)> = fields
            .iter()
            .zip(&current)
            .filter(|((_, new), old)| !new.same_as(old))
            .map(|((c, v), _)| (*c, v))
            .collect();
        let synced_change = |c: &str| ts.is_synced_field(c) && c != "updated_at";
        if !changed.iter().any(|(c, _)| synced_change(c)) {
            // A bare `updated_at` bump is not a change worth a batch.
            changed.retain(|(c, _)| *c != "updated_at");
        }
        if changed.is_empty() {
            return Ok(true);
        }
        let recorded: Vec<(String, Value)> = changed
            .iter()
            .filter(|(c, _)| ts.is_synced_field(c))
            .map(|(c, v)| ((*c).to_owned(), (*v).clone()))
            .collect();
        if recorded.is_empty() {
            // Only device-local columns changed: written, never recorded.
            update_row(&self.tx, table, id, &changed)?;
            return Ok(true);
        }
        let mut clocks = decode_clocks(table, id, fhlc.as_ref());
        let (hlc, clock) = self.stamp_after(newest_clock(table, id, base.as_ref(), &clocks));
        for (name, _) in &recorded {
            let index = ts.field_index(name).expect("recorded fields are synced");
            clocks.set(index as u8, clock);
        }
        let fhlc = Value::from(clocks.encode());
        changed.push(("_sync_fhlc", &fhlc));
        update_row(&self.tx, table, id, &changed)?;
        self.ops.push(Op {
            hlc,
            table,
            row_id: id.to_owned(),
            action: Action::Update(recorded),
        });
        Ok(true)
    }

    fn delete(&mut self, table: Table, id: &str) -> Result<bool, WriteError> {
        if !row_exists(&self.tx, table, id)? {
            return Ok(false);
        }
        // Children first, each recorded: the op log alone must reproduce the
        // cascade on every device. Device-local children are left to
        // SQLite's own ON DELETE actions, which record nothing.
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
                // A child reachable along two paths (an audio format under a
                // track and a file) may already be gone.
                self.delete(fk.child, &child)?;
            }
        }
        if table.is_synced() {
            let mut stored = read_fields(&self.tx, table, id, &["_sync_hlc", "_sync_fhlc"])?
                .expect("the row exists: checked above");
            let clocks = decode_clocks(table, id, stored.pop().as_ref());
            let floor = newest_clock(table, id, stored.pop().as_ref(), &clocks);
            let (hlc, clock) = self.stamp_after(floor);
            let deleted = delete_row(&self.tx, table, id)?;
            assert!(deleted, "{table} {id} vanished during its own delete");
            Tombstone::put(&self.tx, table, id, clock)?;
            self.ops.push(Op {
                hlc,
                table,
                row_id: id.to_owned(),
                action: Action::Delete,
            });
        } else {
            delete_row(&self.tx, table, id)?;
        }
        Ok(true)
    }
}

/// The newest packed clock of row `id` in `from` (a table or its shadow
/// table), if the row is there.
fn read_clocks(
    conn: &Connection,
    from: &str,
    table: Table,
    id: &str,
) -> rusqlite::Result<Option<i64>> {
    let row: Option<(Value, Value)> = conn
        .prepare_cached(&format!(
            "SELECT _sync_hlc, _sync_fhlc FROM {from} WHERE id = ?"
        ))?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.and_then(|(base, fhlc)| {
        let clocks = decode_clocks(table, id, Some(&fhlc));
        newest_clock(table, id, Some(&base), &clocks)
    }))
}

/// A row that appears again here (re-inserted after a delete) may have
/// children another device added while it was gone; the merge keeps those
/// hidden in the shadow tables. Now that the row is visible, each of them
/// whose parents are all visible becomes visible too, and so on down, as
/// when the merge applies a remote insert: visibility is a function of
/// existence, whichever device wrote the insert.
fn promote_hidden_children(
    conn: &Connection,
    schema: &Schema,
    table: Table,
    id: &str,
) -> rusqlite::Result<()> {
    for fk in schema
        .table(table)
        .children
        .iter()
        .filter(|fk| fk.child.is_synced())
    {
        let child = schema.table(fk.child);
        let shadow = child.shadow_name();
        let hidden: Vec<String> = conn
            .prepare_cached(&format!(
                "SELECT id FROM {shadow} WHERE {} = ? ORDER BY id",
                fk.column
            ))?
            .query_map([id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for cid in hidden {
            let mut visible = true;
            for parent in &child.parents {
                let pid: Option<String> = conn.query_row(
                    &format!("SELECT {} FROM {shadow} WHERE id = ?", parent.column),
                    [&cid],
                    |r| r.get(0),
                )?;
                if let Some(pid) = pid
                    && !row_exists(conn, parent.parent, &pid)?
                {
                    visible = false;
                    break;
                }
            }
            if visible {
                conn.prepare_cached(&format!(
                    "INSERT INTO {} SELECT * FROM {shadow} WHERE id = ?",
                    fk.child.name()
                ))?
                .execute([&cid])?;
                conn.prepare_cached(&format!("DELETE FROM {shadow} WHERE id = ?"))?
                    .execute([&cid])?;
                promote_hidden_children(conn, schema, fk.child, &cid)?;
            }
        }
    }
    Ok(())
}

fn decode_clocks(table: Table, id: &str, fhlc: Option<&Value>) -> FieldClocks {
    match fhlc {
        Some(Value::Blob(b)) => FieldClocks::decode(Some(b)),
        Some(Value::Null) => FieldClocks::default(),
        other => panic!("{table} {id}: _sync_fhlc is {other:?}"),
    }
}

/// The newest packed clock stored on a row: its insert's or a field's.
fn newest_clock(table: Table, id: &str, base: Option<&Value>, clocks: &FieldClocks) -> Option<i64> {
    let base = match base {
        Some(Value::Integer(b)) => *b,
        other => panic!("{table} {id}: _sync_hlc is {other:?} after the backfill"),
    };
    Some(clocks.iter().map(|c| c.clock.hlc).fold(base, i64::max))
}
