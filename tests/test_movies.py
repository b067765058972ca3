"""fastrec.movies: reading MovieLens movies files (movies.csv, movies.dat, u.item)."""

from __future__ import annotations

import numpy as np
import pytest

from fastrec.movies import join_genre_flags, load_movies


def test_load_movies_of_the_real_ml100k(ml100k_dir):
    movies = load_movies(ml100k_dir / "u.item")
    assert len(movies) == 1682 and list(movies.columns) == ["movieId", "title", "genres"]
    assert movies.loc[0, "title"] == "Toy Story (1995)"
    assert movies.loc[0, "genres"] == "Animation|Children's|Comedy"
    assert movies.loc[266, "genres"] == "(no genres listed)"  # the 'unknown' flag


def test_load_movies_of_the_real_latest_small(ml_small_path):
    movies = load_movies(ml_small_path.parent / "movies.csv")
    assert len(movies) == 9742 and movies["movieId"].dtype == np.int64
    assert movies.loc[0, "genres"] == "Adventure|Animation|Children|Comedy|Fantasy"


def test_join_genre_flags_matches_a_python_join():
    rng = np.random.default_rng(3)
    flags = rng.random((200, 7)) < 0.3
    names = [f"g{k}" for k in range(7)]
    expected = ["|".join(n for n, f in zip(names, row, strict=True) if f) for row in flags]
    expected = [e or "(no genres listed)" for e in expected]
    assert list(join_genre_flags(flags, names)) == expected


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("movies.csv", "movieId,title\n1,A\n", r"missing column\(s\) \['genres'\]"),
        ("movies.csv", "movieId,title,genres\nx,A,Drama\n", "line 2: movie id 'x' is not an"),
        ("movies.dat", "1::Toy Story (1995)\n", "line 1: expected 'MovieID::Title::Genres'"),
        ("movies.txt", "", "unknown movies format"),
    ],
)
def test_load_movies_errors_name_the_file_and_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_movies(path)
    assert str(path) in str(info.value)


def test_load_movies_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_movies(tmp_path / "movies.csv")
