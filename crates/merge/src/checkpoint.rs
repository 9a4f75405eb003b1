//! Checkpoints: the whole synced state of a library at one moment, with the
//! per-device cursors it covers, so a new device boots from it and replays
//! only later batches. The wire encoding is defined here and nowhere else:
//!
//! ```text
//! checkpoint = "BAEC" version:u8 postcard(WireCheckpoint)   (version 1)
//! ```
//!
//! A clock travels as `(packed: u64, device: [u8; 16])`. Compaction
//! equivalence holds by construction: a checkpoint is exactly the state the
//! merge keeps (visible and hidden rows with their clocks, tombstones,
//! pending field writes), and booting re-derives visibility from it.

use std::collections::BTreeMap;

use bae_hlc::{DeviceId, Hlc};
use bae_store::{
    DeviceIndex, FieldClocks, RowClock, SCHEMA_VERSION, Schema, Table, Tombstone, Value,
};
use rusqlite::{Connection, params_from_iter};

const MAGIC: &[u8; 4] = b"BAEC";

/// The checkpoint encoding version this build writes and reads.
pub const CHECKPOINT_FORMAT_VERSION: u8 = 1;

/// A row in a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointRow {
    /// Its table.
    pub table: Table,
    /// Its id.
    pub id: String,
    /// Every synced field, in schema order.
    pub values: Vec<Value>,
    /// The clock of its current insert.
    pub base: Hlc,
    /// Fields written after the insert: `(field index, clock)`.
    pub over: Vec<(u8, Hlc)>,
}

/// The synced state of a library, as of the cursors it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The device that wrote it.
    pub writer: DeviceId,
    /// When it was written (the writer's clock).
    pub created: Hlc,
    /// The schema version of its rows.
    pub schema_version: u32,
    /// The last seq of every device whose batches it includes, the writer's
    /// own included. Only batches the writer had *applied*.
    pub cursors: BTreeMap<DeviceId, u64>,
    /// Existing rows, visible or not.
    pub rows: Vec<CheckpointRow>,
    /// Deleted rows: `(table, id, delete clock)`.
    pub tombstones: Vec<(Table, String, Hlc)>,
    /// Field writes waiting for their row: `(table, id, field, value, clock)`.
    pub pending: Vec<(Table, String, String, Value, Hlc)>,
}

type WireHlc = (u64, [u8; 16]);

/// `(table, id, values, base clock, field clocks)`.
type WireRow = (String, String, Vec<Value>, WireHlc, Vec<(u8, WireHlc)>);

#[derive(serde::Serialize, serde::Deserialize)]
struct WireCheckpoint {
    writer: [u8; 16],
    created: WireHlc,
    schema_version: u32,
    cursors: Vec<([u8; 16], u64)>,
    rows: Vec<WireRow>,
    tombstones: Vec<(String, String, WireHlc)>,
    pending: Vec<(String, String, String, Value, WireHlc)>,
}

fn wire(h: Hlc) -> WireHlc {
    (h.packed() as u64, *h.device().as_bytes())
}

/// Bytes that are not a checkpoint this build can use. A device refuses to
/// boot from such a checkpoint and keeps the state it has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Not a checkpoint at all.
    #[error("not a checkpoint (bad magic)")]
    BadMagic,
    /// Written by a newer bae.
    #[error("checkpoint format {found} is newer than this build's {supported}: update bae")]
    UnsupportedVersion {
        /// The version in the bytes.
        found: u8,
        /// The newest this build reads.
        supported: u8,
    },
    /// Rows written with a newer schema.
    #[error("checkpoint schema version {found} is newer than this build's {supported}: update bae")]
    SchemaTooNew {
        /// Its schema version.
        found: u32,
        /// The newest this build knows.
        supported: u32,
    },
    /// Truncated, malformed, or inconsistent with the schema.
    #[error("torn or malformed checkpoint: {0}")]
    Malformed(String),
}

impl Checkpoint {
    /// Encodes the checkpoint.
    pub fn encode(&self) -> Vec<u8> {
        let w = WireCheckpoint {
            writer: *self.writer.as_bytes(),
            created: wire(self.created),
            schema_version: self.schema_version,
            cursors: self
                .cursors
                .iter()
                .map(|(d, s)| (*d.as_bytes(), *s))
                .collect(),
            rows: self
                .rows
                .iter()
                .map(|r| {
                    let over = r.over.iter().map(|(i, h)| (*i, wire(*h))).collect();
                    (
                        r.table.name().to_owned(),
                        r.id.clone(),
                        r.values.clone(),
                        wire(r.base),
                        over,
                    )
                })
                .collect(),
            tombstones: self
                .tombstones
                .iter()
                .map(|(t, id, h)| (t.name().to_owned(), id.clone(), wire(*h)))
                .collect(),
            pending: self
                .pending
                .iter()
                .map(|(t, id, f, v, h)| {
                    (
                        t.name().to_owned(),
                        id.clone(),
                        f.clone(),
                        v.clone(),
                        wire(*h),
                    )
                })
                .collect(),
        };
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(CHECKPOINT_FORMAT_VERSION);
        postcard::to_extend(&w, out).expect("serializing into a Vec cannot fail")
    }

    /// Decodes and validates a checkpoint against `schema`: every row must
    /// have exactly the table's fields, so a torn or foreign checkpoint is
    /// refused before anything is replaced.
    pub fn decode(bytes: &[u8], schema: &Schema) -> Result<Checkpoint, CheckpointError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(CheckpointError::BadMagic)?;
        let (&version, body) = rest.split_first().ok_or(CheckpointError::BadMagic)?;
        if version != CHECKPOINT_FORMAT_VERSION {
            return Err(CheckpointError::UnsupportedVersion {
                found: version,
                supported: CHECKPOINT_FORMAT_VERSION,
            });
        }
        let malformed = |m: String| CheckpointError::Malformed(m);
        let (w, tail): (WireCheckpoint, &[u8]) =
            postcard::take_from_bytes(body).map_err(|e| malformed(e.to_string()))?;
        if !tail.is_empty() {
            return Err(malformed(format!("{} trailing bytes", tail.len())));
        }
        if w.schema_version > SCHEMA_VERSION {
            return Err(CheckpointError::SchemaTooNew {
                found: w.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        let hlc = |(packed, dev): WireHlc| -> Result<Hlc, CheckpointError> {
            i64::try_from(packed)
                .ok()
                .filter(|p| (*p as u64 >> 16) <= Hlc::MAX_WALL_MS)
                .map(|p| Hlc::from_packed(p, DeviceId::from_bytes(dev)))
                .ok_or_else(|| malformed(format!("clock {packed} out of range")))
        };
        let table = |name: &str| {
            Table::from_name(name)
                .filter(|t| t.is_synced())
                .ok_or_else(|| malformed(format!("unknown table {name}")))
        };
        let mut rows = Vec::with_capacity(w.rows.len());
        for (t, id, values, base, over) in w.rows {
            let t = table(&t)?;
            let n = schema.table(t).fields.len();
            if values.len() != n {
                return Err(malformed(format!(
                    "{t} {id} has {} fields, expected {n}",
                    values.len()
                )));
            }
            let base = hlc(base)?;
            let mut o = Vec::with_capacity(over.len());
            for (i, h) in over {
                let h = hlc(h)?;
                if usize::from(i) >= n || h <= base {
                    return Err(malformed(format!("{t} {id} has a bad field clock")));
                }
                o.push((i, h));
            }
            rows.push(CheckpointRow {
                table: t,
                id,
                values,
                base,
                over: o,
            });
        }
        let tombstones = w
            .tombstones
            .into_iter()
            .map(|(t, id, h)| Ok((table(&t)?, id, hlc(h)?)))
            .collect::<Result<_, CheckpointError>>()?;
        let mut pending = Vec::new();
        for (t, id, f, v, h) in w.pending {
            let t = table(&t)?;
            if !schema.table(t).is_synced_field(&f) {
                return Err(malformed(format!("pending write of unknown field {t}.{f}")));
            }
            pending.push((t, id, f, v, hlc(h)?));
        }
        Ok(Checkpoint {
            writer: DeviceId::from_bytes(w.writer),
            created: hlc(w.created)?,
            schema_version: w.schema_version,
            cursors: w
                .cursors
                .into_iter()
                .map(|(d, s)| (DeviceId::from_bytes(d), s))
                .collect(),
            rows,
            tombstones,
            pending,
        })
    }

    /// Reads the synced state of `conn`. `own` is the writer and the seq of
    /// its last batch included; other devices' cursors come from the
    /// database.
    pub fn export(
        conn: &Connection,
        schema: &Schema,
        created: Hlc,
        own_seq: u64,
    ) -> rusqlite::Result<Checkpoint> {
        let mut devices = DeviceIndex::default();
        let mut rows = Vec::new();
        for table in Table::SYNCED {
            let ts = schema.table(table);
            let n = ts.fields.len();
            for from in [table.name().to_owned(), ts.shadow_name()] {
                let sql = format!(
                    "SELECT id, {}, _sync_hlc, _sync_dev, _sync_fhlc FROM {from} ORDER BY id",
                    ts.fields.join(", ")
                );
                let mut stmt = conn.prepare(&sql)?;
                let mut q = stmt.query([])?;
                while let Some(r) = q.next()? {
                    let values = (1..=n)
                        .map(|i| r.get(i))
                        .collect::<rusqlite::Result<Vec<Value>>>()?;
                    let base = devices.hlc(conn, r.get(n + 1)?, r.get(n + 2)?)?;
                    let fhlc: Option<Vec<u8>> = r.get(n + 3)?;
                    let mut over = Vec::new();
                    for fc in FieldClocks::decode(fhlc.as_deref()).iter() {
                        over.push((fc.field, devices.hlc(conn, fc.clock.hlc, fc.clock.dev)?));
                    }
                    rows.push(CheckpointRow {
                        table,
                        id: r.get(0)?,
                        values,
                        base,
                        over,
                    });
                }
            }
        }
        let mut tombstones = Vec::new();
        let mut stmt =
            conn.prepare("SELECT tbl, id, hlc, dev FROM sync_tombstones ORDER BY tbl, id")?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            let t: String = r.get(0)?;
            let table = Table::from_name(&t).expect("tombstones name synced tables");
            tombstones.push((table, r.get(1)?, devices.hlc(conn, r.get(2)?, r.get(3)?)?));
        }
        let mut pending = Vec::new();
        let mut stmt = conn.prepare(
            "SELECT tbl, id, field, value, hlc, dev FROM sync_pending ORDER BY tbl, id, field",
        )?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            let t: String = r.get(0)?;
            let table = Table::from_name(&t).expect("pending names synced tables");
            pending.push((
                table,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                devices.hlc(conn, r.get(4)?, r.get(5)?)?,
            ));
        }
        let mut cursors = crate::cursors(conn)?;
        if own_seq > 0 {
            cursors.insert(created.device(), own_seq);
        }
        Ok(Checkpoint {
            writer: created.device(),
            created,
            schema_version: SCHEMA_VERSION,
            cursors,
            rows,
            tombstones,
            pending,
        })
    }

    /// Replaces the synced state of `conn` with this checkpoint, in one
    /// transaction. Device-local tables and columns stay: foreign keys are
    /// off while the synced rows are swapped (so SQLite's cascades do not
    /// reach local rows), the local columns of `files` are carried over by
    /// id, and afterwards only local rows whose synced parent is gone are
    /// removed. `self_device`'s own cursor is not stored: a device never
    /// merges its own batches.
    pub fn boot(
        &self,
        conn: &mut Connection,
        schema: &Schema,
        self_device: DeviceId,
    ) -> rusqlite::Result<()> {
        conn.pragma_update(None, "foreign_keys", false)?;
        let result = self.boot_in_tx(conn, schema, self_device);
        conn.pragma_update(None, "foreign_keys", true)?;
        result?;
        // Local rows that referenced synced rows the checkpoint does not have.
        let dangling: Vec<(String, i64)> = conn
            .prepare("PRAGMA foreign_key_check")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (table, rowid) in dangling {
            let t = Table::from_name(&table).expect("foreign key check names our tables");
            assert!(
                !t.is_synced(),
                "the checkpoint left synced table {t} inconsistent"
            );
            conn.execute(&format!("DELETE FROM {table} WHERE rowid = ?"), [rowid])?;
        }
        Ok(())
    }

    fn boot_in_tx(
        &self,
        conn: &mut Connection,
        schema: &Schema,
        self_device: DeviceId,
    ) -> rusqlite::Result<()> {
        let tx = conn.transaction()?;
        let mut local: BTreeMap<String, (Value, Value)> = BTreeMap::new();
        for from in ["files", "_shadow_files"] {
            let mut stmt = tx.prepare(&format!(
                "SELECT id, source_path, encryption_nonce FROM {from}"
            ))?;
            let mut q = stmt.query([])?;
            while let Some(r) = q.next()? {
                local.insert(r.get(0)?, (r.get(1)?, r.get(2)?));
            }
        }
        for table in Table::SYNCED {
            tx.execute(&format!("DELETE FROM {}", table.name()), [])?;
            tx.execute(
                &format!("DELETE FROM {}", schema.table(table).shadow_name()),
                [],
            )?;
        }
        tx.execute_batch(
            "DELETE FROM sync_tombstones; DELETE FROM sync_pending; DELETE FROM sync_cursors;",
        )?;
        let mut devices = DeviceIndex::default();
        let mut stored = |tx: &Connection, h: Hlc| -> rusqlite::Result<RowClock> {
            Ok(RowClock {
                hlc: h.packed(),
                dev: devices.index_of(tx, h.device())?,
            })
        };
        // Tables in dependency order, so a row's parents are placed (or not)
        // before it and visibility is decided once.
        for table in Table::SYNCED {
            let ts = schema.table(table);
            let mut cols: Vec<&str> = ts.fields.iter().map(String::as_str).collect();
            cols.extend(["_sync_hlc", "_sync_dev", "_sync_fhlc"]);
            for row in self.rows.iter().filter(|r| r.table == table) {
                let visible = ts.parents.iter().all(|fk| {
                    let i = ts.field_index(&fk.column).expect("references are fields");
                    match &row.values[i] {
                        Value::Text(p) => bae_store::row_exists(&tx, fk.parent, p).unwrap_or(false),
                        _ => true,
                    }
                });
                let to = if visible {
                    table.name().to_owned()
                } else {
                    ts.shadow_name()
                };
                let base = stored(&tx, row.base)?;
                let mut clocks = FieldClocks::default();
                for (i, h) in &row.over {
                    clocks.set(*i, stored(&tx, *h)?);
                }
                let mut params = row.values.clone();
                params.extend([
                    Value::Integer(base.hlc),
                    Value::Integer(base.dev),
                    clocks.encode().into(),
                ]);
                let mut all_cols = cols.clone();
                if let Some((path, nonce)) = local.get(&row.id).filter(|_| table == Table::Files) {
                    all_cols.extend(["source_path", "encryption_nonce"]);
                    params.extend([path.clone(), nonce.clone()]);
                }
                let sql = format!(
                    "INSERT INTO {to} (id, {}) VALUES (?, {})",
                    all_cols.join(", "),
                    vec!["?"; all_cols.len()].join(", ")
                );
                let id = Value::Text(row.id.clone());
                tx.prepare_cached(&sql)?
                    .execute(params_from_iter(std::iter::once(&id).chain(&params)))?;
            }
        }
        for (table, id, h) in &self.tombstones {
            let clock = stored(&tx, *h)?;
            Tombstone::put(&tx, *table, id, clock)?;
        }
        for (table, id, field, value, h) in &self.pending {
            let clock = stored(&tx, *h)?;
            tx.prepare_cached("INSERT INTO sync_pending (tbl, id, field, value, hlc, dev) VALUES (?, ?, ?, ?, ?, ?)")?
                .execute((table.name(), id, field, value, clock.hlc, clock.dev))?;
        }
        for (device, seq) in &self.cursors {
            if *device != self_device {
                tx.prepare_cached("INSERT INTO sync_cursors (device_id, seq) VALUES (?, ?)")?
                    .execute((device.as_bytes().as_slice(), seq))?;
            }
        }
        tx.commit()
    }
}
