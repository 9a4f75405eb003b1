//! Opens a library and dies in the middle of a write transaction, the way a
//! power cut or a killed process would: `crash_writer DIR MODE`.
//!
//! MODE `abort-mid-transaction` writes an album and aborts before commit;
//! `commit-then-abort` commits one album and then aborts. Used by
//! `tests/crash.rs`.

use std::path::Path;

use bae_library::{AlbumImport, LibraryManager, LibraryOptions, NewAlbum, NewTrack};

fn import(title: &str) -> AlbumImport {
    AlbumImport {
        album: NewAlbum {
            title: title.into(),
            ..Default::default()
        },
        tracks: (1..=5)
            .map(|n| NewTrack {
                title: format!("{title} {n}"),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, mode] = args.as_slice() else {
        eprintln!("usage: crash_writer DIR abort-mid-transaction|commit-then-abort");
        std::process::exit(2);
    };
    let mut lib =
        LibraryManager::open(Path::new(dir), LibraryOptions::default()).expect("open library");
    match mode.as_str() {
        "abort-mid-transaction" => {
            let _: Result<(), _> = lib.write(|w| {
                bae_store::writes::insert_album_with_release_and_tracks(w, &import("Lost"))?;
                // The data and its ops are written but not committed.
                std::process::abort();
            });
        }
        "commit-then-abort" => {
            lib.insert_album_with_release_and_tracks(&import("Kept"))
                .expect("write");
            std::process::abort();
        }
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    }
}
