"""MovieLens releases from GroupLens: download once, verify, unpack into a cache, load.

>>> from fastrec.datasets import movielens, movielens_movies  # doctest: +SKIP
>>> ratings = movielens("ml-latest-small")                      # doctest: +SKIP
>>> movies = movielens_movies("ml-latest-small")                # movieId, title, genres

Each release is fetched from GroupLens' archive, ``https://files.grouplens.org/datasets/
movielens/<name>.zip``, and checked against the MD5 that GroupLens publishes beside it
(``<name>.zip.md5``), pinned below. The archive goes to a temporary file in the cache and
is unpacked into a temporary directory there; only a verified, fully unpacked release is
renamed to ``<cache>/movielens/<name>/``, so an interrupted or failed download leaves
nothing half written under a name that a later call would trust. The next call finds the
directory and makes no request.

The cache is ``$FASTREC_CACHE`` if set, else ``~/.cache/fastrec`` (``cache_dir=`` overrides
both); the archive address is ``$FASTREC_MOVIELENS_URL`` if set, else GroupLens'
(``base_url=`` overrides both; a mirror must serve ``<base_url>/<name>.zip``).

The MovieLens data are licensed by GroupLens for research use (see each release's README);
fastrec downloads them on request and never ships them. Reading a release's movies file
(``movies.csv``, ``movies.dat``, ``u.item``) is :mod:`fastrec.movies`.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from .data import Ratings
from .io import load_ratings
from .movies import load_movies

log = logging.getLogger(__name__)

__all__ = [
    "BASE_URL",
    "RELEASES",
    "Release",
    "DownloadError",
    "ChecksumError",
    "default_cache_dir",
    "download_movielens",
    "movielens",
    "movielens_movies",
]

#: GroupLens' archive of the MovieLens releases.
BASE_URL = "https://files.grouplens.org/datasets/movielens"
#: Environment variable naming the cache directory (default ``~/.cache/fastrec``).
ENV_CACHE = "FASTREC_CACHE"
#: Environment variable naming another address serving ``<name>.zip`` (a mirror, a test).
ENV_BASE_URL = "FASTREC_MOVIELENS_URL"
#: Name of the file that fastrec writes into each unpacked release (what was fetched, when).
MARKER = ".fastrec-download.json"

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0
_TMP_PREFIX = ".tmp-"
_STALE_TMP_S = 24 * 3600.0


@dataclass(frozen=True)
class Release:
    """One MovieLens release: where its files are, and the checksum of its archive.

    ``md5`` is the value GroupLens publishes in ``<name>.zip.md5``; ``sha256`` is pinned
    where no published MD5 could be sourced. A download is accepted only if every pinned
    digest matches. ``size`` (bytes of the zip) is informative (and the progress bar's total
    where the server sends no length).
    """

    name: str
    ratings_file: str
    movies_file: str | None
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None


# Checksums are pinned, never fetched: a compromised or changed server cannot make fastrec
# accept a different archive. Sources, for each value:
# - MD5 of ml-100k, ml-1m, ml-10m, ml-20m, ml-25m: the values of GroupLens' <name>.zip.md5
#   as pinned in eli-osherovich/papers_with_code, datasets/movielens/dl_config.py; ml-1m and
#   ml-20m also in NVIDIA/DeepLearningExamples, PyTorch/Recommendation/NCF/verify_dataset.sh
#   (whose comments say they were copied from the .md5 files at files.grouplens.org).
# - ml-latest-small: no pinned MD5 was found in any source; its SHA-256 and size are those
#   of tensorflow/datasets, tensorflow_datasets/url_checksums/movielens.txt (the 2018-09
#   release, 100,836 ratings; "latest" releases may be replaced by GroupLens, and a new
#   one fails this check with a clear error rather than loading unverified data).
# - sizes: tensorflow/datasets, tensorflow_datasets/url_checksums/movielens.txt (ml-10m:
#   not listed there; left unset).
RELEASES: dict[str, Release] = {
    r.name: r
    for r in (
        Release("ml-100k", "u.data", "u.item",
                md5="0e33842e24a9c977be4e0107933c0723", size=4_924_029),
        Release("ml-latest-small", "ratings.csv", "movies.csv",
                sha256="696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
                size=978_202),
        Release("ml-1m", "ratings.dat", "movies.dat",
                md5="c4d9eecfca2ab87c1945afe126590906", size=5_917_549),
        Release("ml-10m", "ratings.dat", "movies.dat",
                md5="ce571fd55effeba0271552578f2648bd"),
        Release("ml-20m", "ratings.csv", "movies.csv",
                md5="cd245b17a1ae2cc31bb14903e1204af3", size=198_702_078),
        Release("ml-25m", "ratings.csv", "movies.csv",
                md5="6b51fb2759a8657d3bfcbfc42b592ada", size=261_978_986),
    )
}  # fmt: skip


class DownloadError(OSError):
    """A release could not be downloaded or unpacked (the message says why and what to do).

    Nothing half written is left in the cache when this is raised.
    """


class ChecksumError(DownloadError):
    """The downloaded archive does not have the pinned checksum."""


# ================================================================== public API


def default_cache_dir() -> Path:
    """``$FASTREC_CACHE`` if set (and not empty), else ``~/.cache/fastrec``."""
    value = os.environ.get(ENV_CACHE, "").strip()
    return Path(value).expanduser() if value else Path.home() / ".cache" / "fastrec"


def download_movielens(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    show_progress: bool | None = None,
    base_url: str | None = None,
) -> Path:
    """Directory of the unpacked release ``name``, downloading and verifying it if needed.

    Parameters
    ----------
    name : one of ``RELEASES``: ml-100k, ml-latest-small, ml-1m, ml-10m, ml-20m, ml-25m
    cache_dir : where releases are kept (``<cache_dir>/movielens/<name>/``); default
        :func:`default_cache_dir` (``$FASTREC_CACHE`` or ``~/.cache/fastrec``).
    show_progress : show tqdm progress bars for the download and the unpacking; ``None``
        shows them when stderr is a terminal.
    base_url : where ``<name>.zip`` is served; default ``$FASTREC_MOVIELENS_URL`` or
        GroupLens' archive (:data:`BASE_URL`).

    Returns
    -------
    pathlib.Path of the release's files (the archive's top directory, flattened: ``u.data``
    of ml-100k is ``<dir>/u.data``).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    DownloadError (an ``OSError``)
        When the server cannot be reached, answers with an HTTP error, or the transfer is
        cut short; :class:`ChecksumError` when the archive's checksum is not the pinned one;
        also for an archive that cannot be unpacked. Nothing half written stays in the cache.
    """
    release = _release(name)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    root = root / "movielens"
    final = root / release.name
    if _is_complete(final, release):
        log.info("%s: using the cached copy in %s", release.name, final)
        return final
    if final.exists():
        raise DownloadError(
            f"{final} exists but has no {release.ratings_file}; it was not made by fastrec. "
            f"Delete it (fastrec will download {release.name} again) or pass another cache_dir"
        )
    url = _url(release, base_url)
    show = sys.stderr.isatty() if show_progress is None else bool(show_progress)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(
            f"cannot create the cache directory {root} ({err.strerror or err}); set "
            f"{ENV_CACHE} or pass cache_dir= to use another directory"
        ) from None
    _remove_stale_temporaries(root)
    t0 = time.perf_counter()
    archive = _download(url, release, root, show)
    try:
        _verify(archive, url, release)
        _unpack(archive, url, release, final, show)
    finally:
        _remove(archive)
    log.info(
        "%s: downloaded, verified and unpacked in %.1fs", release.name, time.perf_counter() - t0
    )
    return final


def movielens(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    show_progress: bool | None = None,
    base_url: str | None = None,
) -> Ratings:
    """The ratings of the MovieLens release ``name``, downloaded on first use.

    ``name`` is one of ml-100k, ml-latest-small, ml-1m, ml-10m, ml-20m, ml-25m. The release
    is fetched from GroupLens (about 1 MB for ml-latest-small, 262 MB for ml-25m), checked
    against its pinned checksum and unpacked into the cache once (see
    :func:`download_movielens` for the parameters and errors); later calls read the cached
    files. The movies table (titles, genres) is :func:`movielens_movies`.

    >>> ratings = movielens("ml-100k")   # doctest: +SKIP
    >>> fastrec.evaluate_all(ratings)     # doctest: +SKIP
    """
    release = _release(name)
    folder = download_movielens(
        name, cache_dir=cache_dir, show_progress=show_progress, base_url=base_url
    )
    return load_ratings(folder / release.ratings_file)


def movielens_movies(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    show_progress: bool | None = None,
    base_url: str | None = None,
) -> pd.DataFrame:
    """The movies of the MovieLens release ``name``: columns ``movieId, title, genres``.

    Downloads the release on first use, like :func:`movielens`. ``genres`` is a
    ``|``-separated string as in ``movies.csv`` (``"Adventure|Animation|Children"``), for
    every release (ml-100k's 19 genre flags are joined the same way); a movie without a
    genre has ``"(no genres listed)"``. See :func:`fastrec.movies.load_movies`.
    """
    release = _release(name)
    folder = download_movielens(
        name, cache_dir=cache_dir, show_progress=show_progress, base_url=base_url
    )
    return load_movies(folder / release.movies_file)


# ============================================================ release and URL


def _release(name: str) -> Release:
    if isinstance(name, str) and name.strip().lower() in RELEASES:
        return RELEASES[name.strip().lower()]
    raise ValueError(f"unknown MovieLens release {name!r}; expected one of {', '.join(RELEASES)}")


def _url(release: Release, base_url: str | None) -> str:
    base = base_url if base_url is not None else os.environ.get(ENV_BASE_URL, "").strip()
    base = base or BASE_URL
    return f"{base.rstrip('/')}/{release.name}.zip"


def _is_complete(folder: Path, release: Release) -> bool:
    """A release directory is complete when its ratings file is there: fastrec only ever
    renames a fully unpacked directory into place (and a copy unzipped by hand qualifies)."""
    return (folder / release.ratings_file).is_file()


# ================================================================== download


def _download(url: str, release: Release, root: Path, show: bool) -> Path:
    """Stream ``url`` into a temporary file under ``root``; returns its path.

    Raises DownloadError (and removes the file) for an unreachable server, an HTTP error,
    or fewer bytes than the server announced.
    """
    what = f"download {release.name} from {url}"
    advice = (
        "check the network connection (and any proxy), or set "
        f"{ENV_BASE_URL} to a mirror; nothing was written to the cache"
    )
    fd, tmp = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{release.name}-", suffix=".zip", dir=root)
    archive = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "fastrec"})
            try:
                response = urllib.request.urlopen(request, timeout=_TIMEOUT_S)
            except urllib.error.HTTPError as err:
                raise DownloadError(
                    f"could not {what}: the server answered HTTP {err.code} {err.reason}; "
                    f"check the address (base_url or {ENV_BASE_URL}); nothing was written to "
                    "the cache"
                ) from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
                reason = getattr(err, "reason", err)
                raise DownloadError(
                    f"could not {what} ({_describe(reason)}); the machine may be offline: {advice}"
                ) from None

            def read(size: int) -> bytes:
                try:
                    return response.read(size)
                except (http.client.HTTPException, OSError) as err:
                    raise DownloadError(
                        f"could not {what}: the transfer broke off after {out.tell():,} bytes "
                        f"({_describe(err)}); run again; nothing was written to the cache"
                    ) from None

            with response:
                length = response.headers.get("Content-Length")
                expected = int(length) if length and length.isdigit() else None
                total = expected or release.size
                with _bytes_bar(total, f"download {release.name}", show) as bar:
                    got = _copy(read, out.write, bar)
        if expected is not None and got != expected:
            raise DownloadError(
                f"could not {what}: the transfer was cut short ({got:,} of {expected:,} "
                "bytes); run again; nothing was written to the cache"
            )
        log.info("%s: %s bytes from %s", release.name, f"{got:,}", url)
        return archive
    except BaseException:  # KeyboardInterrupt too: never leave the partial file behind
        _remove(archive)
        raise


def _bytes_bar(total: int | None, desc: str, show: bool):
    """A tqdm bar counting bytes (KiB, MiB), gone when closed; hidden unless ``show``."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not show,
        leave=False,
    )


def _copy(read, write, bar) -> int:
    """Copy ``read(_CHUNK)`` to ``write`` until it returns nothing, ticking ``bar``; returns
    the number of bytes copied."""
    copied = 0
    while chunk := read(_CHUNK):
        write(chunk)
        copied += len(chunk)
        bar.update(len(chunk))
    return copied


def _describe(reason) -> str:
    if isinstance(reason, socket.timeout | TimeoutError):
        return f"no answer within {_TIMEOUT_S:.0f}s"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _verify(archive: Path, url: str, release: Release) -> None:
    """Raise ChecksumError unless every pinned digest of ``release`` matches ``archive``."""
    wanted = {k: v for k, v in (("md5", release.md5), ("sha256", release.sha256)) if v}
    if not wanted:
        raise ChecksumError(f"{release.name}: no checksum is pinned; refusing to use {url}")
    digests = {k: hashlib.new(k) for k in wanted}
    with open(archive, "rb") as f:
        while chunk := f.read(_CHUNK):
            for d in digests.values():
                d.update(chunk)
    for kind, expected in wanted.items():
        found = digests[kind].hexdigest()
        if found != expected.lower():
            published = f" (GroupLens publishes it at {url}.md5)" if kind == "md5" else ""
            raise ChecksumError(
                f"{url}: {kind.upper()} checksum {found} does not match the pinned "
                f"{expected}{published}; the download is corrupt or the archive was changed, "
                "and it was discarded (nothing was written to the cache). Run again; if it "
                "fails again, the file on the server is not the release fastrec knows"
            )


# ==================================================================== unpack


def _unpack(archive: Path, url: str, release: Release, final: Path, show: bool) -> None:
    """Unpack ``archive`` into a temporary directory beside ``final``, then rename it.

    The archive's single top directory (``ml-10M100K/`` in ml-10m) is flattened away.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{release.name}-", dir=final.parent))
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                members = [m for m in zf.infolist() if not m.is_dir()]
                prefix = _common_top(members)
                total = sum(m.file_size for m in members)
                with _bytes_bar(total, f"unpack {release.name}", show) as bar:
                    for m in members:
                        target = tmp / _safe_relative(m.filename[len(prefix) :], url)
                        target.parent.mkdir(parents=True, exist_ok=True)
                        with zf.open(m) as src, open(target, "wb") as dst:
                            _copy(src.read, dst.write, bar)
        except (zipfile.BadZipFile, EOFError) as err:
            raise DownloadError(
                f"{url}: the archive cannot be unpacked ({err}); it was discarded; run again"
            ) from None
        except OSError as err:
            if isinstance(err, DownloadError):
                raise
            raise DownloadError(
                f"could not unpack {release.name} into {final.parent} ({err.strerror or err}); "
                f"free some disk space or set {ENV_CACHE} to another directory; nothing was "
                "left in the cache"
            ) from None
        if not (tmp / release.ratings_file).is_file():
            raise DownloadError(
                f"{url}: the archive has no {release.ratings_file}; it is not the {release.name} "
                "release; nothing was written to the cache"
            )
        marker = {
            "name": release.name,
            "url": url,
            "md5": release.md5,
            "sha256": release.sha256,
            "downloaded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        try:
            os.rename(tmp, final)
        except OSError:
            if not _is_complete(final, release):  # not another process finishing first
                raise
            log.info("%s: another process unpacked it first; using %s", release.name, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _common_top(members: list[zipfile.ZipInfo]) -> str:
    """``"top/"`` when every member lies under one top directory, else ``""``."""
    tops = {m.filename.split("/", 1)[0] for m in members}
    if len(tops) == 1 and all("/" in m.filename for m in members):
        return tops.pop() + "/"
    return ""


def _safe_relative(name: str, url: str) -> Path:
    """``name`` as a relative path that stays inside the target (no absolute, no ``..``)."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or name.startswith("/") or any(p in ("..", "") for p in parts) or ":" in parts[0]:
        raise DownloadError(f"{url}: unsafe path {name!r} in the archive; refusing to unpack it")
    return Path(*parts)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as err:  # pragma: no cover - best effort
        log.warning("could not remove %s: %s", path, err)


def _remove_stale_temporaries(root: Path) -> None:
    """Remove temporaries that a killed process left (over a day old)."""
    now = time.time()
    for p in root.glob(f"{_TMP_PREFIX}*"):
        try:
            if now - p.stat().st_mtime > _STALE_TMP_S:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
        except OSError:  # pragma: no cover - best effort
            pass
