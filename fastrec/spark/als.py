"""Biased ALS on Spark: :class:`fastrec.ALS`'s model fitted by Spark MLlib's block algorithm.

Layout (Spark MLlib's ALS, ``ml/recommendation/ALS.scala``, with fastrec's solver):

- The ratings are grouped once into ``B`` user blocks (user code ``u`` in block ``u % B``,
  local row ``u // B``) and ``B`` item blocks, one DataFrame row per block holding a
  block-local CSR (user blocks) or CSC (item blocks) of the standardised ratings as binary
  columns, each row sorted by the other side's code, as :class:`fastrec.Ratings` sorts
  them. Each block also holds its "out-links": for every block of the other side, which of
  its rows are rated there. The blocks are cached, hash-partitioned by a key per block
  (``_als_blocks.block_keys``) into ``min(B, spark.sql.shuffle.partitions)`` partitions.
- One half-iteration is one shuffle: the fixed side's new factor rows (code, bias, factors,
  as binary) travel only to the blocks that need them (the out-links) and are cogrouped
  with the cached rating blocks (``groupBy().cogroup().applyInArrow``; the blocks are
  already partitioned by the key, so they are not shuffled); each block is solved by
  :func:`fastrec.kernels.als.solve_biased_rows` on block-local arrays, exactly the
  single-machine arithmetic for each row, and sends its own new rows on at once.
- One iteration (both halves) is one Spark job; its result, the item rows addressed to the
  user blocks, is checkpointed locally (``localCheckpoint``) so that the plan does not grow
  with the iterations. The blocks' shares of the objective and, in the last iteration, all
  the fitted rows come back to the driver as one summary row per block.
- The initial item factors are ``init_std * keyed_normals(seed, id_keys(item id), k)``
  (:mod:`fastrec.kernels.keyed`, :func:`fastrec.keys.id_keys`), as the single-machine model
  draws them, computed in the workers from the ids: no factor depends on the number of
  blocks, so neither does the fit.
- ``reg="auto"``: the single-machine walk (:func:`fastrec.models.als.walk_penalties`,
  :func:`~fastrec.models.als.choose_penalty`) over a second set of blocks, the fit part
  (the keyed validation pairs left out of the CSRs, kept by the item blocks, and the user
  rows also sent where their held-out pairs are, see ``_als_blocks.build_blocks``). Each
  penalty's state is its last iteration's item messages (locally checkpointed); its
  validation RMSE is summed in the item blocks during that iteration's item half and comes
  back with the summaries (no rating reaches the driver). The refit's first messages route
  the chosen state's item rows from their fit blocks to the blocks of all the ratings.

Only DataFrame and Arrow APIs are used (no RDD, no broadcast), so it runs under Spark
Connect. The driver holds the final factors (collected after the last iteration).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from .. import models
from ..keys import id_keys
from ..models._common import TrainingLog
from ..models.als import (
    AUTO_MAX_STEPS,
    AUTO_REFIT_ITERS,
    auto_penalty,
    choose_penalty,
    walk_penalties,
)
from ._als_blocks import (
    ITEMS,
    USERS,
    assemble,
    block_keys,
    build_blocks,
    half_step,
    initial_messages,
    partitions,
    warm_messages,
)
from ._worker import ModelFiles
from .base import FitContext, SparkRecommender

__all__ = ["ALS"]

log = logging.getLogger(__name__)


class ALS(SparkRecommender):
    """:class:`fastrec.ALS` (biased matrix factorization by alternating least squares) fitted
    on Spark by MLlib's block algorithm (see the module docstring).

    Same model, parameters and fitted state as :class:`fastrec.ALS`: fitted to the
    standardised ratings ``z = (r - mu) / s``, ``pred(u, i) = clip(mu + b_u + b_i + x_u .
    y_i)`` in rating units, the :class:`fastrec.Bias` fallback for unknown users and items.
    Each row's normal equations are solved by the single-machine kernel from the same
    numbers in the same order, and the initial item factors are keyed by (``seed``, item
    id), so the predictions equal the single-machine model's on the same training rows (to
    rounding: the mean and spread are Spark's sums) for any ``n_blocks``. ``reg="auto"``
    chooses the penalty as the single-machine model does (the same keyed validation pairs,
    grid, walk, vertex and warm-started refit; see :class:`fastrec.ALS`), with the
    validation RMSE summed in the workers.

    Parameters
    ----------
    n_factors : int, default 100
    n_iter : int, default 10
        Alternations (one user half-step plus one item half-step: one Spark job).
    reg : float or "auto", default 0.09
        L2 penalty of the factors (per rating when ``weighted``); ``"auto"``: chosen in
        ``fit`` on a keyed slice of the training ratings, as :class:`fastrec.ALS` does.
    reg_bias : float, default 0.1
    weighted : bool, default True
        ALS-WR: the penalties scaled by each row's number of ratings.
    init_std : float, default 0.1
        Standard deviation of the initial item factors.
    seed : int, default 0
    show_progress : bool, default False
        A progress bar with the loss per iteration, and one INFO log line per iteration
        (with ``reg="auto"``, first one per penalty tried, with its validation RMSE).
    n_blocks : int or None
        User blocks and item blocks ``B`` (default: ``spark.sql.shuffle.partitions``); also
        the blocks of users of ``recommend_all``. The fit does not depend on it. A stage
        has ``min(B, spark.sql.shuffle.partitions)`` tasks.

    Notes
    -----
    Per half-iteration the shuffle moves ``8 (k + 1) + 4`` bytes per (row, block of the
    other side that rates it) pair: at most ``8 (k + 1) + 4`` bytes per rating, and at most
    ``B`` copies of each row. The cached blocks hold 12 bytes per rating on each side.
    ``history_["seconds"]`` of each iteration is its wall time on the driver, its Spark job
    included; ``history_["loss"]`` is the single-machine objective, summed from the blocks
    (the squared errors in the item half, the penalties in both). Each iteration's local
    checkpoint (the item rows sent to the user blocks, at most ``B`` copies of each) stays
    in the executors' block stores until the JVM's garbage collector lets Spark's cleaner
    remove it (a ``DataFrame`` API cannot unpersist a local checkpoint); under memory
    pressure the older ones are the first to go to disk.

    ``reg="auto"`` runs ``n_iter`` iterations for the first penalty, 2 for each further one
    (at most 8 penalties) and ``min(3, n_iter)`` for the refit, one Spark job each, and
    caches a second set of rating blocks (the fit part) while it walks; each of those
    iterations leaves a local checkpoint as above. ``reg_path_``'s
    ``seconds`` are this fit's; its RMSEs equal the single-machine ones to rounding (the
    sums run in a different order), and so does ``reg_``.
    """

    _local_class = models.ALS

    def __init__(
        self,
        n_factors: int = 100,
        n_iter: int = 10,
        reg: float | str = 0.09,
        reg_bias: float = 0.1,
        weighted: bool = True,
        init_std: float = 0.1,
        seed: int = 0,
        show_progress: bool = False,
        *,
        n_blocks: int | None = None,
    ):
        super().__init__(
            n_blocks=n_blocks,
            n_factors=n_factors,
            n_iter=n_iter,
            reg=reg,
            reg_bias=reg_bias,
            weighted=weighted,
            init_std=init_std,
            seed=seed,
            show_progress=show_progress,
        )

    def _fit_coded(self, coded: DataFrame, context: FitContext) -> dict:
        p = self.params
        k, n_iter = int(p["n_factors"]), int(p["n_iter"])
        n_blocks = int(context.n_blocks)
        mu = float(context.mean)
        spread = _spread(context.std)
        n_parts = partitions(context.spark, n_blocks)
        keys = block_keys(n_blocks, n_parts)
        scratch = ModelFiles(context.work_dir)
        # The initial factors follow the item's id, not its code or block.
        scratch.write_array("item_keys", id_keys(context.item_ids))
        auto = p["reg"] == "auto"
        solve = {
            "k": k,
            "reg": None if auto else float(p["reg"]),
            "reg_bias": float(p["reg_bias"]),
            "weighted": bool(p["weighted"]),
            "keys": keys,
        }
        sizes = (context.n_users, context.n_items)
        layout = (sizes, mu, spread, keys, n_parts)
        start = (str(context.work_dir), float(p["init_std"]), int(p["seed"]))
        if auto:
            # the validation pairs are keyed by (user id, item id), as on one machine
            scratch.write_array("user_keys", id_keys(context.user_ids))
            clip = tuple((np.asarray(context.rating_range, dtype=np.float64) - mu) / spread)
            solve["reg"], path, warm, n_iter = self._choose_reg(
                coded, layout, start, {**solve, "clip": clip}
            )
        blocks = _cached_blocks(coded, layout)
        try:
            user_blocks = blocks.where(F.col("side") == 0)  # filters keep the partitioning
            item_blocks = blocks.where(F.col("side") == 1)
            if auto:  # the chosen penalty's item rows, sent along all the ratings' out-links
                messages = warm_messages(item_blocks, warm, *start, solve)
            else:
                messages = initial_messages(item_blocks, *start, solve)
            training = TrainingLog("ALS", n_iter, "iteration", bool(p["show_progress"]), log)
            _, summary = _iterate(user_blocks, item_blocks, messages, solve, n_iter, training)
            history = training.close()
        finally:
            blocks.unpersist()
        kind = summary.column("dst").to_numpy()
        users, user_bias = assemble(summary.filter(pa.array(kind == USERS)), sizes[0], k)
        items, item_bias = assemble(summary.filter(pa.array(kind == ITEMS)), sizes[1], k)
        # Back to rating units, as the single-machine model: biases scale with the ratings,
        # each factor with its root.
        root = np.sqrt(spread)
        users *= root
        items *= root
        state = {
            "user_factors_": users,
            "item_factors_": items,
            "user_bias_": user_bias * spread,
            "item_bias_": item_bias * spread,
            "history_": history,
        }
        # the penalty used and the path of reg="auto" (empty for a given penalty), where the
        # single-machine model's state has them
        chosen = {"reg_": float(solve["reg"]), "reg_path_": path if auto else {}}
        wanted = self._local_class._fitted_state
        state.update({name: value for name, value in chosen.items() if name in wanted})
        return state

    def _choose_reg(self, coded: DataFrame, layout: tuple, start: tuple, solve: dict):
        """reg="auto" on Spark: :meth:`fastrec.ALS._choose_reg`'s walk over the fit part's
        blocks.

        Returns the chosen penalty, the path (``reg_path_``), the chosen penalty's state
        (its last item messages, a DataFrame) and the refit's number of iterations.
        """
        p = self.params
        states: dict[int, DataFrame] = {}
        order, seconds = [], []
        bar = TrainingLog(
            "ALS reg='auto'", AUTO_MAX_STEPS, "penalty", bool(p["show_progress"]), log
        )
        blocks = _cached_blocks(coded, layout, held=(start[0], start[2]))
        try:
            user_blocks = blocks.where(F.col("side") == 0)
            item_blocks = blocks.where(F.col("side") == 1)
            first = initial_messages(item_blocks, *start, solve)

            def visit(j: int, source: int | None, n_iter: int) -> float:
                """Penalty ``j`` from state ``source`` (``None``: the start); its RMSE."""
                t0 = time.perf_counter()
                messages = first if source is None else states[source]
                step = {**solve, "reg": auto_penalty(j)}
                state, summary = _iterate(
                    user_blocks, item_blocks, messages, step, n_iter, None, keep=False
                )
                items = summary.filter(pa.array(summary.column("dst").to_numpy() == ITEMS))
                sse = float(np.sum(items.column("vsse")))
                count = int(np.sum(items.column("vcount")))
                error = float(np.sqrt(sse / count)) * layout[2] if count else float("nan")
                states[j] = state
                order.append(j)
                seconds.append(_since(t0))
                bar.record(seconds[-1], reg=auto_penalty(j), validation_rmse=error)
                return error

            errors = walk_penalties(visit, int(p["n_iter"]), forget=states.pop)
            bar.close()
        finally:
            blocks.unpersist()
        best, chosen = choose_penalty(errors)
        path = {
            "reg": [auto_penalty(j) for j in order],
            "validation_rmse": [errors[j] for j in order],
            "seconds": seconds,
        }
        return chosen, path, states[best], min(AUTO_REFIT_ITERS, int(p["n_iter"]))


# ------------------------------------------------------------------ driver
def _cached_blocks(coded: DataFrame, layout: tuple, held=None) -> DataFrame:
    """:func:`~fastrec.spark._als_blocks.build_blocks`, persisted and counted (built)."""
    t0 = time.perf_counter()
    blocks = build_blocks(coded, *layout, held=held).persist()
    blocks.count()
    n_blocks, n_parts = len(layout[3]), layout[4]
    part = " (the reg='auto' fit part)" if held is not None else ""
    log.info(
        "ALS: %d user and %d item blocks%s in %d partitions built in %.2fs",
        n_blocks,
        n_blocks,
        part,
        n_parts,
        _since(t0),
    )
    return blocks


def _iterate(user_blocks, item_blocks, messages, solve, n_iter, training, *, keep=True):
    """``n_iter`` iterations from the item ``messages``, one Spark job each; each
    iteration's loss recorded in ``training`` (a :class:`TrainingLog`, or ``None``).

    Returns the last iteration's item messages to the user blocks and its summary rows (an
    Arrow table: each block's loss, failed solves, held-out squared errors and, with
    ``keep``, all its rows, which then are not sent on).
    """
    for it in range(n_iter):
        last = keep and it == n_iter - 1
        t0 = time.perf_counter()
        # One Spark job: the users from the item rows, the shuffle, the items from the
        # user rows; the user blocks' summaries ride along to the output.
        to_items = half_step(user_blocks, messages, solve, sse=False, keep=last)
        to_users = half_step(item_blocks, to_items, solve, sse=True, keep=last)
        if not last:
            # cut the lineage (a plan that grows each iteration costs more to plan)
            to_users = to_users.localCheckpoint(eager=False)
        summary = to_users.where(F.col("dst") < 0).toArrow()  # runs the iteration
        failed = int(np.sum(summary.column("failed")))
        if failed:
            raise FloatingPointError(
                f"ALS: {failed} rows had a singular system in iteration {it + 1}; "
                "the ratings or factors hold non-finite values"
            )
        if training is not None:
            training.record(_since(t0), loss=float(np.sum(summary.column("loss"))))
        messages = to_users
    return messages, summary


def _since(t0: float) -> float:
    return time.perf_counter() - t0


def _spread(std: float) -> float:
    """:func:`fastrec.models._common.rating_spread` from Spark's population standard
    deviation: ``std`` if positive and finite, else 1 (all ratings equal)."""
    std = float(std)
    return std if std > 0 and np.isfinite(std) else 1.0
