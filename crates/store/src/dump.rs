use std::fmt::Write as _;

use rusqlite::Connection;

use crate::{DeviceIndex, FieldClocks, Schema, Table, Value};

/// A canonical text dump of a database's synced state: every synced table's
/// rows by id with their synced fields and resolved field clocks, then the
/// tombstones. Two databases hold the same synced state iff their dumps are
/// byte-identical; device-local tables and columns are left out, and device
/// indexes are resolved to device ids so that they do not differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedDump {
    /// The dump, one line per row or tombstone.
    pub text: String,
    /// Visible synced rows.
    pub rows: usize,
    /// Tombstones.
    pub tombstones: usize,
}

fn value_text(v: &Value) -> String {
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
    let (mut rows, mut tombstones) = (0, 0);
    for table in Table::SYNCED {
        let ts = schema.table(table);
        let sql = format!(
            "SELECT id, {}, _sync_hlc, _sync_dev, _sync_fhlc FROM {} ORDER BY id",
            ts.fields.join(", "),
            table.name()
        );
        let mut stmt = conn.prepare(&sql)?;
        let mut q = stmt.query([])?;
        let n = ts.fields.len();
        while let Some(r) = q.next()? {
            let id: String = r.get(0)?;
            let _ = write!(text, "{table} {id}");
            for (i, field) in ts.fields.iter().enumerate() {
                let _ = write!(text, " {field}={}", value_text(&r.get::<_, Value>(i + 1)?));
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
            rows += 1;
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
    Ok(SyncedDump {
        text,
        rows,
        tombstones,
    })
}
