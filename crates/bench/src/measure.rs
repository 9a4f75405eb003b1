//! Measuring a database: on-disk bytes, per-object bytes (SQLite's `dbstat`),
//! and the synced data itself, to check that compared variants wrote the
//! same thing.

use std::collections::BTreeMap;
use std::path::Path;

use bae_store::{Database, Table, Value};
use rusqlite::Connection;

/// Copies the WAL into the database file and truncates the WAL to zero
/// bytes, so that the file size is the database size.
pub fn checkpoint(conn: &Connection) -> anyhow::Result<()> {
    let (busy, _log, _done): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    anyhow::ensure!(busy == 0, "wal_checkpoint(TRUNCATE) was blocked");
    Ok(())
}

/// Bytes on disk of the database at `path`: the file plus its WAL, if any
/// (the `-shm` index is a cache, not data).
pub fn file_bytes(path: &Path) -> anyhow::Result<u64> {
    let main = std::fs::metadata(path)?.len();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = std::fs::metadata(Path::new(&wal)).map_or(0, |m| m.len());
    Ok(main + wal)
}

/// Rebuilds the database without free pages, then checkpoints, so that the
/// file size is what the content needs.
pub fn vacuum(conn: &Connection) -> anyhow::Result<()> {
    conn.execute_batch("VACUUM")?;
    checkpoint(conn)
}

/// Whether this SQLite build has the `dbstat` virtual table.
pub fn has_dbstat(conn: &Connection) -> bool {
    conn.query_row("SELECT count(*) FROM dbstat", [], |r| r.get::<_, i64>(0))
        .is_ok()
}

/// Bytes of pages per table or index (`sum(pgsize)` from `dbstat`), or
/// `None` if the build lacks `dbstat`.
pub fn object_bytes(conn: &Connection) -> anyhow::Result<Option<BTreeMap<String, u64>>> {
    if !has_dbstat(conn) {
        return Ok(None);
    }
    let mut stmt = conn.prepare("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")?;
    let map = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(map))
}

/// One integer from `sql`.
pub fn scalar(conn: &Connection, sql: &str) -> anyhow::Result<i64> {
    Ok(conn
        .query_row(sql, [], |r| r.get::<_, Option<i64>>(0))?
        .unwrap_or(0))
}

/// Every row of every synced table: the table, then `id` and the synced
/// fields in schema order, sorted by table and id. Device-local tables and
/// columns and all sync metadata are left out.
pub fn synced_rows(db: &Database) -> anyhow::Result<Vec<(Table, Vec<Value>)>> {
    let mut out = Vec::new();
    for_each_synced_row(db, |t, row| out.push((t, row)))?;
    Ok(out)
}

/// The number of synced rows and a digest of [`synced_rows`], for comparing
/// large databases without holding them in memory.
pub fn synced_digest(db: &Database) -> anyhow::Result<(u64, u64)> {
    let (mut rows, mut h) = (0u64, Fnv::default());
    for_each_synced_row(db, |t, row| {
        rows += 1;
        h.write(t.name().as_bytes());
        for v in &row {
            match v {
                Value::Null => h.write(&[0]),
                Value::Integer(i) => {
                    h.write(&[1]);
                    h.write(&i.to_le_bytes());
                }
                Value::Real(r) => {
                    h.write(&[2]);
                    h.write(&r.to_bits().to_le_bytes());
                }
                Value::Text(s) => {
                    h.write(&[3]);
                    h.write(&(s.len() as u64).to_le_bytes());
                    h.write(s.as_bytes());
                }
                Value::Blob(b) => {
                    h.write(&[4]);
                    h.write(&(b.len() as u64).to_le_bytes());
                    h.write(b);
                }
            }
        }
    })?;
    Ok((rows, h.0))
}

fn for_each_synced_row(db: &Database, mut f: impl FnMut(Table, Vec<Value>)) -> anyhow::Result<()> {
    for table in Table::SYNCED {
        let ts = db.schema().table(table);
        let sql = format!(
            "SELECT id, {} FROM {} ORDER BY id",
            ts.fields.join(", "),
            table.name()
        );
        let mut stmt = db.conn().prepare(&sql)?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let row = (0..=ts.fields.len())
                .map(|i| r.get::<_, Value>(i))
                .collect::<rusqlite::Result<_>>()?;
            f(table, row);
        }
    }
    Ok(())
}

/// 64-bit FNV-1a: a stable digest, the same in every build.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// CPU time of the calling thread: `(on-CPU seconds, user seconds, system
/// seconds)`. The first is from `/proc/thread-self/schedstat` (nanoseconds);
/// the split from `/proc/thread-self/stat` (clock ticks, assumed 100 per
/// second as on every Linux build). `None` where `/proc` is missing.
///
/// The kernel brings a running thread's schedstat up to date only at a
/// scheduler tick or a context switch, so a plain read can be a tick (4 ms at
/// HZ=250) stale; yielding first makes it exact, which matters for
/// measurements of tens of milliseconds.
pub fn thread_cpu() -> Option<(f64, f64, f64)> {
    std::thread::yield_now();
    let sched = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let on_cpu_ns: u64 = sched.split_whitespace().next()?.parse().ok()?;
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, utime field 14, stime field 15.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| rest.get(i)?.parse::<u64>().ok();
    let (user, sys) = (ticks(11)?, ticks(12)?);
    Some((
        on_cpu_ns as f64 / 1e9,
        user as f64 / 100.0,
        sys as f64 / 100.0,
    ))
}

/// Where the bytes of encoded op batches go, from decoding every batch in
/// `op_log`: table names, row ids and field names (each with its one-byte
/// length prefix) against everything else (values, HLCs, tags, headers).
pub fn op_body_composition(conn: &Connection) -> anyhow::Result<serde_json::Value> {
    let mut stmt = conn.prepare("SELECT body FROM op_log ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let (mut total, mut tables, mut ids, mut names, mut blobs) = (0u64, 0u64, 0u64, 0u64, 0u64);
    while let Some(r) = rows.next()? {
        let body: Vec<u8> = r.get(0)?;
        total += body.len() as u64;
        let batch = bae_oplog::Batch::decode(&body)?;
        for op in &batch.ops {
            tables += op.table.name().len() as u64 + 1;
            ids += op.row_id.len() as u64 + 1;
            let fields = match &op.action {
                bae_oplog::Action::Insert(f) | bae_oplog::Action::Update(f) => f.as_slice(),
                bae_oplog::Action::Delete => &[],
            };
            for (name, value) in fields {
                names += name.len() as u64 + 1;
                if let Value::Blob(b) = value {
                    blobs += b.len() as u64;
                }
            }
        }
    }
    let share = |n: u64| {
        if total == 0 {
            0.0
        } else {
            n as f64 / total as f64
        }
    };
    Ok(serde_json::json!({
        "body_bytes": total,
        "table_name_bytes": tables,
        "row_id_bytes": ids,
        "field_name_bytes": names,
        "blob_value_bytes": blobs,
        "table_name_share": share(tables),
        "row_id_share": share(ids),
        "field_name_share": share(names),
        "blob_value_share": share(blobs),
    }))
}

/// One timed run: wall seconds and the calling thread's on-CPU seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timed {
    /// Wall-clock seconds.
    pub wall: f64,
    /// On-CPU seconds of the calling thread (see [`thread_cpu`]).
    pub cpu: Option<f64>,
}

impl Timed {
    /// The best (smallest) wall and CPU times of `runs`, each on its own.
    pub fn best(runs: &[Timed]) -> Timed {
        Timed {
            wall: runs.iter().map(|t| t.wall).fold(f64::INFINITY, f64::min),
            cpu: runs
                .iter()
                .map(|t| t.cpu)
                .collect::<Option<Vec<f64>>>()
                .and_then(|c| c.into_iter().min_by(f64::total_cmp)),
        }
    }

    /// As JSON, for the details of a report.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({"wall_seconds": self.wall, "cpu_seconds": self.cpu})
    }
}

/// Runs `f` and times it (wall and on-CPU time of this thread).
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Timed) {
    let cpu0 = thread_cpu();
    let start = std::time::Instant::now();
    let value = f();
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu0.zip(thread_cpu()).map(|(a, b)| b.0 - a.0);
    (value, Timed { wall, cpu })
}

/// Bytes the calling thread has written so far: `(wchar, write_bytes)` from
/// `/proc/thread-self/io`: bytes passed to `write(2)` and friends, and bytes
/// it caused to be sent to storage. `None` where `/proc` is missing.
pub fn thread_io_written() -> Option<(u64, u64)> {
    let io = std::fs::read_to_string("/proc/thread-self/io").ok()?;
    let field = |name: &str| {
        io.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((field("wchar")?, field("write_bytes")?))
}
