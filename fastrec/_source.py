"""Where the text of a ratings file comes from: a plain file, a compressed one, or the one file
inside a zip archive; chosen by the file name's suffix.

:class:`Source` opens the text twice over: as a byte stream for pyarrow's fast reader (the
decompression runs in pyarrow's own threads where it can: gzip, bz2, zstd; gzip through
ISA-L's inflate where the ``isal`` package is installed, 2 to 3 times faster than zlib) and as
a Python text stream for the slow, error-path scans that name a line. Errors say which file
and which compression, and never leave a half-read archive open.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

#: Compression by suffix (the suffix is what decides, not the file's first bytes).
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd", ".zip": "zip"}

#: pyarrow's codec names, for the compressions pyarrow decompresses itself.
_ARROW_CODECS = {"gzip": "gzip", "bz2": "bz2", "zstd": "zstd"}


def _isal_gzip():
    """``isal.igzip`` (ISA-L's gzip reader) and its error, or ``(None, None)`` without it."""
    try:
        from isal import igzip
        from isal.isal_zlib import error
    except ImportError:
        return None, None
    return igzip, error


_IGZIP, _ISAL_ERROR = _isal_gzip()

#: What each decompressor raises on a corrupt or truncated stream.
DECOMPRESSION_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile) + (
    (_ISAL_ERROR,) if _ISAL_ERROR is not None else ()
)

#: Members of a zip that are never the ratings (macOS metadata, folders' own entries).
_ZIP_NOISE = ("__MACOSX/", ".DS_Store")

#: Names a zip member is picked by when the archive holds several files.
RATINGS_NAMES = ("ratings.csv", "ratings.dat", "u.data", "ratings.tsv")


class Source:
    """The text of one ratings file, decompressed as its suffix says.

    Attributes
    ----------
    path : pathlib.Path
        The file on disk.
    compression : str or None
        ``"gzip"``, ``"bz2"``, ``"xz"``, ``"zstd"``, ``"zip"`` or ``None``.
    member : str or None
        The file inside a zip archive.
    name : str
        The name of the text file (the path without its compression suffix, or the zip
        member's base name): what the format's suffix is taken from.
    where : str
        How messages name the file: its path, and ``(member)`` for a zip.
    """

    def __init__(self, path: Path):
        self.path = path
        self.compression = COMPRESSIONS.get(path.suffix.lower())
        self.member = self._zip_member() if self.compression == "zip" else None
        if self.member is not None:
            self.name = PurePosixPath(self.member).name
            self.where = f"{path} ({self.member})"
        else:
            self.name = path.stem if self.compression else path.name
            self.where = str(path)

    @property
    def suffix(self) -> str:
        """Suffix of the text file, lower case (``.csv`` for ``ratings.csv.gz``)."""
        return Path(self.name).suffix.lower()

    # ------------------------------------------------------------------ opening
    @contextmanager
    def binary(self):
        """A byte stream of the text (or the path itself, for a plain file) for pyarrow."""
        if self.compression is None:
            yield str(self.path)
            return
        if self.compression == "gzip" and _IGZIP is not None:  # read in pyarrow's thread
            with _IGZIP.open(self.path, "rb") as stream:
                yield stream
            return
        if self.compression in _ARROW_CODECS:
            import pyarrow as pa

            raw = pa.OSFile(str(self.path))
            stream = pa.CompressedInputStream(raw, _ARROW_CODECS[self.compression])
            try:
                yield stream
            finally:
                stream.close()
                raw.close()
            return
        with self._python_binary() as stream:
            yield stream

    @contextmanager
    def text(self):
        """The text as a Python stream (UTF-8, a byte-order mark dropped, line ends kept)."""
        with self._python_binary() as stream:
            with io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="") as t:
                yield t

    @contextmanager
    def _python_binary(self):
        if self.compression == "zip":
            with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as stream:
                yield stream
            return
        if self.compression == "zstd":  # no zstd in the standard library before 3.14
            with self.binary() as stream:
                yield stream
            return
        opener = {None: open, "gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}
        with opener[self.compression](self.path, "rb") as stream:
            yield stream

    # ------------------------------------------------------------------ sizes
    def head(self, n_bytes: int) -> str:
        """Up to ``n_bytes`` of the text's start, decoded, cut after its last whole line."""
        try:
            with self.text() as f:
                chunk = f.read(n_bytes)
                more = f.read(1) != ""
        except DECOMPRESSION_ERRORS as err:
            raise self.corrupt(err) from None
        if more:
            cut = max(chunk.rfind("\n"), chunk.rfind("\r"))
            if cut > 0:
                chunk = chunk[: cut + 1]
        return chunk

    def text_size(self) -> int:
        """Bytes of text, or an over-estimate of them (only sizes buffers that are never
        touched past what is read, so too large costs no memory, too small a copy)."""
        size = self.path.stat().st_size
        if self.compression is None:
            return size
        if self.compression == "zip":
            with zipfile.ZipFile(self.path) as zf:
                return zf.getinfo(self.member).file_size
        if self.compression == "gzip" and size >= 18:
            with open(self.path, "rb") as f:  # the trailer's ISIZE: the length mod 2**32
                f.seek(-4, os.SEEK_END)
                isize = int.from_bytes(f.read(4), "little")
            if isize >= size:
                return isize
        # Ratings text compresses 3 to 6 times; a short guess costs a copy of what was read.
        return size * 5

    # ------------------------------------------------------------------ errors
    def corrupt(self, err: BaseException) -> ValueError:
        """The error for a stream that does not decompress."""
        reason = str(err) or type(err).__name__
        return ValueError(
            f"{self.where}: could not be decompressed as {self.compression} ({reason}); "
            f"expected a complete {self.compression} file holding a ratings text file (the "
            f"suffix {self.path.suffix!r} names the compression)"
        )

    def _zip_member(self) -> str:
        """The one ratings file of a zip archive (a named ratings file among several)."""
        try:
            with zipfile.ZipFile(self.path) as zf:
                names = [
                    info.filename
                    for info in zf.infolist()
                    if not info.is_dir() and not any(n in info.filename for n in _ZIP_NOISE)
                ]
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise ValueError(
                f"{self.path}: not a readable zip archive ({err}); expected a zip holding one "
                "ratings file"
            ) from None
        if len(names) == 1:
            return names[0]
        if not names:
            raise ValueError(
                f"{self.path}: the zip archive holds no file; expected one ratings file in it"
            )
        named = [n for n in names if PurePosixPath(n).name.lower() in RATINGS_NAMES]
        if len(named) == 1:
            return named[0]
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        raise ValueError(
            f"{self.path}: the zip archive holds {len(names)} files ({shown}); expected one "
            f"ratings file, or exactly one named {' or '.join(RATINGS_NAMES)} among them "
            "(unzip it and pass the ratings file)"
        )
