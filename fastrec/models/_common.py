"""Helpers every model family uses: the Numba thread count around a kernel call and the
progress bar over epochs or iterations."""

from __future__ import annotations

from contextlib import contextmanager

import numba
import numpy as np

#: Below this many ratings (or pairs to predict), kernels run on one thread unless ``n_threads``
#: says otherwise: the work is too small to pay for waking threads, and on a busy machine a
#: descheduled thread stalls every parallel step.
PARALLEL_MIN = 250_000


@contextmanager
def numba_threads(n_threads: int | None, n_work: int):
    """Run the block's Numba kernels on ``n_threads`` threads (``None``: as many as
    ``numba.get_num_threads()`` for ``n_work >= PARALLEL_MIN``, else one); the calling
    thread's setting is restored after."""
    old = numba.get_num_threads()
    if n_threads is None:
        n_threads = old if n_work >= PARALLEL_MIN else 1
    numba.set_num_threads(max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def progress_bar(show: bool, total: int, desc: str, unit: str):
    """A tqdm bar of ``total`` steps when ``show``, else ``None`` (callers test for it)."""
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit)


def unknown_to_minus_one(codes, n_train):
    """Set to -1, in place, the codes that are not in the id map (already -1) or have no
    training rating (``n_train[code] == 0``: a code of a shared id map whose ratings all went
    to the test set). Returns ``codes``."""
    inside = codes >= 0
    codes[inside] = np.where(n_train[codes[inside]] > 0, codes[inside], -1)
    return codes
