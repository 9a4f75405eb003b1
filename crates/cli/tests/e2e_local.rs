//! The two-device flow through a local-directory bucket, every command a
//! separate `bae` process.

mod common;

use bae_bucket::LocalDirBucket;
use bae_crypto::LibraryKey;
use common::{World, files_under, two_device_flow};
use std::sync::Arc;

#[tokio::test]
async fn two_devices_through_a_local_directory() {
    let w = World::new();
    let bucket_dir = w.path("bucket");
    let url = format!("file://{}", bucket_dir.display());
    let key = two_device_flow(&w, &url, &[]);
    assert_private(&w.path("a").join("library.key"));
    assert_private(&w.path("library.key"));

    // The bucket holds every audio file encrypted under storage/, and each
    // decrypts to the original bytes with the exported key (what bae-server
    // streams).
    let stored = files_under(&bucket_dir.join("storage"));
    assert_eq!(stored.len(), 40);
    let bytes = hex_key(&key);
    let storage = bae_media::FileStorage::new(
        Arc::new(LocalDirBucket::open(&bucket_dir).unwrap()),
        LibraryKey::from_bytes(bytes),
    );
    let tracks = w.ls("a", "tracks");
    let track = tracks[0]["id"].as_str().unwrap();
    let shown: serde_json::Value =
        serde_json::from_str(&w.ok("a", &["show", track, "--json"])).unwrap();
    let file = &shown["audio_formats"][0]["file"];
    let plain = storage
        .download(file["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        plain,
        std::fs::read(file["source_path"].as_str().unwrap()).unwrap()
    );
    for object in &stored {
        let body = std::fs::read(object).unwrap();
        assert!(
            !body.windows(4).any(|w| w == b"fLaC"),
            "{} is not plaintext",
            object.display()
        );
    }

    // Compacting writes a checkpoint; a third device boots from it, given
    // the key on standard input as `bae key export | bae join --key-stdin`.
    let out = w.ok("a", &["compact"]);
    assert!(out.contains("wrote checkpoint"), "{out}");
    let exported = w.ok("a", &["key", "export"]);
    assert_eq!(exported.trim(), key.trim());
    w.ok_with_stdin("c", &["join", "--bucket", &url, "--key-stdin"], &exported);
    assert_eq!(w.listing("c"), w.listing("a"));
    // With no keyring the key lives in a file only its owner can read.
    assert_private(&w.path("c").join("library.key"));
}

fn assert_private(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", path.display());
}

fn hex_key(text: &str) -> [u8; 32] {
    let t = text.trim();
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}
