//! A row re-inserted locally brings back the children another device added
//! while it was deleted, exactly as merging the same insert does elsewhere.

mod common;

use std::sync::Arc;

use bae_bucket::{Bucket, MemoryBucket};
use bae_hlc::ManualClock;
use bae_library::NewTrack;
use bae_store::{Table, Value};
use common::*;

#[tokio::test]
async fn a_local_reinsert_shows_the_hidden_children_everywhere() {
    let bucket = MemoryBucket::new();
    let clock = ManualClock::new(T0);
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let mut a = Device::new(1, shared.clone(), &clock);
    let mut b = Device::new(2, shared.clone(), &clock);
    let album = a.import("album", 2);
    converge(&mut [&mut a, &mut b]).await;
    let release = album.release_id.clone();
    let fields: Vec<String> =
        a.with(|l| l.database().schema().table(Table::Releases).fields.clone());
    let names: Vec<&str> = fields.iter().map(String::as_str).collect();
    let values = a.with(|l| {
        bae_store::read_fields(l.database().conn(), Table::Releases, &release, &names)
            .unwrap()
            .unwrap()
    });

    // B deletes the release while A, not knowing, adds a track to it.
    clock.advance_ms(10);
    b.with(|l| l.delete_release(&release)).unwrap();
    let late = a
        .with(|l| {
            l.add_track(
                &release,
                &NewTrack {
                    title: "late".into(),
                    ..Default::default()
                },
            )
        })
        .unwrap();
    converge(&mut [&mut a, &mut b]).await;
    let visible = |d: &Device| {
        d.with(|l| bae_store::row_exists(l.database().conn(), Table::Tracks, &late).unwrap())
    };
    assert!(
        !visible(&a) && !visible(&b),
        "the late track is hidden with its release"
    );

    // B brings the release back under the same id.
    clock.advance_ms(10);
    b.with(|l| {
        l.write(|w| {
            let mut row: Vec<(&str, Value)> = vec![("id", Value::Text(release.clone()))];
            row.extend(names.iter().copied().zip(values.iter().cloned()));
            w.insert(Table::Releases, &row)
        })
    })
    .unwrap();
    assert!(
        visible(&b),
        "the local insert shows the waiting child at once"
    );
    converge(&mut [&mut a, &mut b]).await;
    assert!(visible(&a), "and so does every other device");
}
