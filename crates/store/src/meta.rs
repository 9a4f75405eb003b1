//! The on-disk form of the sync metadata: the device dictionary, row and
//! field clocks, tombstones. See migration 0002 for the layout and
//! ARCHITECTURE.md for why it is this one.

use std::collections::HashMap;

use bae_hlc::{DeviceId, Hlc};
use rusqlite::{Connection, OptionalExtension};

use crate::Table;

/// Maps device ids to the small integers rows store, and back. The mapping is
/// local to one database and only grows; it caches what it has seen.
#[derive(Debug, Default)]
pub struct DeviceIndex {
    by_device: HashMap<DeviceId, i64>,
    by_index: HashMap<i64, DeviceId>,
}

impl DeviceIndex {
    /// The index of `device`, adding it to `sync_devices` if it is new.
    pub fn index_of(&mut self, conn: &Connection, device: DeviceId) -> rusqlite::Result<i64> {
        if let Some(&idx) = self.by_device.get(&device) {
            return Ok(idx);
        }
        let bytes = device.as_bytes().as_slice();
        conn.prepare_cached("INSERT OR IGNORE INTO sync_devices (device_id) VALUES (?)")?
            .execute([bytes])?;
        let idx: i64 = conn
            .prepare_cached("SELECT idx FROM sync_devices WHERE device_id = ?")?
            .query_row([bytes], |r| r.get(0))?;
        self.remember(idx, device);
        Ok(idx)
    }

    /// The device with index `idx`.
    ///
    /// # Panics
    ///
    /// If no device has that index: every stored index was made by
    /// [`DeviceIndex::index_of`], so a missing one is a corrupt database.
    pub fn device_at(&mut self, conn: &Connection, idx: i64) -> rusqlite::Result<DeviceId> {
        if let Some(&device) = self.by_index.get(&idx) {
            return Ok(device);
        }
        let bytes: Vec<u8> = conn
            .prepare_cached("SELECT device_id FROM sync_devices WHERE idx = ?")?
            .query_row([idx], |r| r.get(0))
            .optional()?
            .unwrap_or_else(|| panic!("device index {idx} is not in sync_devices"));
        let bytes: [u8; 16] = bytes.try_into().expect("device ids are 16 bytes");
        let device = DeviceId::from_bytes(bytes);
        self.remember(idx, device);
        Ok(device)
    }

    /// The full HLC of a stored `(packed, device index)` pair.
    pub fn hlc(&mut self, conn: &Connection, packed: i64, dev: i64) -> rusqlite::Result<Hlc> {
        Ok(Hlc::from_packed(packed, self.device_at(conn, dev)?))
    }

    /// Forgets the cache, after a transaction that may have added devices
    /// was rolled back.
    pub fn clear(&mut self) {
        self.by_device.clear();
        self.by_index.clear();
    }

    fn remember(&mut self, idx: i64, device: DeviceId) {
        self.by_device.insert(device, idx);
        self.by_index.insert(idx, device);
    }
}

/// A stored HLC: packed wall time and counter, and a device index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowClock {
    /// [`Hlc::packed`].
    pub hlc: i64,
    /// Index into [`DeviceIndex`].
    pub dev: i64,
}

/// The clock of one field whose HLC is newer than its row's insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldClock {
    /// Index of the field in [`crate::TableSchema::fields`].
    pub field: u8,
    /// When it was written.
    pub clock: RowClock,
}

/// The `_sync_fhlc` column: the fields whose HLC differs from the row's,
/// sorted by field index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldClocks(Vec<FieldClock>);

const ENTRY_LEN: usize = 1 + 8 + 4;

impl FieldClocks {
    /// Decodes the column; `None` (SQL NULL) is the empty set.
    ///
    /// # Panics
    ///
    /// If the bytes are not a sequence of whole, sorted entries: only
    /// [`FieldClocks::encode`] writes this column.
    pub fn decode(bytes: Option<&[u8]>) -> FieldClocks {
        let Some(bytes) = bytes else {
            return FieldClocks::default();
        };
        assert!(
            bytes.len() % ENTRY_LEN == 0 && !bytes.is_empty(),
            "torn _sync_fhlc"
        );
        let entries: Vec<FieldClock> = bytes
            .chunks_exact(ENTRY_LEN)
            .map(|e| FieldClock {
                field: e[0],
                clock: RowClock {
                    hlc: i64::from_le_bytes(e[1..9].try_into().expect("8 bytes")),
                    dev: i64::from(u32::from_le_bytes(e[9..13].try_into().expect("4 bytes"))),
                },
            })
            .collect();
        assert!(
            entries.windows(2).all(|w| w[0].field < w[1].field),
            "unsorted _sync_fhlc"
        );
        FieldClocks(entries)
    }

    /// Encodes for the column; the empty set is SQL NULL.
    pub fn encode(&self) -> Option<Vec<u8>> {
        if self.0.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(self.0.len() * ENTRY_LEN);
        for e in &self.0 {
            out.push(e.field);
            out.extend_from_slice(&e.clock.hlc.to_le_bytes());
            let dev = u32::try_from(e.clock.dev).expect("device index fits u32");
            out.extend_from_slice(&dev.to_le_bytes());
        }
        Some(out)
    }

    /// The clock of `field`, if it differs from the row's.
    pub fn get(&self, field: u8) -> Option<RowClock> {
        self.0
            .binary_search_by_key(&field, |e| e.field)
            .ok()
            .map(|i| self.0[i].clock)
    }

    /// Sets the clock of `field`.
    pub fn set(&mut self, field: u8, clock: RowClock) {
        match self.0.binary_search_by_key(&field, |e| e.field) {
            Ok(i) => self.0[i].clock = clock,
            Err(i) => self.0.insert(i, FieldClock { field, clock }),
        }
    }

    /// Forgets every field's clock, as an insert does.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The entries, sorted by field index.
    pub fn iter(&self) -> impl Iterator<Item = &FieldClock> {
        self.0.iter()
    }
}

/// The existence clock of a deleted row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tombstone;

impl Tombstone {
    /// The tombstone of `(table, id)`, if the row was deleted.
    pub fn get(conn: &Connection, table: Table, id: &str) -> rusqlite::Result<Option<RowClock>> {
        conn.prepare_cached("SELECT hlc, dev FROM sync_tombstones WHERE tbl = ? AND id = ?")?
            .query_row((table.name(), id), |r| {
                Ok(RowClock {
                    hlc: r.get(0)?,
                    dev: r.get(1)?,
                })
            })
            .optional()
    }

    /// Records that `(table, id)` was deleted at `clock`.
    pub fn put(conn: &Connection, table: Table, id: &str, clock: RowClock) -> rusqlite::Result<()> {
        conn.prepare_cached(
            "INSERT INTO sync_tombstones (tbl, id, hlc, dev) VALUES (?, ?, ?, ?) \
             ON CONFLICT (tbl, id) DO UPDATE SET hlc = excluded.hlc, dev = excluded.dev",
        )?
        .execute((table.name(), id, clock.hlc, clock.dev))?;
        Ok(())
    }

    /// Removes the tombstone of `(table, id)`, when a newer insert revives it.
    pub fn remove(conn: &Connection, table: Table, id: &str) -> rusqlite::Result<bool> {
        Ok(conn
            .prepare_cached("DELETE FROM sync_tombstones WHERE tbl = ? AND id = ?")?
            .execute((table.name(), id))?
            == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_clocks_round_trip_sorted() {
        let mut fc = FieldClocks::default();
        assert_eq!(fc.encode(), None);
        fc.set(7, RowClock { hlc: 99, dev: 2 });
        fc.set(
            1,
            RowClock {
                hlc: i64::MAX,
                dev: 0,
            },
        );
        fc.set(7, RowClock { hlc: 100, dev: 3 });
        let bytes = fc.encode().unwrap();
        assert_eq!(bytes.len(), 2 * ENTRY_LEN);
        let back = FieldClocks::decode(Some(&bytes));
        assert_eq!(back, fc);
        assert_eq!(back.get(7), Some(RowClock { hlc: 100, dev: 3 }));
        assert_eq!(back.get(2), None);
    }
}
