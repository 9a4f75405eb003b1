//! Checkpoints: the whole synced state of a library at one moment, with the
//! per-device cursors it covers, so a new device boots from it and replays
//! only later batches. The wire encoding is defined here and nowhere else:
//!
//! ```text
//! checkpoint = "BAEC" version:u8 frame(header) frame(record)*   (version 2)
//! frame      = len:u32 LE, then len bytes of postcard
//! header     = (writer, created, schema_version, cursors)
//! record     = Row | Tombstone | Pending | End(rows, tombstones, pending)
//! ```
//!
//! Rows come first, table by table in dependency order (parents before
//! children), then tombstones, then pending field writes, then one `End`
//! record with the counts. The framing lets a device read and boot from a
//! checkpoint one record at a time ([`CheckpointReader`],
//! [`crate::Merger::boot_stream`]), so booting never holds the whole
//! checkpoint in memory; `End` makes a stream cut at a frame boundary
//! detectably short even without the encryption's last-chunk flag.
//!
//! A clock travels as `(packed: u64, device: [u8; 16])`. Compaction
//! equivalence holds by construction: a checkpoint is exactly the state the
//! merge keeps (visible and hidden rows with their clocks, tombstones,
//! pending field writes), and booting re-derives visibility from it.

use std::collections::BTreeMap;
use std::io::{self, Read};

use bae_hlc::{DeviceId, Hlc};
use bae_store::{
    DeviceIndex, FieldClocks, RowClock, SCHEMA_VERSION, Schema, Table, Tombstone, Value,
};
use rusqlite::{Connection, params_from_iter};

const MAGIC: &[u8; 4] = b"BAEC";

/// The checkpoint encoding version this build writes and reads.
pub const CHECKPOINT_FORMAT_VERSION: u8 = 2;

/// The largest frame a reader accepts: far above any real row, low enough
/// that a corrupt length cannot make it allocate without bound.
const MAX_FRAME_LEN: u32 = 64 << 20;

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

/// `(writer, created, schema_version, cursors)`.
type WireHeader = ([u8; 16], WireHlc, u32, Vec<([u8; 16], u64)>);

#[derive(serde::Serialize, serde::Deserialize)]
enum WireRecord {
    Row(WireRow),
    Tombstone(String, String, WireHlc),
    Pending(String, String, String, Value, WireHlc),
    End(u64, u64, u64),
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

/// Why a checkpoint stream could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The bytes are not a checkpoint this build can use.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The source failed (for a decrypting source: an object that failed
    /// authentication, see `bae_crypto::decrypt_error`).
    #[error("reading the checkpoint failed: {0}")]
    Io(#[from] io::Error),
}

/// Why booting from a checkpoint failed. Nothing changed: the boot's
/// transaction rolled back.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The checkpoint could not be read to its end.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// SQLite failed (disk full, I/O error).
    #[error("booting from a checkpoint failed in the database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl From<CheckpointError> for BootError {
    fn from(e: CheckpointError) -> Self {
        BootError::Read(ReadError::Checkpoint(e))
    }
}

/// What a checkpoint says before its records: who wrote it, when, and the
/// cursors it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointHeader {
    /// The device that wrote it.
    pub writer: DeviceId,
    /// When it was written (the writer's clock).
    pub created: Hlc,
    /// The schema version of its rows.
    pub schema_version: u32,
    /// See [`Checkpoint::cursors`].
    pub cursors: BTreeMap<DeviceId, u64>,
}

/// One record of a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckpointItem {
    /// An existing row, visible or not.
    Row(CheckpointRow),
    /// A deleted row: `(table, id, delete clock)`.
    Tombstone(Table, String, Hlc),
    /// A field write waiting for its row: `(table, id, field, value, clock)`.
    Pending(Table, String, String, Value, Hlc),
}

/// Where a reader is in the record sequence; records must come in this
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Rows(usize),
    Tombstones,
    Pending,
    Done,
}

/// Reads a checkpoint one record at a time from any byte source,
/// validating each against the schema as it goes. A checkpoint is only
/// whole once the reader has returned `None`: a consumer must be ready to
/// undo what it did with earlier records if a later one fails.
pub struct CheckpointReader<'s, R> {
    source: R,
    schema: &'s Schema,
    header: CheckpointHeader,
    stage: Stage,
    counts: (u64, u64, u64),
    frame: Vec<u8>,
    failed: bool,
}

impl<R> std::fmt::Debug for CheckpointReader<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointReader")
            .field("header", &self.header)
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

fn malformed(m: impl Into<String>) -> CheckpointError {
    CheckpointError::Malformed(m.into())
}

fn read_hlc((packed, dev): WireHlc) -> Result<Hlc, CheckpointError> {
    i64::try_from(packed)
        .ok()
        .filter(|p| (*p as u64 >> 16) <= Hlc::MAX_WALL_MS)
        .map(|p| Hlc::from_packed(p, DeviceId::from_bytes(dev)))
        .ok_or_else(|| malformed(format!("clock {packed} out of range")))
}

fn read_table(name: &str) -> Result<Table, CheckpointError> {
    Table::from_name(name)
        .filter(|t| t.is_synced())
        .ok_or_else(|| malformed(format!("unknown table {name}")))
}

/// The position of `table` in the dependency order rows travel in.
fn table_rank(table: Table) -> usize {
    Table::SYNCED
        .iter()
        .position(|t| *t == table)
        .expect("checkpoint rows are of synced tables")
}

/// Reads one frame into `buf`; false at a clean end of the source.
fn read_frame(source: &mut impl Read, buf: &mut Vec<u8>) -> Result<bool, ReadError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match source.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(malformed("cut inside a frame length").into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME_LEN {
        return Err(malformed(format!("a frame of {len} bytes")).into());
    }
    buf.resize(len as usize, 0);
    source.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ReadError::from(malformed("cut inside a frame")),
        _ => e.into(),
    })?;
    Ok(true)
}

fn write_frame<T: serde::Serialize>(out: &mut Vec<u8>, value: &T) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    *out = postcard::to_extend(value, std::mem::take(out))
        .expect("serializing into a Vec cannot fail");
    let len = u32::try_from(out.len() - at - 4).expect("a record fits a frame");
    assert!(len <= MAX_FRAME_LEN, "a record larger than a frame");
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

impl<'s, R: Read> CheckpointReader<'s, R> {
    /// Reads the magic, version and header.
    pub fn new(mut source: R, schema: &'s Schema) -> Result<Self, ReadError> {
        let mut start = [0u8; 5];
        source.read_exact(&mut start).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => ReadError::from(CheckpointError::BadMagic),
            _ => e.into(),
        })?;
        if &start[..4] != MAGIC {
            return Err(CheckpointError::BadMagic.into());
        }
        if start[4] != CHECKPOINT_FORMAT_VERSION {
            return Err(CheckpointError::UnsupportedVersion {
                found: start[4],
                supported: CHECKPOINT_FORMAT_VERSION,
            }
            .into());
        }
        let mut frame = Vec::new();
        if !read_frame(&mut source, &mut frame)? {
            return Err(malformed("no header").into());
        }
        let (writer, created, schema_version, cursors): WireHeader =
            postcard::from_bytes(&frame).map_err(|e| malformed(format!("header: {e}")))?;
        if schema_version > SCHEMA_VERSION {
            return Err(CheckpointError::SchemaTooNew {
                found: schema_version,
                supported: SCHEMA_VERSION,
            }
            .into());
        }
        let header = CheckpointHeader {
            writer: DeviceId::from_bytes(writer),
            created: read_hlc(created)?,
            schema_version,
            cursors: cursors
                .into_iter()
                .map(|(d, s)| (DeviceId::from_bytes(d), s))
                .collect(),
        };
        Ok(Self {
            source,
            schema,
            header,
            stage: Stage::Rows(0),
            counts: (0, 0, 0),
            frame,
            failed: false,
        })
    }

    /// The header read by [`CheckpointReader::new`].
    pub fn header(&self) -> &CheckpointHeader {
        &self.header
    }

    fn advance(&mut self, to: Stage) -> Result<(), CheckpointError> {
        if to < self.stage {
            return Err(malformed("records out of order"));
        }
        self.stage = to;
        Ok(())
    }

    fn next_item(&mut self) -> Result<Option<CheckpointItem>, ReadError> {
        if self.stage == Stage::Done {
            if read_frame(&mut self.source, &mut self.frame)? {
                return Err(malformed("records after the end record").into());
            }
            return Ok(None);
        }
        if !read_frame(&mut self.source, &mut self.frame)? {
            return Err(malformed("ends before its end record").into());
        }
        let record: WireRecord =
            postcard::from_bytes(&self.frame).map_err(|e| malformed(e.to_string()))?;
        match record {
            WireRecord::Row((t, id, values, base, over)) => {
                let t = read_table(&t)?;
                self.advance(Stage::Rows(table_rank(t)))?;
                let n = self.schema.table(t).fields.len();
                if values.len() != n {
                    return Err(malformed(format!(
                        "{t} {id} has {} fields, expected {n}",
                        values.len()
                    ))
                    .into());
                }
                let base = read_hlc(base)?;
                let mut o = Vec::with_capacity(over.len());
                for (i, h) in over {
                    let h = read_hlc(h)?;
                    if usize::from(i) >= n || h <= base {
                        return Err(malformed(format!("{t} {id} has a bad field clock")).into());
                    }
                    o.push((i, h));
                }
                self.counts.0 += 1;
                Ok(Some(CheckpointItem::Row(CheckpointRow {
                    table: t,
                    id,
                    values,
                    base,
                    over: o,
                })))
            }
            WireRecord::Tombstone(t, id, h) => {
                self.advance(Stage::Tombstones)?;
                self.counts.1 += 1;
                Ok(Some(CheckpointItem::Tombstone(
                    read_table(&t)?,
                    id,
                    read_hlc(h)?,
                )))
            }
            WireRecord::Pending(t, id, f, v, h) => {
                self.advance(Stage::Pending)?;
                let t = read_table(&t)?;
                if !self.schema.table(t).is_synced_field(&f) {
                    return Err(malformed(format!("pending write of unknown field {t}.{f}")).into());
                }
                self.counts.2 += 1;
                Ok(Some(CheckpointItem::Pending(t, id, f, v, read_hlc(h)?)))
            }
            WireRecord::End(rows, tombstones, pending) => {
                if (rows, tombstones, pending) != self.counts {
                    return Err(malformed(format!(
                        "it ends claiming {rows} rows, {tombstones} tombstones, {pending} \
                         pending writes, but holds {:?}",
                        self.counts
                    ))
                    .into());
                }
                self.stage = Stage::Done;
                self.next_item()
            }
        }
    }
}

impl<R: Read> Iterator for CheckpointReader<'_, R> {
    type Item = Result<CheckpointItem, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_item() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => None,
            Err(e) => {
                // After an error the position in the stream means nothing.
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

impl Checkpoint {
    /// Encodes the checkpoint (rows in dependency order, whatever their
    /// order in [`Checkpoint::rows`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(CHECKPOINT_FORMAT_VERSION);
        let header: WireHeader = (
            *self.writer.as_bytes(),
            wire(self.created),
            self.schema_version,
            self.cursors
                .iter()
                .map(|(d, s)| (*d.as_bytes(), *s))
                .collect(),
        );
        write_frame(&mut out, &header);
        for r in self.rows_in_order() {
            let over = r.over.iter().map(|(i, h)| (*i, wire(*h))).collect();
            let row: WireRow = (
                r.table.name().to_owned(),
                r.id.clone(),
                r.values.clone(),
                wire(r.base),
                over,
            );
            write_frame(&mut out, &WireRecord::Row(row));
        }
        for (t, id, h) in &self.tombstones {
            let record = WireRecord::Tombstone(t.name().to_owned(), id.clone(), wire(*h));
            write_frame(&mut out, &record);
        }
        for (t, id, f, v, h) in &self.pending {
            let record = WireRecord::Pending(
                t.name().to_owned(),
                id.clone(),
                f.clone(),
                v.clone(),
                wire(*h),
            );
            write_frame(&mut out, &record);
        }
        let end = WireRecord::End(
            self.rows.len() as u64,
            self.tombstones.len() as u64,
            self.pending.len() as u64,
        );
        write_frame(&mut out, &end);
        out
    }

    /// The rows in the order they travel and are booted in: by table in
    /// dependency order, stable within a table.
    fn rows_in_order(&self) -> Vec<&CheckpointRow> {
        let mut rows: Vec<&CheckpointRow> = self.rows.iter().collect();
        rows.sort_by_key(|r| table_rank(r.table));
        rows
    }

    /// Decodes and validates a checkpoint against `schema`: every row must
    /// have exactly the table's fields, so a torn or foreign checkpoint is
    /// refused before anything is replaced.
    pub fn decode(bytes: &[u8], schema: &Schema) -> Result<Checkpoint, CheckpointError> {
        let mut reader = CheckpointReader::new(bytes, schema).map_err(in_memory)?;
        let header = reader.header().clone();
        let mut checkpoint = Checkpoint {
            writer: header.writer,
            created: header.created,
            schema_version: header.schema_version,
            cursors: header.cursors,
            rows: Vec::new(),
            tombstones: Vec::new(),
            pending: Vec::new(),
        };
        for item in &mut reader {
            match item.map_err(in_memory)? {
                CheckpointItem::Row(r) => checkpoint.rows.push(r),
                CheckpointItem::Tombstone(t, id, h) => checkpoint.tombstones.push((t, id, h)),
                CheckpointItem::Pending(t, id, f, v, h) => {
                    checkpoint.pending.push((t, id, f, v, h));
                }
            }
        }
        Ok(checkpoint)
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
    /// transaction (see [`boot_stream`]).
    pub fn boot(
        &self,
        conn: &mut Connection,
        schema: &Schema,
        self_device: DeviceId,
    ) -> rusqlite::Result<()> {
        let header = CheckpointHeader {
            writer: self.writer,
            created: self.created,
            schema_version: self.schema_version,
            cursors: self.cursors.clone(),
        };
        let items = self
            .rows_in_order()
            .into_iter()
            .map(|r| CheckpointItem::Row(r.clone()))
            .chain(
                self.tombstones
                    .iter()
                    .map(|(t, id, h)| CheckpointItem::Tombstone(*t, id.clone(), *h)),
            )
            .chain(self.pending.iter().map(|(t, id, f, v, h)| {
                CheckpointItem::Pending(*t, id.clone(), f.clone(), v.clone(), *h)
            }))
            .map(Ok);
        boot_items(conn, schema, self_device, &header, items).map_err(|e| match e {
            BootError::Sqlite(e) => e,
            BootError::Read(e) => unreachable!("an in-memory checkpoint reads whole: {e}"),
        })
    }
}

/// A [`ReadError`] of an in-memory source, which cannot fail to read.
fn in_memory(e: ReadError) -> CheckpointError {
    match e {
        ReadError::Checkpoint(e) => e,
        ReadError::Io(e) => malformed(e.to_string()),
    }
}

/// Replaces the synced state of `conn` with the checkpoint `reader` reads,
/// record by record, in one transaction: if a record fails to read or
/// validate, the transaction rolls back and the state is as before.
/// Device-local tables and columns stay: foreign keys are off while the
/// synced rows are swapped (so SQLite's cascades do not reach local rows),
/// the local columns of `files` are carried over by id, and afterwards only
/// local rows whose synced parent is gone are removed. `self_device`'s own
/// cursor is not stored: a device never merges its own batches.
pub fn boot_stream<R: Read>(
    conn: &mut Connection,
    schema: &Schema,
    self_device: DeviceId,
    mut reader: CheckpointReader<'_, R>,
) -> Result<CheckpointHeader, BootError> {
    let header = reader.header().clone();
    boot_items(
        conn,
        schema,
        self_device,
        &header,
        (&mut reader).map(|r| r.map_err(BootError::from)),
    )?;
    Ok(header)
}

fn boot_items(
    conn: &mut Connection,
    schema: &Schema,
    self_device: DeviceId,
    header: &CheckpointHeader,
    items: impl Iterator<Item = Result<CheckpointItem, BootError>>,
) -> Result<(), BootError> {
    conn.pragma_update(None, "foreign_keys", false)?;
    let result = boot_in_tx(conn, schema, self_device, header, items);
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
    conn: &mut Connection,
    schema: &Schema,
    self_device: DeviceId,
    header: &CheckpointHeader,
    items: impl Iterator<Item = Result<CheckpointItem, BootError>>,
) -> Result<(), BootError> {
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
    // Rows arrive table by table in dependency order (the reader refuses
    // any other), so a row's parents are placed (or not) before it and its
    // visibility is decided once, as it arrives.
    for item in items {
        match item? {
            CheckpointItem::Row(row) => {
                let table = row.table;
                let ts = schema.table(table);
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
                let mut cols: Vec<&str> = ts.fields.iter().map(String::as_str).collect();
                cols.extend(["_sync_hlc", "_sync_dev", "_sync_fhlc"]);
                let mut params = row.values;
                params.extend([
                    Value::Integer(base.hlc),
                    Value::Integer(base.dev),
                    clocks.encode().into(),
                ]);
                if let Some((path, nonce)) = local.get(&row.id).filter(|_| table == Table::Files) {
                    cols.extend(["source_path", "encryption_nonce"]);
                    params.extend([path.clone(), nonce.clone()]);
                }
                let sql = format!(
                    "INSERT INTO {to} (id, {}) VALUES (?, {})",
                    cols.join(", "),
                    vec!["?"; cols.len()].join(", ")
                );
                let id = Value::Text(row.id);
                tx.prepare_cached(&sql)?
                    .execute(params_from_iter(std::iter::once(&id).chain(&params)))?;
            }
            CheckpointItem::Tombstone(table, id, h) => {
                let clock = stored(&tx, h)?;
                Tombstone::put(&tx, table, &id, clock)?;
            }
            CheckpointItem::Pending(table, id, field, value, h) => {
                let clock = stored(&tx, h)?;
                tx.prepare_cached(
                    "INSERT INTO sync_pending (tbl, id, field, value, hlc, dev) \
                     VALUES (?, ?, ?, ?, ?, ?)",
                )?
                .execute((
                    table.name(),
                    id,
                    field,
                    value,
                    clock.hlc,
                    clock.dev,
                ))?;
            }
        }
    }
    for (device, seq) in &header.cursors {
        if *device != self_device {
            tx.prepare_cached("INSERT INTO sync_cursors (device_id, seq) VALUES (?, ?)")?
                .execute((device.as_bytes().as_slice(), seq))?;
        }
    }
    tx.commit()?;
    Ok(())
}
