"""Memory guard: estimate before allocating, and refuse with a clear error instead of swapping."""

from __future__ import annotations

import os


class InsufficientMemoryError(MemoryError):
    """An allocation would not fit in the memory available; raised *before* allocating.

    ``needed_bytes`` and ``available_bytes`` carry the estimate; the message says what to
    change (e.g. set ``k``).
    """

    def __init__(self, message: str, *, needed_bytes: int, available_bytes: int):
        super().__init__(message)
        self.needed_bytes = needed_bytes
        self.available_bytes = available_bytes


def available_bytes() -> int:
    """Memory the process can still use: ``MemAvailable`` (Linux), else total physical memory.

    The environment variable ``FASTREC_MEMORY_LIMIT`` (bytes, or with a ``K``/``M``/``G``
    suffix) caps it, for tests and for sharing a machine.
    """
    limit = os.environ.get("FASTREC_MEMORY_LIMIT")
    if limit:
        return _parse_size(limit)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def require(needed_bytes: int, what: str, way_out: str, *, fraction: float = 0.8) -> None:
    """Raise :class:`InsufficientMemoryError` if ``needed_bytes`` exceeds ``fraction`` of the
    available memory. ``what`` names the allocation, ``way_out`` says how to avoid it."""
    available = available_bytes()
    if needed_bytes > fraction * available:
        raise InsufficientMemoryError(
            f"{what} needs about {_gib(needed_bytes)} but only {_gib(available)} is available "
            f"(the guard allows {fraction:.0%} of it); {way_out}",
            needed_bytes=int(needed_bytes),
            available_bytes=int(available),
        )


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def _parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("B")
    scale = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in "KMGT" else text
    try:
        return int(float(number) * scale)
    except ValueError:
        raise ValueError(
            f"FASTREC_MEMORY_LIMIT={text!r}: expected bytes, optionally with K, M, G or T"
        ) from None
