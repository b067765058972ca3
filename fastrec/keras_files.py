"""Keras networks inside a fastrec model file: written in Keras' own ``.keras`` format, and
read back only after their configuration is screened and with ``safe_mode=True``.

The screening refuses any ``config.json`` that names a module other than Keras' own, holds
code (``Lambda`` layers, serialized functions, ``TFSMLayer``) or needs a registered custom
object; fastrec's networks use none of these. Keras itself is imported only after the
screening, and only a Keras without known ``safe_mode`` bypasses is used.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import warnings
import zipfile
import zlib

#: The oldest Keras whose ``safe_mode`` has no known bypass (CVE-2025-1550, -8747, -9906).
MIN_KERAS_VERSION = (3, 11)
#: Config entries that carry code rather than data.
CODE_ENTRIES = {"Lambda", "function", "__lambda__", "TFSMLayer"}


def write_network(zf: zipfile.ZipFile, info: zipfile.ZipInfo, network) -> None:
    """Write ``network`` (a ``keras.Model``) as the member ``info`` of ``zf``."""
    with tempfile.TemporaryDirectory(prefix="fastrec-keras-") as tmp:
        file = os.path.join(tmp, "network.keras")
        with warnings.catch_warnings():  # Keras 3's NumPy 2 copy-keyword warning
            warnings.filterwarnings("ignore", message="__array__ implementation")
            network.save(file)
        with open(file, "rb") as src, zf.open(info, "w") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)


def read_network(zf: zipfile.ZipFile, member: str, import_keras, where: str):
    """The network stored as ``member`` of ``zf``, screened, then loaded in safe mode.

    ``import_keras()`` returns the keras module set up as the model trains it. Raises
    ``ValueError`` (naming ``where`` and the member) for a network that fails the screening
    or that Keras cannot load, ``ImportError`` for a Keras older than ``MIN_KERAS_VERSION``.
    """
    with tempfile.TemporaryDirectory(prefix="fastrec-keras-") as tmp:
        file = os.path.join(tmp, "network.keras")
        with zf.open(member) as src, open(file, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        screen_network(file, f"{where}: its Keras network {member}")
        keras = import_keras()
        found = tuple(int(p) for p in re.findall(r"[0-9]+", keras.__version__)[:2])
        if found < MIN_KERAS_VERSION:
            raise ImportError(
                f"{where}: loading its Keras network safely needs keras >= "
                f"{'.'.join(map(str, MIN_KERAS_VERSION))}; installed: {keras.__version__}"
            )
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="__array__ implementation")
                return keras.saving.load_model(file, safe_mode=True)
        except Exception as e:  # Keras' own loader: any failure means a bad member
            raise ValueError(f"{where}: Keras could not load its network {member}: {e}") from None


def screen_network(file: str, what: str) -> None:
    """Raise ``ValueError`` (starting with ``what``) where the ``.keras`` file's
    configuration names anything but Keras' own objects."""
    try:
        with zipfile.ZipFile(file) as network:
            config = json.loads(network.read("config.json"), parse_constant=_refuse_constant)
    except (zipfile.BadZipFile, KeyError, ValueError, zlib.error, EOFError) as e:
        raise ValueError(f"{what} is not a valid .keras file ({e})") from None
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        if not isinstance(node, dict):
            continue
        module, registered = node.get("module"), node.get("registered_name")
        if module is not None and not (
            isinstance(module, str) and (module == "keras" or module.startswith("keras."))
        ):
            raise ValueError(f"{what} refers to the module {module!r}; fastrec loads only Keras'")
        if node.get("class_name") in CODE_ENTRIES:
            raise ValueError(f"{what} holds a {node['class_name']!r} (code, not data)")
        if isinstance(registered, str) and ">" in registered:
            raise ValueError(f"{what} needs the custom object {registered!r}")
        stack.extend(node.values())


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")
