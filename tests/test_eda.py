"""fastrec.eda: the post's exploratory analysis, checked against a slow per-row reference."""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import pandas as pd
import pytest

import fastrec
from fastrec import eda
from fastrec.datasets import SHAPES, synthetic, synthetic_movies

TINY = dataclasses.replace(
    SHAPES["ml-latest-small"], name="tiny", n_users=40, n_items=300, n_ratings=2_500
)
PNG = b"\x89PNG\r\n\x1a\n"


def _reference_genres(ratings: fastrec.Ratings, movies: pd.DataFrame) -> pd.DataFrame:
    """The post's way, slowly: one genre list per movie, a Python loop over the ratings."""
    genres_of = {}
    for movie_id, genres in zip(movies["movieId"], movies["genres"], strict=True):
        genres_of.setdefault(movie_id, sorted(set(genres.split("|"))))
    rows: dict[str, dict] = {}
    for movie_id, value in zip(ratings.item_ids, ratings.ratings, strict=True):
        for g in genres_of.get(movie_id, []):
            r = rows.setdefault(g, {"ratings": 0, "sum": 0.0, "hist": {}, "rated": set()})
            r["ratings"] += 1
            r["sum"] += value
            r["hist"][value] = r["hist"].get(value, 0) + 1
            r["rated"].add(movie_id)
    out = {}
    for g, r in rows.items():
        out[g] = {
            "ratings": r["ratings"],
            "mean_rating": r["sum"] / r["ratings"],
            "rated_movies": len(r["rated"]),
            "hist": r["hist"],
        }
    return pd.DataFrame(out).T


def _hand_made():
    frame = pd.DataFrame(
        {
            "userId": [1, 1, 1, 2, 2, 3, 3, 3],
            "movieId": [10, 20, 40, 10, 30, 20, 30, 40],
            "rating": [4.0, 2.0, 5.0, 3.0, 1.0, 4.0, 5.0, 2.0],
        }
    )
    movies = pd.DataFrame(
        {
            "movieId": [10, 20, 30, 50],  # 40 is missing; 50 has no rating
            "title": ["A", "B", "C", "E"],
            "genres": ["Comedy|Drama", "Drama", "(no genres listed)", "Comedy|Horror"],
        }
    )
    return fastrec.Ratings.from_frame(frame), movies


def test_hand_made_numbers():
    ratings, movies = _hand_made()
    a = eda.analyze(ratings, movies)
    assert (a.n_users, a.n_movies, a.n_ratings) == (3, 4, 8)
    assert a.sparsity == pytest.approx(1 - 8 / 12)
    assert a.describe["mean"] == pytest.approx(3.25) and a.describe["count"] == 8
    assert a.rating_counts.to_dict() == {1.0: 1, 2.0: 2, 3.0: 1, 4.0: 2, 5.0: 2}
    assert sorted(a.ratings_per_user) == [2, 3, 3]
    assert sorted(a.ratings_per_movie) == [2, 2, 2, 2]
    g = a.genres
    assert list(g.index) == ["Comedy", "Drama", "(no genres listed)", "Horror"]  # best first
    assert g.loc["Drama", "ratings"] == 4 and g.loc["Drama", "mean_rating"] == pytest.approx(3.25)
    assert g.loc["Comedy", "ratings"] == 2 and g.loc["Comedy", "mean_rating"] == 3.5
    assert g.loc["Comedy", "movies"] == 2 and g.loc["Comedy", "rated_movies"] == 1
    assert g.loc["Horror", "ratings"] == 0 and np.isnan(g.loc["Horror", "mean_rating"])
    assert g.loc["(no genres listed)", "mean_rating"] == 3.0
    assert a.genre_rating_counts.loc["Drama"].to_dict() == {1.0: 0, 2.0: 1, 3.0: 1, 4.0: 2, 5.0: 0}
    assert any("2 ratings (25.0%) are of 1 movie(s) missing" in n for n in a.notes)
    summary = a.summary()
    json.dumps(summary)  # JSON-ready
    assert summary["genres"]["Comedy"] == {
        "movies": 2,
        "rated_movies": 1,
        "ratings": 2,
        "share": 0.25,
        "mean_rating": 3.5,
    }


def test_genres_match_the_slow_reference_on_synthetic_data():
    ratings = synthetic(TINY, seed=4)
    movies = synthetic_movies(TINY, seed=4)
    a = eda.analyze(ratings, movies)
    ref = _reference_genres(ratings, movies)
    assert set(a.genres.index[a.genres["ratings"] > 0]) == set(ref.index)
    for g, r in ref.iterrows():
        assert a.genres.loc[g, "ratings"] == r["ratings"]
        assert a.genres.loc[g, "rated_movies"] == r["rated_movies"]
        assert a.genres.loc[g, "mean_rating"] == pytest.approx(r["mean_rating"], rel=1e-12)
        hist = a.genre_rating_counts.loc[g]
        assert {v: c for v, c in hist.items() if c} == r["hist"]
    assert a.genres["mean_rating"].is_monotonic_decreasing
    np.testing.assert_array_equal(
        a.rating_counts.to_numpy(), pd.Series(ratings.ratings).value_counts().sort_index()
    )


def test_summary_counts_only_users_and_movies_with_ratings():
    ratings = synthetic(TINY, seed=2)
    train, _ = fastrec.train_test_split(ratings, test_size=0.9, seed=7)
    a = eda.analyze(train)
    assert a.n_users == len(np.unique(train.user_codes)) <= ratings.n_users
    assert a.n_movies == len(np.unique(train.item_codes)) < ratings.n_items
    assert a.sparsity == pytest.approx(1 - len(train) / (a.n_users * a.n_movies))
    pd.testing.assert_series_equal(a.describe, pd.Series(train.ratings).describe())
    assert a.genres is None and a.genre_rating_counts is None
    assert a.ratings_per_movie.sum() == a.ratings_per_user.sum() == len(train)


def test_many_distinct_rating_values_are_binned():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "userId": np.repeat(np.arange(50), 20),
            "movieId": np.tile(np.arange(20), 50),
            "rating": rng.uniform(1, 5, 1000),
        }
    )
    a = eda.analyze(fastrec.Ratings.from_frame(frame))
    assert len(a.rating_counts) == 20 and a.rating_counts.sum() == 1000
    assert any("20 bins" in n for n in a.notes)


def test_movies_table_problems():
    ratings, movies = _hand_made()
    with pytest.raises(ValueError, match="missing column 'genres'"):
        eda.analyze(ratings, movies.drop(columns="genres"))
    twice = pd.concat([movies, movies.iloc[[0]].assign(genres="Western")])
    a = eda.analyze(ratings, twice)
    assert "Western" not in a.genres.index
    assert any("twice" in n for n in a.notes)
    double = movies.assign(genres=movies["genres"].replace("Drama", "Drama|Drama"))
    assert eda.analyze(ratings, double).genres.loc["Drama", "ratings"] == 4


def test_synthetic_movies_look_like_movielens():
    movies = synthetic_movies("ml-1m", seed=0)
    assert len(movies) == SHAPES["ml-1m"].n_items
    np.testing.assert_array_equal(movies["movieId"], np.arange(1, len(movies) + 1))
    genres = movies["genres"].str.split("|")
    assert genres.map(lambda g: g == sorted(g) and len(set(g)) == len(g)).all()
    assert genres.map(len).between(1, 6).all()
    share = genres.explode().value_counts() / len(movies)
    assert share.index[0] == "Drama" and 0.3 < share["Drama"] < 0.5
    assert 0.001 < share["(no genres listed)"] < 0.01
    assert movies["title"].str.fullmatch(r"Synthetic movie \d+ \(\d{4}\)").all()
    pd.testing.assert_frame_equal(movies, synthetic_movies("ml-1m", seed=0))
    assert not movies.equals(synthetic_movies("ml-1m", seed=1))


def test_real_2016_file_matches_pandas(ml_small_2016_path):
    """The post's file: counts and a genre mean against a plain pandas merge."""
    movies = pd.read_csv(ml_small_2016_path.parent / "movies.csv")
    a = eda.analyze(ml_small_2016_path, ml_small_2016_path.parent / "movies.csv")
    assert (a.n_users, a.n_movies, a.n_ratings) == (671, 9066, 100_004)
    frame = pd.read_csv(ml_small_2016_path).merge(movies, on="movieId")
    pairs = frame.assign(genre=frame["genres"].str.split("|")).explode("genre")
    by_genre = pairs.groupby("genre")["rating"].agg(["size", "mean"])
    for g in ("Drama", "Film-Noir", "Horror"):
        assert a.genres.loc[g, "ratings"] == by_genre.loc[g, "size"]
        assert a.genres.loc[g, "mean_rating"] == pytest.approx(by_genre.loc[g, "mean"])


# --------------------------------------------------------------------- figures


@pytest.fixture(scope="module")
def analysis():
    pytest.importorskip("matplotlib")
    return eda.analyze(synthetic(TINY, seed=3), synthetic_movies(TINY, seed=3))


@pytest.mark.parametrize(
    "plot, title, xlabel",
    [
        (eda.plot_genre_means, "Mean rating by genre", "Mean rating (stars)"),
        (eda.plot_rating_histogram, "Rating histogram", "Rating (stars)"),
        (eda.plot_reviews_per_movie, "Ratings per movie", "Number of ratings of a movie"),
        (eda.plot_reviews_per_user, "Ratings per user", "Number of ratings of a user"),
    ],
)
def test_each_figure_has_title_and_labels(analysis, plot, title, xlabel):
    fig = plot(analysis)
    ax = fig.axes[0]
    assert ax.get_title().startswith(title)
    assert ax.get_xlabel().startswith(xlabel) and (ax.get_ylabel() or ax.get_yticklabels())


def test_genre_histogram_figure_has_one_panel_per_rated_genre(analysis):
    fig = eda.plot_rating_histogram_by_genre(analysis)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == int((analysis.genres["ratings"] > 0).sum())
    assert visible[0].get_title().startswith(analysis.genres["ratings"].idxmax())
    assert fig.get_suptitle().startswith("Rating histogram by genre")


def test_genre_figures_need_movies():
    pytest.importorskip("matplotlib")
    a = eda.analyze(synthetic(TINY, seed=3))
    with pytest.raises(ValueError, match="no movies table"):
        eda.plot_genre_means(a)


def test_report_writes_five_pngs_summary_and_markdown(tmp_path):
    pytest.importorskip("matplotlib")
    ratings, movies = synthetic(TINY, seed=5), synthetic_movies(TINY, seed=5)
    path = eda.report(ratings, movies, tmp_path / "out", show_progress=False)
    assert path == tmp_path / "out" / "report.md"
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert pngs == sorted(eda.FIGURES)
    for name in pngs:
        assert (tmp_path / "out" / name).read_bytes()[:8] == PNG
    text = path.read_text()
    for name in pngs:
        assert f"]({name})" in text
    assert "| users | 40 |" in text and "| ratings | 2,500 |" in text and "describe()" in text
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["ratings"] == 2_500 and "Drama" in summary["genres"]


def test_report_without_movies_leaves_out_the_genre_figures(tmp_path):
    pytest.importorskip("matplotlib")
    path = eda.report(synthetic(TINY, seed=5), None, tmp_path, show_progress=False)
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["rating_histogram.png", "reviews_per_movie.png", "reviews_per_user.png"]
    text = path.read_text()
    assert "genre.png" not in text and "No movies table was given" in text


def test_report_reads_paths(ml_small_2016_path, tmp_path):
    pytest.importorskip("matplotlib")
    path = eda.report(
        ml_small_2016_path, ml_small_2016_path.parent / "movies.csv", tmp_path, show_progress=False
    )
    text = path.read_text()
    assert "| users | 671 |" in text and "| Film-Noir | 133 | 121 | 1,140 |" in text


def test_missing_matplotlib_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "fastrec\[plots\]"'):
        eda.report(synthetic(TINY, seed=5), None, tmp_path, show_progress=False)
    assert list(tmp_path.iterdir()) == []
    assert eda.analyze(synthetic(TINY, seed=5)).n_ratings == 2_500  # numbers need no matplotlib
