//! Helpers for building batches by hand and delivering them to replicas.

#![allow(dead_code)]

use bae_hlc::{DeviceId, Hlc};
use bae_merge::Merger;
use bae_oplog::{Action, Batch, Op};
use bae_store::{Database, Schema, Table, Value, dump_synced};

pub fn device(n: u8) -> DeviceId {
    DeviceId::from_bytes([n; 16])
}

pub fn hlc(dev: u8, wall_ms: u64) -> Hlc {
    Hlc::new(wall_ms, 0, device(dev))
}

/// A value for every synced field of `table`, of the column's type, with
/// `overrides` applied; references default to NULL (or `parent` for the
/// first NOT NULL reference).
pub fn row(
    schema: &Schema,
    table: Table,
    parent: Option<&str>,
    overrides: &[(&str, Value)],
) -> Vec<(String, Value)> {
    let ts = schema.table(table);
    ts.fields
        .iter()
        .map(|f| {
            if let Some((_, v)) = overrides.iter().find(|(n, _)| n == f) {
                return (f.clone(), v.clone());
            }
            let col = ts.column(f).unwrap();
            let v = match (col.references, col.decl_type.as_str()) {
                (Some(_), _) if col.not_null => {
                    Value::Text(parent.expect("a parent id").to_owned())
                }
                (Some(_), _) => Value::Null,
                (None, "INTEGER") => Value::Integer(0),
                (None, "BLOB") => Value::Blob(vec![0]),
                (None, _) if col.not_null => Value::Text(format!("{f}-0")),
                (None, _) => Value::Null,
            };
            (f.clone(), v)
        })
        .collect()
}

pub fn op(hlc: Hlc, table: Table, id: &str, action: Action) -> Op {
    Op {
        hlc,
        table,
        row_id: id.to_owned(),
        action,
    }
}

pub fn batch(dev: u8, seq: u64, ops: Vec<Op>) -> Batch {
    Batch {
        device: device(dev),
        seq,
        schema_version: bae_store::SCHEMA_VERSION,
        ops,
    }
}

/// A fresh replica (device 200) that merges what it is given.
pub struct Replica {
    pub db: Database,
    pub merger: Merger,
}

impl Replica {
    pub fn new() -> Replica {
        let db = Database::open_in_memory().unwrap();
        let merger = Merger::new(db.schema().clone(), device(200));
        Replica { db, merger }
    }

    pub fn apply(&mut self, batches: &[&Batch]) {
        for b in batches {
            self.merger.apply_batch(self.db.conn_mut(), b).unwrap();
        }
    }

    pub fn dump(&self) -> String {
        dump_synced(self.db.conn(), self.db.schema()).unwrap().text
    }

    pub fn visible(&self, table: Table, id: &str) -> bool {
        bae_store::row_exists(self.db.conn(), table, id).unwrap()
    }

    pub fn field(&self, table: Table, id: &str, field: &str) -> Option<Value> {
        bae_store::read_fields(self.db.conn(), table, id, &[field])
            .unwrap()
            .map(|mut v| v.remove(0))
    }
}

/// Every order of `items`.
pub fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first.clone());
            out.push(p);
        }
    }
    out
}

/// Delivers `batches` (each from its own device) in every order to fresh
/// replicas, checks they all end identical (and, through the cross-check
/// feature, equal to the reference merge), runs `check` on one of them and
/// returns its dump.
pub fn check_all_orders(batches: &[Batch], check: impl Fn(&Replica)) -> String {
    let mut first: Option<String> = None;
    for order in permutations(&batches.iter().collect::<Vec<_>>()) {
        let mut r = Replica::new();
        r.apply(&order);
        // Delivering everything again changes nothing.
        r.apply(&order);
        let dump = r.dump();
        match &first {
            None => {
                check(&r);
                first = Some(dump);
            }
            Some(f) => assert_eq!(
                &dump,
                f,
                "order {:?} diverged",
                order.iter().map(|b| b.device).collect::<Vec<_>>()
            ),
        }
    }
    first.unwrap()
}
