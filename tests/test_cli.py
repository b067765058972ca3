"""The command line, run in-process through fastrec.cli.main and once as a real process."""

import json
import subprocess
import sys

import pytest

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
        "(expected a MovieLens ratings file)"
    )


def test_synth_writes_a_loadable_csv(tmp_path):
    import fastrec

    out = tmp_path / "ratings.csv"
    assert main(["synth", "ml-100k", str(out), "--seed", "3"]) == 0
    ratings = fastrec.load_ratings(out)
    assert len(ratings) == 100_000 and ratings.n_users == 943
