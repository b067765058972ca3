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
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
import fastrec
t1 = time.perf_counter()
r = fastrec.load_ratings(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "n": len(r),
                  "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="ml-25m")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", metavar="FILE", help="write the csv here and keep it")
    args = parser.parse_args()

    import fastrec.datasets

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "ratings.csv"
        if not path.exists():
            fastrec.datasets.write_csv(fastrec.datasets.synthetic(args.shape, seed=0), path)
        size_mb = path.stat().st_size / 2**20
        runs = []
        for _ in range(args.repeats + 1):  # the first run may compile kernels
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
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
