"""Drives bae-server with knuckles, a third-party OpenSubsonic client (GET
query strings, no `.view`, token + salt authentication): list artists and
albums, open an album, search, fetch its cover, download a track, and
stream a byte range of it through the stream URL knuckles builds.

    python knuckles_client.py SPEC.json

SPEC.json is written by crates/server/tests/clients.rs. Prints a JSON
summary and exits 0 when every check holds; raises otherwise.
"""

import json
import sys
import tempfile
from pathlib import Path

import requests
from knuckles import Subsonic


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    spec = json.load(open(sys.argv[1]))
    sub = Subsonic(
        url=f"127.0.0.1:{spec['port']}",
        user=spec["username"],
        password=spec["password"],
        client="bae-server-test",
        use_https=False,
    )
    summary = {}
    check(sub.system.ping().status == "ok", "ping")
    check(sub.system.get_license().valid, "license")
    folders = sub.browsing.get_music_folders()
    check(len(folders) == 1, f"music folders {folders}")

    artists = sub.browsing.get_artists()
    names = sorted(a.name for a in artists)
    check(names == spec["artists"], f"artists {names} != {spec['artists']}")
    summary["artists"] = len(names)

    albums = sub.lists.get_album_list_alphabetical_by_name(num_of_albums=500)
    album_names = sorted(a.name for a in albums)
    check(album_names == spec["albums"], f"albums {album_names} != {spec['albums']}")
    summary["albums"] = len(album_names)

    want = spec["album"]
    artist = next(a for a in artists if a.name == want["artist"])
    full_artist = sub.browsing.get_artist(artist.id)
    entry = next(al for al in full_artist.albums if al.name == want["name"])
    album = sub.browsing.get_album(entry.id)
    titles = [s.title for s in album.songs]
    check(titles == want["songs"], f"songs {titles} != {want['songs']}")

    found = sub.searching.search(query=spec["search"]["query"])
    found_albums = sorted(a.name for a in (found.albums or []))
    check(
        found_albums == spec["search"]["albums"],
        f"search {found_albums} != {spec['search']['albums']}",
    )
    summary["search_songs"] = len(found.songs or [])

    with tempfile.TemporaryDirectory() as tmp:
        cover = sub.media_retrieval.get_cover_art(album.cover_art.id, Path(tmp) / "cover")
        with open(want["cover_file"], "rb") as f:
            check(cover.read_bytes() == f.read(), "cover bytes differ from the original")
        summary["cover_bytes"] = cover.stat().st_size

        with open(want["stream_file"], "rb") as f:
            original = f.read()
        song = next(s for s in album.songs if s.title == want["stream_title"])
        check(sub.browsing.get_song(song.id).size == len(original), "song size")
        downloaded = sub.media_retrieval.download(song.id, Path(tmp) / "song")
        check(downloaded.read_bytes() == original, "downloaded bytes differ from the original")
        streamed = sub.media_retrieval.download(song.id, Path(tmp) / "streamed", use_stream=True)
        check(streamed.read_bytes() == original, "streamed bytes differ from the original")
        summary["streamed_bytes"] = len(original)

    start, end = want["range"]
    url = sub.media_retrieval.stream(song.id)
    ranged = requests.get(url, headers={"Range": f"bytes={start}-{end}"}, timeout=30)
    check(ranged.status_code == 206, f"range status {ranged.status_code}")
    check(ranged.content == original[start : end + 1], "ranged bytes differ from the original")
    summary["range"] = [start, end]

    # A wrong password is the standard error, raised by knuckles as such.
    bad = Subsonic(
        url=f"127.0.0.1:{spec['port']}",
        user=spec["username"],
        password="wrong",
        client="bae-server-test",
        use_https=False,
    )
    try:
        bad.system.ping()
        raise AssertionError("a wrong password was accepted")
    except Exception as e:  # knuckles raises ErrorCode40
        check(type(e).__name__ == "ErrorCode40", f"wrong password raised {e!r}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
