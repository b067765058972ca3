"""``fastrec evaluate [PATH]``: fit and score models on the blog post's 80/20 split, print the
table."""

from __future__ import annotations

import sys
import warnings

from ._common import (
    DEFAULT_SHAPE,
    PATH_HELP,
    TABLE_FORMATS,
    add_no_progress,
    add_read_options,
    format_table,
    import_keras_quietly,
    load,
    progress_of,
    read_options,
)


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
    ev.add_argument(
        "--test-size",
        type=float,
        default=0.2,
        help="test share of the random and temporal splits (default: 0.2)",
    )
    ev.add_argument("--seed", type=int, default=7, help="the random split's and --cv's seed")
    ev.add_argument(
        "--cv",
        type=int,
        metavar="K",
        help="K-fold cross-validation (K >= 2): each metric's mean over K random folds of "
        "PATH, with its standard deviation in a column METRIC_std",
    )
    ev.add_argument(
        "--split",
        choices=("random", "temporal", "user-temporal"),
        default="random",
        help="random: the blog post's split (default); temporal: the latest --test-size "
        "share of the ratings by timestamp as test; user-temporal: each user's latest "
        "ratings as test (both need a timestamp column)",
    )
    ev.add_argument(
        "--test",
        metavar="TEST",
        help="a test ratings file: train on PATH, test on TEST (read as PATH is read)",
    )
    ev.add_argument(
        "--format",
        choices=TABLE_FORMATS,
        default="table",
        help="how to print the table: aligned columns (default), csv, json (records) or a "
        "markdown table",
    )
    ev.add_argument("--output", metavar="FILE", help="write the table here instead of stdout")
    add_no_progress(ev)
    add_read_options(ev)
    return ev


def run(args) -> None:
    from ..evaluate import evaluate_all, parse_metrics, resolve_models

    models, _ = resolve_models(args.models)  # an unknown model name fails before any data is read
    parse_metrics(args.metrics)  # so does an unknown metric
    if args.test and (args.cv is not None or args.split != "random"):
        raise ValueError("--test gives the test set: leave out --cv and --split")
    if args.test and args.path is None:
        raise ValueError("--test needs PATH, the training ratings")
    show_progress = progress_of(args)
    ratings = load(args.path, show_progress, read_options(args))
    data, split = ratings, args.split
    if args.test:
        from ..io import load_ratings

        data, split = None, (ratings, load_ratings(args.test, **read_options(args)))
    import_keras_quietly(models, getattr(args, "verbose", False))
    with warnings.catch_warnings():  # skipped models are printed as notes below instead
        warnings.simplefilter("ignore")
        table = evaluate_all(
            data,
            models=args.models,
            metrics=args.metrics,
            relevance_threshold=args.relevance_threshold,
            test_size=args.test_size,
            seed=args.seed,
            show_progress=show_progress,
            cv=args.cv,
            split=split,
        )
    for note in table.attrs.get("notes", []):
        print(f"fastrec: note: {note}", file=sys.stderr)
    text = format_table(table, args.format, _title(table, ratings.source or "ratings", args))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


def _title(table, source: str, args) -> str:
    """The line over the table: the data and the protocol."""
    n_train, n_test = table.attrs.get("n_train"), table.attrs.get("n_test")
    if args.cv:
        protocol = f"{args.cv}-fold cross-validation, seed {args.seed}"
    elif args.test:
        protocol = f"test set {args.test}"
    elif args.split != "random":
        protocol = f"{args.split} split"
    else:
        protocol = f"seed {args.seed}"
    if n_train is None or n_test is None:
        return f"{source} ({protocol})"
    per = " per fold" if args.cv else ""
    return f"{source}: {n_train:,} train / {n_test:,} test ratings{per} ({protocol})"
