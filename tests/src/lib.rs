//! Helpers shared by the cross-crate tests in `tests/tests/`.

use std::collections::BTreeMap;
use std::sync::Arc;

use bae_hlc::{DeviceId, ManualClock};
use bae_library::{LibraryManager, LibraryOptions};
use bae_oplog::{Action, Batch, SeededIds};
use bae_store::{Database, Table, Value};

/// A row's synced fields by name.
pub type Fields = BTreeMap<String, Value>;

/// The synced state as plain data: `(table, id) -> fields`.
pub type Model = BTreeMap<(Table, String), Fields>;

/// An in-memory library on a manual clock with seeded ids.
pub fn memory_library(seed: u64) -> (LibraryManager, ManualClock) {
    let clock = ManualClock::new(1_764_000_000_000);
    let options = LibraryOptions {
        wall_clock: Arc::new(clock.clone()),
        ids: Box::new(SeededIds::new(seed)),
    };
    let device = DeviceId::from_bytes([seed as u8 | 1; 16]);
    let lib = LibraryManager::with_database(Database::open_in_memory().unwrap(), device, options)
        .unwrap();
    (lib, clock)
}

/// Reads the synced tables' rows (synced fields only) into a [`Model`].
pub fn synced_model(db: &Database) -> Model {
    let mut model = Model::new();
    for table in Table::SYNCED {
        let ts = db.schema().table(table);
        let sql = format!("SELECT id, {} FROM {}", ts.fields.join(", "), table.name());
        let mut stmt = db.conn().prepare(&sql).unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let id: String = r.get(0).unwrap();
            let fields = ts
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| (f.clone(), r.get(i + 1).unwrap()))
                .collect();
            model.insert((table, id), fields);
        }
    }
    model
}

/// Every batch this device recorded with `seq >= from`, decoded.
pub fn batches_since(db: &Database, from: u64) -> Vec<Batch> {
    let mut stmt = db
        .conn()
        .prepare("SELECT body FROM op_log WHERE seq >= ? ORDER BY seq")
        .unwrap();
    stmt.query_map([from], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|b| Batch::decode(&b.unwrap()).expect("recorded batches decode"))
        .collect()
}

/// Applies a batch's ops to `model` exactly as recorded, checking that each
/// op describes a real change: an insert of an absent row with every synced
/// field, an update of a present row where every field really changes, a
/// delete of a present row. Panics, naming `context`, on the first op that
/// does not.
pub fn replay_strict(db: &Database, model: &mut Model, batch: &Batch, context: &str) {
    for op in &batch.ops {
        let key = (op.table, op.row_id.clone());
        let fields = &db.schema().table(op.table).fields;
        match &op.action {
            Action::Insert(values) => {
                let names: Vec<&String> = values.iter().map(|(f, _)| f).collect();
                assert_eq!(
                    names,
                    fields.iter().collect::<Vec<_>>(),
                    "{context}: insert carries exactly the synced fields"
                );
                let prev = model.insert(key.clone(), values.iter().cloned().collect());
                assert!(prev.is_none(), "{context}: insert of existing row {key:?}");
            }
            Action::Update(values) => {
                let row = model
                    .get_mut(&key)
                    .unwrap_or_else(|| panic!("{context}: update of absent row {key:?}"));
                assert!(!values.is_empty(), "{context}: empty update op");
                for (f, v) in values {
                    assert!(
                        fields.contains(f),
                        "{context}: update of non-synced field {f}"
                    );
                    let old = row
                        .insert(f.clone(), v.clone())
                        .expect("model rows hold every field");
                    assert!(
                        !old.same_as(v),
                        "{context}: update op for unchanged field {f} of {key:?}"
                    );
                }
            }
            Action::Delete => {
                assert!(
                    model.remove(&key).is_some(),
                    "{context}: delete of absent row {key:?}"
                );
            }
        }
    }
}
