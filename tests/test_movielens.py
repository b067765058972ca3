"""fastrec.movielens: download, verify, cache and load MovieLens releases.

No network: a local ``http.server`` on 127.0.0.1 (a thread, an ephemeral port) serves zips
built here from small synthetic sets, laid out as each GroupLens release is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import socket
import threading
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fastrec
from fastrec import movielens as ml
from fastrec.datasets import SHAPES, synthetic, synthetic_movies, write_csv

TINY = dataclasses.replace(
    SHAPES["ml-latest-small"], name="tiny", n_users=40, n_items=300, n_ratings=2_500
)
TINY_WHOLE = dataclasses.replace(TINY, step=1.0)  # ml-100k, ml-1m: whole stars


# ------------------------------------------------------------------ archives


def _ratings_and_movies(whole_stars: bool):
    shape = TINY_WHOLE if whole_stars else TINY
    return synthetic(shape, seed=1), synthetic_movies(shape, seed=1)


def _release_files(name: str, tmp: Path) -> dict[str, bytes]:
    """The files of release ``name`` (relative to its top directory), from synthetic data."""
    ratings, movies = _ratings_and_movies(name in ("ml-100k", "ml-1m"))
    frame = ratings.to_frame()
    if name == "ml-100k":
        genres = sorted(
            {g for gs in movies["genres"] for g in gs.split("|")} - {"(no genres listed)"}
        )
        names = ["unknown", *genres]
        flags = np.array(
            [[int(g in gs.split("|")) for g in names] for gs in movies["genres"]], dtype=int
        )
        flags[:, 0] = (movies["genres"] == "(no genres listed)").to_numpy()
        item_lines = [
            "|".join([str(i), t, "01-Jan-1995", "", "http://x"] + [str(f) for f in row])
            for i, t, row in zip(movies["movieId"], movies["title"], flags, strict=True)
        ]
        return {
            "u.data": frame.to_csv(sep="\t", header=False, index=False).encode(),
            "u.item": ("\n".join(item_lines) + "\n").encode("latin-1"),
            "u.genre": "".join(f"{g}|{k}\n" for k, g in enumerate(names)).encode(),
            "README": b"synthetic",
        }
    if name in ("ml-1m", "ml-10m"):
        dat = "\n".join("::".join(str(v) for v in row) for row in frame.itertuples(index=False))
        titles = movies["title"].str.replace("Synthetic", "Synth\u00e9tique")  # non-ASCII
        mov = "\n".join(
            f"{i}::{t}::{g}"
            for i, t, g in zip(movies["movieId"], titles, movies["genres"], strict=True)
        )
        encoding = "latin-1" if name == "ml-1m" else "utf-8"
        return {
            "ratings.dat": (dat + "\n").encode(),
            "movies.dat": (mov + "\n").encode(encoding),
        }
    write_csv(ratings, tmp / "ratings.csv")
    return {
        "ratings.csv": (tmp / "ratings.csv").read_bytes(),
        "movies.csv": movies.to_csv(index=False).encode(),
        "README.txt": b"synthetic",
    }


def _zip(files: dict[str, bytes], top: str | None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if top:
            zf.writestr(f"{top}/", b"")
        for name, data in files.items():
            zf.writestr(f"{top}/{name}" if top else name, data)
    return buf.getvalue()


#: The top directory of each release's zip, as GroupLens packs them.
TOP = {"ml-10m": "ml-10M100K"}


@pytest.fixture(scope="module")
def small_zip(tmp_path_factory) -> bytes:
    tmp = tmp_path_factory.mktemp("zip")
    return _zip(_release_files("ml-latest-small", tmp), "ml-latest-small")


def _pin(monkeypatch, name: str, data: bytes, **kw) -> None:
    """Pin the MD5 of ``data`` for ``name`` (the real pins are GroupLens' archives)."""
    pinned = dataclasses.replace(
        ml.RELEASES[name], md5=hashlib.md5(data).hexdigest(), sha256=None, size=None, **kw
    )
    monkeypatch.setitem(ml.RELEASES, name, pinned)


# -------------------------------------------------------------------- server


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    mode = "ok"  # "ok", "truncate", "truncate-no-length"
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).requests.append(self.path)
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        if self.mode != "truncate-no-length":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.mode.startswith("truncate"):
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    def log_message(self, *args):  # keep the test output clean
        pass


class Server:
    def __init__(self):
        handler = type("Handler", (_Handler,), {"files": {}, "requests": [], "mode": "ok"})
        handler.protocol_version = "HTTP/1.0"
        self.handler = handler
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/datasets/movielens"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def serve(self, name: str, data: bytes) -> None:
        self.handler.files[f"/datasets/movielens/{name}.zip"] = data

    @property
    def requests(self) -> list[str]:
        return self.handler.requests

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cache_entries(cache: Path) -> list[str]:
    """Everything under the cache (relative paths), to show nothing was left behind."""
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*")) if cache.exists() else []


def _assert_nothing_cached(cache: Path) -> None:
    left = [p for p in _cache_entries(cache) if p != "movielens"]
    assert left == [], f"left in the cache: {left}"


# --------------------------------------------------------------------- tests


def test_download_verify_cache_and_reuse(server, small_zip, tmp_path, monkeypatch):
    _pin(monkeypatch, "ml-latest-small", small_zip)
    server.serve("ml-latest-small", small_zip)
    cache = tmp_path / "cache"
    ratings = ml.movielens("ml-latest-small", cache_dir=cache, base_url=server.url)
    assert server.requests == ["/datasets/movielens/ml-latest-small.zip"]
    expected, movies = _ratings_and_movies(False)
    assert isinstance(ratings, fastrec.Ratings) and len(ratings) == len(expected)
    np.testing.assert_array_equal(ratings.user_ids, expected.user_ids)
    np.testing.assert_array_equal(ratings.item_ids, expected.item_ids)
    np.testing.assert_array_equal(ratings.ratings, expected.ratings)
    np.testing.assert_array_equal(ratings.timestamps, expected.timestamps)
    folder = cache / "movielens" / "ml-latest-small"
    assert _cache_entries(cache) == [
        "movielens",
        "movielens/ml-latest-small",
        f"movielens/ml-latest-small/{ml.MARKER}",
        "movielens/ml-latest-small/README.txt",
        "movielens/ml-latest-small/movies.csv",
        "movielens/ml-latest-small/ratings.csv",
    ]
    assert ratings.source == str(folder / "ratings.csv")
    # the second call, and the movies table, make no request
    again = ml.movielens("ml-latest-small", cache_dir=cache, base_url=server.url)
    got_movies = ml.movielens_movies("ml-latest-small", cache_dir=cache, base_url=server.url)
    assert ml.download_movielens("ml-latest-small", cache_dir=cache) == folder
    assert len(server.requests) == 1
    np.testing.assert_array_equal(again.ratings, expected.ratings)
    pd.testing.assert_frame_equal(got_movies, movies)


def test_environment_variables_choose_cache_and_address(server, small_zip, tmp_path, monkeypatch):
    _pin(monkeypatch, "ml-latest-small", small_zip)
    server.serve("ml-latest-small", small_zip)
    monkeypatch.setenv("FASTREC_CACHE", str(tmp_path / "env-cache"))
    monkeypatch.setenv("FASTREC_MOVIELENS_URL", server.url + "/")  # a trailing slash is fine
    assert ml.default_cache_dir() == tmp_path / "env-cache"
    ratings = fastrec.datasets.movielens("ML-Latest-Small")  # names are case-insensitive
    assert len(ratings) == TINY.n_ratings
    assert (tmp_path / "env-cache" / "movielens" / "ml-latest-small" / "ratings.csv").is_file()
    assert len(server.requests) == 1


def test_default_cache_dir_is_under_home(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTREC_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert ml.default_cache_dir() == tmp_path / ".cache" / "fastrec"


@pytest.mark.parametrize("name", ["ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m"])
def test_every_release_layout_loads(name, server, tmp_path, monkeypatch):
    """Each release's files and top directory, as GroupLens packs them (tiny synthetic data)."""
    data = _zip(_release_files(name, tmp_path), TOP.get(name, name))
    _pin(monkeypatch, name, data)
    server.serve(name, data)
    ratings = ml.movielens(name, cache_dir=tmp_path / "c", base_url=server.url)
    expected, movies = _ratings_and_movies(name in ("ml-100k", "ml-1m"))
    np.testing.assert_array_equal(ratings.user_ids, expected.user_ids)
    np.testing.assert_array_equal(ratings.item_ids, expected.item_ids)
    np.testing.assert_array_equal(ratings.ratings, expected.ratings)
    got = ml.movielens_movies(name, cache_dir=tmp_path / "c", base_url=server.url)
    assert list(got.columns) == ["movieId", "title", "genres"]
    np.testing.assert_array_equal(got["movieId"], movies["movieId"])
    assert list(got["genres"]) == list(movies["genres"])
    if name in ("ml-1m", "ml-10m"):  # Latin-1 and UTF-8 titles both decode
        assert got["title"].iloc[0].startswith("Synth\u00e9tique movie 1 (")
    assert len(server.requests) == 1


def test_wrong_checksum_is_refused_and_nothing_is_kept(server, small_zip, tmp_path, monkeypatch):
    pinned = dataclasses.replace(ml.RELEASES["ml-latest-small"], md5="0" * 32, sha256=None)
    monkeypatch.setitem(ml.RELEASES, "ml-latest-small", pinned)
    server.serve("ml-latest-small", small_zip)
    cache = tmp_path / "cache"
    with pytest.raises(ml.ChecksumError) as info:
        ml.movielens("ml-latest-small", cache_dir=cache, base_url=server.url)
    message = str(info.value)
    assert f"{server.url}/ml-latest-small.zip" in message
    assert "MD5 checksum " + hashlib.md5(small_zip).hexdigest() in message
    assert "0" * 32 in message and "Run again" in message
    assert isinstance(info.value, OSError)
    _assert_nothing_cached(cache)


def test_sha256_pin_is_checked_too(server, small_zip, tmp_path, monkeypatch):
    pinned = dataclasses.replace(ml.RELEASES["ml-latest-small"], md5=None, sha256="ab" * 32)
    monkeypatch.setitem(ml.RELEASES, "ml-latest-small", pinned)
    server.serve("ml-latest-small", small_zip)
    with pytest.raises(ml.ChecksumError, match="SHA256 checksum"):
        ml.movielens("ml-latest-small", cache_dir=tmp_path, base_url=server.url)
    _assert_nothing_cached(tmp_path)
    good = dataclasses.replace(pinned, sha256=hashlib.sha256(small_zip).hexdigest())
    monkeypatch.setitem(ml.RELEASES, "ml-latest-small", good)
    assert len(ml.movielens("ml-latest-small", cache_dir=tmp_path, base_url=server.url)) == 2_500


def test_truncated_download_is_refused(server, small_zip, tmp_path, monkeypatch):
    _pin(monkeypatch, "ml-latest-small", small_zip)
    server.serve("ml-latest-small", small_zip)
    server.handler.mode = "truncate"
    with pytest.raises(ml.DownloadError) as info:
        ml.movielens("ml-latest-small", cache_dir=tmp_path, base_url=server.url)
    message = str(info.value)
    assert f"{server.url}/ml-latest-small.zip" in message
    assert "broke off" in message or "cut short" in message
    assert "nothing was written to the cache" in message
    _assert_nothing_cached(tmp_path)
    # without a Content-Length the checksum catches it
    server.handler.mode = "truncate-no-length"
    with pytest.raises(ml.ChecksumError):
        ml.movielens("ml-latest-small", cache_dir=tmp_path, base_url=server.url)
    _assert_nothing_cached(tmp_path)
    # and once the server is whole again, it works
    server.handler.mode = "ok"
    assert len(ml.movielens("ml-latest-small", cache_dir=tmp_path, base_url=server.url)) == 2_500


def test_offline_machine_gets_a_clear_error(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/datasets/movielens"
    with pytest.raises(ml.DownloadError) as info:
        ml.movielens("ml-100k", cache_dir=tmp_path, base_url=url)
    message = str(info.value)
    assert f"could not download ml-100k from {url}/ml-100k.zip" in message
    assert "offline" in message and "FASTREC_MOVIELENS_URL" in message
    assert "nothing was written to the cache" in message
    _assert_nothing_cached(tmp_path)


def test_http_error_names_the_status(server, tmp_path):
    with pytest.raises(ml.DownloadError, match="HTTP 404"):
        ml.movielens("ml-1m", cache_dir=tmp_path, base_url=server.url)
    _assert_nothing_cached(tmp_path)


def test_corrupt_archive_with_matching_checksum_is_not_unpacked(server, tmp_path, monkeypatch):
    junk = b"this is not a zip file" * 100
    _pin(monkeypatch, "ml-100k", junk)
    server.serve("ml-100k", junk)
    with pytest.raises(ml.DownloadError, match="cannot be unpacked"):
        ml.movielens("ml-100k", cache_dir=tmp_path, base_url=server.url)
    _assert_nothing_cached(tmp_path)


def test_archive_escaping_its_directory_is_refused(server, tmp_path, monkeypatch):
    evil = _zip({"u.data": b"1\t1\t5\t1\n", "../../escaped.txt": b"gotcha"}, None)
    _pin(monkeypatch, "ml-100k", evil)
    server.serve("ml-100k", evil)
    with pytest.raises(ml.DownloadError, match="unsafe path"):
        ml.movielens("ml-100k", cache_dir=tmp_path / "c", base_url=server.url)
    _assert_nothing_cached(tmp_path / "c")
    assert not (tmp_path / "escaped.txt").exists()


def test_archive_without_the_ratings_file_is_refused(server, tmp_path, monkeypatch):
    data = _zip({"other.csv": b"a,b\n1,2\n"}, "ml-20m")
    _pin(monkeypatch, "ml-20m", data)
    server.serve("ml-20m", data)
    with pytest.raises(ml.DownloadError, match="has no ratings.csv"):
        ml.movielens("ml-20m", cache_dir=tmp_path, base_url=server.url)
    _assert_nothing_cached(tmp_path)


def test_foreign_directory_in_the_cache_is_not_trusted(tmp_path):
    (tmp_path / "movielens" / "ml-25m").mkdir(parents=True)
    with pytest.raises(ml.DownloadError, match="not made by fastrec"):
        ml.movielens("ml-25m", cache_dir=tmp_path, base_url="http://127.0.0.1:9")


def test_release_unzipped_by_hand_is_used_without_a_request(tmp_path):
    folder = tmp_path / "movielens" / "ml-latest-small"
    folder.mkdir(parents=True)
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2,3.5,4\n")
    ratings = ml.movielens("ml-latest-small", cache_dir=tmp_path, base_url="http://127.0.0.1:9")
    assert len(ratings) == 1


def test_unknown_release_lists_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown MovieLens release 'ml-99m'.*ml-100k.*ml-25m"):
        ml.movielens("ml-99m", cache_dir=tmp_path)
    assert not tmp_path.joinpath("movielens").exists()


def test_stale_temporaries_are_removed(server, small_zip, tmp_path, monkeypatch):
    import os

    root = tmp_path / "movielens"
    root.mkdir()
    stale, fresh = root / ".tmp-ml-latest-small-old.zip", root / ".tmp-ml-latest-small-new.zip"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (1, 1))
    _pin(monkeypatch, "ml-latest-small", small_zip)
    server.serve("ml-latest-small", small_zip)
    ml.download_movielens("ml-latest-small", cache_dir=tmp_path, base_url=server.url)
    assert not stale.exists() and fresh.exists()  # another process may still be writing it


def test_pinned_checksums_cover_every_release():
    from fastrec.cli import RELEASE_NAMES

    assert tuple(ml.RELEASES) == RELEASE_NAMES
    for name, release in ml.RELEASES.items():
        assert release.name == name
        assert release.md5 or release.sha256, name
        if release.md5:
            assert len(release.md5) == 32 and int(release.md5, 16) >= 0
        if release.sha256:
            assert len(release.sha256) == 64 and int(release.sha256, 16) >= 0
    # the values GroupLens publishes in <name>.zip.md5 (see the sources in fastrec/movielens.py)
    assert ml.RELEASES["ml-25m"].md5 == "6b51fb2759a8657d3bfcbfc42b592ada"
    assert ml.RELEASES["ml-100k"].md5 == "0e33842e24a9c977be4e0107933c0723"


def test_progress_bars_only_when_asked(server, small_zip, tmp_path, monkeypatch, capsys):
    _pin(monkeypatch, "ml-latest-small", small_zip)
    server.serve("ml-latest-small", small_zip)
    ml.download_movielens("ml-latest-small", cache_dir=tmp_path / "a", base_url=server.url)
    assert capsys.readouterr().err == ""  # stderr is not a terminal here: silent
    ml.download_movielens(
        "ml-latest-small", cache_dir=tmp_path / "b", base_url=server.url, show_progress=True
    )
    err = capsys.readouterr().err
    assert "download ml-latest-small" in err and "unpack ml-latest-small" in err
