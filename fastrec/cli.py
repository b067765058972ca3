"""Command line: ``fastrec evaluate [PATH]`` and ``fastrec synth SHAPE OUT.csv``.

Errors print one line on stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

DEFAULT_SHAPE = "ml-latest-small"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastrec", description="Fast, honest explicit-rating recommenders."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log timings to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser(
        "evaluate",
        help="fit and score every model on an 80/20 split, print one table",
        description=(
            "Fit and score models on the blog post's 80/20 split of PATH and print the table "
            "(RMSE, MAE, coverage, seconds). Without PATH: a built-in synthetic set shaped "
            f"like {DEFAULT_SHAPE}. PATH may also be 'synthetic:SHAPE' (e.g. synthetic:ml-1m)."
        ),
    )
    ev.add_argument("path", nargs="?", help="ratings.csv, u.data, ratings.dat or .parquet")
    ev.add_argument("--models", nargs="+", metavar="NAME", help="model names (default: all)")
    ev.add_argument("--test-size", type=float, default=0.2)
    ev.add_argument("--seed", type=int, default=7)
    ev.add_argument("--format", choices=("table", "csv", "json"), default="table")
    ev.add_argument("--output", metavar="FILE", help="write the table here instead of stdout")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")

    sy = sub.add_parser(
        "synth",
        help="write a synthetic MovieLens-shaped ratings.csv",
        description="Write synthetic ratings shaped like a MovieLens release as ratings.csv.",
    )
    sy.add_argument("shape", help="ml-100k, ml-latest-small, ml-1m, ml-10m, ml-20m or ml-25m")
    sy.add_argument("out", help="output .csv path")
    sy.add_argument("--seed", type=int, default=0)
    return parser


def _load(path: str | None):
    from .data import load_ratings

    if path is None or path.startswith("synthetic:"):
        from . import datasets
    if path is None:
        print(
            f"fastrec: no PATH given; running on a built-in synthetic {DEFAULT_SHAPE}-shaped "
            "set (fastrec.datasets.synthetic). Pass a ratings file for real results.",
            file=sys.stderr,
        )
        return datasets.synthetic(DEFAULT_SHAPE, seed=0)
    if path.startswith("synthetic:"):
        return datasets.synthetic(path.split(":", 1)[1], seed=0)
    return load_ratings(path)


def _evaluate(args) -> None:
    from .evaluate import evaluate_all, resolve_models

    resolve_models(args.models)  # an unknown model name fails before any data is read
    ratings = _load(args.path)
    with warnings.catch_warnings():  # skipped models are printed as notes below instead
        warnings.simplefilter("ignore")
        table = evaluate_all(
            ratings,
            models=args.models,
            test_size=args.test_size,
            seed=args.seed,
            progress=False if args.no_progress else None,
        )
    for note in table.attrs.get("notes", []):
        print(f"fastrec: note: {note}", file=sys.stderr)
    if args.format == "csv":
        text = table.to_csv(index=False)
    elif args.format == "json":
        text = table.to_json(orient="records", indent=2) + "\n"
    else:
        header = (
            f"{ratings.source or 'ratings'}: {table.attrs['n_train']:,} train / "
            f"{table.attrs['n_test']:,} test ratings (seed {args.seed})\n"
        )
        text = header + table.to_string(index=False, float_format=lambda v: f"{v:.6f}") + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


def _synth(args) -> None:
    from . import datasets

    ratings = datasets.synthetic(args.shape, seed=args.seed, show_progress=True)
    datasets.write_csv(ratings, args.out)
    print(f"fastrec: wrote {len(ratings):,} ratings to {args.out}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    try:
        if args.command == "evaluate":
            _evaluate(args)
        else:
            _synth(args)
    except (ValueError, FileNotFoundError, KeyError, ImportError, OSError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"fastrec: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
