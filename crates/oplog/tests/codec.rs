//! The batch encoding round-trips, and refuses what it cannot read.
//! Failures are persisted in `proptest-regressions/codec.txt` and replayed
//! first by the next `cargo nextest run -p bae-oplog`.

use bae_hlc::{DeviceId, Hlc};
use bae_oplog::{Action, Batch, DecodeError, Op};
use bae_store::{Table, Value};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::Integer),
        any::<f64>().prop_map(Value::Real),
        ".{0,40}".prop_map(Value::Text),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Value::Blob),
    ]
}

fn fields() -> impl Strategy<Value = Vec<(String, Value)>> {
    prop::collection::vec(("[a-z_]{1,20}", value()), 0..8)
}

fn batch() -> impl Strategy<Value = Batch> {
    let op = (
        0..Table::SYNCED.len(),
        "[0-9a-f-]{36}",
        prop_oneof![
            fields().prop_map(Action::Insert),
            fields().prop_map(Action::Update),
            Just(Action::Delete)
        ],
        1u64..1000,
    );
    (
        any::<[u8; 16]>(),
        1u64..u64::MAX,
        1u32..100,
        0..Hlc::MAX_WALL_MS / 2,
        prop::collection::vec(op, 0..20),
    )
        .prop_map(|(dev, seq, schema_version, start, ops)| {
            let device = DeviceId::from_bytes(dev);
            let mut wall = start;
            let ops = ops
                .into_iter()
                .map(|(t, id, action, step)| {
                    wall += step;
                    Op {
                        hlc: Hlc::new(wall, (step % 7) as u16, device),
                        table: Table::SYNCED[t],
                        row_id: id,
                        action,
                    }
                })
                .collect();
            Batch {
                device,
                seq,
                schema_version,
                ops,
            }
        })
}

/// Equality with floats compared by bits (NaN != NaN otherwise).
fn same(a: &Batch, b: &Batch) -> bool {
    let fields_eq = |x: &[(String, Value)], y: &[(String, Value)]| {
        x.len() == y.len()
            && x.iter()
                .zip(y)
                .all(|((n1, v1), (n2, v2))| n1 == n2 && v1.same_as(v2))
    };
    a.device == b.device
        && a.seq == b.seq
        && a.schema_version == b.schema_version
        && a.ops.len() == b.ops.len()
        && a.ops.iter().zip(&b.ops).all(|(x, y)| {
            x.hlc == y.hlc
                && x.table == y.table
                && x.row_id == y.row_id
                && match (&x.action, &y.action) {
                    (Action::Insert(f1), Action::Insert(f2))
                    | (Action::Update(f1), Action::Update(f2)) => fields_eq(f1, f2),
                    (Action::Delete, Action::Delete) => true,
                    _ => false,
                }
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/codec.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn batches_round_trip(b in batch()) {
        let bytes = b.encode();
        let back = Batch::decode(&bytes).unwrap();
        prop_assert!(same(&b, &back), "{b:?} != {back:?}");
    }

    #[test]
    fn truncated_batches_are_refused(b in batch(), cut in any::<prop::sample::Index>()) {
        let bytes = b.encode();
        let cut = cut.index(bytes.len());
        prop_assert!(Batch::decode(&bytes[..cut]).is_err());
    }
}

/// Each kind of bad input gets its own error, through one helper.
#[test]
fn bad_input_errors() {
    fn check(bytes: &[u8], expected: fn(&DecodeError) -> bool) {
        let err = Batch::decode(bytes).unwrap_err();
        assert!(expected(&err), "{bytes:?} gave {err:?}");
    }
    let good = Batch {
        device: DeviceId::from_bytes([1; 16]),
        seq: 1,
        schema_version: 2,
        ops: vec![],
    }
    .encode();
    check(b"", |e| matches!(e, DecodeError::BadMagic));
    check(b"NOPE\x01", |e| matches!(e, DecodeError::BadMagic));
    check(b"BAEB\x09", |e| {
        matches!(
            e,
            DecodeError::UnsupportedVersion {
                found: 9,
                supported: 1
            }
        )
    });
    check(
        &[good.as_slice(), b"x"].concat(),
        |e| matches!(e, DecodeError::Malformed(m) if m.contains("trailing")),
    );
    // An op naming a device-local table is not something a batch can carry.
    let mut forged = good.clone();
    forged.truncate(forged.len() - 1);
    forged.extend_from_slice(&[1, 0]);
    forged.push(7);
    forged.extend_from_slice(b"imports");
    forged.extend_from_slice(&[1, b'x', 2]);
    check(
        &forged,
        |e| matches!(e, DecodeError::Malformed(m) if m.contains("unknown synced table")),
    );
}
