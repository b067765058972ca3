"""Command line: ``fastrec evaluate [PATH]``, ``fastrec recommend PATH --model NAME``,
``fastrec eda PATH --out DIR``, ``fastrec download NAME`` and ``fastrec synth SHAPE OUT.csv``.

PATH is a ratings file (or a directory holding one), a MovieLens release name (ml-100k,
ml-latest-small, ml-1m, ml-10m, ml-20m, ml-25m: downloaded from GroupLens once, then read
from the cache; an existing file or directory of that name wins), or ``synthetic:SHAPE``.
Long steps show a progress bar on stderr when it is a terminal (``--no-progress`` hides it).
Errors print one line on stderr and exit with status 2, without a traceback. Third-party
start-up lines (TensorFlow's absl and oneDNN notices) are kept off stderr unless ``-v``.

Each subcommand is a module with ``add_parser(subparsers)`` and ``run(args)``; what several
share is in ``_common``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..memory import InsufficientMemoryError
from . import download, eda, evaluate, recommend, synth, tune
from ._common import DEFAULT_SHAPE, RELEASE_NAMES

__all__ = ["main", "DEFAULT_SHAPE", "RELEASE_NAMES"]

_SUBCOMMANDS = (evaluate, recommend, eda, tune, download, synth)  # in the order --help lists them


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastrec", description="Fast, honest explicit-rating recommenders."
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log timings to stderr, and let TensorFlow's start-up lines through",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in _SUBCOMMANDS:
        command.add_parser(sub).set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    try:
        args.run(args)
    except (
        ValueError,
        FileNotFoundError,
        KeyError,
        ImportError,
        OSError,
        InsufficientMemoryError,
    ) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"fastrec: error: {message}", file=sys.stderr)
        return 2
    return 0
