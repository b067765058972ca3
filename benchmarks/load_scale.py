"""Load time and peak memory of a MovieLens-25M-sized ratings file: plain, gzip-compressed, and
with string ids.

    python benchmarks/load_scale.py [--shape ml-25m] [--repeats 3] [--keep FILE]
                                    [--variants csv gz str]

Writes the synthetic ``--shape`` set as ratings.csv to a temporary folder (or ``--keep``,
kept), and beside it the variants asked for: ``gz``, the same file gzip-compressed
(``ratings.csv.gz``); ``str``, the same ratings with string ids (``u<id>``, ``m<id>``, columns
``user_id,item_id,rating,timestamp``). Each is loaded ``--repeats`` times, each load in a
fresh process so that its peak resident set is its own, and the median seconds and peak RSS
are printed, with each variant's time over the plain file's. Targets: issue 2, the plain
ml-25m file well under a minute and under 3 GB on two cores; issue 15, the gzip file within
2x the plain file's time, string ids within 3x and under 4 GB. The first load may compile
Numba kernels (cached afterwards); it is reported apart.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import emit, peak_gib, run_child

VARIANTS = ("csv", "gz", "str")
#: Targets of each variant's median load time over the plain file's (issue 15).
TARGET_RATIO = {"gz": 2.0, "str": 3.0}


def child(path: str) -> dict:
    """One load in this (fresh) process: import and load seconds, peak memory."""
    t0 = time.perf_counter()
    import fastrec

    t1 = time.perf_counter()
    r = fastrec.load_ratings(path)
    t2 = time.perf_counter()
    return {"import_s": t1 - t0, "load_s": t2 - t1, "n": len(r), "peak_rss_gib": peak_gib()}


def write_variant(variant: str, csv_path: Path) -> Path:
    """The ``variant`` file beside ``csv_path`` (written once, kept where it is)."""
    if variant == "csv":
        return csv_path
    if variant == "gz":
        path = csv_path.with_name(csv_path.name + ".gz")
        if not path.exists():
            with open(csv_path, "rb") as src, gzip.open(path, "wb", compresslevel=6) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        return path
    path = csv_path.with_name(csv_path.stem + "-str.csv")
    if not path.exists():
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(csv_path)

        def text(prefix: str, column: str):
            return pc.binary_join_element_wise(prefix, pc.cast(table[column], pa.string()), "")

        out = pa.table(
            {
                "user_id": text("u", "userId"),
                "item_id": text("m", "movieId"),
                "rating": table["rating"],
                "timestamp": table["timestamp"],
            }
        )
        del table
        pacsv.write_csv(out, path, write_options=pacsv.WriteOptions(quoting_style="none"))
    return path


def measure(path: Path, repeats: int) -> tuple[dict, list[dict]]:
    """The first load and the timed ones of ``path``, each in a fresh process."""
    runs = []
    for _ in range(repeats + 1):  # the first run may compile kernels
        result, error, _seconds = run_child(__file__, ["--child", str(path)])
        if result is None:
            sys.exit(f"loading {path.name} failed: {error}")
        runs.append(result)
    return runs[0], runs[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="ml-25m")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", metavar="FILE", help="write the csv (and variants) here; keep")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--child", metavar="CSV", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        emit(child(args.child))
        return

    import fastrec.datasets

    medians = {}
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(args.keep) if args.keep else Path(tmp) / "ratings.csv"
        if not csv_path.exists():
            fastrec.datasets.write_csv(fastrec.datasets.synthetic(args.shape, seed=0), csv_path)
        for variant in args.variants:
            path = write_variant(variant, csv_path)
            first, timed = measure(path, args.repeats)
            load_s = statistics.median(r["load_s"] for r in timed)
            medians[variant] = load_s
            ratio = ""
            if variant != "csv" and "csv" in medians:
                target = TARGET_RATIO[variant]
                x = load_s / medians["csv"]
                ratio = f"; {x:.2f}x the plain csv (target <= {target:.0f}x: "
                ratio += "met)" if x <= target else "NOT met)"
            print(
                f"{args.shape} {variant}: {timed[0]['n']:,} ratings, "
                f"{path.stat().st_size / 2**20:.0f} MiB file; first load (may compile) "
                f"{first['load_s']:.2f} s; load median {load_s:.2f} s over {len(timed)} runs; "
                f"peak RSS median {statistics.median(r['peak_rss_gib'] for r in timed):.2f} "
                f"GiB; import fastrec {statistics.median(r['import_s'] for r in timed):.2f} s"
                f"{ratio}",
                flush=True,
            )


if __name__ == "__main__":
    main()
