//! The benchmark compares like with like: the same workload written through
//! each variant's writer ends with the same synced data, row for row and
//! field for field, and it exercises the metadata the benchmark measures.

use bae_bench::measure::{scalar, synced_digest, synced_rows};
use bae_bench::sinks::Variant;
use bae_bench::workload::{FILES_PER_TRACK, Scale, Spec, Workload};
use bae_store::Table;

#[test]
fn every_variant_ends_with_the_same_synced_data() {
    let spec = Spec::for_scale(Scale::Smoke, 7);
    let workload = Workload::generate(&spec);
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for variant in Variant::ALL {
        let path = dir.path().join(format!("{}.db", variant.name()));
        let mut sink = variant.open(&path, spec.seed).unwrap();
        workload.execute(sink.as_mut()).unwrap();
        let db = sink.database();
        let rows = synced_rows(db).unwrap();
        match variant {
            Variant::Plain => {}
            Variant::Recorded => {
                let conn = db.conn();
                assert!(scalar(conn, "SELECT count(*) FROM sync_tombstones").unwrap() > 0);
                assert!(
                    scalar(
                        conn,
                        "SELECT count(*) FROM tracks WHERE _sync_fhlc IS NOT NULL"
                    )
                    .unwrap()
                        > 0,
                    "updates leave field-clock overrides"
                );
                let batches = scalar(conn, "SELECT count(*) FROM op_log").unwrap();
                assert_eq!(
                    batches as usize,
                    workload.txns.len(),
                    "one batch per transaction"
                );
            }
            Variant::FieldTable => {
                let conn = db.conn();
                assert!(
                    scalar(
                        conn,
                        "SELECT count(*) FROM field_timestamps WHERE field = ''"
                    )
                    .unwrap()
                        > 0
                );
            }
        }
        results.push((variant, rows, synced_digest(db).unwrap()));
    }

    let (_, plain, plain_digest) = &results[0];
    let count = |t: Table| plain.iter().filter(|(tt, _)| *tt == t).count();
    let tracks = spec.albums * spec.tracks_per_album;
    assert_eq!(count(Table::Artists), spec.artists);
    assert_eq!(count(Table::Albums), spec.albums);
    assert_eq!(count(Table::Releases), spec.albums);
    assert_eq!(count(Table::Tracks), tracks);
    assert_eq!(count(Table::Files), tracks * FILES_PER_TRACK);
    assert_eq!(count(Table::AudioFormats), tracks);
    for (variant, rows, digest) in &results[1..] {
        assert_eq!(rows.len(), plain.len(), "{}: row count", variant.name());
        for (a, b) in rows.iter().zip(plain) {
            assert_eq!(
                a,
                b,
                "{}: first row that differs from plain",
                variant.name()
            );
        }
        assert_eq!(digest, plain_digest, "{}: digest", variant.name());
    }
}

#[test]
fn the_same_seed_writes_the_same_library_twice() {
    let spec = Spec::for_scale(Scale::Smoke, 3);
    let dir = tempfile::tempdir().unwrap();
    let digests: Vec<(u64, u64)> = (0..2)
        .map(|i| {
            let workload = Workload::generate(&spec);
            let path = dir.path().join(format!("{i}.db"));
            let mut sink = Variant::Plain.open(&path, spec.seed).unwrap();
            workload.execute(sink.as_mut()).unwrap();
            synced_digest(sink.database()).unwrap()
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
    assert!(digests[0].0 > 0);
}
