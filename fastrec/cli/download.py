"""``fastrec download NAME``: a MovieLens release into the cache; prints its directory."""

from __future__ import annotations

import sys

from ._common import RELEASE_NAMES, add_no_progress, progress_of


def add_parser(sub):
    dl = sub.add_parser(
        "download",
        help="download a MovieLens release into the cache and print its directory",
        description=(
            "Download a MovieLens release from GroupLens (checked against its pinned "
            "checksum), unpack it into the cache ($FASTREC_CACHE, default ~/.cache/fastrec) "
            "and print the directory. Does nothing but print it when it is already there. "
            "$FASTREC_MOVIELENS_URL names a mirror."
        ),
    )
    dl.add_argument("name", choices=RELEASE_NAMES, metavar="NAME", help=", ".join(RELEASE_NAMES))
    dl.add_argument("--cache-dir", metavar="DIR", help="cache directory (default: see above)")
    add_no_progress(dl)
    return dl


def run(args) -> None:
    from ..movielens import download_movielens

    folder = download_movielens(
        args.name, cache_dir=args.cache_dir, show_progress=progress_of(args)
    )
    sys.stdout.write(f"{folder}\n")
