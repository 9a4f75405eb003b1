//! Runs the real `bae` binary as separate processes, one per command, the
//! way a person or a script would.

#![allow(dead_code)] // Each test file uses its own part of this.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A working directory for one test: devices, music and local buckets.
pub struct World {
    pub tmp: tempfile::TempDir,
}

/// The outcome of one `bae` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The single `bae: error: …` line of a failed run.
    pub fn error_line(&self) -> &str {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "one line on stderr expected, got:\n{}",
            self.stderr
        );
        assert!(lines[0].starts_with("bae: error: "), "{}", lines[0]);
        lines[0]
    }
}

pub fn bae_command(prefix: &[&str]) -> Command {
    let bin = env!("CARGO_BIN_EXE_bae");
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.env("BAE_NO_KEYRING", "1")
        .env_remove("BAE_LIBRARY")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(std::process::Stdio::null());
    cmd
}

impl World {
    pub fn new() -> World {
        World {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Runs `bae ARGS` in the world's directory.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(&[], args)
    }

    /// Runs `PREFIX… bae ARGS` (e.g. a privilege-dropping wrapper).
    pub fn run_with(&self, prefix: &[&str], args: &[&str]) -> Run {
        let out = bae_command(prefix)
            .args(args)
            .current_dir(self.tmp.path())
            .output()
            .expect("bae runs");
        Run::from(out)
    }

    /// Runs `bae --library DEVICE ARGS`, which must succeed; returns stdout.
    pub fn ok(&self, device: &str, args: &[&str]) -> String {
        let lib = self.path(device);
        let mut all = vec!["--library", lib.to_str().unwrap()];
        all.extend_from_slice(args);
        let run = self.run(&all);
        assert_eq!(
            run.code, 0,
            "bae {all:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            run.code, run.stdout, run.stderr
        );
        run.stdout
    }

    /// Runs `bae --library DEVICE ARGS` with `input` on standard input,
    /// which must succeed; returns stdout.
    pub fn ok_with_stdin(&self, device: &str, args: &[&str], input: &str) -> String {
        use std::io::Write as _;
        let lib = self.path(device);
        let mut child = bae_command(&[])
            .arg("--library")
            .arg(&lib)
            .args(args)
            .current_dir(self.tmp.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("bae runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let run = Run::from(child.wait_with_output().unwrap());
        assert_eq!(
            run.code, 0,
            "bae {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            run.code, run.stdout, run.stderr
        );
        run.stdout
    }

    /// Runs `bae --library DEVICE ARGS`, which must fail; returns the run.
    pub fn fails(&self, device: &str, args: &[&str]) -> Run {
        let lib = self.path(device);
        let mut all = vec!["--library", lib.to_str().unwrap()];
        all.extend_from_slice(args);
        let run = self.run(&all);
        assert_ne!(run.code, 0, "bae {all:?} succeeded:\n{}", run.stdout);
        run
    }

    /// `bae ls WHAT --json` on a device.
    pub fn ls(&self, device: &str, what: &str) -> Value {
        serde_json::from_str(&self.ok(device, &["ls", what, "--json"])).unwrap()
    }

    /// Everything a device lists, for comparing devices.
    pub fn listing(&self, device: &str) -> Value {
        serde_json::json!({
            "artists": self.ls(device, "artists"),
            "albums": self.ls(device, "albums"),
            "tracks": self.ls(device, "tracks"),
        })
    }

    /// A small demo library (short tracks, so tests are quick).
    pub fn demo(&self) -> PathBuf {
        let dir = self.path("music");
        let run = self.run(&[
            "demo",
            dir.to_str().unwrap(),
            "--seconds",
            "1",
            "--sample-rate",
            "22050",
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        dir
    }
}

/// The album with this title in a listing.
pub fn album<'a>(albums: &'a Value, title: &str) -> &'a Value {
    albums
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == title)
        .unwrap_or_else(|| panic!("no album {title:?} in {albums:#}"))
}

/// Files under a directory, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The whole two-device flow against one bucket URL: demo, init and import
/// on A, sync, join on B, equal listings, a conflicting edit on both that
/// converges, and a removal on A that reaches B. `extra` is passed to init
/// and join (S3 credentials). Returns the exported key.
pub fn two_device_flow(w: &World, bucket: &str, extra: &[&str]) -> String {
    let music = w.demo();
    let mut init = vec!["init", "--bucket", bucket, "--store-files"];
    init.extend_from_slice(extra);
    let out = w.ok("a", &init);
    assert!(out.contains("created a library"), "{out}");
    let out = w.ok("a", &["import", music.to_str().unwrap()]);
    assert!(out.contains("imported 5 albums, 40 tracks"), "{out}");
    assert!(out.contains("uploaded 40 files"), "{out}");
    let out = w.ok("a", &["sync"]);
    assert!(out.contains("pushed 5 batches, 5 images"), "{out}");

    let key_file = w.path("library.key");
    w.ok(
        "a",
        &["key", "export", "--output", key_file.to_str().unwrap()],
    );
    let mut join = vec![
        "join",
        "--bucket",
        bucket,
        "--key-file",
        key_file.to_str().unwrap(),
    ];
    join.extend_from_slice(extra);
    let out = w.ok("b", &join);
    assert!(out.contains("5 albums, 40 tracks"), "{out}");

    let listing_a = w.listing("a");
    assert_eq!(listing_a["artists"].as_array().unwrap().len(), 3);
    assert_eq!(listing_a["albums"].as_array().unwrap().len(), 5);
    assert_eq!(listing_a["tracks"].as_array().unwrap().len(), 40);
    assert_eq!(listing_a, w.listing("b"), "B lists what A lists");

    // A conflicting edit: B then A change the same album's title (A's is
    // later and wins everywhere); B also changes its year, which survives.
    let albums = w.ls("a", "albums");
    let overtones = album(&albums, "Overtones")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.ok(
        "b",
        &["edit", &overtones, "title=Overtones (B)", "year=1999"],
    );
    std::thread::sleep(std::time::Duration::from_millis(5));
    w.ok("a", &["edit", &overtones, "title=Overtones (A)"]);
    w.ok("b", &["sync"]);
    w.ok("a", &["sync"]);
    w.ok("b", &["sync"]);
    let listing_a = w.listing("a");
    assert_eq!(listing_a, w.listing("b"), "both converge");
    let merged = album(&listing_a["albums"], "Overtones (A)");
    assert_eq!(merged["year"], 1999, "{merged}");

    // B sees A in its status, with everything applied.
    let status: Value = serde_json::from_str(&w.ok("b", &["status", "--json"])).unwrap();
    assert_eq!(status["pending_batches"], 0, "{status:#}");
    let devices = status["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{status:#}");
    assert_eq!(
        devices[0]["applied_seq"], devices[0]["pushed_seq"],
        "{status:#}"
    );

    // A removes an album; B loses it and its tracks.
    let plucked = album(&listing_a["albums"], "Plucked")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = w.ok("a", &["rm", &plucked]);
    assert!(out.contains("9 tracks"), "{out}");
    w.ok("a", &["sync"]);
    w.ok("b", &["sync"]);
    let listing_b = w.listing("b");
    assert_eq!(listing_b["albums"].as_array().unwrap().len(), 4);
    assert_eq!(listing_b["tracks"].as_array().unwrap().len(), 31);
    assert!(
        listing_b["tracks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["album_id"] != plucked.as_str()),
        "no track of the removed album is left"
    );
    let gone = w.fails("b", &["show", &plucked]);
    assert_eq!(gone.code, 4, "{}", gone.stderr);
    assert_eq!(listing_b, w.listing("a"));
    std::fs::read_to_string(key_file).unwrap()
}
