use std::fmt::Write as _;

use rusqlite::Connection;

use crate::{DeviceIndex, FieldClocks, Schema, Table, Value};

/// A canonical text dump of a database's synced state: every synced table's
/// rows by id with their synced fields and resolved field clocks, its hidden
/// rows, then the tombstones and pending field writes. Two databases hold the same synced state iff their dumps are
/// byte-identical; device-local tables and columns are left out, and device
/// indexes are resolved to device ids so that they do not differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedDump {
    /// The dump, one line per row or tombstone.
    pub text: String,
    /// Visible synced rows.
    pub rows: usize,
    /// Rows that exist but are hidden because a parent is absent.
    pub hidden: usize,
    /// Field writes waiting for their row to exist.
    pub pending: usize,
    /// Tombstones.
    pub tombstones: usize,
}

/// How a value appears in a [`SyncedDump`]: unambiguous and exact (floats by
/// their bits), so that equal dumps mean equal values.
pub fn dump_value(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Integer(i) => i.to_string(),
        // Bits, so that the dump distinguishes every float SQLite does.
        Value::Real(r) => format!("real:{:016x}", r.to_bits()),
        Value::Text(t) => serde_json::to_string(t).expect("strings serialize"),
        Value::Blob(b) => {
            b.iter().fold("x'".to_owned(), |mut s, byte| {
                let _ = write!(s, "{byte:02x}");
                s
            }) + "'"
        }
    }
}

/// Dumps the synced state of `conn`.
pub fn dump_synced(conn: &Connection, schema: &Schema) -> rusqlite::Result<SyncedDump> {
    let mut devices = DeviceIndex::default();
    let mut text = String::new();
    let (mut rows, mut hidden, mut tombstones, mut pending) = (0, 0, 0, 0);
    for table in Table::SYNCED {
        let ts = schema.table(table);
        // Visible rows, then the hidden ones (merge case 6): both are part of
        // the synced state, so both must converge.
        for (prefix, name) in [("", table.name().to_owned()), ("hidden ", ts.shadow_name())] {
            let sql = format!(
                "SELECT id, {}, _sync_hlc, _sync_dev, _sync_fhlc FROM {name} ORDER BY id",
                ts.fields.join(", "),
            );
            let mut stmt = conn.prepare(&sql)?;
            let mut q = stmt.query([])?;
            let n = ts.fields.len();
            while let Some(r) = q.next()? {
                let id: String = r.get(0)?;
                let _ = write!(text, "{prefix}{table} {id}");
                for (i, field) in ts.fields.iter().enumerate() {
                    let _ = write!(text, " {field}={}", dump_value(&r.get::<_, Value>(i + 1)?));
                }
                let (hlc, dev): (Option<i64>, Option<i64>) = (r.get(n + 1)?, r.get(n + 2)?);
                match (hlc, dev) {
                    (Some(hlc), Some(dev)) => {
                        let _ = write!(text, " @{}", devices.hlc(conn, hlc, dev)?);
                    }
                    _ => text.push_str(" @unstamped"),
                }
                let fhlc: Option<Vec<u8>> = r.get(n + 3)?;
                for fc in FieldClocks::decode(fhlc.as_deref()).iter() {
                    let hlc = devices.hlc(conn, fc.clock.hlc, fc.clock.dev)?;
                    let _ = write!(text, " {}@{hlc}", ts.fields[usize::from(fc.field)]);
                }
                text.push('\n');
                if prefix.is_empty() {
                    rows += 1;
                } else {
                    hidden += 1;
                }
            }
        }
    }
    let mut stmt =
        conn.prepare("SELECT tbl, id, hlc, dev FROM sync_tombstones ORDER BY tbl, id")?;
    let mut q = stmt.query([])?;
    while let Some(r) = q.next()? {
        let (tbl, id, hlc, dev): (String, String, i64, i64) =
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        let _ = writeln!(
            text,
            "tombstone {tbl} {id} @{}",
            devices.hlc(conn, hlc, dev)?
        );
        tombstones += 1;
    }
    let mut stmt = conn.prepare(
        "SELECT tbl, id, field, value, hlc, dev FROM sync_pending ORDER BY tbl, id, field",
    )?;
    let mut q = stmt.query([])?;
    while let Some(r) = q.next()? {
        let (tbl, id, field): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let value: Value = r.get(3)?;
        let hlc = devices.hlc(conn, r.get(4)?, r.get(5)?)?;
        let _ = writeln!(
            text,
            "pending {tbl} {id} {field}={}@{hlc}",
            dump_value(&value)
        );
        pending += 1;
    }
    Ok(SyncedDump {
        text,
        rows,
        hidden,
        tombstones,
        pending,
    })
}
