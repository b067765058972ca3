"""``fastrec synth SHAPE OUT.csv``: synthetic ratings shaped like a MovieLens release."""

from __future__ import annotations

import sys

from ._common import add_no_progress, progress_of, show_bar


def add_parser(sub):
    sy = sub.add_parser(
        "synth",
        help="write a synthetic MovieLens-shaped ratings.csv",
        description="Write synthetic ratings shaped like a MovieLens release as ratings.csv.",
    )
    sy.add_argument("shape", help="ml-100k, ml-latest-small, ml-1m, ml-10m, ml-20m or ml-25m")
    sy.add_argument("out", help="output .csv path")
    sy.add_argument("--seed", type=int, default=0)
    add_no_progress(sy)
    return sy


def run(args) -> None:
    from .. import datasets

    ratings = datasets.synthetic(
        args.shape, seed=args.seed, show_progress=show_bar(progress_of(args))
    )
    datasets.write_csv(ratings, args.out)
    print(f"fastrec: wrote {len(ratings):,} ratings to {args.out}", file=sys.stderr)
