//! The merge law, by property: random histories from several devices
//! (inserts, field updates, deletes, re-inserts, parents and children on a
//! small id space), delivered to replicas in random orders with duplicates,
//! give byte-identical synced state on every replica, equal to the reference
//! merge (checked after every batch by the `cross-check` feature).
//!
//! A failure prints the minimal case and proptest's seed; proptest stores it
//! in `proptest-regressions/law.txt`, and `cargo nextest run -p bae-merge
//! law` replays it.

mod common;

use bae_hlc::Hlc;
use bae_oplog::{Action, Batch, Op};
use bae_store::{Schema, Table, Value};
use common::*;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Tables with references between them, and how many ids each may use.
const TABLES: [Table; 6] = [
    Table::Artists,
    Table::Albums,
    Table::Releases,
    Table::Tracks,
    Table::TrackArtists,
    Table::LibraryImages,
];

fn id(table: Table, n: u8) -> String {
    format!("00000000-0000-4000-8000-{:06x}{:06x}", table as u32, n)
}

#[derive(Debug, Clone)]
enum Gen {
    Insert {
        table: usize,
        id: u8,
        seed: u8,
    },
    Update {
        table: usize,
        id: u8,
        fields: u8,
        seed: u8,
    },
    Delete {
        table: usize,
        id: u8,
    },
}

fn gen_op() -> impl Strategy<Value = Gen> {
    prop_oneof![
        4 => (0..TABLES.len(), 0..3u8, any::<u8>()).prop_map(|(table, id, seed)| Gen::Insert { table, id, seed }),
        4 => (0..TABLES.len(), 0..3u8, 1..=255u8, any::<u8>()).prop_map(|(table, id, fields, seed)| Gen::Update { table, id, fields, seed }),
        2 => (0..TABLES.len(), 0..3u8).prop_map(|(table, id)| Gen::Delete { table, id }),
    ]
}

/// A value of the column's type; few distinct values, so equal writes happen.
fn value(schema: &Schema, table: Table, field: &str, seed: u8) -> Value {
    let col = schema.table(table).column(field).unwrap();
    if let Some(parent) = col.references {
        if !col.not_null && seed.is_multiple_of(4) {
            return Value::Null;
        }
        return Value::Text(id(parent, seed % 3));
    }
    if !col.not_null && seed.is_multiple_of(5) {
        return Value::Null;
    }
    match col.decl_type.as_str() {
        "INTEGER" => Value::Integer(i64::from(seed % 3)),
        "BLOB" => Value::Blob(vec![seed % 3]),
        _ => Value::Text(format!("v{}", seed % 3)),
    }
}

fn build(schema: &Schema, g: &Gen, hlc: Hlc) -> Op {
    match *g {
        Gen::Insert { table, id: n, seed } => {
            let t = TABLES[table];
            let fields = schema
                .table(t)
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    (
                        f.clone(),
                        value(schema, t, f, seed.wrapping_add(i as u8 * 7)),
                    )
                })
                .collect();
            op(hlc, t, &id(t, n), Action::Insert(fields))
        }
        Gen::Update {
            table,
            id: n,
            fields,
            seed,
        } => {
            let t = TABLES[table];
            let all = &schema.table(t).fields;
            let mut chosen: Vec<(String, Value)> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| fields & (1 << (i % 8)) != 0)
                .map(|(i, f)| {
                    (
                        f.clone(),
                        value(schema, t, f, seed.wrapping_add(i as u8 * 3)),
                    )
                })
                .collect();
            if chosen.is_empty() {
                chosen.push((all[0].clone(), value(schema, t, &all[0], seed)));
            }
            op(hlc, t, &id(t, n), Action::Update(chosen))
        }
        Gen::Delete { table, id: n } => {
            let t = TABLES[table];
            op(hlc, t, &id(t, n), Action::Delete)
        }
    }
}

/// Per device: batches of ops, each op with a wall-time step (0 makes ties
/// in wall time with other devices likely).
fn history() -> impl Strategy<Value = Vec<Vec<Vec<(Gen, u8)>>>> {
    prop::collection::vec(
        prop::collection::vec(prop::collection::vec((gen_op(), 0..3u8), 1..5), 1..5),
        2..5,
    )
}

fn batches(schema: &Schema, history: &[Vec<Vec<(Gen, u8)>>]) -> Vec<Vec<Batch>> {
    history
        .iter()
        .enumerate()
        .map(|(d, dev_batches)| {
            let dev = d as u8 + 1;
            let (mut wall, mut counter) = (1_000u64, 0u16);
            dev_batches
                .iter()
                .enumerate()
                .map(|(s, ops)| {
                    let ops = ops
                        .iter()
                        .map(|(g, step)| {
                            if *step == 0 {
                                counter += 1;
                            } else {
                                wall += u64::from(*step);
                                counter = 0;
                            }
                            build(schema, g, Hlc::new(wall, counter, device(dev)))
                        })
                        .collect();
                    batch(dev, s as u64 + 1, ops)
                })
                .collect()
        })
        .collect()
}

/// Interleaves the device streams as `picks` says, keeping each device's
/// order, and re-delivers a batch where `dups` says.
fn interleave<'a>(streams: &'a [Vec<Batch>], picks: &[u8], dups: &[u8]) -> Vec<&'a Batch> {
    let mut next = vec![0usize; streams.len()];
    let mut out: Vec<&Batch> = Vec::new();
    let total: usize = streams.iter().map(Vec::len).sum();
    let mut k = 0;
    while out.len() < total + dups.len().min(total) {
        let live: Vec<usize> = (0..streams.len())
            .filter(|&d| next[d] < streams[d].len())
            .collect();
        if live.is_empty() {
            break;
        }
        let d = live[usize::from(picks.get(k).copied().unwrap_or(0)) % live.len()];
        out.push(&streams[d][next[d]]);
        next[d] += 1;
        if let Some(&dup) = dups.get(k)
            && dup.is_multiple_of(3)
        {
            let again = out[usize::from(dup) % out.len()];
            out.push(again);
        }
        k += 1;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/law.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn replicas_converge_whatever_the_order(
        history in history(),
        orders in prop::collection::vec((prop::collection::vec(any::<u8>(), 40), prop::collection::vec(any::<u8>(), 40)), 3),
    ) {
        let schema = Replica::new().db.schema().clone();
        let streams = batches(&schema, &history);
        let all: Vec<Batch> = streams.iter().flatten().cloned().collect();
        let expected = bae_merge::reference::merge(&schema, &all);
        for (picks, dups) in &orders {
            let mut replica = Replica::new();
            replica.apply(&interleave(&streams, picks, dups));
            prop_assert_eq!(&replica.dump(), &expected);
        }
    }

    /// Merging in groups (one transaction each, as a bulk pull does) gives
    /// the state of merging batch by batch, duplicates included.
    #[test]
    fn grouped_merge_equals_one_by_one(
        history in history(),
        picks in prop::collection::vec(any::<u8>(), 40),
        dups in prop::collection::vec(any::<u8>(), 40),
        sizes in prop::collection::vec(1usize..6, 1..40),
    ) {
        let schema = Replica::new().db.schema().clone();
        let streams = batches(&schema, &history);
        let order = interleave(&streams, &picks, &dups);
        let mut one_by_one = Replica::new();
        one_by_one.apply(&order);
        let mut grouped = Replica::new();
        let mut rest: &[&Batch] = &order;
        let mut size = sizes.iter().cycle();
        while !rest.is_empty() {
            let n = (*size.next().expect("sizes is not empty")).min(rest.len());
            let group: Vec<Batch> = rest[..n].iter().map(|b| (*b).clone()).collect();
            let outcome = grouped.merger.apply_batches(grouped.db.conn_mut(), &group);
            prop_assert!(outcome.error.is_none(), "{:?}", outcome.error);
            prop_assert_eq!(outcome.applied.len(), n);
            rest = &rest[n..];
        }
        prop_assert_eq!(grouped.dump(), one_by_one.dump());
    }

    /// Compaction equivalence: a checkpoint taken at any point, plus the
    /// batches after it, gives exactly the state of replaying every batch.
    #[test]
    fn checkpoint_plus_later_batches_equals_full_replay(
        history in history(),
        picks in prop::collection::vec(any::<u8>(), 40),
        cut in any::<prop::sample::Index>(),
        truncate in any::<prop::sample::Index>(),
    ) {
        let schema = Replica::new().db.schema().clone();
        let streams = batches(&schema, &history);
        let all: Vec<Batch> = streams.iter().flatten().cloned().collect();
        let expected = bae_merge::reference::merge(&schema, &all);
        let order = interleave(&streams, &picks, &[]);
        let k = cut.index(order.len() + 1);
        let mut writer = Replica::new();
        writer.apply(&order[..k]);
        let created = Hlc::new(9_999, 0, device(200));
        let checkpoint = bae_merge::Checkpoint::export(writer.db.conn(), &schema, created, 0).unwrap();
        let encoded = checkpoint.encode();
        let decoded = bae_merge::Checkpoint::decode(&encoded, &schema).unwrap();
        prop_assert_eq!(&decoded, &checkpoint);
        // Any strict prefix is refused: the end record is missing or cut.
        let short = &encoded[..truncate.index(encoded.len())];
        prop_assert!(bae_merge::Checkpoint::decode(short, &schema).is_err());
        let mut fresh = Replica::new();
        fresh.merger.boot(fresh.db.conn_mut(), &decoded).unwrap();
        prop_assert_eq!(fresh.dump(), writer.dump());
        fresh.apply(&order);
        prop_assert_eq!(&fresh.dump(), &expected);
    }
}
