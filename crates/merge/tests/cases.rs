//! The normative merge cases of DESIGN.md, each delivered in every order.

mod common;

use bae_oplog::Action;
use bae_store::{Table, Value};
use common::*;

fn schema() -> std::sync::Arc<bae_store::Schema> {
    bae_store::Database::open_in_memory()
        .unwrap()
        .schema()
        .clone()
}

const A: &str = "00000000-0000-4000-8000-00000000000a";
const R: &str = "00000000-0000-4000-8000-00000000000b";
const T: &str = "00000000-0000-4000-8000-00000000000c";

fn insert_artist(dev: u8, ms: u64, name: &str) -> bae_oplog::Op {
    let s = schema();
    op(
        hlc(dev, ms),
        Table::Artists,
        A,
        Action::Insert(row(&s, Table::Artists, None, &[("name", name.into())])),
    )
}

fn update(dev: u8, ms: u64, table: Table, id: &str, fields: &[(&str, Value)]) -> bae_oplog::Op {
    let f = fields
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect();
    op(hlc(dev, ms), table, id, Action::Update(f))
}

fn delete(dev: u8, ms: u64, table: Table, id: &str) -> bae_oplog::Op {
    op(hlc(dev, ms), table, id, Action::Delete)
}

#[test]
fn case1_two_updates_of_one_field_the_higher_hlc_wins() {
    let batches = [
        batch(1, 1, vec![insert_artist(1, 10, "x")]),
        batch(
            2,
            1,
            vec![update(2, 20, Table::Artists, A, &[("name", "two".into())])],
        ),
        batch(
            3,
            1,
            vec![update(
                3,
                30,
                Table::Artists,
                A,
                &[("name", "three".into())],
            )],
        ),
    ];
    check_all_orders(&batches, |r| {
        assert_eq!(r.field(Table::Artists, A, "name"), Some("three".into()))
    });
}

#[test]
fn case1_ties_in_wall_time_are_broken_by_device() {
    let batches = [
        batch(1, 1, vec![insert_artist(1, 10, "x")]),
        batch(
            2,
            1,
            vec![update(2, 20, Table::Artists, A, &[("name", "two".into())])],
        ),
        batch(
            3,
            1,
            vec![update(
                3,
                20,
                Table::Artists,
                A,
                &[("name", "three".into())],
            )],
        ),
    ];
    check_all_orders(&batches, |r| {
        assert_eq!(r.field(Table::Artists, A, "name"), Some("three".into()))
    });
}

#[test]
fn case2_updates_of_different_fields_both_survive() {
    let batches = [
        batch(1, 1, vec![insert_artist(1, 10, "x")]),
        batch(
            2,
            1,
            vec![update(
                2,
                20,
                Table::Artists,
                A,
                &[("name", "new name".into())],
            )],
        ),
        batch(
            3,
            1,
            vec![update(
                3,
                15,
                Table::Artists,
                A,
                &[("sort_name", "sort".into())],
            )],
        ),
    ];
    check_all_orders(&batches, |r| {
        assert_eq!(r.field(Table::Artists, A, "name"), Some("new name".into()));
        assert_eq!(r.field(Table::Artists, A, "sort_name"), Some("sort".into()));
    });
}

#[test]
fn case3_existence_is_last_writer_wins_and_inserts_reset_older_fields() {
    // Delete after insert: gone. Re-insert after the delete: back, and an
    // update older than the re-insert loses to it.
    let batches = [
        batch(1, 1, vec![insert_artist(1, 10, "first")]),
        batch(2, 1, vec![delete(2, 20, Table::Artists, A)]),
        batch(
            3,
            1,
            vec![update(
                3,
                25,
                Table::Artists,
                A,
                &[("name", "stale".into())],
            )],
        ),
        batch(4, 1, vec![insert_artist(4, 30, "again")]),
    ];
    check_all_orders(&batches, |r| {
        assert_eq!(r.field(Table::Artists, A, "name"), Some("again".into()))
    });
    let batches = [
        batch(1, 1, vec![insert_artist(1, 10, "first")]),
        batch(2, 1, vec![delete(2, 20, Table::Artists, A)]),
    ];
    let dump = check_all_orders(&batches, |r| assert!(!r.visible(Table::Artists, A)));
    assert!(dump.starts_with("tombstone artists"), "{dump}");
}

#[test]
fn case4_an_update_never_creates_a_row_but_can_win_later() {
    // An update newer than the delete shows nothing...
    let deleted = [
        batch(1, 1, vec![insert_artist(1, 10, "x")]),
        batch(2, 1, vec![delete(2, 20, Table::Artists, A)]),
        batch(
            3,
            1,
            vec![update(3, 40, Table::Artists, A, &[("name", "late".into())])],
        ),
    ];
    let dump = check_all_orders(&deleted, |r| assert!(!r.visible(Table::Artists, A)));
    assert!(dump.contains("pending artists"), "{dump}");
    // ...and wins once an insert newer than the delete (but older than it)
    // brings the row back.
    let mut revived = deleted.to_vec();
    revived.push(batch(4, 1, vec![insert_artist(4, 30, "revived")]));
    check_all_orders(&revived, |r| {
        assert_eq!(r.field(Table::Artists, A, "name"), Some("late".into()))
    });
    // An update that arrives before the row's first insert waits for it.
    let early = [
        batch(
            1,
            1,
            vec![update(
                1,
                50,
                Table::Artists,
                A,
                &[("sort_name", "early".into())],
            )],
        ),
        batch(2, 1, vec![insert_artist(2, 10, "x")]),
    ];
    check_all_orders(&early, |r| {
        assert_eq!(
            r.field(Table::Artists, A, "sort_name"),
            Some("early".into())
        )
    });
}

fn album_release_track(dev: u8, ms: u64) -> Vec<bae_oplog::Op> {
    let s = schema();
    let al = "00000000-0000-4000-8000-0000000000a1";
    vec![
        op(
            hlc(dev, ms),
            Table::Albums,
            al,
            Action::Insert(row(&s, Table::Albums, None, &[])),
        ),
        op(
            hlc(dev, ms + 1),
            Table::Releases,
            R,
            Action::Insert(row(&s, Table::Releases, Some(al), &[])),
        ),
        op(
            hlc(dev, ms + 2),
            Table::Tracks,
            T,
            Action::Insert(row(&s, Table::Tracks, Some(R), &[])),
        ),
    ]
}

#[test]
fn case5_a_recorded_cascade_removes_the_children_the_deleter_knew() {
    let batches = [
        batch(1, 1, album_release_track(1, 10)),
        batch(
            2,
            1,
            vec![
                delete(2, 20, Table::Tracks, T),
                delete(2, 21, Table::Releases, R),
            ],
        ),
    ];
    check_all_orders(&batches, |r| {
        assert!(!r.visible(Table::Releases, R));
        assert!(!r.visible(Table::Tracks, T));
    });
}

#[test]
fn case6_a_concurrent_child_hides_with_its_parent_and_returns_with_it() {
    let s = schema();
    let late_track = "00000000-0000-4000-8000-0000000000cc";
    let concurrent_child = op(
        hlc(3, 25),
        Table::Tracks,
        late_track,
        Action::Insert(row(&s, Table::Tracks, Some(R), &[])),
    );
    let base = [
        batch(1, 1, album_release_track(1, 10)),
        batch(
            2,
            1,
            vec![
                delete(2, 20, Table::Tracks, T),
                delete(2, 21, Table::Releases, R),
            ],
        ),
        batch(3, 1, vec![concurrent_child]),
    ];
    let dump = check_all_orders(&base, |r| assert!(!r.visible(Table::Tracks, late_track)));
    assert!(
        dump.contains(&format!("hidden tracks {late_track}")),
        "its state is kept: {dump}"
    );
    let mut back = base.to_vec();
    back.push(batch(
        4,
        1,
        vec![op(
            hlc(4, 30),
            Table::Releases,
            R,
            Action::Insert(row(
                &s,
                Table::Releases,
                Some("00000000-0000-4000-8000-0000000000a1"),
                &[],
            )),
        )],
    ));
    check_all_orders(&back, |r| {
        assert!(r.visible(Table::Releases, R));
        assert!(
            r.visible(Table::Tracks, late_track),
            "the child returns with its parent"
        );
        assert!(
            !r.visible(Table::Tracks, T),
            "the deleted child stays deleted"
        );
    });
}

#[test]
fn case7_device_local_columns_are_never_written_by_a_merge() {
    let s = schema();
    let al = "00000000-0000-4000-8000-0000000000a1";
    let file = "00000000-0000-4000-8000-0000000000f1";
    let mut r = Replica::new();
    r.apply(&[&batch(1, 1, {
        let mut ops = album_release_track(1, 10);
        ops.push(op(
            hlc(1, 13),
            Table::Files,
            file,
            Action::Insert(row(&s, Table::Files, Some(R), &[])),
        ));
        ops
    })]);
    r.db.conn()
        .execute(
            "UPDATE files SET source_path = '/mine', encryption_nonce = x'01' WHERE id = ?",
            [file],
        )
        .unwrap();
    // A newer insert and an update of the same row leave the local columns.
    r.apply(&[&batch(
        2,
        1,
        vec![
            op(
                hlc(2, 30),
                Table::Files,
                file,
                Action::Insert(row(
                    &s,
                    Table::Files,
                    Some(R),
                    &[("original_filename", "renamed".into())],
                )),
            ),
            update(2, 31, Table::Files, file, &[("content_hash", "ff".into())]),
        ],
    )]);
    assert_eq!(
        r.field(Table::Files, file, "source_path"),
        Some("/mine".into())
    );
    assert_eq!(
        r.field(Table::Files, file, "original_filename"),
        Some("renamed".into())
    );
    // Hiding the file (its release deleted by a device that had not seen it)
    // and bringing it back keeps them too.
    r.apply(&[&batch(3, 1, vec![delete(3, 40, Table::Releases, R)])]);
    assert!(!r.visible(Table::Files, file));
    r.apply(&[&batch(
        4,
        1,
        vec![op(
            hlc(4, 50),
            Table::Releases,
            R,
            Action::Insert(row(&s, Table::Releases, Some(al), &[])),
        )],
    )]);
    assert_eq!(
        r.field(Table::Files, file, "source_path"),
        Some("/mine".into())
    );
    assert_eq!(
        r.field(Table::Files, file, "encryption_nonce"),
        Some(Value::Blob(vec![1]))
    );
    // An op naming a local column is refused whole.
    let bad = batch(
        5,
        1,
        vec![update(
            5,
            60,
            Table::Files,
            file,
            &[("source_path", "/theirs".into())],
        )],
    );
    let err = r.merger.apply_batch(r.db.conn_mut(), &bad).unwrap_err();
    assert!(
        err.to_string()
            .contains("source_path is not a synced field"),
        "{err}"
    );
}

#[test]
fn case8_a_batch_is_applied_whole_or_not_at_all_with_its_cursor() {
    let s = schema();
    let mut r = Replica::new();
    let good = batch(1, 1, album_release_track(1, 10));
    // The second op of this batch is invalid: the first must not stay.
    let bad = batch(
        1,
        2,
        vec![
            update(1, 20, Table::Tracks, T, &[("title", "kept?".into())]),
            op(
                hlc(1, 21),
                Table::Tracks,
                T,
                Action::Update(vec![("title".into(), Value::Integer(5))]),
            ),
        ],
    );
    r.apply(&[&good]);
    let before = r.dump();
    let err = r.merger.apply_batch(r.db.conn_mut(), &bad).unwrap_err();
    assert!(
        matches!(err, bae_merge::MergeError::InvalidOp { .. }),
        "{err}"
    );
    assert_eq!(r.dump(), before, "nothing of the failed batch was applied");
    assert_eq!(
        bae_merge::cursors(r.db.conn()).unwrap()[&device(1)],
        1,
        "the cursor did not move"
    );
    // Out of order: seq 3 before seq 2.
    let err = r
        .merger
        .apply_batch(r.db.conn_mut(), &batch(1, 3, vec![]))
        .unwrap_err();
    assert!(
        matches!(err, bae_merge::MergeError::OutOfOrder { expected: 2, .. }),
        "{err}"
    );
    // A newer schema stops the stream.
    let mut newer = batch(1, 2, vec![]);
    newer.schema_version = bae_store::SCHEMA_VERSION + 1;
    let err = r.merger.apply_batch(r.db.conn_mut(), &newer).unwrap_err();
    assert!(err.to_string().contains("update bae"), "{err}");
    let _ = s;
}

#[test]
fn case9_a_group_keeps_the_batches_before_a_failure_and_nothing_of_it() {
    let mut r = Replica::new();
    // A failure after the batch has already written: SQLite aborts the
    // update of the artist's name to "boom", after the album was inserted.
    r.db.conn()
        .execute_batch(
            "CREATE TEMP TRIGGER boom BEFORE UPDATE OF name ON main.artists \
             WHEN NEW.name = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END",
        )
        .unwrap();
    let first = batch(1, 1, vec![insert_artist(1, 10, "first")]);
    let mut ops = album_release_track(1, 20);
    ops.push(update(1, 21, Table::Artists, A, &[("name", "boom".into())]));
    let failing = batch(1, 2, ops);
    let after = batch(
        1,
        3,
        vec![update(
            1,
            30,
            Table::Artists,
            A,
            &[("name", "later".into())],
        )],
    );
    let mut expected = Replica::new();
    expected.apply(&[&first]);

    let outcome = r
        .merger
        .apply_batches(r.db.conn_mut(), &[first, failing, after]);
    assert_eq!(
        outcome.applied.len(),
        1,
        "only the batch before the failure"
    );
    let err = outcome.error.expect("the second batch fails");
    assert!(matches!(err, bae_merge::MergeError::Sqlite(_)), "{err}");
    assert_eq!(
        r.dump(),
        expected.dump(),
        "nothing of the failed batch stayed"
    );
    assert_eq!(bae_merge::cursors(r.db.conn()).unwrap()[&device(1)], 1);
}
