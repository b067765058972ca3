"""Reading ratings files into :class:`~fastrec.data.Ratings`, and naming what is wrong in a bad one.

:func:`load_ratings` reads any delimited ratings text (MovieLens ``ratings.csv``, ml-100k
``u.data``, ml-1m/ml-10m ``ratings.dat``, and files of other columns, separators and id
types), compressed or not, and ``.parquet``. The pieces: :mod:`fastrec._source` (compression,
zip members), :mod:`fastrec._layout` (separator, header, columns, types: given or found),
:mod:`fastrec._textread` (pyarrow's block reader into numpy, and the slow scan that names a
bad line on the error path). Building the container (id maps, codes, the duplicate rule) is
:mod:`fastrec.data`'s job.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from ._layout import SAMPLE_BYTES, check_separator, find_columns, find_layout
from ._source import COMPRESSIONS, Source
from ._textread import line_numbers, read_columns
from .data import (
    Ratings,
    _apply_duplicate_rule,
    _check_duplicate_rule,
    _scale_words,
    check_rating_scale,
    first_outside,
)

__all__ = ["COMPRESSIONS", "load_ratings"]

log = logging.getLogger(__name__)

#: What a directory is searched for, in order.
_KNOWN_NAMES = ("ratings.csv", "ratings.dat", "u.data", "ratings.parquet")
_PARQUET_SUFFIXES = (".parquet", ".pq")


def load_ratings(
    path: str | os.PathLike,
    *,
    user: str | int | None = None,
    item: str | int | None = None,
    rating: str | int | None = None,
    timestamp: str | int | None = None,
    sep: str | None = None,
    header: bool | None = None,
    rating_scale: tuple[float, float] | None = None,
    duplicates: str = "error",
) -> Ratings:
    """Read a ratings file into :class:`Ratings`.

    Parameters
    ----------
    path : str or os.PathLike
        A delimited text file (``.csv``, ``.tsv``, ``.dat``, ``u.data``, ... any name), a
        ``.parquet`` file, either compressed by suffix (``.gz``, ``.bz2``, ``.xz``, ``.zst``,
        or ``.zip`` holding one ratings file), or a directory holding one of
        ``ratings.csv, ratings.dat, u.data, ratings.parquet``.
    user, item, rating, timestamp : str or int, optional
        The column of each: a header name, or a 0-based position. Default: guessed from
        common names (``userId``, ``user_id``, ``user``, ``UserID``; ``movieId``,
        ``item_id``, ``itemId``, ``item``, ``movie_id``, ``ISBN``, ...; ``rating``,
        ``score``, ``stars``; ``timestamp``, ``time``, ``date``), without a header the
        MovieLens order user, item, rating, timestamp. The timestamp is optional.
    sep : str, optional
        The field separator: one character (``","``, ``"\\t"`` or ``"tab"``, ``";"``,
        ``"|"``) or ``"::"``. Default: found from the first lines.
    header : bool, optional
        Whether line 1 names the columns. Default: it does when none of its fields is a
        number.
    rating_scale : (lo, hi), optional
        The scale the ratings are on, e.g. ``(1, 10)`` or ``(-10, 10)``: a rating outside
        it is an error naming its line, and models clip their predictions to it (see
        :attr:`Ratings.rating_range`). Default: the range of the data.
    duplicates : {"error", "last"}
        What a repeated (user, item) pair does (see :meth:`Ratings.from_frame`).

    Returns
    -------
    Ratings
        Ids that are all integers stay ``int64``; any other ids are kept as strings,
        exactly as written. Timestamps are ``int64`` seconds since 1970 (integers in the
        file, or ISO 8601 dates and times, read as UTC without a zone offset), or ``None``
        where the file has no timestamp column.

    Raises
    ------
    FileNotFoundError
        For a missing file.
    ValueError
        Naming the file, the line or column and what was expected, for anything malformed:
        an empty file, an ambiguous or missing column (listing the columns), a wrong number
        of fields, a missing id, a missing, non-numeric, NaN or infinite rating, a rating
        outside ``rating_scale``, duplicate (user, item) pairs, a corrupt compressed file,
        a zip archive holding no file or several. No row is ever dropped silently.

    Notes
    -----
    Text is parsed by pyarrow block by block into numpy arrays (compressed text is
    decompressed in pyarrow's threads as it is parsed); MovieLens files read as fast as
    before these options existed. An id column is read as integers when every id in the
    first 64 KiB is an integer without a leading zero (ISBNs and zip codes keep theirs as
    strings), and again as strings if a later line holds a non-integer id.
    """
    _check_duplicate_rule(duplicates)
    rating_scale = check_rating_scale(rating_scale)
    sep = check_separator(sep)
    if header not in (None, True, False):
        raise ValueError(f"header must be True, False or None (find out), got {header!r}")
    columns = {"user": user, "item": item, "rating": rating, "timestamp": timestamp}
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (expected a ratings file)")
    if path.is_dir():
        for name in _KNOWN_NAMES:
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise ValueError(
                f"{path}: is a directory without a ratings file; expected one of {_KNOWN_NAMES}"
            )
    t0 = time.perf_counter()
    source = Source(path)
    if source.suffix in _PARQUET_SUFFIXES:
        if source.compression is not None:
            raise ValueError(
                f"{path}: a compressed parquet file; expected a plain .parquet file (parquet "
                "compresses its own columns)"
            )
        if sep is not None or header is not None:
            raise ValueError(f"{path}: sep= and header= are for text files, not parquet")
        ratings = _load_parquet(path, columns, rating_scale, duplicates)
    else:
        ratings = _load_text(source, sep, header, columns, rating_scale, duplicates)
    log.info(
        "loaded %s: %s ratings, %s users, %s items in %.2fs",
        source.where,
        f"{len(ratings):,}",
        f"{ratings.n_users:,}",
        f"{ratings.n_items:,}",
        time.perf_counter() - t0,
    )
    return ratings


def _load_text(source: Source, sep, header, columns, rating_scale, duplicates) -> Ratings:
    if source.path.stat().st_size == 0:
        raise ValueError(
            f"{source.where}: file is empty; expected ratings, one per line "
            "(user, item, rating[, timestamp])"
        )
    sample = source.head(SAMPLE_BYTES)
    if not sample:
        raise ValueError(
            f"{source.where}: file is empty (after decompression); expected ratings, one per "
            "line (user, item, rating[, timestamp])"
        )
    layout = find_layout(source.where, source.suffix, sample, sep, header, columns)
    cols, layout = read_columns(source, layout)
    row = first_outside(cols.ratings, rating_scale)
    if row is not None:
        line = line_numbers(source, layout, [row])[row]
        raise ValueError(
            f"{source.where}, line {line}: rating {cols.ratings[row]:g} is outside the rating "
            f"scale; expected {_scale_words(rating_scale)}"
        )
    ratings = Ratings(
        cols.user_index,
        cols.item_index,
        cols.user_codes,
        cols.item_codes,
        cols.ratings,
        cols.timestamps,
        source=str(source.path),
        rating_scale=rating_scale,
    )
    del cols

    def where(j: int, k: int) -> str:
        lines = line_numbers(source, layout, (j, k))
        return f"lines {lines[j]} and {lines[k]}"

    return _apply_duplicate_rule(ratings, duplicates, source.where, where)


def _load_parquet(path: Path, columns: dict, rating_scale, duplicates: str) -> Ratings:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise ValueError(
            f"{path}: not a readable parquet file ({err}); expected a parquet file with a "
            "user, an item and a rating column (and optionally a timestamp)"
        ) from None
    names = find_columns(str(path), table.column_names, columns)
    if table.num_rows == 0:
        raise ValueError(
            f"{path}: no ratings (the parquet file has no rows); expected one row per rating"
        )
    df = table.select([n for n in names.values() if n is not None]).to_pandas()
    del table
    return Ratings.from_frame(
        df,
        **names,
        duplicates=duplicates,
        source=str(path),
        rating_scale=rating_scale,
    )
