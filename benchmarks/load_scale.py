"""Load time and peak memory of a MovieLens-25M-sized ratings.csv.

    python benchmarks/load_scale.py [--shape ml-25m] [--repeats 3] [--keep FILE]

Writes the synthetic ``--shape`` set as ratings.csv to a temporary folder (or ``--keep``),
then loads it ``--repeats`` times, each in a fresh process so that its peak resident set is
its own, and prints the median seconds and peak RSS (target, issue 2: well under a minute
and under 3 GB for 25M rows on two cores). The first load may compile Numba kernels
(cached afterwards); it is reported apart.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import emit, peak_gib, run_child


def child(path: str) -> dict:
    """One load in this (fresh) process: import and load seconds, peak memory."""
    t0 = time.perf_counter()
    import fastrec

    t1 = time.perf_counter()
    r = fastrec.load_ratings(path)
    t2 = time.perf_counter()
    return {"import_s": t1 - t0, "load_s": t2 - t1, "n": len(r), "peak_rss_gib": peak_gib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="ml-25m")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", metavar="FILE", help="write the csv here and keep it")
    parser.add_argument("--child", metavar="CSV", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        emit(child(args.child))
        return

    import fastrec.datasets

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "ratings.csv"
        if not path.exists():
            fastrec.datasets.write_csv(fastrec.datasets.synthetic(args.shape, seed=0), path)
        size_mb = path.stat().st_size / 2**20
        runs = []
        for _ in range(args.repeats + 1):  # the first run may compile kernels
            result, error, _seconds = run_child(__file__, ["--child", str(path)])
            if result is None:
                sys.exit(f"loading {path} failed: {error}")
            runs.append(result)
    first, timed = runs[0], runs[1:]
    print(f"{args.shape}: {timed[0]['n']:,} ratings, {size_mb:.0f} MiB csv")
    print(f"first load (may compile): {first['load_s']:.2f} s")
    print(
        f"load: median {statistics.median(r['load_s'] for r in timed):.2f} s over "
        f"{len(timed)} runs; peak RSS median "
        f"{statistics.median(r['peak_rss_gib'] for r in timed):.2f} GiB; "
        f"import fastrec {statistics.median(r['import_s'] for r in timed):.2f} s"
    )


if __name__ == "__main__":
    main()
