//! The slow, obviously correct merge: fold the *set* of all ops from scratch
//! straight from the definitions, and render the result in the same form as
//! [`bae_store::dump_synced`]. The fast merge must always produce exactly
//! this text; the `cross-check` feature and the property tests check it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use bae_hlc::{DeviceId, Hlc};
use bae_oplog::{Action, Batch};
use bae_store::{Schema, Table, Value, dump_value};

#[derive(Default)]
struct RowOps {
    /// The newest insert or delete: `(hlc, is_insert)`.
    existence: Option<(Hlc, bool)>,
    /// The newest insert.
    newest_insert: Option<Hlc>,
    /// Per field, the newest write by an insert or an update.
    fields: BTreeMap<usize, (Hlc, Value)>,
}

fn newer<T>(slot: &mut Option<(Hlc, T)>, hlc: Hlc, value: T) {
    if slot.as_ref().is_none_or(|(h, _)| hlc > *h) {
        *slot = Some((hlc, value));
    }
}

/// The synced state that the set `batches` defines, as a dump. Duplicate
/// batches (same device and seq) count once.
pub fn merge(schema: &Schema, batches: &[Batch]) -> String {
    let mut seen: BTreeSet<(DeviceId, u64)> = BTreeSet::new();
    let mut rows: BTreeMap<(Table, String), RowOps> = BTreeMap::new();
    for batch in batches {
        if !seen.insert((batch.device, batch.seq)) {
            continue;
        }
        for op in &batch.ops {
            let ts = schema.table(op.table);
            let row = rows.entry((op.table, op.row_id.clone())).or_default();
            let mut field = |name: &str, value: &Value| {
                let i = ts.field_index(name).expect("ops name synced fields");
                let mut slot = row.fields.remove(&i);
                newer(&mut slot, op.hlc, value.clone());
                row.fields.insert(i, slot.expect("just set"));
            };
            match &op.action {
                Action::Insert(values) => {
                    values.iter().for_each(|(n, v)| field(n, v));
                    let mut e = row.existence.take();
                    newer(&mut e, op.hlc, true);
                    row.existence = e;
                    row.newest_insert = Some(row.newest_insert.map_or(op.hlc, |h| h.max(op.hlc)));
                }
                Action::Update(values) => values.iter().for_each(|(n, v)| field(n, v)),
                Action::Delete => {
                    let mut e = row.existence.take();
                    newer(&mut e, op.hlc, false);
                    row.existence = e;
                }
            }
        }
    }

    // Visibility, table by table: every table comes after the tables it
    // references, so their visible sets are final when it is reached.
    let mut visible: BTreeMap<Table, BTreeSet<String>> = BTreeMap::new();
    let mut text = String::new();
    let mut tombstones = Vec::new();
    let mut pending = Vec::new();
    for table in Table::SYNCED {
        let ts = schema.table(table);
        let mut shown = Vec::new();
        let mut hidden = Vec::new();
        for ((t, id), row) in rows.range((table, String::new())..) {
            if *t != table {
                break;
            }
            match row.existence {
                Some((base, true)) => {
                    let parents_ok = ts.parents.iter().all(|fk| {
                        let i = ts.field_index(&fk.column).expect("references are fields");
                        match &row.fields[&i].1 {
                            Value::Null => true,
                            Value::Text(p) => {
                                visible.get(&fk.parent).is_some_and(|v| v.contains(p))
                            }
                            _ => false,
                        }
                    });
                    let mut line = format!("{table} {id}");
                    for (i, name) in ts.fields.iter().enumerate() {
                        let _ = write!(line, " {name}={}", dump_value(&row.fields[&i].1));
                    }
                    let _ = write!(line, " @{base}");
                    for (i, name) in ts.fields.iter().enumerate() {
                        let hlc = row.fields[&i].0;
                        assert!(hlc >= base, "an insert sets every field");
                        if hlc > base {
                            let _ = write!(line, " {name}@{hlc}");
                        }
                    }
                    if parents_ok {
                        visible.entry(table).or_default().insert(id.clone());
                        shown.push(line);
                    } else {
                        hidden.push(line);
                    }
                }
                Some((deleted, false)) => {
                    tombstones.push(format!("tombstone {table} {id} @{deleted}"));
                    for (i, (hlc, value)) in &row.fields {
                        if *hlc > deleted {
                            pending.push((
                                table.name(),
                                id.clone(),
                                ts.fields[*i].clone(),
                                value,
                                *hlc,
                            ));
                        }
                    }
                }
                None => {
                    for (i, (hlc, value)) in &row.fields {
                        pending.push((
                            table.name(),
                            id.clone(),
                            ts.fields[*i].clone(),
                            value,
                            *hlc,
                        ));
                    }
                }
            }
        }
        for line in shown {
            text.push_str(&line);
            text.push('\n');
        }
        for line in hidden {
            text.push_str("hidden ");
            text.push_str(&line);
            text.push('\n');
        }
    }
    tombstones.sort_by(|a, b| tombstone_key(a).cmp(&tombstone_key(b)));
    for t in tombstones {
        text.push_str(&t);
        text.push('\n');
    }
    pending.sort_by(|a, b| (a.0, &a.1, &a.2).cmp(&(b.0, &b.1, &b.2)));
    for (tbl, id, field, value, hlc) in pending {
        let _ = writeln!(
            text,
            "pending {tbl} {id} {field}={}@{hlc}",
            dump_value(value)
        );
    }
    text
}

/// Tombstones are listed by table name, then id, as SQLite orders them.
fn tombstone_key(line: &str) -> (&str, &str) {
    let mut parts = line.split(' ').skip(1);
    (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
}
