use std::collections::BTreeMap;
use std::sync::Arc;

use bae_hlc::{DeviceId, Hlc};
use bae_oplog::{Action, Batch, Op};
use bae_store::{
    DeviceIndex, FieldClocks, RowClock, SCHEMA_VERSION, Schema, Table, TableSchema, Tombstone,
    Value, row_exists,
};
use rusqlite::{Connection, OptionalExtension, params_from_iter};

/// Why a batch was not applied. Nothing of it was: the transaction rolled
/// back, and the device's cursor did not move.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// SQLite failed (disk full, I/O error).
    #[error("merging a batch failed in the database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The batch was written by a newer bae with a schema this build does not
    /// know. The device's stream stops here until bae is updated.
    #[error(
        "batch {seq} of device {device} uses schema version {found}, newer than this build's \
         {supported}: update bae to keep syncing from that device"
    )]
    SchemaTooNew {
        /// The writing device.
        device: DeviceId,
        /// The batch.
        seq: u64,
        /// Its schema version.
        found: u32,
        /// The newest this build knows.
        supported: u32,
    },
    /// The batch is not the next one of its device: a gap would lose writes.
    #[error("batch {seq} of device {device} is out of order: expected seq {expected}")]
    OutOfOrder {
        /// The writing device.
        device: DeviceId,
        /// The batch's seq.
        seq: u64,
        /// The seq the cursor expects.
        expected: u64,
    },
    /// An op does not fit the schema (unknown or missing fields, a NULL in a
    /// NOT NULL field, a non-text reference). The batch is malformed.
    #[error("batch {seq} of device {device} has an invalid op on {table} {row_id}: {reason}")]
    InvalidOp {
        /// The writing device.
        device: DeviceId,
        /// The batch.
        seq: u64,
        /// The op's table.
        table: Table,
        /// The op's row.
        row_id: String,
        /// What is wrong.
        reason: String,
    },
    /// The batch claims to come from this device: only another device's
    /// batches are merged.
    #[error("batch {seq} claims to come from this device {device}")]
    OwnBatch {
        /// This device.
        device: DeviceId,
        /// The batch.
        seq: u64,
    },
}

/// What applying a batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// False if the batch was at or below the cursor and so skipped.
    pub applied: bool,
    /// The newest HLC in the batch, for the local clock to observe.
    pub max_hlc: Option<Hlc>,
}

/// What applying a group of batches did ([`Merger::apply_batches`]).
#[derive(Debug)]
pub struct GroupApplied {
    /// One entry per batch applied (or skipped as already applied), in
    /// order: a prefix of the group.
    pub applied: Vec<Applied>,
    /// Why the batch after that prefix was not applied, if one was not.
    pub error: Option<MergeError>,
}

/// The cursors of every device this library has merged from.
pub fn cursors(conn: &Connection) -> rusqlite::Result<BTreeMap<DeviceId, u64>> {
    let mut stmt = conn.prepare_cached("SELECT device_id, seq FROM sync_cursors")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, u64>(1)?)))?;
    rows.map(|r| {
        let (id, seq) = r?;
        let bytes: [u8; 16] = id.try_into().expect("device ids are 16 bytes");
        Ok((DeviceId::from_bytes(bytes), seq))
    })
    .collect()
}

fn cursor(conn: &Connection, device: DeviceId) -> rusqlite::Result<u64> {
    Ok(conn
        .prepare_cached("SELECT seq FROM sync_cursors WHERE device_id = ?")?
        .query_row([device.as_bytes().as_slice()], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// A row as stored: visible in its table or hidden in its shadow table.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    /// Every synced field, in schema order.
    values: Vec<Value>,
    /// The clock of the insert that created the current incarnation.
    base: Hlc,
    /// Per field, its clock when newer than `base`.
    over: Vec<Option<Hlc>>,
    hidden: bool,
}

impl Row {
    fn clock(&self, field: usize) -> Hlc {
        self.over[field].unwrap_or(self.base)
    }
}

/// Applies batches of other devices to one library database.
#[derive(Debug)]
pub struct Merger {
    schema: Arc<Schema>,
    self_device: DeviceId,
    devices: DeviceIndex,
    /// With `cross-check`: every other device's batch this library's state is
    /// made of (its own are in its `op_log`), or `None` when that history is
    /// unknown: the database had merged before this merger existed, or it
    /// booted from a checkpoint.
    #[cfg(feature = "cross-check")]
    seen: Option<Vec<Batch>>,
    #[cfg(feature = "cross-check")]
    seen_decided: bool,
}

impl Merger {
    /// A merger for the library of `self_device`, whose own batches it refuses.
    pub fn new(schema: Arc<Schema>, self_device: DeviceId) -> Merger {
        Merger {
            schema,
            self_device,
            devices: DeviceIndex::default(),
            #[cfg(feature = "cross-check")]
            seen: Some(Vec::new()),
            #[cfg(feature = "cross-check")]
            seen_decided: false,
        }
    }

    /// Replaces the synced state with `checkpoint` (see [`Checkpoint::boot`]).
    pub fn boot(
        &mut self,
        conn: &mut Connection,
        checkpoint: &crate::Checkpoint,
    ) -> rusqlite::Result<()> {
        self.devices.clear();
        #[cfg(feature = "cross-check")]
        {
            self.seen = None;
            self.seen_decided = true;
        }
        checkpoint.boot(conn, &self.schema, self.self_device)
    }

    /// Replaces the synced state with the checkpoint `reader` reads, record
    /// by record (see [`crate::checkpoint::boot_stream`]); returns its
    /// header. If the checkpoint turns out torn or tampered part way, the
    /// state is as before.
    pub fn boot_stream<R: std::io::Read>(
        &mut self,
        conn: &mut Connection,
        reader: crate::CheckpointReader<'_, R>,
    ) -> Result<crate::CheckpointHeader, crate::BootError> {
        self.devices.clear();
        #[cfg(feature = "cross-check")]
        {
            self.seen = None;
            self.seen_decided = true;
        }
        crate::checkpoint::boot_stream(conn, &self.schema, self.self_device, reader)
    }

    /// Applies this device's own batches again, after booting from a
    /// checkpoint that does not include them: the local writes made offline
    /// must survive. Batches the checkpoint already covers change nothing.
    pub fn reapply_own(&mut self, conn: &mut Connection, batch: &Batch) -> Result<(), MergeError> {
        assert_eq!(
            batch.device, self.self_device,
            "reapply_own takes this device's batches"
        );
        let tx = conn.transaction()?;
        let schema = Arc::clone(&self.schema);
        let mut apply = Apply {
            tx: &tx,
            schema: &schema,
            devices: &mut self.devices,
        };
        for op in &batch.ops {
            apply.op(op)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Applies `batch` in one transaction with the advance of its device's
    /// cursor: wholly or not at all, and never twice.
    pub fn apply_batch(
        &mut self,
        conn: &mut Connection,
        batch: &Batch,
    ) -> Result<Applied, MergeError> {
        #[cfg(feature = "cross-check")]
        if !self.seen_decided {
            self.seen_decided = true;
            if !cursors(conn).map(|c| c.is_empty()).unwrap_or(false) {
                self.seen = None;
            }
        }
        let result = self.apply_in_tx(conn, batch);
        if result.is_err() {
            // Device indexes added inside the rolled-back transaction are
            // gone from the database; forget them here too.
            self.devices.clear();
        }
        #[cfg(feature = "cross-check")]
        if let (Ok(Applied { applied: true, .. }), Some(seen)) = (&result, &mut self.seen) {
            seen.push(batch.clone());
            self.cross_check(conn);
        }
        result
    }

    /// Applies `batches` in order in one transaction, each under a savepoint
    /// of its own: the first batch that fails is rolled back alone and ends
    /// the group, and the batches before it are committed. Committing once
    /// per group instead of once per batch is what makes a bulk pull fast
    /// (the commit was 42% of a replay's CPU); the outcome is the same as
    /// applying the batches one by one, stopping at the first error.
    ///
    /// If the commit itself fails, none of the group is applied and
    /// `applied` is empty.
    pub fn apply_batches(&mut self, conn: &mut Connection, batches: &[Batch]) -> GroupApplied {
        #[cfg(feature = "cross-check")]
        if !self.seen_decided {
            self.seen_decided = true;
            if !cursors(conn).map(|c| c.is_empty()).unwrap_or(false) {
                self.seen = None;
            }
        }
        let mut out = GroupApplied {
            applied: Vec::with_capacity(batches.len()),
            error: None,
        };
        let committed = (|| -> Result<(), MergeError> {
            let mut tx = conn.transaction()?;
            for batch in batches {
                let sp = tx.savepoint()?;
                match self.apply_in(&sp, batch) {
                    Ok(applied) => {
                        sp.commit()?;
                        out.applied.push(applied);
                    }
                    Err(e) => {
                        // Dropping the savepoint rolls this batch back; the
                        // ones before it stay in the transaction.
                        drop(sp);
                        self.devices.clear();
                        out.error = Some(e);
                        break;
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = committed {
            self.devices.clear();
            out.applied.clear();
            out.error = Some(e);
        }
        #[cfg(feature = "cross-check")]
        if out.applied.iter().any(|a| a.applied)
            && let Some(seen) = &mut self.seen
        {
            seen.extend(
                batches
                    .iter()
                    .zip(&out.applied)
                    .filter(|(_, a)| a.applied)
                    .map(|(b, _)| b.clone()),
            );
            self.cross_check(conn);
        }
        out
    }

    #[cfg(feature = "cross-check")]
    fn cross_check(&self, conn: &Connection) {
        let mut all = self
            .seen
            .clone()
            .expect("checked only while the history is known");
        let mut stmt = conn
            .prepare("SELECT body FROM op_log ORDER BY seq")
            .expect("read own batches");
        let own = stmt
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .expect("read own batches");
        all.extend(own.map(|b| Batch::decode(&b.expect("own batch")).expect("own batches decode")));
        let fast = bae_store::dump_synced(conn, &self.schema).expect("dump for cross-check");
        let slow = crate::reference::merge(&self.schema, &all);
        assert_eq!(
            fast.text,
            slow,
            "fast merge diverged from the reference merge after {} batches",
            all.len()
        );
    }

    fn apply_in_tx(&mut self, conn: &mut Connection, batch: &Batch) -> Result<Applied, MergeError> {
        let tx = conn.transaction()?;
        let applied = self.apply_in(&tx, batch)?;
        if applied.applied {
            tx.commit()?;
        }
        Ok(applied)
    }

    /// Applies `batch` inside the caller's transaction (or savepoint), with
    /// the advance of its device's cursor.
    fn apply_in(&mut self, tx: &Connection, batch: &Batch) -> Result<Applied, MergeError> {
        if batch.device == self.self_device {
            return Err(MergeError::OwnBatch {
                device: batch.device,
                seq: batch.seq,
            });
        }
        #[cfg(feature = "planted-bugs")]
        let applied_seq = if crate::planted::is(crate::planted::Bug::CursorOutsideTx) {
            // Planted: the caller advanced the cursor already, outside this
            // transaction.
            batch.seq - 1
        } else {
            cursor(tx, batch.device)?
        };
        #[cfg(not(feature = "planted-bugs"))]
        let applied_seq = cursor(tx, batch.device)?;
        if batch.seq <= applied_seq {
            return Ok(Applied {
                applied: false,
                max_hlc: None,
            });
        }
        if batch.seq != applied_seq + 1 {
            return Err(MergeError::OutOfOrder {
                device: batch.device,
                seq: batch.seq,
                expected: applied_seq + 1,
            });
        }
        if batch.schema_version > SCHEMA_VERSION {
            return Err(MergeError::SchemaTooNew {
                device: batch.device,
                seq: batch.seq,
                found: batch.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        for op in &batch.ops {
            self.validate(batch, op)?;
        }
        let schema = Arc::clone(&self.schema);
        let mut apply = Apply {
            tx,
            schema: &schema,
            devices: &mut self.devices,
        };
        for op in &batch.ops {
            apply.op(op)?;
        }
        tx.prepare_cached(
            "INSERT INTO sync_cursors (device_id, seq) VALUES (?, ?) \
             ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq",
        )?
        .execute((batch.device.as_bytes().as_slice(), batch.seq))?;
        Ok(Applied {
            applied: true,
            max_hlc: batch.ops.iter().map(|op| op.hlc).max(),
        })
    }

    fn validate(&self, batch: &Batch, op: &Op) -> Result<(), MergeError> {
        let ts = self.schema.table(op.table);
        let invalid = |reason: String| MergeError::InvalidOp {
            device: batch.device,
            seq: batch.seq,
            table: op.table,
            row_id: op.row_id.clone(),
            reason,
        };
        let check_value = |name: &str, value: &Value| -> Result<(), MergeError> {
            let Some(col) = ts.column(name).filter(|c| c.synced && name != "id") else {
                return Err(invalid(format!("{name} is not a synced field")));
            };
            if col.not_null && *value == Value::Null {
                return Err(invalid(format!("{name} may not be NULL")));
            }
            if col.references.is_some() && !matches!(value, Value::Text(_) | Value::Null) {
                return Err(invalid(format!("{name} must be a row id")));
            }
            // Values must already have the column's type: SQLite would
            // silently convert a mismatched one on one device and not on
            // another, or differently from what the writer saw.
            let fits = matches!(
                (col.decl_type.as_str(), value),
                (_, Value::Null)
                    | ("TEXT", Value::Text(_))
                    | ("INTEGER", Value::Integer(_))
                    | ("BLOB", Value::Blob(_))
                    | ("REAL", Value::Real(_))
            );
            if !fits {
                return Err(invalid(format!(
                    "{name} is {} but got {value:?}",
                    col.decl_type
                )));
            }
            Ok(())
        };
        match &op.action {
            Action::Insert(fields) => {
                let names: Vec<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
                let expected: Vec<&str> = ts.fields.iter().map(String::as_str).collect();
                if names != expected {
                    return Err(invalid(format!(
                        "insert fields {names:?}, expected {expected:?}"
                    )));
                }
                fields.iter().try_for_each(|(f, v)| check_value(f, v))
            }
            Action::Update(fields) => {
                if fields.is_empty() {
                    return Err(invalid("empty update".to_owned()));
                }
                fields.iter().try_for_each(|(f, v)| check_value(f, v))
            }
            Action::Delete => Ok(()),
        }
    }
}

/// The work of one transaction.
struct Apply<'a> {
    tx: &'a Connection,
    schema: &'a Schema,
    devices: &'a mut DeviceIndex,
}

impl Apply<'_> {
    fn stored(&mut self, hlc: Hlc) -> rusqlite::Result<RowClock> {
        Ok(RowClock {
            hlc: hlc.packed(),
            dev: self.devices.index_of(self.tx, hlc.device())?,
        })
    }

    fn hlc(&mut self, clock: RowClock) -> rusqlite::Result<Hlc> {
        self.devices.hlc(self.tx, clock.hlc, clock.dev)
    }

    fn op(&mut self, op: &Op) -> rusqlite::Result<()> {
        let ts = self.schema.table(op.table);
        let row = self.load(ts, &op.row_id)?;
        match (&op.action, row) {
            (Action::Insert(fields), Some(mut row)) => {
                if op.hlc <= row.base {
                    // Every field of the row is at least as new as its insert.
                    return Ok(());
                }
                for (i, (_, value)) in fields.iter().enumerate() {
                    if row.clock(i) < op.hlc {
                        row.values[i] = value.clone();
                        row.over[i] = None;
                    }
                }
                row.base = op.hlc;
                self.store(ts, row)
            }
            (Action::Insert(fields), None) => {
                let tomb = Tombstone::get(self.tx, op.table, &op.row_id)?;
                if let Some(tomb) = tomb {
                    #[cfg(feature = "planted-bugs")]
                    let ignore = crate::planted::is(crate::planted::Bug::NoTombstone);
                    #[cfg(not(feature = "planted-bugs"))]
                    let ignore = false;
                    if self.hlc(tomb)? > op.hlc && !ignore {
                        // An older insert of a deleted row never matters again:
                        // only an insert newer than the delete can revive it.
                        return Ok(());
                    }
                    Tombstone::remove(self.tx, op.table, &op.row_id)?;
                }
                let mut row = Row {
                    id: op.row_id.clone(),
                    values: fields.iter().map(|(_, v)| v.clone()).collect(),
                    base: op.hlc,
                    over: vec![None; ts.fields.len()],
                    hidden: false,
                };
                for (field, value, clock) in self.take_pending(op.table, &op.row_id)? {
                    let hlc = self.hlc(clock)?;
                    if hlc > op.hlc {
                        let i = ts
                            .field_index(&field)
                            .expect("pending fields are validated");
                        row.values[i] = value;
                        row.over[i] = Some(hlc);
                    }
                }
                self.place_new(ts, row)
            }
            (Action::Update(fields), Some(mut row)) => {
                let mut changed = false;
                for (name, value) in fields {
                    let i = ts.field_index(name).expect("validated");
                    if op.hlc > row.clock(i) {
                        row.values[i] = value.clone();
                        row.over[i] = Some(op.hlc);
                        changed = true;
                    } else if planted_arrival_order() {
                        // Planted: the value of whatever arrives last wins.
                        row.values[i] = value.clone();
                        changed = true;
                    }
                }
                if changed { self.store(ts, row) } else { Ok(()) }
            }
            (Action::Update(fields), None) => {
                let tomb = Tombstone::get(self.tx, op.table, &op.row_id)?;
                if let Some(tomb) = tomb
                    && self.hlc(tomb)? > op.hlc
                {
                    return Ok(());
                }
                for (name, value) in fields {
                    self.put_pending(op.table, &op.row_id, name, value, op.hlc)?;
                }
                Ok(())
            }
            (Action::Delete, Some(row)) => {
                if op.hlc <= row.base {
                    return Ok(());
                }
                // Fields written after the delete survive it, waiting for an
                // insert newer than the delete.
                for (i, field) in ts.fields.iter().enumerate() {
                    if let Some(hlc) = row.over[i]
                        && hlc > op.hlc
                    {
                        self.put_pending(op.table, &row.id, field, &row.values[i], hlc)?;
                    }
                }
                if row.hidden {
                    self.delete_from(&ts.shadow_name(), &row.id)?;
                } else {
                    self.demote_children(ts, &row.id)?;
                    self.delete_from(ts.table.name(), &row.id)?;
                }
                let clock = self.stored(op.hlc)?;
                Tombstone::put(self.tx, op.table, &op.row_id, clock)
            }
            (Action::Delete, None) => {
                let tomb = Tombstone::get(self.tx, op.table, &op.row_id)?;
                if let Some(tomb) = tomb
                    && self.hlc(tomb)? >= op.hlc
                {
                    return Ok(());
                }
                let clock = self.stored(op.hlc)?;
                Tombstone::put(self.tx, op.table, &op.row_id, clock)?;
                for (field, _, clock) in self.read_pending(op.table, &op.row_id)? {
                    if self.hlc(clock)? < op.hlc {
                        self.tx
                            .prepare_cached(
                                "DELETE FROM sync_pending WHERE tbl = ? AND id = ? AND field = ?",
                            )?
                            .execute((op.table.name(), &op.row_id, &field))?;
                    }
                }
                Ok(())
            }
        }
    }

    fn select_sql(ts: &TableSchema, from: &str) -> String {
        format!(
            "SELECT {}, _sync_hlc, _sync_dev, _sync_fhlc FROM {from} WHERE id = ?",
            ts.fields.join(", ")
        )
    }

    fn load(&mut self, ts: &TableSchema, id: &str) -> rusqlite::Result<Option<Row>> {
        for (from, hidden) in [
            (ts.table.name().to_owned(), false),
            (ts.shadow_name(), true),
        ] {
            let n = ts.fields.len();
            let found = self
                .tx
                .prepare_cached(&Self::select_sql(ts, &from))?
                .query_row([id], |r| {
                    let values = (0..n)
                        .map(|i| r.get(i))
                        .collect::<rusqlite::Result<Vec<Value>>>()?;
                    let base = RowClock {
                        hlc: r.get(n)?,
                        dev: r.get(n + 1)?,
                    };
                    let fhlc: Option<Vec<u8>> = r.get(n + 2)?;
                    Ok((values, base, fhlc))
                })
                .optional()?;
            if let Some((values, base, fhlc)) = found {
                let base = self.hlc(base)?;
                let mut over = vec![None; n];
                for fc in FieldClocks::decode(fhlc.as_deref()).iter() {
                    over[usize::from(fc.field)] = Some(self.hlc(fc.clock)?);
                }
                assert!(
                    over.iter().flatten().all(|h| *h > base),
                    "{} {id}: override not newer",
                    ts.table
                );
                return Ok(Some(Row {
                    id: id.to_owned(),
                    values,
                    base,
                    over,
                    hidden,
                }));
            }
        }
        Ok(None)
    }

    /// The row's values and clocks as SQL parameters, in the column order of
    /// [`Apply::columns`].
    fn params(&mut self, row: &Row) -> rusqlite::Result<Vec<Value>> {
        let base = self.stored(row.base)?;
        let mut clocks = FieldClocks::default();
        for (i, over) in row.over.iter().enumerate() {
            if let Some(hlc) = over {
                assert!(
                    *hlc > row.base,
                    "override must be newer than the row's insert"
                );
                clocks.set(i as u8, self.stored(*hlc)?);
            }
        }
        let mut params = row.values.clone();
        params.extend([
            Value::Integer(base.hlc),
            Value::Integer(base.dev),
            clocks.encode().into(),
        ]);
        Ok(params)
    }

    fn columns(ts: &TableSchema) -> Vec<&str> {
        let mut cols: Vec<&str> = ts.fields.iter().map(String::as_str).collect();
        cols.extend(["_sync_hlc", "_sync_dev", "_sync_fhlc"]);
        cols
    }

    fn insert_into(&mut self, ts: &TableSchema, to: &str, row: &Row) -> rusqlite::Result<()> {
        let cols = Self::columns(ts);
        let sql = format!(
            "INSERT INTO {to} (id, {}) VALUES (?, {})",
            cols.join(", "),
            vec!["?"; cols.len()].join(", ")
        );
        let params = self.params(row)?;
        let id = Value::Text(row.id.clone());
        self.tx
            .prepare_cached(&sql)?
            .execute(params_from_iter(std::iter::once(&id).chain(&params)))?;
        Ok(())
    }

    /// Rewrites the synced fields and clocks of a stored row, leaving its
    /// device-local columns as they are.
    fn update_in(&mut self, ts: &TableSchema, at: &str, row: &Row) -> rusqlite::Result<()> {
        let sets: Vec<String> = Self::columns(ts)
            .iter()
            .map(|c| format!("{c} = ?"))
            .collect();
        let sql = format!("UPDATE {at} SET {} WHERE id = ?", sets.join(", "));
        let params = self.params(row)?;
        let id = Value::Text(row.id.clone());
        let n = self
            .tx
            .prepare_cached(&sql)?
            .execute(params_from_iter(params.iter().chain([&id])))?;
        assert_eq!(n, 1, "{} {} must be stored in {at}", ts.table, row.id);
        Ok(())
    }

    fn delete_from(&self, from: &str, id: &str) -> rusqlite::Result<()> {
        let n = self
            .tx
            .prepare_cached(&format!("DELETE FROM {from} WHERE id = ?"))?
            .execute([id])?;
        assert_eq!(n, 1, "{id} must be stored in {from}");
        Ok(())
    }

    /// Moves a row between its table and its shadow table, whole (device-local
    /// columns too). The caller has made sure no visible child depends on it.
    fn move_row(&self, ts: &TableSchema, id: &str, to_hidden: bool) -> rusqlite::Result<()> {
        let (table, shadow) = (ts.table.name().to_owned(), ts.shadow_name());
        let (from, to) = if to_hidden {
            (table, shadow)
        } else {
            (shadow, table)
        };
        // Both tables have the same columns in the same order: the shadow
        // table was created as a copy of the table's shape.
        self.tx
            .prepare_cached(&format!(
                "INSERT INTO {to} SELECT * FROM {from} WHERE id = ?"
            ))?
            .execute([id])?;
        self.delete_from(&from, id)
    }

    fn parents_visible(&self, ts: &TableSchema, values: &[Value]) -> rusqlite::Result<bool> {
        for fk in &ts.parents {
            let i = ts
                .field_index(&fk.column)
                .expect("references are synced fields");
            match &values[i] {
                Value::Null => {}
                Value::Text(parent) => {
                    if !row_exists(self.tx, fk.parent, parent)? {
                        return Ok(false);
                    }
                }
                other => panic!(
                    "{}.{} holds {other:?}, validated to be an id",
                    ts.table, fk.column
                ),
            }
        }
        Ok(true)
    }

    fn place_new(&mut self, ts: &TableSchema, row: Row) -> rusqlite::Result<()> {
        if self.parents_visible(ts, &row.values)? {
            self.insert_into(ts, ts.table.name(), &row)?;
            self.promote_children(ts, &row.id)
        } else {
            self.insert_into(ts, &ts.shadow_name(), &row)
        }
    }

    /// Writes back a changed row that was already stored, moving it if its
    /// references changed its visibility.
    fn store(&mut self, ts: &TableSchema, row: Row) -> rusqlite::Result<()> {
        let visible = self.parents_visible(ts, &row.values)?;
        match (row.hidden, visible) {
            (false, true) => self.update_in(ts, ts.table.name(), &row),
            (true, false) => self.update_in(ts, &ts.shadow_name(), &row),
            (false, false) => {
                self.demote_children(ts, &row.id)?;
                self.move_row(ts, &row.id, true)?;
                self.update_in(ts, &ts.shadow_name(), &row)
            }
            (true, true) => {
                self.update_in(ts, &ts.shadow_name(), &row)?;
                self.move_row(ts, &row.id, false)?;
                self.promote_children(ts, &row.id)
            }
        }
    }

    /// `id` just became visible: its hidden children whose parents are now
    /// all visible become visible too, and so on down.
    fn promote_children(&mut self, ts: &TableSchema, id: &str) -> rusqlite::Result<()> {
        for fk in ts.children.iter().filter(|fk| fk.child.is_synced()) {
            let child = self.schema.table(fk.child);
            let sql = format!(
                "SELECT id FROM {} WHERE {} = ? ORDER BY id",
                child.shadow_name(),
                fk.column
            );
            let ids: Vec<String> = self
                .tx
                .prepare_cached(&sql)?
                .query_map([id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for cid in ids {
                let row = self.load(child, &cid)?.expect("listed in the shadow table");
                if row.hidden && self.parents_visible(child, &row.values)? {
                    self.move_row(child, &cid, false)?;
                    self.promote_children(child, &cid)?;
                }
            }
        }
        Ok(())
    }

    /// `id` is about to stop being visible: its visible children (and theirs)
    /// move to the shadow tables first, so SQLite's cascade finds nothing of
    /// the synced state to delete.
    fn demote_children(&mut self, ts: &TableSchema, id: &str) -> rusqlite::Result<()> {
        for fk in ts.children.iter().filter(|fk| fk.child.is_synced()) {
            let child = self.schema.table(fk.child);
            let sql = format!(
                "SELECT id FROM {} WHERE {} = ? ORDER BY id",
                fk.child.name(),
                fk.column
            );
            let ids: Vec<String> = self
                .tx
                .prepare_cached(&sql)?
                .query_map([id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for cid in ids {
                self.demote_children(child, &cid)?;
                self.move_row(child, &cid, true)?;
            }
        }
        Ok(())
    }

    fn read_pending(
        &self,
        table: Table,
        id: &str,
    ) -> rusqlite::Result<Vec<(String, Value, RowClock)>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT field, value, hlc, dev FROM sync_pending WHERE tbl = ? AND id = ? ORDER BY field",
        )?;
        stmt.query_map((table.name(), id), |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                RowClock {
                    hlc: r.get(2)?,
                    dev: r.get(3)?,
                },
            ))
        })?
        .collect()
    }

    fn take_pending(
        &self,
        table: Table,
        id: &str,
    ) -> rusqlite::Result<Vec<(String, Value, RowClock)>> {
        let pending = self.read_pending(table, id)?;
        self.tx
            .prepare_cached("DELETE FROM sync_pending WHERE tbl = ? AND id = ?")?
            .execute((table.name(), id))?;
        Ok(pending)
    }

    /// Keeps a field write for a row that does not exist (yet, or again),
    /// unless a newer write of the same field is already kept.
    fn put_pending(
        &mut self,
        table: Table,
        id: &str,
        field: &str,
        value: &Value,
        hlc: Hlc,
    ) -> rusqlite::Result<()> {
        let existing = self
            .tx
            .prepare_cached(
                "SELECT hlc, dev FROM sync_pending WHERE tbl = ? AND id = ? AND field = ?",
            )?
            .query_row((table.name(), id, field), |r| {
                Ok(RowClock {
                    hlc: r.get(0)?,
                    dev: r.get(1)?,
                })
            })
            .optional()?;
        if let Some(existing) = existing
            && self.hlc(existing)? >= hlc
        {
            return Ok(());
        }
        let clock = self.stored(hlc)?;
        self.tx
            .prepare_cached(
                "INSERT INTO sync_pending (tbl, id, field, value, hlc, dev) VALUES (?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (tbl, id, field) DO UPDATE SET value = excluded.value, hlc = excluded.hlc, \
                 dev = excluded.dev",
            )?
            .execute((table.name(), id, field, value, clock.hlc, clock.dev))?;
        Ok(())
    }
}

#[cfg(feature = "planted-bugs")]
fn planted_arrival_order() -> bool {
    crate::planted::is(crate::planted::Bug::ArrivalOrder)
}

#[cfg(not(feature = "planted-bugs"))]
fn planted_arrival_order() -> bool {
    false
}
