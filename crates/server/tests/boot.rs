//! Booting from a bucket: from a checkpoint or by replay, resuming from the
//! cache, `--refresh`, and what goes wrong: a wrong key, tampered objects,
//! an open address without credentials. The server never writes to the
//! bucket.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bae_bucket::Bucket;
use bae_server::server::{ServerError, start};
use bae_server::subsonic::Access;
use common::*;

fn album_names(list: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = list["albumList2"]["album"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

const ALL: [&str; 4] = [
    "Abbey Road",
    "Blue Train",
    "Kind of Blue",
    "The Köln Concert",
];

#[tokio::test(flavor = "multi_thread")]
async fn boots_by_replaying_batches_when_there_is_no_checkpoint() {
    let lib = Library::build(false).await;
    let server = serve(&lib, "cache").await;
    assert_eq!(server.boot_report.booted_from, None);
    // Each album is two batches: its import, then its cover (Köln has none).
    assert_eq!(server.boot_report.batches_applied, 7);
    let list = api(server.addr, "getAlbumList2", "type=newest&size=50").await;
    assert_eq!(album_names(&list), ALL);
    let health = get(server.addr, "/health").await.json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["batches_applied"], 7);
    assert_eq!(health["booted_from"], serde_json::Value::Null);
    assert_eq!(health["devices"][0]["lag_batches"], 0);
    assert_eq!(health["devices"][0]["pushed_seq"], 7);
    assert_eq!(health["library"]["albums"], 4);
    assert_eq!(health["library"]["songs"], 7);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn boots_from_the_newest_checkpoint_then_replays_later_batches() {
    let lib = Library::build(true).await;
    let server = serve(&lib, "cache").await;
    assert!(server.boot_report.booted_from.is_some());
    assert_eq!(
        server.boot_report.batches_applied, 3,
        "only the batches after the checkpoint (two albums, one cover)"
    );
    let list = api(server.addr, "getAlbumList2", "type=newest&size=50").await;
    assert_eq!(album_names(&list), ALL);
    let health = get(server.addr, "/health").await.json();
    assert_eq!(
        health["booted_from"],
        server.boot_report.booted_from.clone().unwrap().as_str()
    );
    // Covers came with the checkpoint too.
    let (spec, blue) = lib.album("Blue Train");
    let r = get(
        server.addr,
        &format!("/rest/getCoverArt?{}&id={}", auth(), blue.album_id),
    )
    .await;
    assert_eq!(&r.body, spec.cover.as_ref().unwrap());
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_resumes_from_the_cache_and_refresh_boots_anew() {
    let mut lib = Library::build(true).await;
    let server = serve(&lib, "cache").await;
    assert!(!server.resumed);
    server.shutdown().await.unwrap();

    // A new album while the server is down.
    let spec = AlbumSpec::new("Nina Simone", "Pastel Blues", 1965, &[10_000], 40);
    lib.device.add_album(&spec).await;
    lib.device.sync().await;

    let server = serve(&lib, "cache").await;
    assert!(server.resumed, "the cache is the same bucket's");
    assert_eq!(
        server.boot_report.booted_from, None,
        "no checkpoint download"
    );
    assert_eq!(
        server.boot_report.batches_applied, 2,
        "only the new album and its cover"
    );
    let health = get(server.addr, "/health").await.json();
    assert_eq!(health["library"]["albums"], 5);
    server.shutdown().await.unwrap();

    let mut config = config(
        lib.url(),
        &lib.key,
        &lib.cache_dir("cache"),
        Duration::from_secs(3600),
    );
    config.boot.refresh = true;
    let server = start(config).await.unwrap();
    assert!(!server.resumed);
    assert!(
        server.boot_report.booted_from.is_some(),
        "booted anew from the checkpoint"
    );
    assert_eq!(server.boot_report.batches_applied, 5);
    let health = get(server.addr, "/health").await.json();
    assert_eq!(health["library"]["albums"], 5);

    // Another key cannot reuse the cache: it is discarded, not trusted.
    server.shutdown().await.unwrap();
    let other = bae_crypto::LibraryKey::generate();
    let refused = start(config_for(&lib, &other, "cache")).await.unwrap_err();
    assert!(
        refused.to_string().contains("does not open this bucket"),
        "{refused}"
    );
}

fn config_for(
    lib: &Library,
    key: &bae_crypto::LibraryKey,
    cache: &str,
) -> bae_server::server::ServerConfig {
    config(
        lib.url(),
        key,
        &lib.cache_dir(cache),
        Duration::from_secs(3600),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_is_a_clear_error_before_serving() {
    let lib = Library::build(false).await;
    let wrong = lib.root.path().join("wrong.key");
    std::fs::write(&wrong, hex::encode([9u8; 32])).unwrap();
    let cache = lib.cache_dir("cache");
    let bucket = lib.url().to_string();
    let err = spawn_server(
        &[
            "--bucket",
            &bucket,
            "--key-file",
            wrong.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    )
    .err()
    .expect("the server must not start");
    assert!(
        err.contains("the library key does not open this bucket"),
        "{err}"
    );
    assert!(err.contains("heads/"), "names what it tried: {err}");
    assert!(!cache.join("library").exists(), "nothing was cached");

    let garbage = lib.root.path().join("garbage.key");
    std::fs::write(&garbage, "not a key").unwrap();
    let err = spawn_server(
        &["--bucket", &bucket, "--key-file", garbage.to_str().unwrap()],
        &[],
    )
    .err()
    .unwrap();
    assert!(err.contains("64 hex digits"), "{err}");

    // A key that opens the bucket but a bucket url that does not parse.
    let err = spawn_server(
        &[
            "--bucket",
            "ftp://x",
            "--key-file",
            lib.key_file().to_str().unwrap(),
        ],
        &[],
    )
    .err()
    .unwrap();
    assert!(err.contains("unknown scheme"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_an_open_address_without_credentials() {
    let lib = Library::build(false).await;
    let mut cfg = config_for(&lib, &lib.key, "cache");
    cfg.listen = "0.0.0.0:0".parse().unwrap();
    cfg.access = Access::Open;
    match start(cfg.clone()).await {
        Err(e @ ServerError::OpenToNetwork(_)) => {
            assert!(e.to_string().contains("--username"), "{e}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // On loopback, no credentials means anyone local may read.
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    let server = start(cfg).await.unwrap();
    let r = get(server.addr, "/rest/ping?f=json").await;
    assert_eq!(r.subsonic()["status"], "ok");
    server.shutdown().await.unwrap();

    let err = spawn_server(
        &[
            "--bucket",
            &lib.url().to_string(),
            "--key-file",
            lib.key_file().to_str().unwrap(),
            "--listen",
            "0.0.0.0:0",
            "--cache-dir",
            lib.cache_dir("bin").to_str().unwrap(),
        ],
        &[],
    )
    .err()
    .unwrap();
    assert!(
        err.contains("refusing to serve on 0.0.0.0:0 without credentials"),
        "{err}"
    );
    // With credentials from the environment it serves.
    let server = spawn_server(
        &[
            "--bucket",
            &lib.url().to_string(),
            "--key-file",
            lib.key_file().to_str().unwrap(),
            "--listen",
            "0.0.0.0:0",
            "--cache-dir",
            lib.cache_dir("bin").to_str().unwrap(),
        ],
        &[("BAE_USERNAME", USER), ("BAE_PASSWORD", PASSWORD)],
    )
    .unwrap();
    let port = server.addr.port();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(api(addr, "ping", "").await["status"], "ok");
}

/// A tampered batch stops that device's stream (reported in `/health`);
/// everything else is served.
#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_batch_stops_one_stream_and_the_rest_is_served() {
    let lib = Library::build(false).await;
    let bucket: Arc<dyn Bucket> =
        Arc::new(bae_bucket::LocalDirBucket::open(&lib.bucket_dir).unwrap());
    let mut b = Device::new(&lib.root.path().join("device-b"), bucket, &lib.key);
    b.add_album(&AlbumSpec::new(
        "Ella Fitzgerald",
        "Ella and Louis",
        1956,
        &[1000],
        50,
    ))
    .await;
    b.add_album(&AlbumSpec::new("Sarah Vaughan", "Sassy", 1957, &[1000], 60))
        .await;
    b.sync().await;
    let b_id = b.lib.lock().unwrap().device_id();
    lib.tamper(bae_sync::layout::batch(b_id, 3).as_str(), 40);

    let server = serve(&lib, "cache").await;
    let list = api(server.addr, "getAlbumList2", "type=newest&size=50").await;
    let mut want: Vec<&str> = ALL.to_vec();
    want.push("Ella and Louis");
    want.sort();
    assert_eq!(
        album_names(&list),
        want,
        "B's batches 1-2 applied, 3 on refused"
    );
    let health = get(server.addr, "/health").await.json();
    assert_eq!(health["status"], "degraded");
    let devices = health["devices"].as_array().unwrap();
    let b_health = devices
        .iter()
        .find(|d| d["device"] == b_id.to_simple().as_str())
        .unwrap();
    assert_eq!(b_health["applied_seq"], 2);
    assert_eq!(b_health["pushed_seq"], 4);
    assert_eq!(b_health["lag_batches"], 2);
    let why = b_health["stopped"].as_str().unwrap();
    assert!(why.contains("failed authentication"), "{why}");
    server.shutdown().await.unwrap();
}

/// Tampered audio and covers are refused (never served unauthenticated)
/// and reported; the other songs and the untouched parts stream.
#[tokio::test(flavor = "multi_thread")]
async fn tampered_audio_and_covers_are_reported_and_the_rest_served() {
    let lib = Library::build(false).await;
    let (blue_spec, blue) = lib.album("Blue Train");
    let (koln_spec, koln) = lib.album("The Köln Concert");
    // First chunk of a Blue Train track; a late chunk of the Köln Concert.
    lib.tamper(bae_sync::layout::storage(&blue.file_ids[0]).as_str(), 100);
    lib.tamper(
        bae_sync::layout::storage(&koln.file_ids[0]).as_str(),
        1_250_000,
    );
    let server = serve(&lib, "cache").await;
    // The covers were cached at boot; tamper one the server has not cached.
    let (kind_spec, kind) = lib.album("Kind of Blue");
    let cached = lib.cache_dir("cache").join("images").join(
        bae_sync::layout::image(kind.cover_id.as_ref().unwrap())
            .as_str()
            .trim_start_matches("images/"),
    );
    std::fs::remove_file(&cached).unwrap();
    lib.tamper(
        bae_sync::layout::image(kind.cover_id.as_ref().unwrap()).as_str(),
        30,
    );
    let addr = server.addr;

    let r = get(
        addr,
        &format!("/rest/stream?{}&f=json&id={}", auth(), blue.track_ids[0]),
    )
    .await;
    let s = r.subsonic();
    assert_eq!(s["status"], "failed");
    assert!(
        s["error"]["message"]
            .as_str()
            .unwrap()
            .contains("failed authentication"),
        "{s}"
    );
    // The other tracks of the album stream.
    let r = get(
        addr,
        &format!("/rest/stream?{}&id={}", auth(), blue.track_ids[1]),
    )
    .await;
    assert_eq!(r.body, blue_spec.tracks[1].audio);
    // The Köln Concert: a range before the damage is served exactly...
    let url = format!("/rest/stream?{}&id={}", auth(), koln.track_ids[0]);
    let r = request(addr, "GET", &url, &[("range", "bytes=0-999999")], None).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, koln_spec.tracks[0].audio[..1_000_000]);
    // ...and the whole file is cut off at the damage, never sent altered.
    let cut = try_request(addr, &url).await;
    assert!(
        cut.is_err(),
        "the transfer must break, not deliver altered bytes"
    );
    // A tampered cover is refused; the others are served.
    let r = get(
        addr,
        &format!("/rest/getCoverArt?{}&f=json&id={}", auth(), kind.album_id),
    )
    .await;
    assert_eq!(r.subsonic()["status"], "failed");
    let r = get(
        addr,
        &format!("/rest/getCoverArt?{}&id={}", auth(), blue.album_id),
    )
    .await;
    assert_eq!(&r.body, blue_spec.cover.as_ref().unwrap());
    let _ = kind_spec;

    let health = get(addr, "/health").await.json();
    assert_eq!(health["status"], "degraded");
    let problems = health["problems"].as_object().unwrap();
    assert!(problems.contains_key(bae_sync::layout::storage(&blue.file_ids[0]).as_str()));
    assert!(problems.contains_key(bae_sync::layout::storage(&koln.file_ids[0]).as_str()));
    assert!(
        problems.contains_key(bae_sync::layout::image(kind.cover_id.as_ref().unwrap()).as_str())
    );
    server.shutdown().await.unwrap();
}

/// A cover tampered in the bucket before the server ever saw it: the boot
/// goes on (the sync engine sees a gap), the cover is refused and reported,
/// everything else is served.
#[tokio::test(flavor = "multi_thread")]
async fn a_cover_tampered_before_boot_does_not_stop_the_boot() {
    let lib = Library::build(false).await;
    let (_, kind) = lib.album("Kind of Blue");
    let image = bae_sync::layout::image(kind.cover_id.as_ref().unwrap());
    lib.tamper(image.as_str(), 40);
    let server = serve(&lib, "cache").await;
    assert_eq!(server.boot_report.batches_applied, 7);
    assert_eq!(server.boot_report.image_gaps, 1);
    let addr = server.addr;
    let r = get(
        addr,
        &format!("/rest/getCoverArt?{}&f=json&id={}", auth(), kind.album_id),
    )
    .await;
    let s = r.subsonic();
    assert!(
        s["error"]["message"]
            .as_str()
            .unwrap()
            .contains("failed authentication"),
        "{s}"
    );
    let (blue_spec, blue) = lib.album("Blue Train");
    let r = get(
        addr,
        &format!("/rest/getCoverArt?{}&id={}", auth(), blue.album_id),
    )
    .await;
    assert_eq!(&r.body, blue_spec.cover.as_ref().unwrap());
    let list = api(addr, "getAlbumList2", "type=newest&size=50").await;
    assert_eq!(album_names(&list), ALL);
    let health = get(addr, "/health").await.json();
    assert_eq!(health["status"], "degraded");
    assert!(
        health["problems"]
            .as_object()
            .unwrap()
            .contains_key(image.as_str()),
        "{health}"
    );
    server.shutdown().await.unwrap();
}

/// A whole-body GET that reports a broken transfer as an error.
async fn try_request(addr: std::net::SocketAddr, url: &str) -> Result<Vec<u8>, String> {
    use http_body_util::BodyExt as _;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri(url)
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let body = res.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok(body.to_bytes().to_vec())
}

/// A checkpoint that fails authentication is skipped and reported; the
/// library is rebuilt from the batches.
#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_checkpoint_falls_back_to_replaying_batches() {
    let lib = Library::build(true).await;
    let data = std::fs::read_dir(lib.bucket_dir.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| !n.ends_with(".meta.enc"))
        .unwrap();
    lib.tamper(&format!("checkpoints/{data}"), 500);
    let server = serve(&lib, "cache").await;
    assert_eq!(server.boot_report.booted_from, None);
    assert_eq!(server.boot_report.batches_applied, 7);
    let list = api(server.addr, "getAlbumList2", "type=newest&size=50").await;
    assert_eq!(album_names(&list), ALL);
    let health = get(server.addr, "/health").await.json();
    assert!(
        health["problems"]
            .as_object()
            .unwrap()
            .contains_key(&format!("checkpoints/{data}")),
        "{health}"
    );
    server.shutdown().await.unwrap();
}

/// Booting, serving and pulling leave the bucket byte for byte as it was.
#[tokio::test(flavor = "multi_thread")]
async fn never_writes_to_the_bucket() {
    let lib = Library::build(true).await;
    let before = snapshot(&lib.bucket_dir);
    let mut cfg = config_for(&lib, &lib.key, "cache");
    cfg.sync_interval = Duration::from_millis(100);
    let server = start(cfg).await.unwrap();
    let (_, blue) = lib.album("Blue Train");
    for q in [
        "getArtists",
        "getAlbumList2?type=random",
        "search3?query=blue",
    ] {
        let (m, rest) = q.split_once('?').unwrap_or((q, ""));
        assert_eq!(api(server.addr, m, rest).await["status"], "ok");
    }
    get(
        server.addr,
        &format!("/rest/stream?{}&id={}", auth(), blue.track_ids[0]),
    )
    .await;
    let pulls = eventually(Duration::from_secs(10), || async {
        let h = get(server.addr, "/health").await.json();
        (h["pulls"].as_u64().unwrap() >= 4).then_some(())
    })
    .await;
    assert!(pulls.is_some(), "background pulls ran");
    server.shutdown().await.unwrap();
    assert!(before == snapshot(&lib.bucket_dir), "the bucket changed");
}

/// The same library from an S3 endpoint (s3s-fs on loopback), with the
/// credentials from the standard AWS environment of the real binary.
#[tokio::test(flavor = "multi_thread")]
async fn boots_from_s3_with_credentials_from_the_aws_environment() {
    let s3 = bae_bucket::testing::S3sFsServer::start().await.unwrap();
    let endpoint = s3.endpoint().clone();
    let bucket: Arc<dyn Bucket> = Arc::new(endpoint.bucket("bae-lib", None).await.unwrap());
    let url: bae_bucket::BucketUrl = format!(
        "s3://bae-lib/music?endpoint={}&path_style=true&region={}",
        endpoint.endpoint, endpoint.region
    )
    .parse()
    .unwrap();
    // The device writes under the same prefix the server reads.
    let prefixed: Arc<dyn Bucket> = Arc::new({
        let mut config = endpoint.config("bae-lib");
        config.prefix = Some("music".to_owned());
        bae_bucket::S3Bucket::from_config(config).await.unwrap()
    });
    drop(bucket);
    let lib = Library::build_in(tempfile::tempdir().unwrap(), prefixed, url.clone(), true).await;
    let cache = lib.cache_dir("cache");
    let server = tokio::task::spawn_blocking({
        let url = url.to_string();
        let key = lib.key_file();
        let cache = cache.clone();
        let endpoint = endpoint.clone();
        move || {
            spawn_server(
                &[
                    "--bucket",
                    &url,
                    "--key-file",
                    key.to_str().unwrap(),
                    "--cache-dir",
                    cache.to_str().unwrap(),
                    "--listen",
                    "127.0.0.1:0",
                    "--username",
                    USER,
                ],
                &[
                    ("AWS_ACCESS_KEY_ID", endpoint.access_key.as_str()),
                    ("AWS_SECRET_ACCESS_KEY", endpoint.secret_key.as_str()),
                    ("BAE_PASSWORD", PASSWORD),
                ],
            )
        }
    })
    .await
    .unwrap()
    .unwrap();
    let list = api(server.addr, "getAlbumList2", "type=newest&size=50").await;
    assert_eq!(album_names(&list), ALL);
    let (spec, koln) = lib.album("The Köln Concert");
    let url = format!("/rest/stream?{}&id={}", auth(), koln.track_ids[0]);
    let r = request(
        server.addr,
        "GET",
        &url,
        &[("range", "bytes=70000-200000")],
        None,
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, spec.tracks[0].audio[70_000..200_001]);
    let r = get(server.addr, &url).await;
    assert_eq!(r.body, spec.tracks[0].audio);
}
