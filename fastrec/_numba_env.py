"""Where Numba keeps its compiled kernels, set before Numba is first imported.

Every kernel is compiled with ``cache=True``. Numba writes the cache beside the source
(``fastrec/kernels/__pycache__``) or, where that is read-only, in the user's cache directory;
where neither is writable (a read-only install on a Spark executor whose home directory is
not writable either) it refuses to compile. fastrec then points ``NUMBA_CACHE_DIR`` at a
directory of its own under the local temporary folder, so a read-only install still works and
each worker process compiles a kernel once and later processes load it from disk. A
``NUMBA_CACHE_DIR`` the user set is never changed.
"""

from __future__ import annotations

import getpass
import os
import sys
import tempfile
from pathlib import Path


def _writable(path: Path) -> bool:
    """Whether files can be created in ``path`` (created if missing)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".fastrec-probe-", delete=True)
        probe.close()
        return True
    except OSError:
        return False


def fallback_cache_dir() -> Path:
    """fastrec's own cache directory: ``<tmp>/fastrec-numba-cache-<uid>``."""
    uid = os.getuid() if hasattr(os, "getuid") else getpass.getuser()
    return Path(tempfile.gettempdir()) / f"fastrec-numba-cache-{uid}"


def configure_cache_dir() -> str | None:
    """Set ``NUMBA_CACHE_DIR`` to :func:`fallback_cache_dir` when it is unset and neither the
    package's ``__pycache__`` nor the user's cache directory is writable; returns the value
    set, or ``None`` where nothing was changed."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    kernels = Path(__file__).resolve().parent / "kernels" / "__pycache__"
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "numba"
    if _writable(kernels) or _writable(user_cache):
        return None
    target = fallback_cache_dir()
    if not _writable(target):
        return None  # nowhere to cache: Numba will say so itself
    os.environ["NUMBA_CACHE_DIR"] = str(target)
    if "numba" in sys.modules:  # imported before fastrec: its config has read the environment
        sys.modules["numba"].config.CACHE_DIR = str(target)
    return str(target)


configure_cache_dir()
