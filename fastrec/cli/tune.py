"""``fastrec tune PATH --model NAME --grid PARAM=VALUES ...``: grid or random search over a
model's parameters on k folds of PATH (:func:`fastrec.tune`), print the table and the best
setting."""

from __future__ import annotations

import ast
import sys

from ._common import (
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
    tu = sub.add_parser(
        "tune",
        help="search a model's parameters on k folds of the training data",
        description=(
            "Grid (or, with --n-iter, random) search over a model's parameters: every setting "
            "fitted and scored on --cv folds of PATH, the table printed best first, the best "
            "setting refitted on all of PATH (--save writes it). PATH is the training data: "
            "keep the test set out of it."
        ),
    )
    tu.add_argument("path", help=PATH_HELP)
    tu.add_argument(
        "--model", required=True, metavar="NAME",
        help="the model, optionally with fixed parameters: 'BiasedMF(n_epochs=30)'",
    )  # fmt: skip
    tu.add_argument(
        "--grid", required=True, nargs="+", metavar="PARAM=VALUES",
        help="a parameter and its values as a Python list, e.g. n_factors=[50,100] "
        "lr=[0.005,0.01] (a single value is a list of one)",
    )  # fmt: skip
    tu.add_argument("--cv", type=int, default=3, help="number of folds (default: 3)")
    tu.add_argument(
        "--metric", default="rmse",
        help="the score to rank by: rmse, mae, precision@K, ndcg@K, catalog-ndcg@K, ... "
        "(default: rmse)",
    )  # fmt: skip
    tu.add_argument(
        "--relevance-threshold", type=float, default=4.0, metavar="RATING",
        help="a rating >= RATING is relevant to the ranking metrics (default: 4.0)",
    )  # fmt: skip
    tu.add_argument("--n-iter", type=int, help="random search: this many settings of the grid")
    tu.add_argument("--seed", type=int, default=0, help="the folds and --n-iter's draw")
    tu.add_argument("--jobs", type=int, help="fits at once (default: automatic)")
    tu.add_argument(
        "--format", choices=TABLE_FORMATS, default="table",
        help="how to print the table: aligned columns (default), csv, json or markdown",
    )  # fmt: skip
    tu.add_argument("--output", metavar="FILE", help="write the table here instead of stdout")
    tu.add_argument("--save", metavar="FILE", help="save the refitted best model here")
    add_no_progress(tu)
    add_read_options(tu)
    return tu


def parse_grid(items: list[str]) -> dict:
    """``["lr=[0.005, 0.01]", "reg=0.1"]`` -> ``{"lr": [0.005, 0.01], "reg": [0.1]}``: each
    value a Python literal (parsed, never evaluated); a list or tuple of values, or one
    value. Raises ``ValueError`` naming the item that is not ``PARAM=VALUES``."""
    grid = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ValueError(f"--grid {item!r}: expected PARAM=VALUES, e.g. lr=[0.005,0.01]")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise ValueError(
                f"--grid {item!r}: the values must be a Python literal list such as "
                "[0.005, 0.01] (strings quoted)"
            ) from None
        if name in grid:
            raise ValueError(f"--grid: {name} is given twice")
        grid[name] = list(value) if isinstance(value, (list, tuple)) else [value]
    return grid


def run(args) -> None:
    from ..evaluate import model_from_spec
    from ..tune import tune

    model = model_from_spec(args.model)  # a bad name or grid fails before any data is read
    grid = parse_grid(args.grid)
    show_progress = progress_of(args)
    ratings = load(args.path, show_progress, read_options(args))
    import_keras_quietly([model], getattr(args, "verbose", False))
    result = tune(
        model, grid, ratings, cv=args.cv, metric=args.metric, n_iter=args.n_iter,
        seed=args.seed, relevance_threshold=args.relevance_threshold, n_jobs=args.jobs,
        show_progress=show_progress,
    )  # fmt: skip
    title = (
        f"{ratings.source or 'ratings'}: {len(result.table)} settings x {args.cv} folds of "
        f"{len(ratings):,} ratings (seed {args.seed}); best: {result.best_model.name}, "
        f"{result.metric} {result.best_score:.6f}"
    )
    text = format_table(result.table, args.format, title)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    if args.save:
        result.best_model.save(args.save)
        print(f"fastrec: saved {result.best_model.name} to {args.save}", file=sys.stderr)
