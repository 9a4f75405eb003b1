//! Two real third-party Subsonic clients against the real `bae-server`
//! binary: py-opensonic (POST, `.view`, token auth by default; again with
//! GET, and with an API key) and knuckles (GET, token auth). Each lists
//! artists and albums, opens an album, searches, fetches the cover, and
//! streams a track whose bytes, whole and by range, equal the original.
//!
//! The clients come from `scripts/install-subsonic-clients.sh` (PyPI, into
//! `<repo>/.venv`); the scripts are in `tests/clients/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The virtual environment's Python, checked to have both clients.
fn python() -> PathBuf {
    let python = repo().join(".venv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import libopensonic, knuckles"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{} cannot import libopensonic and knuckles: run scripts/install-subsonic-clients.sh \
         (it installs py-opensonic and knuckles from PyPI into <repo>/.venv)",
        python.display()
    );
    python
}

/// Runs a client script against a server; panics with its output on failure.
fn run_client(script: &str, spec: &Path, flags: &[&str]) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let out = Command::new(python())
        .arg(&path)
        .arg(spec)
        .args(flags)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} {flags:?} failed:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{script} printed no summary ({e}):\n{stdout}\n{stderr}"))
}

/// The `bae` binary: next to this test's own target directory (cargo
/// builds it for `--workspace` runs), else built now.
fn bae() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_owned();
    let bae = profile_dir.join("bae");
    if !bae.exists() {
        let status = Command::new(option_env!("CARGO").unwrap_or("cargo"))
            .args(["build", "-p", "bae-cli", "--bin", "bae", "--target-dir"])
            .arg(profile_dir.parent().unwrap())
            .current_dir(repo())
            .status()
            .unwrap();
        assert!(status.success(), "could not build the bae command");
    }
    bae
}

/// Runs `bae` with `args`; panics with its output on failure.
fn run_bae(args: &[&str]) -> String {
    let out = Command::new(bae())
        .args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "bae {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A bucket populated by the `bae` command, a `bae-server` booted from it,
/// and the spec the client scripts check against.
struct Setup {
    _root: tempfile::TempDir,
    server: ServerProcess,
    spec: PathBuf,
}

/// The album the clients open: a WAV album with a folder cover, so the
/// original cover and audio are plain files.
const ALBUM_ARTIST: &str = "Square Root";
const ALBUM: &str = "Odd Harmonics";

fn setup() -> Setup {
    let root = tempfile::tempdir().unwrap();
    let p = |name: &str| root.path().join(name).to_str().unwrap().to_owned();
    let (music, device, bucket, key) = (p("music"), p("device"), p("bucket"), p("library.key"));
    let bucket_url = format!("file://{bucket}");
    // demo -> init -> import -> sync -> compact -> edit -> sync: the bucket
    // holds a checkpoint and a batch after it.
    run_bae(&["demo", &music, "--seconds", "2", "--sample-rate", "22050"]);
    run_bae(&[
        "--library",
        &device,
        "init",
        "--bucket",
        &bucket_url,
        "--store-files",
        "--no-keyring",
    ]);
    run_bae(&["--library", &device, "import", &music]);
    run_bae(&["--library", &device, "sync"]);
    run_bae(&["--library", &device, "compact", "--no-gc"]);
    let albums: serde_json::Value =
        serde_json::from_str(&run_bae(&["--library", &device, "ls", "albums", "--json"])).unwrap();
    let plucked = albums
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Plucked")
        .unwrap_or_else(|| panic!("no Plucked in {albums}"));
    run_bae(&[
        "--library",
        &device,
        "edit",
        plucked["id"].as_str().unwrap(),
        "title=Plucked (Remastered)",
    ]);
    run_bae(&["--library", &device, "sync"]);
    run_bae(&["--library", &device, "key", "export", "--output", &key]);

    // What the clients must find, read from the demo's files themselves.
    let mut artists = Vec::new();
    let mut album_names = Vec::new();
    let mut songs = 0;
    for artist in std::fs::read_dir(&music).unwrap() {
        let artist = artist.unwrap().path();
        artists.push(artist.file_name().unwrap().to_string_lossy().into_owned());
        for album in std::fs::read_dir(&artist).unwrap() {
            let album = album.unwrap().path();
            let name = album.file_name().unwrap().to_string_lossy().into_owned();
            let title = name.split_once(" - ").unwrap().1.to_owned();
            album_names.push(if title == "Plucked" {
                "Plucked (Remastered)".to_owned()
            } else {
                title
            });
            songs += std::fs::read_dir(&album)
                .unwrap()
                .filter(|f| {
                    f.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|e| e != "png")
                })
                .count();
        }
    }
    artists.sort();
    album_names.sort();
    let album_dir = std::fs::read_dir(Path::new(&music).join(ALBUM_ARTIST))
        .unwrap()
        .map(|d| d.unwrap().path())
        .find(|d| d.to_string_lossy().ends_with(ALBUM))
        .unwrap();
    let mut tracks: Vec<PathBuf> = std::fs::read_dir(&album_dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|f| f.extension().is_some_and(|e| e == "wav"))
        .collect();
    tracks.sort();
    let titles: Vec<String> = tracks
        .iter()
        .map(|t| {
            let stem = t.file_stem().unwrap().to_string_lossy().into_owned();
            stem.split_once(" - ").unwrap().1.to_owned()
        })
        .collect();

    let server = spawn_server(
        &[
            "--bucket",
            &bucket_url,
            "--key-file",
            &key,
            "--cache-dir",
            &p("server-cache"),
            "--listen",
            "127.0.0.1:0",
        ],
        &[
            ("BAE_USERNAME", USER),
            ("BAE_PASSWORD", PASSWORD),
            ("BAE_API_KEY", API_KEY),
        ],
    )
    .unwrap();
    let spec_json = serde_json::json!({
        "port": server.addr.port(),
        "username": USER,
        "password": PASSWORD,
        "api_key": API_KEY,
        "artists": artists,
        "albums": album_names,
        "songs": songs,
        "album": {
            "artist": ALBUM_ARTIST,
            "name": ALBUM,
            "songs": titles,
            "cover_file": album_dir.join("cover.png"),
            "stream_title": titles[2],
            "stream_file": tracks[2],
            // Across the first chunk boundary (64 KiB) and into the third chunk.
            "range": [65_000, 140_000],
        },
        "search": {"query": "harmonics", "albums": [ALBUM]},
    });
    let spec_path = root.path().join("spec.json");
    std::fs::write(&spec_path, spec_json.to_string()).unwrap();
    Setup {
        _root: root,
        server,
        spec: spec_path,
    }
}

fn check_summary(summary: &serde_json::Value) {
    assert_eq!(summary["artists"], 3, "{summary}");
    assert_eq!(summary["albums"], 5, "{summary}");
    assert!(
        summary["streamed_bytes"].as_u64().unwrap() > 140_000,
        "{summary}"
    );
    assert!(summary["cover_bytes"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(
        summary["range"],
        serde_json::json!([65_000, 140_000]),
        "{summary}"
    );
}

#[test]
fn py_opensonic_with_its_defaults_post_view_and_token() {
    let s = setup();
    let summary = run_client("opensonic_client.py", &s.spec, &[]);
    check_summary(&summary);
    assert_eq!(summary["get"], false);
    assert_eq!(summary["views"], true);
    assert_eq!(
        summary["extensions"],
        serde_json::json!(["apiKeyAuthentication", "formPost"])
    );
    drop(s.server);
}

#[test]
fn py_opensonic_with_get() {
    let s = setup();
    check_summary(&run_client("opensonic_client.py", &s.spec, &["--get"]));
    // And with plain method names and the OpenSubsonic API key.
    let summary = run_client(
        "opensonic_client.py",
        &s.spec,
        &["--get", "--no-views", "--api-key"],
    );
    check_summary(&summary);
    assert_eq!(summary["api_key"], true);
}

#[test]
fn knuckles() {
    let s = setup();
    check_summary(&run_client("knuckles_client.py", &s.spec, &[]));
}
