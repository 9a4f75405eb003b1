"""Drives bae-server with py-opensonic (import `libopensonic`), a third-party
OpenSubsonic client, the way an app would: list artists and albums, open an
album, search, fetch its cover, stream a track whole and by range, download
it. Every answer goes through py-opensonic's typed models, so a response of
the wrong shape fails here.

    python opensonic_client.py SPEC.json [--get] [--no-views] [--api-key]

By default py-opensonic POSTs form bodies to `<method>.view` with token +
salt authentication; --get sends GET query strings, --no-views drops the
`.view` suffix, --api-key logs in with the OpenSubsonic API key instead.
SPEC.json is written by crates/server/tests/clients.rs. Prints a JSON
summary and exits 0 when every check holds; raises otherwise.
"""

import asyncio
import json
import sys

import libopensonic


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def run(spec, use_get, use_views, api_key):
    auth = (
        {"api_key": spec["api_key"]}
        if api_key
        else {"username": spec["username"], "password": spec["password"]}
    )
    conn = libopensonic.AsyncConnection(
        "http://127.0.0.1",
        port=spec["port"],
        app_name="bae-server-test",
        use_get=use_get,
        use_views=use_views,
        **auth,
    )
    summary = {"get": use_get, "views": use_views, "api_key": api_key}
    try:
        check(await conn.ping(), "ping")
        exts = await conn.get_open_subsonic_extensions()
        summary["extensions"] = sorted(e.name for e in exts)

        artists = await conn.get_artists()
        names = sorted(a.name for idx in (artists.index or []) for a in (idx.artist or []))
        check(names == spec["artists"], f"artists {names} != {spec['artists']}")
        summary["artists"] = len(names)

        albums = await conn.get_album_list2("alphabeticalByName", size=500)
        album_names = sorted(a.name for a in albums)
        check(album_names == spec["albums"], f"albums {album_names} != {spec['albums']}")
        page = await conn.get_album_list2("alphabeticalByName", size=2, offset=1)
        check([a.name for a in page] == sorted(spec["albums"], key=str.lower)[1:3], "paging")
        summary["albums"] = len(album_names)

        want = spec["album"]
        artist = next(
            a for idx in artists.index for a in idx.artist if a.name == want["artist"]
        )
        full_artist = await conn.get_artist(artist.id)
        entry = next(al for al in full_artist.album if al.name == want["name"])
        album = await conn.get_album(entry.id)
        titles = [s.title for s in album.song]
        check(titles == want["songs"], f"songs {titles} != {want['songs']}")
        check(album.song_count == len(titles), "songCount")

        found = await conn.search3(spec["search"]["query"])
        found_albums = sorted(a.name for a in (found.album or []))
        check(
            found_albums == spec["search"]["albums"],
            f"search {found_albums} != {spec['search']['albums']}",
        )
        summary["search_songs"] = len(found.song or [])

        cover = await conn.get_cover_art(album.cover_art)
        cover_bytes = await cover.read()
        with open(want["cover_file"], "rb") as f:
            check(cover_bytes == f.read(), "cover bytes differ from the original")
        summary["cover_bytes"] = len(cover_bytes)

        with open(want["stream_file"], "rb") as f:
            original = f.read()
        song = next(s for s in album.song if s.title == want["stream_title"])
        info = await conn.get_song(song.id)
        check(info.size == len(original), f"size {info.size} != {len(original)}")
        streamed = await (await conn.stream(song.id)).read()
        check(streamed == original, "streamed bytes differ from the original file")
        start, end = want["range"]
        ranged = await conn.stream(song.id, byte_range=f"bytes={start}-{end}")
        check(ranged.status == 206, f"range status {ranged.status}")
        part = await ranged.read()
        check(part == original[start : end + 1], "ranged bytes differ from the original")
        downloaded = await (await conn.download(song.id)).read()
        check(downloaded == original, "downloaded bytes differ from the original file")
        summary["streamed_bytes"] = len(streamed)
        summary["range"] = [start, end]

        randoms = await conn.get_random_songs(size=3)
        check(len(randoms) == min(3, spec["songs"]), "random songs")

        # Errors come back as typed exceptions, not as broken responses.
        try:
            await conn.get_album("no-such-album")
            raise AssertionError("getAlbum of a missing id succeeded")
        except libopensonic.errors.DataNotFoundError:
            pass
    finally:
        await conn.cleanup()
    return summary


def main():
    spec = json.load(open(sys.argv[1]))
    flags = set(sys.argv[2:])
    summary = asyncio.run(
        run(spec, "--get" in flags, "--no-views" not in flags, "--api-key" in flags)
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
