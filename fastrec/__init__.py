"""fastrec: fast, honest explicit-rating recommenders.

>>> import fastrec
>>> table = fastrec.evaluate_all("ratings.csv")   # every model's RMSE, MAE and seconds
"""

from . import _numba_env  # noqa: F401, I001  (first: sets the Numba cache before any kernel)
from . import datasets, eda
from ._version import __version__
from .data import Ratings
from .evaluate import evaluate_all
from .io import load_ratings
from .metrics import mae, ndcg_at_k, precision_at_k, ranking_metrics, recall_at_k, rmse
from .models import (
    ALS,
    MODELS,
    SVD,
    BayesianMF,
    Bias,
    BiasedMF,
    Blend,
    DotProduct,
    DotProductBias,
    ItemKNN,
    ItemMean,
    NeuralNet,
    NotFittedError,
    Recommender,
    SVDpp,
    UserItemMean,
    UserKNN,
    UserMean,
)
from .persistence import load_model, save_model
from .split import kfold, ml100k_folds, predefined_split, train_test_split
from .tune import TuneResult, tune

__all__ = [
    "__version__",
    "datasets",
    "eda",
    "Ratings",
    "load_ratings",
    "train_test_split",
    "kfold",
    "predefined_split",
    "ml100k_folds",
    "rmse",
    "mae",
    "precision_at_k",
    "recall_at_k",
    "ndcg_at_k",
    "ranking_metrics",
    "evaluate_all",
    "tune",
    "TuneResult",
    "load_model",
    "save_model",
    "MODELS",
    "Recommender",
    "NotFittedError",
    "UserMean",
    "ItemMean",
    "UserItemMean",
    "Bias",
    "UserKNN",
    "ItemKNN",
    "SVD",
    "BiasedMF",
    "ALS",
    "SVDpp",
    "BayesianMF",
    "DotProduct",
    "DotProductBias",
    "NeuralNet",
    "Blend",
]
