//! `bae-server --demo DIR`: builds the demo library of `bae demo` into a
//! local-directory bucket, boots from it, prints the URL and the login; run
//! again, it serves the same library with the same login from its cache.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn files_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_named(&path, name));
        } else if path.file_name().is_some_and(|n| n == name) {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_builds_boots_and_prints_the_login() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("demo");
    let args: Vec<String> = [
        "--demo",
        dir.to_str().unwrap(),
        "--demo-seconds",
        "1",
        "--listen",
        "127.0.0.1:0",
    ]
    .map(str::to_owned)
    .to_vec();
    let start = move |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            spawn_server(&args, &[]).unwrap()
        })
    };
    let server = start(args.clone()).await.unwrap();
    let user = server.stdout_line("username").unwrap();
    let password = server.stdout_line("password").unwrap();
    assert_eq!(user, "bae");
    assert!(password.len() >= 12, "{password}");
    let auth = format!("u={user}&p={password}&f=json");
    let addr = server.addr;

    // Wrong credentials are refused: the demo is not open.
    let r = get(addr, "/rest/ping?u=bae&p=nope&f=json").await;
    assert_eq!(r.subsonic()["error"]["code"], 40);

    let list = get(
        addr,
        &format!("/rest/getAlbumList2?{auth}&type=alphabeticalByName"),
    )
    .await;
    let albums = list.subsonic()["albumList2"]["album"].clone();
    assert_eq!(albums.as_array().unwrap().len(), 5, "{albums}");
    let artists = get(addr, &format!("/rest/getArtists?{auth}"))
        .await
        .subsonic();
    let count: usize = artists["artists"]["index"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["artist"].as_array().unwrap().len())
        .sum();
    assert_eq!(count, 3);

    // A track streams as the very file the demo generated.
    let album_id = albums[0]["id"].as_str().unwrap();
    let album = get(addr, &format!("/rest/getAlbum?{auth}&id={album_id}"))
        .await
        .subsonic();
    let song = &album["album"]["song"][0];
    let filename = song["path"].as_str().unwrap().rsplit('/').next().unwrap();
    let originals = files_named(&dir.join("music"), filename);
    assert_eq!(originals.len(), 1, "{filename}");
    let streamed = get(
        addr,
        &format!("/rest/stream?{auth}&id={}", song["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(streamed.body, std::fs::read(&originals[0]).unwrap());
    let cover = get(addr, &format!("/rest/getCoverArt?{auth}&id={album_id}")).await;
    assert_eq!(cover.header("content-type"), Some("image/png"));
    assert!(cover.body.starts_with(b"\x89PNG"));
    drop(server);

    // Again on the same directory: nothing rebuilt, same login, from cache.
    let server = start(args).await.unwrap();
    assert!(
        server
            .stdout_line("bae-server: demo:")
            .unwrap()
            .contains("built earlier")
    );
    assert_eq!(server.stdout_line("password").unwrap(), password);
    let r = get(
        server.addr,
        &format!("/rest/getAlbumList2?{auth}&type=newest&size=50"),
    )
    .await;
    assert_eq!(
        r.subsonic()["albumList2"]["album"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let health = get(server.addr, "/health").await.json();
    assert_eq!(health["status"], "ok", "{health}");
}
