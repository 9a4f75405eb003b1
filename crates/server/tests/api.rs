//! The Subsonic API against a library booted from a local-directory bucket:
//! every method, both encodings, GET and POST, every auth mechanism, and
//! bad input answered with error envelopes (never a 500).

mod common;

use common::*;
use md5::{Digest as _, Md5};
use serde_json::Value;

fn names(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| v[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn browse_search_and_fetch() {
    let lib = Library::build(true).await;
    let server = serve(&lib, "cache").await;
    let addr = server.addr;

    let ping = api(addr, "ping", "").await;
    assert_eq!(ping["status"], "ok");
    assert_eq!(ping["version"], "1.16.1");
    assert_eq!(ping["openSubsonic"], true);
    assert_eq!(ping["type"], "bae-server");
    assert_eq!(api(addr, "getLicense", "").await["license"]["valid"], true);
    let ext = api(addr, "getOpenSubsonicExtensions", "").await;
    assert_eq!(
        names(&ext["openSubsonicExtensions"], "name"),
        ["apiKeyAuthentication", "formPost"]
    );
    let folders = api(addr, "getMusicFolders", "").await;
    assert_eq!(folders["musicFolders"]["musicFolder"][0]["id"], 1);

    // Artists, indexed by letter with "The" ignored.
    let artists = api(addr, "getArtists", "").await;
    assert_eq!(
        artists["artists"]["ignoredArticles"],
        "The El La Los Las Le Les"
    );
    let index = &artists["artists"]["index"];
    assert_eq!(names(index, "name"), ["B", "J", "K", "M"]);
    assert_eq!(index[0]["artist"][0]["name"], "The Beatles");
    assert_eq!(index[0]["artist"][0]["albumCount"], 1);
    let indexes = api(addr, "getIndexes", "").await;
    assert_eq!(
        names(&indexes["indexes"]["index"], "name"),
        ["B", "J", "K", "M"]
    );
    assert!(indexes["indexes"]["lastModified"].as_i64().unwrap() > 1_600_000_000_000);

    // An artist, an album, a song.
    let (spec, blue) = lib.album("Blue Train");
    let artist = api(addr, "getArtist", &format!("id={}", blue.artist_id)).await;
    assert_eq!(artist["artist"]["name"], "John Coltrane");
    assert_eq!(names(&artist["artist"]["album"], "name"), ["Blue Train"]);
    let album = api(addr, "getAlbum", &format!("id={}", blue.album_id)).await["album"].clone();
    assert_eq!(album["name"], "Blue Train");
    assert_eq!(album["artist"], "John Coltrane");
    assert_eq!(album["artistId"], blue.artist_id.as_str());
    assert_eq!(album["year"], 1957);
    assert_eq!(album["songCount"], 3);
    assert_eq!(album["duration"], 12, "4000 + 4001 + 4002 ms");
    assert_eq!(album["coverArt"], blue.cover_id.as_deref().unwrap());
    assert_eq!(
        names(&album["song"], "title"),
        [
            "Blue Train part 1",
            "Blue Train part 2",
            "Blue Train part 3"
        ]
    );
    let song = &album["song"][0];
    assert_eq!(song["id"], blue.track_ids[0].as_str());
    assert_eq!(song["parent"], blue.album_id.as_str());
    assert_eq!(song["isDir"], false);
    assert_eq!(song["track"], 1);
    assert_eq!(song["discNumber"], 1);
    assert_eq!(song["size"], 200_000);
    assert_eq!(song["contentType"], "audio/flac");
    assert_eq!(song["suffix"], "flac");
    assert_eq!(song["samplingRate"], 44100);
    assert_eq!(
        song["path"],
        "John Coltrane/Blue Train/01 - Blue Train part 1.flac"
    );
    assert_eq!(song["artists"][0]["name"], "John Coltrane");
    let one = api(addr, "getSong", &format!("id={}", blue.track_ids[1])).await;
    assert_eq!(one["song"]["title"], "Blue Train part 2");
    assert_eq!(one["song"]["album"], "Blue Train");

    // Album lists: types, size and offset.
    let list = |q: String| async move {
        let r = api(addr, "getAlbumList2", &q).await;
        names(&r["albumList2"]["album"], "name")
    };
    assert_eq!(
        list("type=alphabeticalByName&size=10".into()).await,
        [
            "Abbey Road",
            "Blue Train",
            "Kind of Blue",
            "The Köln Concert"
        ]
    );
    assert_eq!(
        list("type=alphabeticalByName&size=2&offset=1".into()).await,
        ["Blue Train", "Kind of Blue"]
    );
    assert_eq!(
        list("type=alphabeticalByArtist".into()).await,
        [
            "Abbey Road",
            "Blue Train",
            "The Köln Concert",
            "Kind of Blue"
        ],
        "by sort name: Beatles (The), John, Keith, Miles"
    );
    assert_eq!(
        list("type=newest&size=1".into()).await,
        ["The Köln Concert"]
    );
    assert_eq!(
        list("type=byYear&fromYear=1960&toYear=1950".into()).await,
        ["Kind of Blue", "Blue Train"],
        "a reversed year range lists newest first"
    );
    assert_eq!(list("type=random&size=500".into()).await.len(), 4);
    assert!(list("type=starred".into()).await.is_empty());
    assert!(list("type=byGenre&genre=Jazz".into()).await.is_empty());

    let random = api(addr, "getRandomSongs", "size=3").await;
    assert_eq!(random["randomSongs"]["song"].as_array().unwrap().len(), 3);
    let all = api(addr, "getRandomSongs", "size=100&fromYear=1958&toYear=1960").await;
    assert_eq!(
        names(&all["randomSongs"]["song"], "album")
            .iter()
            .filter(|a| *a != "Kind of Blue")
            .count(),
        0
    );

    // Search: case-insensitive, every term, across names.
    let found = api(addr, "search3", "query=blue").await["searchResult3"].clone();
    assert!(found["artist"].as_array().unwrap().is_empty());
    assert_eq!(
        names(&found["album"], "name"),
        ["Blue Train", "Kind of Blue"]
    );
    assert_eq!(found["song"].as_array().unwrap().len(), 5);
    let found = api(addr, "search3", "query=coltrane%20part%202").await["searchResult3"].clone();
    assert_eq!(names(&found["song"], "title"), ["Blue Train part 2"]);
    let found = api(addr, "search3", "query=k%C3%B6ln&songCount=0").await["searchResult3"].clone();
    assert_eq!(names(&found["album"], "name"), ["The Köln Concert"]);
    assert!(found["song"].as_array().unwrap().is_empty());
    let everything =
        api(addr, "search3", "query=%22%22&artistCount=100").await["searchResult3"].clone();
    assert_eq!(everything["artist"].as_array().unwrap().len(), 4);
    let paged =
        api(addr, "search3", "query=&songCount=2&songOffset=6").await["searchResult3"].clone();
    assert_eq!(paged["song"].as_array().unwrap().len(), 1, "7 songs in all");

    // Cover art, by cover id, album id or song id.
    let cover = spec.cover.as_ref().unwrap();
    for id in [
        blue.cover_id.clone().unwrap(),
        blue.album_id.clone(),
        blue.track_ids[2].clone(),
    ] {
        let r = get(
            addr,
            &format!("/rest/getCoverArt?{}&id={id}&size=300", auth()),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("image/png"));
        assert_eq!(&r.body, cover, "cover by {id}");
    }

    // Streaming: whole, ranged across chunk boundaries, download.
    let (_, koln) = lib.album("The Köln Concert");
    let original = &lib.album("The Köln Concert").0.tracks[0].audio;
    let url = format!("/rest/stream?{}&id={}", auth(), koln.track_ids[0]);
    let whole = get(addr, &url).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(whole.header("content-length"), Some("1300000"));
    assert_eq!(&whole.body, original);
    for (range, want) in [
        ("bytes=0-0", 0..1),
        ("bytes=65530-65545", 65530..65546),
        ("bytes=1000000-", 1_000_000..1_300_000),
        ("bytes=-100", 1_299_900..1_300_000),
        ("bytes=100-2000000", 100..1_300_000),
    ] {
        let r = request(addr, "GET", &url, &[("range", range)], None).await;
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {}-{}/1300000", want.start, want.end - 1).as_str())
        );
        assert_eq!(r.body, original[want.clone()], "{range}");
    }
    let r = request(addr, "GET", &url, &[("range", "bytes=1300000-")], None).await;
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */1300000"));
    let head = request(addr, "HEAD", &url, &[], None).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("1300000"));
    assert!(head.body.is_empty());
    let tiny = &lib.album("Kind of Blue");
    let r = get(
        addr,
        &format!("/rest/download?{}&id={}", auth(), tiny.1.track_ids[1]),
    )
    .await;
    assert_eq!(r.body, tiny.0.tracks[1].audio);
    assert_eq!(
        r.header("content-disposition"),
        Some(
            "attachment; filename=\"02 - Kind of Blue part 2.flac\"; filename*=UTF-8''02%20-%20Kind%20of%20Blue%20part%202.flac"
        )
    );

    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn xml_view_post_and_every_auth() {
    let lib = Library::build(false).await;
    let server = serve(&lib, "cache").await;
    let addr = server.addr;

    // XML is the default; `.view` and plain names are the same method.
    for path in ["/rest/ping", "/rest/ping.view"] {
        let r = get(addr, &format!("{path}?{}", auth())).await;
        assert_eq!(r.status, 200);
        assert!(r.header("content-type").unwrap().starts_with("text/xml"));
        let xml = r.text();
        assert!(xml.starts_with("<?xml"), "{xml}");
        assert!(xml.contains(r#"<subsonic-response xmlns="http://subsonic.org/restapi" status="ok" version="1.16.1""#), "{xml}");
    }
    let (_, blue) = lib.album("Blue Train");
    let xml = get(
        addr,
        &format!("/rest/getAlbum.view?{}&id={}", auth(), blue.album_id),
    )
    .await
    .text();
    assert!(
        xml.contains(r#"<album id=""#) && xml.contains(r#"name="Blue Train""#),
        "{xml}"
    );
    assert_eq!(xml.matches("<song ").count(), 3, "{xml}");

    // A POST form body, as py-opensonic sends.
    let body = format!("{}&f=json&id={}", auth(), blue.album_id);
    let r = request(
        addr,
        "POST",
        "/rest/getAlbum.view",
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(&body),
    )
    .await;
    assert_eq!(r.subsonic()["album"]["name"], "Blue Train");
    // JSONP.
    let r = get(addr, &format!("/rest/ping?{}&f=jsonp&callback=cb", auth())).await;
    assert!(
        r.text().starts_with("cb({\"subsonic-response\""),
        "{}",
        r.text()
    );

    // Every way of logging in, and the ways of failing.
    let salt = "c0ffee";
    let token = hex::encode(Md5::digest(format!("{PASSWORD}{salt}").as_bytes()));
    let enc = hex::encode(PASSWORD);
    let status = |query: String| async move {
        let r = get(addr, &format!("/rest/ping?v=1.16.1&c=t&f=json&{query}")).await;
        let s = r.subsonic();
        (
            s["status"].as_str().unwrap().to_owned(),
            s["error"]["code"].as_i64(),
        )
    };
    let ok = ("ok".to_owned(), None);
    assert_eq!(status(format!("u={USER}&t={token}&s={salt}")).await, ok);
    assert_eq!(status(format!("u={USER}&p=enc:{enc}")).await, ok);
    assert_eq!(status(format!("u={USER}&p=open%20sesame")).await, ok);
    assert_eq!(status(format!("apiKey={API_KEY}")).await, ok);
    let failed = |code| ("failed".to_owned(), Some(code));
    assert_eq!(
        status(format!("u={USER}&t={token}&s=other")).await,
        failed(40)
    );
    assert_eq!(
        status(format!("u=bob&t={token}&s={salt}")).await,
        failed(40)
    );
    assert_eq!(status(format!("u={USER}&p=wrong")).await, failed(40));
    assert_eq!(status(format!("u={USER}&p=enc:zz")).await, failed(40));
    assert_eq!(status(format!("u={USER}")).await, failed(10));
    assert_eq!(status("p=x".to_owned()).await, failed(10));
    assert_eq!(status(format!("u={USER}&t={token}")).await, failed(10));
    assert_eq!(status("apiKey=nope".to_owned()).await, failed(44));
    assert_eq!(
        status(format!("apiKey={API_KEY}&u={USER}")).await,
        failed(43)
    );
    // Wrong credentials never reach the library, in XML too.
    let r = get(
        addr,
        &format!("/rest/getAlbum?u={USER}&p=x&id={}", blue.album_id),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains(r#"<error code="40""#), "{}", r.text());
    server.shutdown().await.unwrap();
}

/// Malformed and missing parameters: always HTTP 200 with an error envelope
/// carrying the standard code.
#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_error_envelopes() {
    let lib = Library::build(false).await;
    let server = serve(&lib, "cache").await;
    let addr = server.addr;
    let (_, blue) = lib.album("Blue Train");
    let cases: Vec<(String, i64)> = vec![
        ("getAlbum".into(), 10),
        ("getAlbum&id=".into(), 10),
        ("getAlbum&id=nope".into(), 70),
        ("getArtist".into(), 10),
        ("getArtist&id=nope".into(), 70),
        ("getSong&id=nope".into(), 70),
        ("getSong".into(), 10),
        ("getAlbumList2".into(), 10),
        ("getAlbumList2&type=bogus".into(), 0),
        ("getAlbumList2&type=newest&size=ten".into(), 0),
        ("getAlbumList2&type=newest&size=-1".into(), 0),
        ("getAlbumList2&type=newest&offset=1e3".into(), 0),
        ("getAlbumList2&type=byYear&fromYear=1950".into(), 10),
        ("getAlbumList2&type=byYear&fromYear=x&toYear=1".into(), 0),
        ("getAlbumList2&type=byGenre".into(), 10),
        ("getAlbumList2&type=newest&musicFolderId=7".into(), 70),
        ("getAlbumList2&type=newest&musicFolderId=x".into(), 0),
        ("getRandomSongs&size=%F0%9F%8E%B5".into(), 0),
        ("search3&query=a&songCount=many".into(), 0),
        ("getCoverArt".into(), 10),
        ("getCoverArt&id=nope".into(), 70),
        ("getCoverArt&id=x&size=big".into(), 0),
        ("stream".into(), 10),
        ("stream&id=nope".into(), 70),
        (
            format!("stream&id={}&maxBitRate=fast", blue.track_ids[0]),
            0,
        ),
        ("download&id=nope".into(), 70),
        ("createPlaylist&name=x".into(), 0),
        ("noSuchMethod".into(), 0),
    ];
    for (query, code) in cases {
        let (method, rest) = query.split_once('&').unwrap_or((&query, ""));
        for format in ["json", "xml"] {
            let r = get(
                addr,
                &format!("/rest/{method}?{}&f={format}&{rest}", auth()),
            )
            .await;
            assert_eq!(r.status, 200, "{query}: {}", r.text());
            if format == "json" {
                let s = r.subsonic();
                assert_eq!(s["status"], "failed", "{query}: {s}");
                assert_eq!(s["error"]["code"], code, "{query}: {s}");
                assert!(!s["error"]["message"].as_str().unwrap().is_empty());
            } else {
                assert!(
                    r.text().contains(&format!("<error code=\"{code}\"")),
                    "{query}: {}",
                    r.text()
                );
            }
        }
    }
    // A song whose audio is not in the bucket: 70, not a broken stream.
    let album = api(addr, "getAlbum", &format!("id={}", blue.album_id)).await;
    assert_eq!(album["status"], "ok");
    let file = &blue.file_ids[0];
    std::fs::remove_file(
        lib.bucket_dir
            .join(bae_sync::layout::storage(file).as_str()),
    )
    .unwrap();
    let r = get(
        addr,
        &format!("/rest/stream?{}&f=json&id={}", auth(), blue.track_ids[0]),
    )
    .await;
    let s = r.subsonic();
    assert_eq!(s["error"]["code"], 70, "{s}");
    assert!(
        s["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not in the bucket"),
        "{s}"
    );

    // Outside the API: 404, and a bad body is still not a 500.
    assert_eq!(get(addr, "/nope").await.status, 404);
    let r = request(
        addr,
        "POST",
        "/rest/ping",
        &[("content-type", "application/x-www-form-urlencoded")],
        Some("%%%&u&&=&f=json"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.subsonic()["error"]["code"], 10);
    server.shutdown().await.unwrap();
}
