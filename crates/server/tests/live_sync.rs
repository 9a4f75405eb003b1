//! A running server keeps up with the bucket: an edit made on a device and
//! synced shows in its answers within one sync interval, with no restart;
//! and applying batches never holds up reads.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// The running binary, pulling every 2 s: a device renames an album, adds
/// one and syncs; the server answers with both within one interval.
#[tokio::test(flavor = "multi_thread")]
async fn an_edit_synced_by_a_device_is_served_within_one_interval() {
    let mut lib = Library::build(true).await;
    let interval = Duration::from_secs(2);
    let cache = lib.cache_dir("cache");
    let server = spawn_server(
        &[
            "--bucket",
            &lib.url().to_string(),
            "--key-file",
            lib.key_file().to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--sync-interval",
            "2s",
        ],
        &[("BAE_USERNAME", USER), ("BAE_PASSWORD", PASSWORD)],
    )
    .unwrap();
    let addr = server.addr;
    let pid = server.child.id();
    let blue = lib.album("Blue Train").1.clone();
    let before = get(addr, "/health").await.json();
    let applied_before = before["batches_applied"].as_u64().unwrap();

    lib.device
        .rename_album(&blue.album_id, "Blue Train (Remastered)");
    let spec = AlbumSpec::new("Nina Simone", "Pastel Blues", 1965, &[20_000], 40);
    let nina = lib.device.add_album(&spec).await;
    lib.device.sync().await;
    let synced = Instant::now();

    let seen = eventually(Duration::from_secs(10), || async {
        let album = api(addr, "getAlbum", &format!("id={}", blue.album_id)).await;
        (album["album"]["name"] == "Blue Train (Remastered)").then(Instant::now)
    })
    .await
    .expect("the rename never showed");
    let waited = seen - synced;
    // One interval, plus the pull itself and the polling, on a loaded machine.
    assert!(
        waited <= interval + Duration::from_secs(2),
        "took {waited:?}, more than one {interval:?} interval (plus the pull itself)"
    );
    // The new album came with the same pull: listed, searchable, streamable.
    let album = api(addr, "getAlbum", &format!("id={}", nina.album_id)).await;
    assert_eq!(album["album"]["name"], "Pastel Blues");
    let found = api(addr, "search3", "query=pastel").await;
    assert_eq!(found["searchResult3"]["album"][0]["name"], "Pastel Blues");
    let r = get(
        addr,
        &format!("/rest/stream?{}&id={}", auth(), nina.track_ids[0]),
    )
    .await;
    assert_eq!(r.body, spec.tracks[0].audio);

    let health = get(addr, "/health").await.json();
    assert_eq!(
        health["batches_applied"].as_u64().unwrap(),
        applied_before + 3,
        "rename, import, cover: {health}"
    );
    assert_eq!(health["devices"][0]["lag_batches"], 0, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(server.child.id(), pid, "no restart");
}

/// While a batch is being applied (a write transaction held open on the
/// write connection), reads answer at once, from the last committed state.
#[tokio::test(flavor = "multi_thread")]
async fn applying_batches_never_blocks_reads() {
    let lib = Library::build(false).await;
    let server = serve(&lib, "cache").await;
    let addr = server.addr;
    let blue = lib.album("Blue Train").1.clone();
    let library = server.library.clone();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let writer = tokio::task::spawn_blocking(move || {
        let mut l = library.lock().unwrap();
        l.apply_remote(|conn| {
            let tx = conn.transaction().unwrap();
            tx.execute("UPDATE albums SET title = 'half-applied'", [])
                .unwrap();
            held_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_secs(5));
            tx.rollback().unwrap();
        });
    });
    held_rx.recv().unwrap();
    let started = Instant::now();
    for _ in 0..10 {
        let album = api(addr, "getAlbum", &format!("id={}", blue.album_id)).await;
        assert_eq!(
            album["album"]["name"], "Blue Train",
            "a read saw uncommitted state"
        );
        let list = api(addr, "getAlbumList2", "type=newest").await;
        assert_eq!(list["status"], "ok");
    }
    let took = started.elapsed();
    // Blocked reads would wait for the 5 s transaction.
    assert!(
        took < Duration::from_secs(4),
        "20 reads took {took:?} while a write transaction was open"
    );
    writer.await.unwrap();
    server.shutdown().await.unwrap();
}
