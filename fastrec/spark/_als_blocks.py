"""The workers' side of :class:`fastrec.spark.ALS`: the rating blocks, the factor messages
between them, and the cogroup function that solves one block (see :mod:`fastrec.spark.als`).

Every array travels as the raw bytes of a Spark binary column (no per-rating rows after the
blocks are built) and is read back without a copy (:func:`numpy.frombuffer`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ._worker import ModelFiles, prepare_worker

__all__ = [
    "ITEMS",
    "USERS",
    "assemble",
    "block_keys",
    "build_blocks",
    "half_step",
    "initial_messages",
    "partitions",
    "spark_int_hash",
    "warm_messages",
]

#: The binary columns of a block row (see :func:`build_blocks`).
_BLOCK_ARRAYS = {
    "indptr": np.int64,
    "cols": np.int32,
    "z": np.float64,
    "need": np.int32,
    "out_ptr": np.int64,
    "out_rows": np.int32,
    "v_rows": np.int32,
    "v_cols": np.int32,
    "v_z": np.float64,
}
_BLOCK = T.StructType(
    [
        T.StructField("side", T.IntegerType(), False),
        T.StructField("blk", T.IntegerType(), False),
        T.StructField("b", T.IntegerType(), False),
        T.StructField("n_rows", T.IntegerType(), False),
        *[T.StructField(name, T.BinaryType(), False) for name in _BLOCK_ARRAYS],
    ]
)
#: One message: factor rows of block ``src`` for the block whose key is ``dst``; or, with
#: ``dst < 0``, a block's summary (its loss term, failed solves, its held-out pairs' sum of
#: squared errors ``vsse`` and count ``vcount`` and, in the last iteration, all its rows):
#: ``ITEMS`` an item block's, ``USERS`` a user block's.
_MESSAGE = T.StructType(
    [
        T.StructField("dst", T.IntegerType(), False),
        T.StructField("src", T.IntegerType(), False),
        T.StructField("codes", T.BinaryType(), False),
        T.StructField("bias", T.BinaryType(), False),
        T.StructField("factors", T.BinaryType(), False),
        T.StructField("loss", T.DoubleType(), False),
        T.StructField("failed", T.LongType(), False),
        T.StructField("vsse", T.DoubleType(), False),
        T.StructField("vcount", T.LongType(), False),
    ]
)
ITEMS, USERS = -1, -2
#: The summary of a block that solved nothing (see :func:`_messages`).
_NO_SUMMARY = (-1, 0.0, 0, 0.0, 0)
#: Bytes a Spark binary value can hold (under 2 GiB): a block's float64 ratings must fit.
_MAX_BINARY = 2**31 - 2**20
_ARROW_MESSAGE = pa.schema(
    [
        pa.field("dst", pa.int32(), False),
        pa.field("src", pa.int32(), False),
        pa.field("codes", pa.binary(), False),
        pa.field("bias", pa.binary(), False),
        pa.field("factors", pa.binary(), False),
        pa.field("loss", pa.float64(), False),
        pa.field("failed", pa.int64(), False),
        pa.field("vsse", pa.float64(), False),
        pa.field("vcount", pa.int64(), False),
    ]
)


def spark_int_hash(value: int, seed: int = 42) -> int:
    """Spark's ``hash(cast(value as int))``: Murmur3 x86 32-bit of one int, seed 42 (Spark's
    ``Murmur3_x86_32.hashInt``), as a signed 32-bit integer. Hash partitioning on an int
    column puts ``value`` in partition ``pmod(spark_int_hash(value), n)``."""
    mask = 0xFFFFFFFF

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & mask

    k1 = rotl((value & mask) * 0xCC9E2D51 & mask, 15) * 0x1B873593 & mask
    h1 = (rotl((seed & mask) ^ k1, 13) * 5 + 0xE6546B64) & mask
    h1 ^= 4
    h1 ^= h1 >> 16
    h1 = h1 * 0x85EBCA6B & mask
    h1 ^= h1 >> 13
    h1 = h1 * 0xC2B2AE35 & mask
    h1 ^= h1 >> 16
    return h1 - (1 << 32) if h1 >= 1 << 31 else h1


def partitions(spark, n_blocks: int) -> int:
    """Partitions (tasks per stage) for ``n_blocks`` blocks: at most
    ``spark.sql.shuffle.partitions``, so that more blocks than task slots do not pay a
    task's overhead each."""
    try:
        slots = int(spark.conf.get("spark.sql.shuffle.partitions"))
    except Exception:  # not set or not readable: one partition per block
        slots = n_blocks
    return max(1, min(n_blocks, slots))


def block_keys(n_blocks: int, n_parts: int | None = None) -> list[int]:
    """The partition key of each block: distinct ints ``v >= 0`` such that Spark's hash
    partitioning into ``n_parts`` partitions (default ``n_blocks``) sends block ``b`` to
    partition ``b % n_parts``, so that the blocks are spread evenly over the partitions
    (the tasks). Only the balance depends on it, not the result."""
    n_parts = n_blocks if n_parts is None else int(n_parts)
    waiting = {p: list(range(p, n_blocks, n_parts)) for p in range(n_parts)}
    keys: dict[int, int] = {}
    value = 0
    while len(keys) < n_blocks:
        queue = waiting[spark_int_hash(value) % n_parts]
        if queue:
            keys[queue.pop(0)] = value
        value += 1
    return [keys[b] for b in range(n_blocks)]


def half_step(
    blocks: DataFrame, messages: DataFrame, solve: dict, *, sse: bool, keep: bool
) -> DataFrame:
    """Solve every row of ``blocks`` with the other side's rows in ``messages``: the
    messages of the new rows and one summary row per block (holding all its rows when
    ``keep``).

    The user half (``sse`` false) reads only factor messages (``dst >= 0``) and addresses its
    summaries to ``dst = -1``; the item half (``sse`` true) reads those summaries too, as the
    group of key -1, and passes them on as ``dst = USERS``, its own summaries (whose loss
    includes the squared errors) as ``dst = ITEMS``; with ``keep`` it sends no factors on.
    The cached blocks are partitioned by their key, so only ``messages`` is shuffled.
    """
    run = _solver(sse=sse, send=not (sse and keep), keep=keep, **solve)
    incoming = messages if sse else messages.where(F.col("dst") >= 0)
    return blocks.groupBy("blk").cogroup(incoming.groupBy("dst")).applyInArrow(run, _MESSAGE)


def assemble(summary: pa.Table, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """All rows of one side from the last iteration's summary rows: float64[n, k], [n]."""
    factors, bias = np.zeros((n, k)), np.zeros(n)
    for j in range(summary.num_rows):
        codes = _blob(summary.column("codes")[j], np.int32)
        factors[codes] = _blob(summary.column("factors")[j], np.float64).reshape(-1, k)
        bias[codes] = _blob(summary.column("bias")[j], np.float64)
    return factors, bias


# ------------------------------------------------------------ the workers
def _blob(value, dtype) -> np.ndarray:
    """A binary Arrow scalar as a read-only numpy array (no copy)."""
    buf = value.as_buffer()
    return np.zeros(0, dtype=dtype) if buf is None else np.frombuffer(buf, dtype=dtype)


def _concat(column, dtype) -> np.ndarray:
    """The binary values of an Arrow column, decoded and concatenated in row order."""
    parts = [_blob(v, dtype) for chunk in column.chunks for v in chunk]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def build_blocks(
    coded: DataFrame, sizes, mu: float, spread: float, keys, n_parts: int, held=None
) -> DataFrame:
    """The rating blocks of both sides: ``side`` 0 the user blocks (rows are users, columns
    items), 1 the item blocks (rows items, columns users).

    Block ``b`` of a side holds its rows ``r`` with ``r % B == b`` (local row ``r // B``,
    ``n_rows`` of them) and, as raw bytes: ``indptr`` int64[n_rows + 1] and ``cols``
    int32[nnz] (a CSR, each row sorted by the other side's code; ``cols`` index ``need``),
    ``z`` float64[nnz] the standardised ratings ``(r - mu) / spread``, ``need`` int32 the
    sorted codes of the other side's rows rated in the block, ``out_ptr`` int64[B + 1] and
    ``out_rows`` int32 (for each block ``d`` of the other side,
    ``out_rows[out_ptr[d]:out_ptr[d + 1]]`` are the local rows rated there, sorted). The
    ratings are shuffled twice, once: grouped by (side, block), then partitioned by the
    block's key into ``n_parts`` partitions, so that each partition holds the same blocks of
    both sides (see :func:`block_keys`) and a cogroup on the key needs no shuffle of the
    blocks.

    ``held = (scratch, seed)`` builds the fit part of ``reg="auto"`` (see
    :class:`fastrec.ALS`): the pairs with ``keyed_uniform(seed, pair_keys(user_keys[u],
    item_keys[i])) < AUTO_VALIDATION`` (the keys read from ``user_keys.npy`` and
    ``item_keys.npy`` in the folder ``scratch``) are left out of the CSR. An item block keeps
    them as ``v_rows`` int32 (local item row), ``v_cols`` int32 (user code) and ``v_z``
    float64 (standardised rating); a user block adds to its out-links, for each of its users
    with ratings left, the item blocks where the user has held-out pairs, so that the user's
    row reaches every block that scores one of its pairs. Without ``held`` the ``v_*``
    arrays are empty.
    """
    n_blocks = len(keys)

    def held_out(side: int, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """The reg="auto" validation pairs among (row, col) codes of ``side``: bool[n]."""
        from ..kernels.keyed import keyed_uniform, pair_keys
        from ..models.als import AUTO_VALIDATION

        prepare_worker()
        files = ModelFiles(held[0])
        users, items = (row, col) if side == 0 else (col, row)
        user_keys = np.ascontiguousarray(files.array("user_keys")[users])
        item_keys = np.ascontiguousarray(files.array("item_keys")[items])
        return keyed_uniform(int(held[1]), pair_keys(user_keys, item_keys)) < AUTO_VALIDATION

    def build(table: pa.Table) -> pa.Table:
        side, b = int(table.column("side")[0].as_py()), int(table.column("b")[0].as_py())
        if 8 * table.num_rows >= _MAX_BINARY:
            raise ValueError(
                f"fastrec.spark.ALS: block {b} holds {table.num_rows:,} ratings, more than a "
                f"Spark binary value can (about {_MAX_BINARY // 8:,}); raise n_blocks"
            )
        row = table.column("row").to_numpy()
        local = row // n_blocks
        other = table.column("col").to_numpy().astype(np.int32)
        z = (table.column("r").to_numpy() - mu) / spread
        n_rows = len(range(b, sizes[side], n_blocks))
        if held is not None:
            out = held_out(side, row, other)
            v_rows, v_cols, v_z = local[out], other[out], z[out]
            local, other, z = local[~out], other[~out], z[~out]
        else:
            v_rows, v_cols, v_z = np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0)
        order = np.lexsort((other, local))
        local, other, z = local[order], other[order], z[order]
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(local, minlength=n_rows), out=indptr[1:])
        need, cols = np.unique(other, return_inverse=True)
        links = (other % n_blocks).astype(np.int64) * n_rows + local
        if side == 0 and len(v_rows):
            # the users with ratings left also go where their held-out pairs are scored
            rated = (np.diff(indptr) > 0)[v_rows]
            extra = (v_cols[rated] % n_blocks).astype(np.int64) * n_rows + v_rows[rated]
            links = np.concatenate([links, extra])
            v_rows, v_cols, v_z = v_rows[:0], v_cols[:0], v_z[:0]
        links = np.unique(links)
        out_ptr = np.searchsorted(links // n_rows, np.arange(n_blocks + 1)).astype(np.int64)
        arrays = {
            "indptr": indptr,
            "cols": cols.astype(np.int32),
            "z": z,
            "need": need.astype(np.int32),
            "out_ptr": out_ptr,
            "out_rows": (links % n_rows).astype(np.int32),
            "v_rows": v_rows.astype(np.int32),
            "v_cols": v_cols.astype(np.int32),
            "v_z": v_z,
        }
        columns = {"side": side, "blk": keys[b], "b": b, "n_rows": n_rows}
        return pa.table(
            {
                **{name: pa.array([value], pa.int32()) for name, value in columns.items()},
                **{
                    name: pa.array([np.ascontiguousarray(arrays[name]).tobytes()], pa.binary())
                    for name in _BLOCK_ARRAYS
                },
            }
        )

    def side(number: int, row: str, col: str) -> DataFrame:
        return coded.select(
            F.lit(number).alias("side"),
            (F.col(row) % F.lit(n_blocks)).alias("b"),
            F.col(row).alias("row"),
            F.col(col).alias("col"),
            F.col("r"),
        )

    ratings = side(0, "u", "i").unionAll(side(1, "i", "u"))
    built = ratings.groupBy("side", "b").applyInArrow(build, _BLOCK)
    return built.repartition(n_parts, "blk")


def _block_row(table, j: int) -> dict:
    out = {name: _blob(table.column(name)[j], dtype) for name, dtype in _BLOCK_ARRAYS.items()}
    out["b"] = int(table.column("b")[j].as_py())
    out["n_rows"] = int(table.column("n_rows")[j].as_py())
    return out


def _messages(block: dict, factors, bias, keys, summary: tuple, *, send: bool, keep: bool):
    """The Arrow rows a block sends: with ``send``, to each block ``d`` of the other side the
    rows it rates (codes int32, biases float64, factors float64[:, k], as bytes); then its
    summary ``(dst, loss, failed, vsse, vcount)``, holding every row of the block when
    ``keep``."""
    n_blocks, b = len(keys), block["b"]
    dst, codes, biases, rows = [], [], [], []
    if send:
        out_ptr, out_rows = block["out_ptr"], block["out_rows"]
        for d in range(n_blocks):
            sel = out_rows[out_ptr[d] : out_ptr[d + 1]]
            if len(sel):
                dst.append(keys[d])
                codes.append((sel.astype(np.int64) * n_blocks + b).astype(np.int32).tobytes())
                biases.append(bias[sel].tobytes())
                rows.append(factors[sel].tobytes())
    everything = np.arange(block["n_rows"], dtype=np.int64)
    dst.append(summary[0])
    codes.append((everything * n_blocks + b).astype(np.int32).tobytes() if keep else b"")
    biases.append(np.ascontiguousarray(bias).tobytes() if keep else b"")
    rows.append(np.ascontiguousarray(factors).tobytes() if keep else b"")
    count = len(dst)
    pad = [0] * (count - 1)
    return pa.Table.from_arrays(
        [
            pa.array(dst, pa.int32()),
            pa.array([b] * count, pa.int32()),
            pa.array(codes, pa.binary()),
            pa.array(biases, pa.binary()),
            pa.array(rows, pa.binary()),
            pa.array([*pad, float(summary[1])], pa.float64()),
            pa.array([*pad, int(summary[2])], pa.int64()),
            pa.array([*pad, float(summary[3])], pa.float64()),
            pa.array([*pad, int(summary[4])], pa.int64()),
        ],
        schema=_ARROW_MESSAGE,
    )


def initial_messages(
    item_blocks: DataFrame, scratch: str, init_std: float, seed: int, solve: dict
) -> DataFrame:
    """The initial item factors, sent to the user blocks: ``init_std * keyed_normals(seed,
    item_keys[code], k)`` for each item with ratings (zero otherwise), biases zero, computed
    in each item block from the item keys in ``scratch`` (no shuffle)."""
    k, keys = solve["k"], solve["keys"]

    def start(batches):
        from ..kernels.keyed import keyed_normals

        prepare_worker()
        item_keys = ModelFiles(scratch).array("item_keys")
        for batch in batches:
            for j in range(batch.num_rows):
                block = _block_row(batch, j)
                codes = np.arange(block["n_rows"], dtype=np.int64) * len(keys) + block["b"]
                factors = init_std * keyed_normals(seed, np.ascontiguousarray(item_keys[codes]), k)
                factors[np.diff(block["indptr"]) == 0] = 0.0
                zeros = np.zeros(len(codes))
                table = _messages(block, factors, zeros, keys, _NO_SUMMARY, send=True, keep=False)
                yield from table.to_batches()

    return item_blocks.mapInArrow(start, _MESSAGE)


def warm_messages(
    item_blocks: DataFrame, state: DataFrame, scratch: str, init_std: float, seed: int, solve: dict
) -> DataFrame:
    """The refit's first item messages after ``reg="auto"``'s walk: each item's factors and
    bias from ``state`` (the chosen penalty's item rows, the messages its last iteration sent
    to the fit part's user blocks), the keyed start of :func:`initial_messages` (bias zero)
    for the items that have none there (all their ratings held out), sent along the
    out-links of ``item_blocks`` (all the training ratings).

    One shuffle of the item rows: the messages are grouped by their source block's key.
    """
    k, keys = solve["k"], solve["keys"]
    key_of_src = F.element_at(F.array(*[F.lit(v) for v in keys]), F.col("src") + 1)
    rows = state.where(F.col("dst") >= 0).withColumn("src_key", key_of_src)

    def route(block_table: pa.Table, incoming: pa.Table) -> pa.Table:
        from ..kernels.keyed import keyed_normals

        prepare_worker()
        if block_table.num_rows == 0:  # no whole block without a fit block: nothing to send
            return _ARROW_MESSAGE.empty_table()
        block = _block_row(block_table, 0)
        n_blocks = len(keys)
        codes = np.arange(block["n_rows"], dtype=np.int64) * n_blocks + block["b"]
        item_keys = ModelFiles(scratch).array("item_keys")
        factors = init_std * keyed_normals(seed, np.ascontiguousarray(item_keys[codes]), k)
        factors[np.diff(block["indptr"]) == 0] = 0.0
        bias = np.zeros(len(codes))
        local = _concat(incoming.column("codes"), np.int32) // n_blocks
        factors[local] = _concat(incoming.column("factors"), np.float64).reshape(-1, k)
        bias[local] = _concat(incoming.column("bias"), np.float64)
        return _messages(block, factors, bias, keys, _NO_SUMMARY, send=True, keep=False)

    grouped = item_blocks.groupBy("blk").cogroup(rows.groupBy("src_key"))
    return grouped.applyInArrow(route, _MESSAGE)


def _solver(
    *, k, reg, reg_bias, weighted, keys, sse: bool, send: bool, keep: bool, clip=(-np.inf, np.inf)
):
    """The cogroup function of a half-step: (one block row, its incoming messages) ->
    the block's outgoing messages and summary (see :func:`_messages` and
    :func:`half_step`). The summary's loss is the block's share of the objective: its rows'
    penalty, plus (``sse``) its squared errors; with ``sse``, ``vsse`` and ``vcount`` are the
    sum of squared errors ``(clip(pred, *clip) - v_z)**2`` and the number of its held-out
    pairs scored (those whose user and item both have ratings left, standardised units)."""

    def run(block_table: pa.Table, incoming: pa.Table) -> pa.Table:
        from ..kernels.als import predict_biased_pairs, row_squared_errors, solve_biased_rows

        prepare_worker()
        if block_table.num_rows == 0:  # the group of key -1: the user half's summaries
            columns = [incoming.column(name).combine_chunks() for name in _ARROW_MESSAGE.names]
            columns[0] = pa.array(np.full(incoming.num_rows, USERS, dtype=np.int32))
            return pa.Table.from_arrays(columns, schema=_ARROW_MESSAGE)
        block = _block_row(block_table, 0)
        need, v_cols = block["need"], block["v_cols"]
        other, other_bias = np.zeros((len(need), k)), np.zeros(len(need))
        codes = _concat(incoming.column("codes"), np.int32)
        arrived = _concat(incoming.column("factors"), np.float64).reshape(-1, k)
        arrived_bias = _concat(incoming.column("bias"), np.float64)
        pos = np.searchsorted(need, codes)
        hit = pos < len(need)
        hit[hit] = need[pos[hit]] == codes[hit]
        covered = np.zeros(len(need), dtype=bool)
        covered[pos[hit]] = True
        # every row the ratings need, once, and otherwise only users of held-out pairs
        if hit.sum() != len(need) or not covered.all() or not np.isin(codes[~hit], v_cols).all():
            raise RuntimeError(
                f"fastrec.spark.ALS: block {block['b']} got {len(codes)} factor rows for "
                f"{len(need)} needed; the messages do not match the blocks"
            )
        other[pos[hit]] = arrived[hit]
        other_bias[pos[hit]] = arrived_bias[hit]
        n = block["n_rows"]
        factors, bias = np.zeros((n, k)), np.zeros(n)
        indptr, cols, z = block["indptr"], block["cols"], block["z"]
        args = (float(reg), float(reg_bias), bool(weighted))
        failed = solve_biased_rows(indptr, cols, z, other, other_bias, 0.0, *args, factors, bias)
        counts = np.diff(indptr).astype(np.float64)
        scale = counts if weighted else (counts > 0).astype(np.float64)
        loss = reg * (scale @ np.einsum("ij,ij->i", factors, factors))
        loss += reg_bias * (scale @ bias**2)
        if sse:
            loss += float(
                row_squared_errors(indptr, cols, z, factors, other, bias, other_bias, 0.0).sum()
            )
        vsse, vcount = 0.0, 0
        if sse and len(v_cols) and len(codes):
            # a held-out pair's user arrived exactly when it has ratings left (see build_blocks)
            by_code = np.argsort(codes, kind="stable")
            at = np.minimum(np.searchsorted(codes[by_code], v_cols), len(codes) - 1)
            found = codes[by_code][at] == v_cols
            v_rows = block["v_rows"]
            scored = found & (counts[v_rows] > 0)
            users = by_code[at][scored].astype(np.int32)
            pred = np.zeros(len(users))
            predict_biased_pairs(
                users, v_rows[scored], arrived, factors, arrived_bias, bias, 0.0, pred
            )
            vsse = float(np.sum((np.clip(pred, *clip) - block["v_z"][scored]) ** 2))
            vcount = len(users)
        summary = (ITEMS if sse else -1, loss, failed, vsse, vcount)
        return _messages(block, factors, bias, keys, summary, send=send, keep=keep)

    return run
