"""MovieLens movies files: ``movies.csv``, ``movies.dat`` and ml-100k's ``u.item``, read into
one table ``movieId, title, genres``.

>>> from fastrec.movies import load_movies             # doctest: +SKIP
>>> movies = load_movies("ml-100k/u.item")             # doctest: +SKIP

Every release's genres come out the same way: one ``|``-separated string per movie
(``"Adventure|Animation|Children"``), :data:`NO_GENRES` where a movie has none. The files
of a downloaded release are found by :func:`fastrec.movielens.movielens_movies`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["NO_GENRES", "ML100K_GENRES", "load_movies", "join_genre_flags"]

#: What :func:`load_movies` returns for a movie without a genre (as MovieLens writes it).
NO_GENRES = "(no genres listed)"

#: ml-100k's genres, in the order of the flags of ``u.item`` (as in its ``u.genre``).
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


def load_movies(path: str | os.PathLike) -> pd.DataFrame:
    """Read a MovieLens movies file into a DataFrame ``movieId (int64), title, genres (str)``.

    Formats, by file name: ``movies.csv`` (every release since ml-20m, with header
    ``movieId,title,genres``), ``movies.dat`` (ml-1m, ml-10m: ``MovieID::Title::Genres``)
    and ml-100k's ``u.item`` (``|``-separated, 19 genre flags; their names are read from
    ``u.genre`` beside it where present). ``genres`` is always one ``|``-separated string,
    ``"(no genres listed)"`` for none (ml-100k's ``unknown`` flag counts as none).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file and
    what was expected for anything else.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (expected a MovieLens movies file)")
    name = path.name.lower()
    if name.endswith(".csv"):
        movies = _read_movies_csv(path)
    elif name.endswith(".dat"):
        movies = _read_movies_dat(path)
    elif name.endswith(".item"):
        movies = _read_u_item(path)
    else:
        raise ValueError(
            f"{path}: unknown movies format; expected movies.csv (movieId,title,genres), "
            "movies.dat (ml-1m/ml-10m) or u.item (ml-100k)"
        )
    movies["genres"] = movies["genres"].fillna("").str.strip().replace("", NO_GENRES)
    return movies.reset_index(drop=True)


def _read_movies_csv(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(
            f"{path}: could not be read as a MovieLens movies.csv ({err}); expected the header "
            "'movieId,title,genres', then lines like '1,Toy Story (1995),Animation|Comedy'"
        ) from None
    missing = [c for c in ("movieId", "genres") if c not in df.columns]
    if missing:
        raise ValueError(
            f"{path}, line 1: missing column(s) {missing}; expected the header "
            f"'movieId,title,genres', found {list(df.columns)}"
        )
    if "title" not in df.columns:
        df["title"] = ""
    return pd.DataFrame(
        {
            "movieId": _movie_ids(df["movieId"], path, header=True),
            "title": df["title"],
            "genres": df["genres"],
        }
    )


def _read_movies_dat(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # ml-1m is Latin-1
        text = raw.decode("latin-1")
    lines = pd.Series([ln for ln in text.splitlines() if ln.strip()], dtype=object)
    if lines.empty:
        raise ValueError(f"{path}: no movies; expected lines like '1::Toy Story (1995)::Comedy'")
    head = lines.str.split("::", n=1, expand=True)
    tail = head[1].str.rsplit("::", n=1, expand=True) if head.shape[1] == 2 else None
    if tail is None or tail.shape[1] != 2 or tail[1].isna().any():
        bad = 0 if tail is None or tail.shape[1] != 2 else int(np.flatnonzero(tail[1].isna())[0])
        raise ValueError(
            f"{path}, line {bad + 1}: expected 'MovieID::Title::Genres', got {lines.iloc[bad]!r}"
        )
    return pd.DataFrame({"movieId": _movie_ids(head[0], path), "title": tail[0], "genres": tail[1]})


def _read_u_item(path: Path) -> pd.DataFrame:
    names = ML100K_GENRES
    genre_file = path.with_name("u.genre")
    if genre_file.is_file():
        listed = pd.read_csv(
            genre_file, sep="|", header=None, names=["genre", "k"], encoding="latin-1"
        ).dropna()
        names = tuple(listed.sort_values("k")["genre"])
    n_fields = 5 + len(names)
    try:
        df = pd.read_csv(
            path,
            sep="|",
            header=None,
            dtype=str,
            keep_default_na=False,
            encoding="latin-1",
            names=range(n_fields),
        )
    except pd.errors.ParserError as err:
        raise ValueError(
            f"{path}: could not be read as ml-100k u.item ({err}); expected {n_fields} "
            "'|'-separated fields per line (id, title, dates, URL, genre flags)"
        ) from None
    flags = df.iloc[:, 5:].to_numpy()
    if not np.isin(flags, ("0", "1")).all():
        row = int(np.flatnonzero(~np.isin(flags, ("0", "1")).all(axis=1))[0])
        raise ValueError(
            f"{path}, line {row + 1}: expected {len(names)} genre flags (0 or 1) after the URL"
        )
    known = np.array([g != "unknown" for g in names])
    genres = join_genre_flags(flags[:, known] == "1", np.asarray(names)[known])
    return pd.DataFrame({"movieId": _movie_ids(df[0], path), "title": df[1], "genres": genres})


def join_genre_flags(flags: np.ndarray, names) -> np.ndarray:
    """``object[n]``: the names of the set flags of each row of ``flags`` (``bool[n, g]``),
    joined with ``|`` in column order; ``"(no genres listed)"`` where none is set.

    Column by column (``g`` vectorised string additions), never a Python call per row.
    """
    flags = np.asarray(flags, dtype=bool)
    labels = np.asarray([f"{name}|" for name in names], dtype=object)
    joined = np.full(flags.shape[0], "", dtype=object)
    for j in range(flags.shape[1]):
        joined[flags[:, j]] += labels[j]
    out = pd.Series(joined, dtype=object).str[:-1]  # drop the trailing "|"
    return out.where(flags.any(axis=1), NO_GENRES).to_numpy(dtype=object)


def _movie_ids(col: pd.Series, path: Path, header: bool = False) -> np.ndarray:
    ids = pd.to_numeric(col.str.strip(), errors="coerce")
    bad = ids.isna().to_numpy() | (ids.to_numpy(dtype=float, na_value=np.nan) % 1 != 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{path}, line {row + 1 + int(header)}: movie id {col.iloc[row]!r} is not an "
            "integer; expected an integer movieId in every line"
        )
    return ids.to_numpy(dtype=np.int64)
