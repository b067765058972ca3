"""``fastrec evaluate [PATH]``: fit and score models on the blog post's 80/20 split, print the
table."""

from __future__ import annotations

import sys
import warnings

from ._common import DEFAULT_SHAPE, PATH_HELP, add_no_progress, load, progress_of


def add_parser(sub):
    ev = sub.add_parser(
        "evaluate",
        help="fit and score every model on an 80/20 split, print one table",
        description=(
            "Fit and score models on the blog post's 80/20 split of PATH and print the table "
            "(RMSE, MAE, coverage, seconds). Without PATH: a built-in synthetic set shaped "
            f"like {DEFAULT_SHAPE}. PATH may also be a MovieLens release name (e.g. "
            "ml-latest-small, downloaded from GroupLens once) or 'synthetic:SHAPE' (e.g. "
            "synthetic:ml-1m)."
        ),
    )
    ev.add_argument("path", nargs="?", help=PATH_HELP)
    ev.add_argument(
        "--models",
        nargs="+",
        metavar="NAME",
        help="model names, each optionally with parameters: 'ItemKNN(k=40, exact=False)' "
        "(default: all)",
    )
    ev.add_argument(
        "--metrics",
        nargs="+",
        metavar="METRIC",
        help="score columns, in order: rmse, mae, precision@K, recall@K, ndcg@K "
        "(default: rmse mae); the table is sorted by the first (give PATH before this option)",
    )
    ev.add_argument(
        "--relevance-threshold",
        type=float,
        default=4.0,
        metavar="RATING",
        help="a test rating >= RATING is relevant to precision/recall/ndcg@K (default: 4.0)",
    )
    ev.add_argument("--test-size", type=float, default=0.2)
    ev.add_argument("--seed", type=int, default=7)
    ev.add_argument("--format", choices=("table", "csv", "json"), default="table")
    ev.add_argument("--output", metavar="FILE", help="write the table here instead of stdout")
    add_no_progress(ev)
    return ev


def run(args) -> None:
    from ..evaluate import evaluate_all, parse_metrics, resolve_models

    resolve_models(args.models)  # an unknown model name fails before any data is read
    parse_metrics(args.metrics)  # so does an unknown metric
    show_progress = progress_of(args)
    ratings = load(args.path, show_progress)
    with warnings.catch_warnings():  # skipped models are printed as notes below instead
        warnings.simplefilter("ignore")
        table = evaluate_all(
            ratings,
            models=args.models,
            metrics=args.metrics,
            relevance_threshold=args.relevance_threshold,
            test_size=args.test_size,
            seed=args.seed,
            show_progress=show_progress,
        )
    for note in table.attrs.get("notes", []):
        print(f"fastrec: note: {note}", file=sys.stderr)
    text = _formatted(table, args.format, ratings.source or "ratings", args.seed)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


def _formatted(table, form: str, source: str, seed: int) -> str:
    """The table as --format asks: CSV, JSON records, or a header line over aligned columns."""
    if form == "csv":
        return table.to_csv(index=False)
    if form == "json":
        return table.to_json(orient="records", indent=2) + "\n"
    header = (
        f"{source}: {table.attrs['n_train']:,} train / {table.attrs['n_test']:,} test ratings "
        f"(seed {seed})\n"
    )
    return header + table.to_string(index=False, float_format=lambda v: f"{v:.6f}") + "\n"
