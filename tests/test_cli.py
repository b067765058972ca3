"""The command line, run in-process through fastrec.cli.main and once as a real process."""

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import fastrec
from fastrec.cli import main


def test_evaluate_prints_the_table(data_dir, capsys):
    path = data_dir / "ml-latest-small-2016" / "ratings.csv"
    assert main(["evaluate", str(path), "--models", "UserMean", "Bias", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "79,831 train / 20,173 test" in out
    assert "UserMean" in out and "0.965366" in out and "Bias" in out


def test_evaluate_json_to_file(data_dir, tmp_path):
    path = data_dir / "ml-100k" / "u.data"
    out = tmp_path / "table.json"
    code = main(
        [
            "evaluate",
            str(path),
            "--models",
            "ItemMean",
            "--format",
            "json",
            "--output",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    rows = json.loads(out.read_text())
    assert rows[0]["model"] == "ItemMean" and 0.9 < rows[0]["rmse"] < 1.2


def test_evaluate_without_path_uses_synthetic_data(capsys):
    assert main(["evaluate", "--models", "UserMean", "--format", "csv", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "synthetic" in captured.err
    assert captured.out.startswith("model,rmse,mae,coverage")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "/no/such/ratings.csv"], "/no/such/ratings.csv: no such file"),
        (["evaluate", "--models", "Nope"], "unknown model 'Nope'"),
        (["evaluate", "synthetic:ml-99m"], "ml-99m"),
    ],
)
def test_errors_are_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 2 and err[-1].startswith("fastrec: error:") and message in err[-1]


def test_python_dash_m_runs_and_fails_cleanly():
    proc = subprocess.run(
        [sys.executable, "-m", "fastrec", "evaluate", "/no/such/file.csv"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip() == "fastrec: error: /no/such/file.csv: no such file "
        "(expected a ratings file)"
    )


def test_synth_writes_a_loadable_csv(tmp_path):
    import fastrec

    out = tmp_path / "ratings.csv"
    assert main(["synth", "ml-100k", str(out), "--seed", "3"]) == 0
    ratings = fastrec.load_ratings(out)
    assert len(ratings) == 100_000 and ratings.n_users == 943


# ------------------------------------------- MovieLens names, download and eda


def _small_zip(tmp_path) -> bytes:
    """A zip laid out as GroupLens' ml-latest-small.zip, from a tiny synthetic set."""
    import dataclasses
    import io
    import zipfile

    from fastrec.datasets import SHAPES, synthetic, synthetic_movies, write_csv

    tiny = dataclasses.replace(
        SHAPES["ml-latest-small"], name="tiny", n_users=40, n_items=300, n_ratings=2_500
    )
    write_csv(synthetic(tiny, seed=1), tmp_path / "ratings.csv")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(tmp_path / "ratings.csv", "ml-latest-small/ratings.csv")
        zf.writestr("ml-latest-small/movies.csv", synthetic_movies(tiny, 1).to_csv(index=False))
    return buf.getvalue()


@pytest.fixture
def grouplens(tmp_path, monkeypatch):
    """A local stand-in for files.grouplens.org serving ml-latest-small.zip; the cache and
    the address are set through FASTREC_CACHE and FASTREC_MOVIELENS_URL."""
    import dataclasses
    import hashlib
    import http.server
    import threading

    from fastrec import movielens

    data = _small_zip(tmp_path)
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            requests.append(self.path)
            if self.path != "/movielens/ml-latest-small.zip":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    pinned = dataclasses.replace(
        movielens.RELEASES["ml-latest-small"], md5=hashlib.md5(data).hexdigest(), sha256=None
    )
    monkeypatch.setitem(movielens.RELEASES, "ml-latest-small", pinned)
    monkeypatch.setenv("FASTREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(
        "FASTREC_MOVIELENS_URL", f"http://127.0.0.1:{httpd.server_address[1]}/movielens"
    )
    yield requests
    httpd.shutdown()
    httpd.server_close()


def test_evaluate_accepts_a_movielens_name(grouplens, capsys):
    argv = [
        "evaluate",
        "ml-latest-small",
        "--models",
        "UserMean",
        "--format",
        "csv",
        "--no-progress",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("model,rmse,mae,coverage") and "UserMean" in out
    assert main(argv) == 0  # the second run reads the cache
    assert grouplens == ["/movielens/ml-latest-small.zip"]


def test_a_local_directory_named_like_a_release_wins(tmp_path, monkeypatch, capsys):
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.data").write_text(
        "".join(
            f"{u}\t{i}\t{1 + (u * i) % 5}\t{u * 100 + i}\n"
            for u in range(1, 30)
            for i in range(1, 20)
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FASTREC_MOVIELENS_URL", "http://127.0.0.1:9/unreachable")
    assert (
        main(["evaluate", "ml-100k", "--models", "ItemMean", "--format", "csv", "--no-progress"])
        == 0
    )
    assert "ItemMean" in capsys.readouterr().out


def test_download_prints_the_directory(grouplens, tmp_path, capsys):
    assert main(["download", "ml-latest-small", "--no-progress"]) == 0
    folder = tmp_path / "cache" / "movielens" / "ml-latest-small"
    assert capsys.readouterr().out.strip() == str(folder)
    assert (folder / "ratings.csv").is_file()
    assert main(["download", "ml-latest-small", "--cache-dir", str(tmp_path / "other")]) == 0
    assert capsys.readouterr().out.strip() == str(
        tmp_path / "other" / "movielens" / "ml-latest-small"
    )
    assert len(grouplens) == 2


def test_download_offline_is_one_clear_line(tmp_path, monkeypatch, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("FASTREC_MOVIELENS_URL", f"http://127.0.0.1:{port}/x")
    assert main(["download", "ml-1m", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fastrec: error: could not download ml-1m from")
    assert f"http://127.0.0.1:{port}/x/ml-1m.zip" in err[0]
    assert list((tmp_path / "movielens").iterdir()) == []


def test_download_refuses_an_unknown_name(capsys):
    with pytest.raises(SystemExit):
        main(["download", "ml-99m"])
    assert "invalid choice" in capsys.readouterr().err


def _pngs(folder):
    return sorted(p.name for p in folder.glob("*.png"))


def test_eda_of_a_ratings_file_uses_the_movies_beside_it(ml_small_2016_path, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from fastrec.eda import FIGURES

    out = tmp_path / "eda"
    assert main(["eda", str(ml_small_2016_path), "--out", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out / "report.md")
    assert "genres from" in captured.err and "movies.csv" in captured.err
    assert _pngs(out) == sorted(FIGURES)
    assert "| users | 671 |" in (out / "report.md").read_text()


def test_eda_of_a_release_name_and_of_a_synthetic_shape(grouplens, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from fastrec.eda import FIGURES

    assert main(["eda", "ml-latest-small", "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    assert _pngs(tmp_path / "a") == sorted(FIGURES)
    assert main(["eda", "synthetic:ml-100k", "--out", str(tmp_path / "b"), "--no-progress"]) == 0
    assert _pngs(tmp_path / "b") == sorted(FIGURES)
    assert "| ratings | 100,000 |" in (tmp_path / "b" / "report.md").read_text()


def test_eda_with_movies_option_and_without_movies(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import dataclasses

    from fastrec.datasets import SHAPES, synthetic, synthetic_movies, write_csv

    tiny = dataclasses.replace(
        SHAPES["ml-latest-small"], name="tiny", n_users=40, n_items=300, n_ratings=2_500
    )
    write_csv(synthetic(tiny, seed=0), tmp_path / "r.csv")
    assert main(["eda", str(tmp_path / "r.csv"), "--out", str(tmp_path / "none")]) == 0
    assert "no movies file" in capsys.readouterr().err
    assert len(_pngs(tmp_path / "none")) == 3
    synthetic_movies(tiny, 0).to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "with"
    argv = ["eda", str(tmp_path / "r.csv"), "--movies", str(tmp_path / "m.csv"), "--out", str(out)]
    assert main(argv) == 0
    assert len(_pngs(out)) == 5


def test_eda_without_matplotlib_fails_before_reading(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["eda", "/no/such/ratings.csv", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fastrec: error:") and 'pip install "fastrec[plots]"' in err
    assert not (tmp_path / "x").exists()


def test_evaluate_metrics_option_adds_ranking_columns(tmp_path, capsys):
    path = tmp_path / "ratings.csv"
    fastrec.datasets.write_csv(fastrec.datasets.synthetic("ml-100k", seed=2), path)
    code = main(
        [
            "evaluate",
            str(path),
            "--models",
            "Bias",
            "UserMean",
            "--metrics",
            "ndcg@5",
            "rmse",
            "--format",
            "csv",
            "--no-progress",
        ]
    )
    assert code == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert header[:3] == ["model", "ndcg@5", "rmse"]


def test_evaluate_unknown_metric_is_one_line_exit_2(capsys):
    assert main(["evaluate", "synthetic:ml-100k", "--metrics", "map@10", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown metric 'map@10'" in err[0]


# ------------------------------------------------------------------ recommend


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    """A small synthetic ratings.csv (60 users, 300 movies, 4,000 ratings)."""
    import dataclasses

    from fastrec.datasets import SHAPES, synthetic, write_csv

    tiny = dataclasses.replace(
        SHAPES["ml-latest-small"], name="tiny", n_users=60, n_items=300, n_ratings=4_000
    )
    path = tmp_path_factory.mktemp("recommend") / "ratings.csv"
    write_csv(synthetic(tiny, seed=3), path)
    return path


def _recommend(argv, capsys):
    """Run ``fastrec recommend`` in-process; its stdout as a DataFrame (or None) and stderr."""
    import io

    import pandas as pd

    assert main(["recommend", *argv]) == 0
    captured = capsys.readouterr()
    frame = pd.read_csv(io.StringIO(captured.out)) if captured.out else None
    return frame, captured.err


def test_recommend_every_user_to_csv(small_csv, tmp_path, capsys):
    import numpy as np
    import pandas as pd

    out = tmp_path / "recs.csv"
    argv = [str(small_csv), "--model", "ALS", "-n", "7", "--out", str(out), "--no-progress"]
    frame, err = _recommend(argv, capsys)
    assert frame is None  # nothing on stdout
    recs = pd.read_csv(out)
    assert list(recs.columns) == ["userId", "rank", "movieId", "score"]
    ratings = fastrec.load_ratings(small_csv)
    model = fastrec.ALS().fit(ratings)  # the same model on the same (whole) file
    assert sorted(recs["userId"].unique()) == sorted(ratings.user_index)
    assert (recs.groupby("userId").size() == 7).all()
    assert (recs.groupby("userId")["rank"].agg(list).map(lambda r: r == list(range(1, 8)))).all()
    np.testing.assert_array_equal(
        recs["score"].to_numpy(), model.predict(recs["userId"], recs["movieId"])
    )
    assert (np.diff(recs["score"].to_numpy())[np.diff(recs["rank"].to_numpy()) > 0] <= 0).all()
    rated = set(
        zip(
            ratings.user_index[ratings.user_codes],
            ratings.item_index[ratings.item_codes],
            strict=True,
        )
    )
    assert not rated & set(zip(recs["userId"], recs["movieId"], strict=True))  # seen: left out
    assert err.strip().splitlines()[-1].endswith(f"420 rows written to {out}")
    assert "ALS fitted on all 4,000 ratings" in err and "top 7 for 60 users in" in err

    seen, _ = _recommend([str(small_csv), "--model", "als", "-n", "7", "--include-seen"], capsys)
    assert len(seen) == 420 and rated & set(zip(seen["userId"], seen["movieId"], strict=True))
    np.testing.assert_array_equal(
        seen["score"].to_numpy(), model.predict(seen["userId"], seen["movieId"])
    )


def test_recommend_for_some_users_and_unknown_ones(small_csv, tmp_path, capsys):
    argv = [str(small_csv), "--model", "Bias", "-n", "4", "--users", "5", "2", "5", "999999"]
    frame, err = _recommend(argv, capsys)
    assert list(frame["userId"].unique()) == [5, 2, 999999]  # order kept, repeats dropped
    assert len(frame) == 12
    model = fastrec.Bias().fit(fastrec.load_ratings(small_csv))
    fallback = model.recommend(999999, n=4)  # the documented fallback ranking
    assert frame[frame["userId"] == 999999]["movieId"].tolist() == fallback["movieId"].tolist()
    assert "top 4 for 3 users (1 unknown: the fallback ranking)" in err

    users = tmp_path / "users.csv"
    users.write_text("userId,note\n# a comment\n2,x\n\n7\n")
    frame, err = _recommend([str(small_csv), "--model", "Bias", "--users-file", str(users)], capsys)
    assert list(frame["userId"].unique()) == [2, 7] and len(frame) == 20
    assert "(none unknown)" in err


def test_recommend_save_then_load_gives_the_same_output(small_csv, tmp_path, capsys):
    saved = tmp_path / "model.fastrec"
    argv = [str(small_csv), "--model", "BiasedMF", "-n", "5", "--save", str(saved)]
    fitted, err = _recommend(argv, capsys)
    assert saved.is_file() and f"model saved to {saved}" in err
    loaded, err = _recommend(["--load", str(saved), "-n", "5"], capsys)
    assert f"BiasedMF loaded from {saved}" in err
    assert loaded.equals(fitted)
    some, _ = _recommend(["--load", str(saved), "-n", "5", "--users", "3"], capsys)
    assert some.reset_index(drop=True).equals(fitted[fitted["userId"] == 3].reset_index(drop=True))


def test_recommend_writes_parquet(small_csv, tmp_path, capsys):
    pytest.importorskip("pyarrow")
    import pandas as pd

    out = tmp_path / "recs.parquet"
    stdout, _ = _recommend([str(small_csv), "--model", "ItemMean", "--out", str(out)], capsys)
    assert stdout is None
    recs = pd.read_parquet(out)
    as_csv, _ = _recommend([str(small_csv), "--model", "ItemMean"], capsys)
    assert list(recs.columns) == ["userId", "rank", "movieId", "score"] and len(recs) == 600
    pd.testing.assert_frame_equal(recs, as_csv)


def test_recommend_progress_flag_shows_a_bar(small_csv, capsys):
    _, err = _recommend([str(small_csv), "--model", "SVD", "-n", "2", "--progress"], capsys)
    assert "SVD top-2" in err  # recommend_all's bar, although stderr is not a terminal
    _, err = _recommend([str(small_csv), "--model", "SVD", "-n", "2"], capsys)
    assert "SVD top-2" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--model", "Nope"],
            "argument --model: unknown model 'Nope'; expected one of ['UserMean', 'ItemMean',",
        ),
        (["--model", "Bias", "-n", "0"], "argument -n/--n: must be an integer >= 1"),
        (["--model", "Bias", "--n", "ten"], "argument -n/--n: must be an integer >= 1"),
        ([], "--model is required"),
        (["--load", "m.fastrec"], "PATH (ratings.csv) is not used with --load"),
        (["--model", "Bias", "--users", "1", "--users-file", "u.txt"], "not allowed with"),
    ],
)
def test_recommend_argument_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["recommend", "ratings.csv", *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: fastrec recommend") and message in err


def test_recommend_without_path_or_load(capsys):
    with pytest.raises(SystemExit):
        main(["recommend", "--model", "Bias"])
    assert "give PATH (ratings to fit --model on) or --load MODEL_FILE" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--users", "1", "x1"], "--users: 'x1' is not a user id: the user ids here are integers"),
        (["--users-file", "/no/such/users.txt"], "--users-file /no/such/users.txt: no such file"),
        (["--out", "/no/such/dir/recs.csv"], "--out /no/such/dir/recs.csv: no directory"),
        (["--save", "/no/such/dir/m.fastrec"], "--save /no/such/dir/m.fastrec: no directory"),
    ],
)
def test_recommend_runtime_errors_are_one_line(small_csv, extra, message, capsys):
    assert main(["recommend", str(small_csv), "--model", "Bias", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fastrec: error:") and message in err[0]


def test_recommend_load_of_a_missing_or_foreign_file(tmp_path, capsys):
    assert main(["recommend", "--load", str(tmp_path / "none.fastrec")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "foreign.fastrec").write_text("not a model")
    assert main(["recommend", "--load", str(tmp_path / "foreign.fastrec")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a fastrec model file" in err[0]


def test_recommend_takes_model_parameters(tmp_path, capsys):
    path = tmp_path / "r.csv"
    fastrec.datasets.write_csv(fastrec.datasets.synthetic("ml-100k", seed=2), path)
    out = tmp_path / "recs.csv"
    assert main(["recommend", str(path), "--model", "ItemKNN(k=20, exact=False)",
                 "-n", "3", "--users", "1", "2", "--out", str(out)]) == 0  # fmt: skip
    assert "ItemKNN" in capsys.readouterr().err
    got = pd.read_csv(out)
    model = fastrec.ItemKNN(k=20, exact=False).fit(fastrec.load_ratings(path))
    np.testing.assert_allclose(got.score, model.predict(got.userId, got.movieId), rtol=1e-12)
    with pytest.raises(SystemExit):
        main(["recommend", str(path), "--model", "ItemKNN(kk=20)"])
    assert "no parameter kk" in capsys.readouterr().err


# ------------------------------------------------------- any ratings file, formats, noise


@pytest.fixture(scope="module")
def text_ids(tmp_path_factory):
    """A gzip-compressed, semicolon-separated file of string ids on a 1..10 scale, with
    columns fastrec does not guess: who;what;grade;when."""
    import gzip

    rng = np.random.default_rng(5)
    pairs = sorted({(u, i) for u, i in rng.integers(0, [40, 120], (2500, 2)).tolist()})
    grades = rng.integers(1, 11, len(pairs))
    lines = [
        f"reader-{u};book {i:03d};{g};{k}"
        for k, ((u, i), g) in enumerate(zip(pairs, grades, strict=True))
    ]
    path = tmp_path_factory.mktemp("text_ids") / "books.txt.gz"
    path.write_bytes(gzip.compress(("who;what;grade;when\n" + "\n".join(lines) + "\n").encode()))
    return path


READ_FLAGS = ["--user-col", "who", "--item-col", "what", "--rating-col", "grade",
              "--timestamp-col", "when", "--sep", ";", "--rating-scale", "1", "10"]  # fmt: skip


def test_evaluate_reads_any_file_with_the_reading_flags(text_ids, capsys):
    argv = ["evaluate", str(text_ids), *READ_FLAGS, "--models", "Bias", "ItemMean",
            "--format", "csv", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(table["model"]) == {"Bias", "ItemMean"}
    ratings = fastrec.load_ratings(text_ids, user="who", item="what", rating="grade",
                                   timestamp="when", sep=";", rating_scale=(1, 10))  # fmt: skip
    expected = fastrec.evaluate_all(ratings, models=["Bias"], show_progress=False)
    got = table.set_index("model").loc["Bias", "rmse"]
    assert got == pytest.approx(expected.set_index("model").loc["Bias", "rmse"], rel=1e-12)


def test_evaluate_positions_and_header_flags(tmp_path, capsys):
    path = tmp_path / "r.tsv"
    body = "".join(f"{i}\t{u}\t{1 + (u * i) % 5}\n" for u in range(30) for i in range(20))
    path.write_text("x\ty\tz\n" + body)
    argv = ["evaluate", str(path), "--user-col", "1", "--item-col", "0", "--rating-col", "2",
            "--header", "--sep", "tab", "--models", "UserMean", "--format", "csv"]  # fmt: skip
    assert main(argv) == 0 and "UserMean" in capsys.readouterr().out
    argv[argv.index("--header")] = "--no-header"  # line 1 is data now, and its rating is 'z'
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "line 1: rating 'z' is not a finite number" in err


def test_evaluate_markdown_format(tmp_path, capsys):
    path = tmp_path / "ratings.csv"
    fastrec.datasets.write_csv(fastrec.datasets.synthetic("ml-100k", seed=2), path)
    assert main(["evaluate", str(path), "--models", "Bias", "UserMean", "--format",
                 "markdown", "--no-progress"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{path}: ") and "train /" in lines[0] and lines[1] == ""
    assert lines[2] == "| model | rmse | mae | coverage | fit_s | predict_s | compile_s |"
    assert lines[3] == "|---|---:|---:|---:|---:|---:|---:|"
    rows = [line.split(" | ") for line in lines[4:]]
    assert len(rows) == 2 and {r[0] for r in rows} == {"| Bias", "| UserMean"}
    assert all(len(cell.split(".")[-1].rstrip(" |")) == 6 for r in rows for cell in r[1:])


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--rating-scale", "1", "5"], "line 3: rating 7 is outside the rating scale"),
        (["--rating-scale", "5", "1"], "rating_scale must be two finite numbers lo < hi"),
        (["--sep", "ab"], "sep must be one character"),
        (["--user-col", "nope"], "no column 'nope' (user= / --user-col); the columns are"),
    ],
)
def test_evaluate_reading_errors_are_one_line(tmp_path, extra, message, capsys):
    path = tmp_path / "r.csv"
    path.write_text("userId,user_id,movieId,rating\n1,1,1,4\n2,2,1,7\n")
    assert main(["evaluate", str(path), "--user-col", "userId", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fastrec: error:") and message in err[0]


def test_evaluate_ambiguous_columns_are_one_line_listing_them(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text("userId,user_id,movieId,rating\n1,1,1,4\n")
    assert main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "columns ['userId', 'user_id'] could each be the user id" in err[0]
    assert "the columns are ['userId', 'user_id', 'movieId', 'rating']" in err[0]


def test_reading_flags_refused_for_synthetic_and_release_names(capsys):
    assert main(["evaluate", "synthetic:ml-100k", "--sep", ";", "--rating-scale", "1", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--sep, --rating-scale: for reading a ratings file, not synthetic:ml-100k" in err


def test_recommend_with_string_ids_save_and_load(text_ids, tmp_path, capsys):
    saved = tmp_path / "m.fastrec"
    argv = [str(text_ids), *READ_FLAGS, "--model", "BiasedMF", "-n", "3",
            "--users", "reader-7", "nobody", "reader-2", "--save", str(saved)]  # fmt: skip
    fitted, err = _recommend(argv, capsys)
    assert list(fitted.columns) == ["who", "rank", "what", "score"]
    assert list(fitted["who"].unique()) == ["reader-7", "nobody", "reader-2"]
    assert fitted["what"].str.startswith("book ").all() and len(fitted) == 9
    assert fitted["score"].between(1, 10).all()
    assert "(1 unknown: the fallback ranking)" in err
    loaded, _ = _recommend(["--load", str(saved), "-n", "3", "--users", "reader-7", "nobody",
                            "reader-2"], capsys)  # fmt: skip
    pd.testing.assert_frame_equal(loaded, fitted)


def _keras_missing() -> str | None:
    from fastrec.models.keras.backend import missing_dependency

    return missing_dependency()


@pytest.mark.skipif(_keras_missing() is not None, reason="needs Keras and TensorFlow")
def test_no_tensorflow_start_up_lines_without_v(tmp_path):
    path = tmp_path / "ratings.csv"
    body = "".join(f"{u},{i},{1 + (u + i) % 5}\n" for u in range(20) for i in range(15))
    path.write_text("user,item,rating\n" + body)
    argv = [sys.executable, "-m", "fastrec", "evaluate", str(path), "--models", "DotProduct",
            "Bias", "--format", "csv", "--no-progress"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("model,rmse") and "DotProduct" in proc.stdout
    assert proc.stderr == ""  # no absl / oneDNN / cpu_feature_guard lines, nothing at all


def test_recommend_load_refuses_the_reading_flags(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["recommend", "--load", "m.fastrec", "--rating-scale", "-10", "10"])
    assert exit_.value.code == 2
    assert "options for reading PATH are not used with --load" in capsys.readouterr().err
