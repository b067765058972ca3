"""The blog post's three Keras models: ``DotProduct``, ``DotProductBias``, ``NeuralNet``.

Keras 3 is the optional extra ``keras`` (``pip install "fastrec[keras]"``: Keras on
TensorFlow; JAX and PyTorch backends too, see :mod:`.backend`). Nothing here imports Keras
or its backend at import time (only ``fit`` and loading a saved network do), so
``import fastrec`` stays light.

- :mod:`.backend`: the backend, importing Keras, seeding and determinism, XLA;
- :mod:`.training`: the post's schedule and the fast one with early stopping;
- :mod:`.base`: :class:`KerasRecommender`, the parameters, fit, prediction and fallback;
- :mod:`.networks`: the three networks.

(Inside this package ``import keras`` is Keras itself: imports are absolute.)
"""

from .backend import INSTALL_NOTE, keras_backend
from .base import KerasRecommender
from .networks import DotProduct, DotProductBias, NeuralNet

__all__ = [
    "INSTALL_NOTE",
    "DotProduct",
    "DotProductBias",
    "KerasRecommender",
    "NeuralNet",
    "keras_backend",
]
