//! Bad input: each gives one clear line naming what and where, a non-zero
//! exit code of the right kind, and leaves the library unchanged.

mod common;

use common::{Run, World};

/// `bae status --json` and every listing: what must not change.
fn snapshot(w: &World, device: &str) -> serde_json::Value {
    let mut status: serde_json::Value =
        serde_json::from_str(&w.ok(device, &["status", "--json"])).unwrap();
    status["last_sync"] = serde_json::Value::Null;
    serde_json::json!({"listing": w.listing(device), "status": status})
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn bad_input_is_one_line_and_changes_nothing() {
    let w = World::new();
    let music = w.demo();
    let bucket = format!("file://{}", w.path("bucket").display());
    w.ok("a", &["init", "--bucket", &bucket]);
    let first_album = music.join("The Sine Waves");
    w.ok("a", &["import", first_album.to_str().unwrap()]);
    w.ok("a", &["sync"]);
    let before = snapshot(&w, "a");

    // A corrupt audio file.
    let corrupt = w.path("corrupt.flac");
    std::fs::write(&corrupt, b"this is not a FLAC file at all").unwrap();
    let run = w.fails("a", &["import", corrupt.to_str().unwrap()]);
    assert_eq!(run.code, 4, "{run:?}");
    let line = run.error_line();
    assert!(
        line.contains(corrupt.to_str().unwrap()) && line.contains("FLAC"),
        "{line}"
    );
    // A truncated one, named .mp3.
    let truncated = w.path("truncated.mp3");
    let flac = std::fs::read(
        common::files_under(&music.join("Square Root"))
            .into_iter()
            .find(|p| p.extension().is_some_and(|e| e == "flac"))
            .unwrap(),
    )
    .unwrap();
    std::fs::write(&truncated, &flac[..20]).unwrap();
    let run = w.fails("a", &["import", truncated.to_str().unwrap()]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.error_line().contains(truncated.to_str().unwrap()),
        "{run:?}"
    );
    assert_eq!(snapshot(&w, "a"), before);

    // An unreadable directory (as root, without the capabilities that
    // bypass file permissions).
    let locked = w.path("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::copy(
        music.join("Square Root/2022 - Pulse Width/01 - Twelve Point Five.flac"),
        locked.join("a.flac"),
    )
    .unwrap();
    set_mode(&locked, 0o000);
    let lib = w.path("a");
    let args = [
        "--library",
        lib.to_str().unwrap(),
        "import",
        locked.to_str().unwrap(),
    ];
    let run: Run = if is_root() {
        w.run_with(
            &[
                "setpriv",
                "--bounding-set",
                "-dac_override,-dac_read_search",
                "--",
            ],
            &args,
        )
    } else {
        w.run(&args)
    };
    set_mode(&locked, 0o755);
    assert_eq!(run.code, 4, "{run:?}");
    let line = run.error_line();
    assert!(
        line.contains(locked.to_str().unwrap()) && line.contains("permission denied"),
        "{line}"
    );
    // A path that does not exist.
    let run = w.fails("a", &["import", w.path("no-such-dir").to_str().unwrap()]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.error_line().contains("no-such-dir"), "{run:?}");
    assert_eq!(snapshot(&w, "a"), before);

    // A wrong key on join: nothing is created.
    let wrong = w.path("wrong.key");
    std::fs::write(&wrong, format!("{}\n", "ab".repeat(32))).unwrap();
    let run = w.fails(
        "b",
        &[
            "join",
            "--bucket",
            &bucket,
            "--key-file",
            wrong.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 4, "{run:?}");
    let line = run.error_line();
    assert!(
        line.contains("does not open") && line.contains(wrong.to_str().unwrap()),
        "{line}"
    );
    assert!(!w.path("b").exists());
    // A key file that is no key.
    std::fs::write(&wrong, "hello").unwrap();
    let run = w.fails(
        "b",
        &[
            "join",
            "--bucket",
            &bucket,
            "--key-file",
            wrong.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.error_line().contains("64 hex digits"), "{run:?}");
    assert!(!w.path("b").exists());

    // Bucket URLs with typos: usage errors naming the URL.
    let key_file = w.path("library.key");
    w.ok(
        "a",
        &["key", "export", "--output", key_file.to_str().unwrap()],
    );
    for (typo, says) in [
        ("s4://bae-bucket", "unknown scheme 's4'"),
        ("s3//bae-bucket", "no scheme"),
        (
            "s3://bae-bucket?regoin=eu-west-1",
            "unknown parameter 'regoin'",
        ),
        ("bucket", "no scheme"),
    ] {
        let run = w.fails(
            "b",
            &[
                "join",
                "--bucket",
                typo,
                "--key-file",
                key_file.to_str().unwrap(),
            ],
        );
        assert_eq!(run.code, 2, "{typo}: {run:?}");
        let line = run.error_line();
        assert!(line.contains(says), "{typo}: {line}");
        assert!(!w.path("b").exists());
        let run = w.fails("c", &["init", "--bucket", typo]);
        assert_eq!(run.code, 2, "{typo}: {run:?}");
        assert!(!w.path("c").exists());
    }
    // A local bucket directory that is not there.
    let missing = format!("file://{}", w.path("no-bucket-here").display());
    let run = w.fails(
        "b",
        &[
            "join",
            "--bucket",
            &missing,
            "--key-file",
            key_file.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.error_line().contains("no-bucket-here"), "{run:?}");
    assert!(!w.path("b").exists());

    // An unreachable bucket: nothing listens on that port.
    let unreachable =
        "s3://bae-bucket?endpoint=http://127.0.0.1:9&region=us-east-1&path_style=true";
    let creds = ["--access-key-id", "k", "--secret-access-key", "s"];
    let mut args = vec!["init", "--bucket", unreachable];
    args.extend_from_slice(&creds);
    let run = w.fails("c", &args);
    assert_eq!(run.code, 3, "{run:?}");
    let line = run.error_line();
    assert!(
        line.contains("cannot reach bucket") && line.contains("127.0.0.1:9"),
        "{line}"
    );
    assert!(!w.path("c").exists());

    // A device whose bucket went away: sync fails, local changes wait.
    let albums = w.ls("a", "albums");
    let id = albums[0]["id"].as_str().unwrap().to_owned();
    w.ok("a", &["edit", &id, "year=2001"]);
    let edited = snapshot(&w, "a");
    std::fs::rename(w.path("bucket"), w.path("bucket-away")).unwrap();
    let run = w.fails("a", &["sync"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.error_line().contains("bucket"), "{run:?}");
    let mut after = snapshot(&w, "a");
    assert!(after["status"]["last_sync_error"].take().is_string());
    let mut expected = edited.clone();
    expected["status"]["last_sync_error"] = serde_json::Value::Null;
    assert_eq!(after, expected);
    assert_eq!(after["status"]["pending_batches"], 1);
    std::fs::rename(w.path("bucket-away"), w.path("bucket")).unwrap();
    w.ok("a", &["sync"]);

    // Usage errors of the commands themselves.
    let run = w.fails("a", &["edit", &id, "colour=blue"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.error_line().contains("no field 'colour'"), "{run:?}");
    let run = w.fails("a", &["edit", &id, "year=soon"]);
    assert_eq!(run.code, 2, "{run:?}");
    let run = w.fails("a", &["rm", "ffffffff-0000-0000-0000-000000000000"]);
    assert_eq!(run.code, 4, "{run:?}");
    let run = w.fails("nowhere", &["ls"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.error_line().contains("no bae library"), "{run:?}");
    let run = w.run(&["frobnicate"]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn every_command_has_help_with_an_example() {
    let w = World::new();
    for cmd in [
        &["init"][..],
        &["join"],
        &["import"],
        &["ls"],
        &["show"],
        &["edit"],
        &["rm"],
        &["sync"],
        &["status"],
        &["compact"],
        &["key", "export"],
        &["demo"],
        &[],
    ] {
        let mut args: Vec<&str> = cmd.to_vec();
        args.push("--help");
        let run = w.run(&args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert!(run.stdout.contains("Example"), "{args:?}:\n{}", run.stdout);
        assert!(
            run.stdout.contains("Exit codes"),
            "{args:?}:\n{}",
            run.stdout
        );
    }
}

fn set_mode(path: &std::path::Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}
