//! Test fixtures: a device that writes a library into a bucket (rows
//! through `LibraryManager`, audio encrypted under `storage/…`, covers
//! through the image store, then a sync), a bae-server in-process or as a
//! child process, and a small HTTP client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bae_bucket::{Bucket, BucketUrl, LocalDirBucket, OpenOptions};
use bae_crypto::LibraryKey;
use bae_library::*;
use bae_server::boot::BootOptions;
use bae_server::server::{Running, ServerConfig, start};
use bae_server::subsonic::{Access, Credentials};
use bae_sync::{ImageStore, RandomNonces, SharedLibrary, SyncConfig, Syncer, add_cover_image};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

pub const USER: &str = "alice";
pub const PASSWORD: &str = "open sesame";
pub const API_KEY: &str = "test-api-key";

/// Deterministic bytes standing in for an audio file.
pub fn audio(seed: u8, len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

pub struct TrackSpec {
    pub title: String,
    pub filename: String,
    pub audio: Vec<u8>,
}

pub struct AlbumSpec {
    pub artist: String,
    pub title: String,
    pub year: i64,
    pub tracks: Vec<TrackSpec>,
    pub cover: Option<Vec<u8>>,
}

impl AlbumSpec {
    pub fn new(artist: &str, title: &str, year: i64, sizes: &[usize], seed: u8) -> AlbumSpec {
        AlbumSpec {
            artist: artist.to_owned(),
            title: title.to_owned(),
            year,
            tracks: sizes
                .iter()
                .enumerate()
                .map(|(i, len)| TrackSpec {
                    title: format!("{title} part {}", i + 1),
                    filename: format!("{:02} - {title} part {}.flac", i + 1, i + 1),
                    audio: audio(seed.wrapping_add(i as u8), *len),
                })
                .collect(),
            cover: Some(cover_bytes(seed)),
        }
    }
}

/// A few bytes that look like a PNG to anyone checking the magic number.
pub fn cover_bytes(seed: u8) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend(audio(seed.wrapping_add(100), 3000));
    bytes
}

#[derive(Debug, Clone)]
pub struct Added {
    pub album_id: String,
    pub artist_id: String,
    pub track_ids: Vec<String>,
    pub file_ids: Vec<String>,
    pub cover_id: Option<String>,
}

/// A device writing a library into a bucket.
pub struct Device {
    pub lib: SharedLibrary,
    pub syncer: Syncer,
    pub images: ImageStore,
    pub bucket: Arc<dyn Bucket>,
    pub key: LibraryKey,
}

impl Device {
    pub fn new(dir: &Path, bucket: Arc<dyn Bucket>, key: &LibraryKey) -> Device {
        let lib = LibraryManager::open(dir, LibraryOptions::default()).unwrap();
        let images = ImageStore::new(dir.join("images"));
        let syncer = Syncer::new(
            Arc::clone(&bucket),
            LibraryKey::from_bytes(*key.as_bytes()),
            images.clone(),
            SyncConfig::default(),
            Box::new(RandomNonces),
        );
        Device {
            lib: Arc::new(Mutex::new(lib)),
            syncer,
            images,
            bucket,
            key: LibraryKey::from_bytes(*key.as_bytes()),
        }
    }

    /// Imports an album (one transaction), uploads its audio, sets its cover.
    pub async fn add_album(&mut self, spec: &AlbumSpec) -> Added {
        let (added, uploads) = {
            let mut lib = self.lib.lock().unwrap();
            let mut uploads = Vec::new();
            let added = lib
                .write(|w| {
                    let artist = bae_store::writes::create_artist(
                        w,
                        &NewArtist {
                            name: spec.artist.clone(),
                            ..Default::default()
                        },
                    )?;
                    let ids = bae_store::writes::insert_album_with_release_and_tracks(
                        w,
                        &AlbumImport {
                            album: NewAlbum {
                                title: spec.title.clone(),
                                year: Some(spec.year),
                                artist_ids: vec![artist.clone()],
                                ..Default::default()
                            },
                            release: NewRelease {
                                year: Some(spec.year),
                                format: Some("Digital Media".into()),
                                ..Default::default()
                            },
                            tracks: spec
                                .tracks
                                .iter()
                                .enumerate()
                                .map(|(i, t)| NewTrack {
                                    title: t.title.clone(),
                                    track_number: Some(i as i64 + 1),
                                    disc_number: Some(1),
                                    duration_ms: Some(4000 + i as i64),
                                    artist_ids: vec![artist.clone()],
                                })
                                .collect(),
                        },
                    )?;
                    let mut file_ids = Vec::new();
                    for (t, track_id) in spec.tracks.iter().zip(&ids.track_ids) {
                        let file_id = bae_store::writes::add_file(
                            w,
                            &ids.release_id,
                            &NewFile {
                                original_filename: t.filename.clone(),
                                file_size: t.audio.len() as i64,
                                content_type: "audio/flac".into(),
                                content_hash: None,
                                source_path: None,
                            },
                        )?;
                        bae_store::writes::add_audio_format(
                            w,
                            &NewAudioFormat {
                                track_id: track_id.clone(),
                                file_id: file_id.clone(),
                                content_type: "audio/flac".into(),
                                sample_rate: 44100,
                                bits_per_sample: Some(16),
                                channels: 2,
                                duration_ms: Some(4000),
                                ..Default::default()
                            },
                        )?;
                        bae_store::writes::mark_track_complete(w, track_id)?;
                        uploads.push((file_id.clone(), t.audio.clone()));
                        file_ids.push(file_id);
                    }
                    Ok(Added {
                        album_id: ids.album_id,
                        artist_id: artist,
                        track_ids: ids.track_ids,
                        file_ids,
                        cover_id: None,
                    })
                })
                .unwrap();
            (added, uploads)
        };
        for (file_id, bytes) in uploads {
            self.upload(&file_id, &bytes).await;
        }
        let mut added = added;
        if let Some(cover) = &spec.cover {
            let mut lib = self.lib.lock().unwrap();
            let id = add_cover_image(
                &mut lib,
                &self.images,
                &added.album_id,
                &NewImage {
                    content_type: "image/png".into(),
                    file_size: cover.len() as i64,
                    content_hash: "00".repeat(32),
                    source: "folder".into(),
                    ..Default::default()
                },
                cover,
            )
            .unwrap();
            added.cover_id = Some(id);
        }
        added
    }

    /// Uploads a file's bytes encrypted under `storage/…`.
    pub async fn upload(&self, file_id: &str, bytes: &[u8]) {
        let key = bae_sync::layout::storage(file_id);
        let sealed =
            bae_crypto::encrypt(&self.key, key.as_str(), bytes, bae_crypto::random_nonce());
        self.bucket.put(&key, Bytes::from(sealed)).await.unwrap();
    }

    pub async fn sync(&mut self) {
        self.syncer.sync(&self.lib).await.unwrap();
    }

    pub async fn checkpoint(&mut self) {
        self.syncer.checkpoint(&self.lib).await.unwrap();
    }

    pub fn rename_album(&self, album_id: &str, title: &str) {
        self.lib
            .lock()
            .unwrap()
            .update_album(
                album_id,
                &AlbumPatch {
                    title: Some(title.to_owned()),
                    ..Default::default()
                },
            )
            .unwrap();
    }
}

/// The standard test library: four albums by four artists in a
/// local-directory bucket (or any other), pushed by one device.
pub struct Library {
    pub root: tempfile::TempDir,
    pub bucket_dir: PathBuf,
    pub url: BucketUrl,
    pub key: LibraryKey,
    pub device: Device,
    pub albums: Vec<(AlbumSpec, Added)>,
}

impl Library {
    pub fn specs() -> Vec<AlbumSpec> {
        let mut jarrett =
            AlbumSpec::new("Keith Jarrett", "The Köln Concert", 1975, &[1_300_000], 30);
        jarrett.cover = None;
        vec![
            AlbumSpec::new(
                "John Coltrane",
                "Blue Train",
                1957,
                &[200_000, 70_000, 65_536],
                1,
            ),
            AlbumSpec::new("Miles Davis", "Kind of Blue", 1959, &[150_000, 1], 10),
            AlbumSpec::new("The Beatles", "Abbey Road", 1969, &[90_000], 20),
            jarrett,
        ]
    }

    /// Builds the standard library in a local-directory bucket; with
    /// `checkpoint`, a checkpoint after the first two albums.
    pub async fn build(checkpoint: bool) -> Library {
        let root = tempfile::tempdir().unwrap();
        let bucket_dir = root.path().join("bucket");
        let bucket: Arc<dyn Bucket> = Arc::new(LocalDirBucket::create(&bucket_dir).unwrap());
        let url = format!("file://{}", bucket_dir.display()).parse().unwrap();
        Library::build_in(root, bucket, url, checkpoint).await
    }

    /// Builds the standard library in `bucket`, known to the server as `url`.
    pub async fn build_in(
        root: tempfile::TempDir,
        bucket: Arc<dyn Bucket>,
        url: BucketUrl,
        checkpoint: bool,
    ) -> Library {
        let bucket_dir = root.path().join("bucket");
        let key = LibraryKey::generate();
        let mut device = Device::new(&root.path().join("device"), bucket, &key);
        let mut albums = Vec::new();
        for (i, spec) in Library::specs().into_iter().enumerate() {
            // Albums are stamped with the wall clock in milliseconds, and
            // "newest" orders by that stamp: two albums added within one
            // millisecond would tie, and the tie is broken by random ids.
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            let added = device.add_album(&spec).await;
            albums.push((spec, added));
            if i == 1 {
                device.sync().await;
                if checkpoint {
                    device.checkpoint().await;
                }
            }
        }
        device.sync().await;
        Library {
            root,
            bucket_dir,
            url,
            key,
            device,
            albums,
        }
    }

    pub fn url(&self) -> BucketUrl {
        self.url.clone()
    }

    /// Flips one byte of an object in the local-directory bucket.
    pub fn tamper(&self, key: &str, at: usize) {
        let path = self.bucket_dir.join(key);
        let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let at = at.min(bytes.len() - 1);
        bytes[at] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
    }

    pub fn key_file(&self) -> PathBuf {
        let path = self.root.path().join("library.key");
        std::fs::write(&path, format!("{}\n", hex::encode(self.key.as_bytes()))).unwrap();
        path
    }

    pub fn album(&self, title: &str) -> &(AlbumSpec, Added) {
        self.albums.iter().find(|(s, _)| s.title == title).unwrap()
    }

    pub fn cache_dir(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }
}

pub fn credentials() -> Access {
    Access::User(Credentials {
        username: USER.into(),
        password: PASSWORD.into(),
        api_key: Some(API_KEY.into()),
    })
}

pub fn config(url: BucketUrl, key: &LibraryKey, cache: &Path, interval: Duration) -> ServerConfig {
    ServerConfig {
        boot: BootOptions {
            bucket: url,
            open: OpenOptions::default(),
            key: LibraryKey::from_bytes(*key.as_bytes()),
            cache_dir: cache.to_owned(),
            refresh: false,
            progress: false,
        },
        listen: "127.0.0.1:0".parse().unwrap(),
        sync_interval: interval,
        access: credentials(),
    }
}

/// Starts a server in this process on the library's bucket.
pub async fn serve(lib: &Library, cache: &str) -> Running {
    start(config(
        lib.url(),
        &lib.key,
        &lib.cache_dir(cache),
        Duration::from_secs(3600),
    ))
    .await
    .unwrap()
}

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `subsonic-response` of a JSON answer.
    pub fn subsonic(&self) -> serde_json::Value {
        assert_eq!(self.status, 200, "{}", self.text());
        self.json()["subsonic-response"].clone()
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Resp {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path_and_query)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

pub async fn get(addr: SocketAddr, path_and_query: &str) -> Resp {
    request(addr, "GET", path_and_query, &[], None).await
}

/// Calls a Subsonic method with plain-password auth and `f=json`; returns
/// the `subsonic-response`.
pub async fn api(addr: SocketAddr, method: &str, query: &str) -> serde_json::Value {
    let sep = if query.is_empty() { "" } else { "&" };
    get(
        addr,
        &format!("/rest/{method}?u={USER}&p=open%20sesame&v=1.16.1&c=test&f=json{sep}{query}"),
    )
    .await
    .subsonic()
}

/// The query string of authentication, for byte requests.
pub fn auth() -> String {
    format!("u={USER}&p=open%20sesame&v=1.16.1&c=test")
}

/// Polls `f` every 100 ms until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A bae-server child process; killed when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Waits up to 10 s for stdout to hold a line starting with `prefix`
    /// (after leading spaces); returns the rest of it.
    pub fn stdout_line(&self, prefix: &str) -> Option<String> {
        for _ in 0..100 {
            let found = self.stdout.lock().unwrap().lines().find_map(|l| {
                l.trim_start()
                    .strip_prefix(prefix)
                    .map(|rest| rest.trim().to_owned())
            });
            if found.is_some() {
                return found;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

fn collect(pipe: impl std::io::Read + Send + 'static, into: Arc<Mutex<String>>) {
    use std::io::{BufRead as _, BufReader};
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut s = into.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
}

/// Runs `bae-server` with `args` and `env`, and waits (up to two minutes)
/// for it to say where it listens; `Err(stderr)` if it exits first.
pub fn spawn_server(args: &[&str], env: &[(&str, &str)]) -> Result<ServerProcess, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bae-server"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "BAE_BUCKET",
        "BAE_KEY_FILE",
        "BAE_CACHE_DIR",
        "BAE_USERNAME",
        "BAE_PASSWORD",
        "BAE_PASSWORD_FILE",
        "BAE_API_KEY",
        "BAE_CREDENTIALS_FILE",
        "BAE_LISTEN",
        "BAE_SYNC_INTERVAL",
        "BAE_REFRESH",
        "BAE_LOG",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("bae-server starts");
    let stdout = Arc::new(Mutex::new(String::new()));
    let stderr = Arc::new(Mutex::new(String::new()));
    collect(child.stdout.take().unwrap(), Arc::clone(&stdout));
    collect(child.stderr.take().unwrap(), Arc::clone(&stderr));
    for _ in 0..1200 {
        let listening = stdout.lock().unwrap().lines().find_map(|l| {
            l.strip_prefix("bae-server: listening on http://")
                .map(|a| a.trim().parse().unwrap())
        });
        if let Some(addr) = listening {
            return Ok(ServerProcess {
                child,
                addr,
                stdout,
                stderr,
            });
        }
        if let Ok(Some(_)) = child.try_wait() {
            std::thread::sleep(Duration::from_millis(200));
            return Err(stderr.lock().unwrap().clone());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    Err(format!(
        "bae-server did not start listening in two minutes:\n{}",
        stderr.lock().unwrap()
    ))
}

/// Every file under `dir` with its bytes, to prove a bucket unchanged.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}
