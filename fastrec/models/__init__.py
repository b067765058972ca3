"""Every fastrec model, one module per family, all behind `base.Recommender`."""

from ..errors import NotFittedError
from ..persistence import register
from .als import ALS
from .base import Recommender
from .baselines import Bias, ItemMean, UserItemMean, UserMean
from .bayesian import BayesianMF
from .blend import Blend
from .keras import DotProduct, DotProductBias, NeuralNet
from .knn import ItemKNN, UserKNN
from .mf import BiasedMF
from .svd import SVD
from .svdpp import SVDpp

#: Every model fastrec has, by the name the results table prints; ``evaluate_all`` runs these.
MODELS: dict[str, type[Recommender]] = {
    cls.__name__: cls
    for cls in (
        UserMean,
        ItemMean,
        UserItemMean,
        UserKNN,
        ItemKNN,
        SVD,
        DotProduct,
        DotProductBias,
        NeuralNet,
        Bias,
        BiasedMF,
        ALS,
        SVDpp,
    )
}

#: Every model fastrec has: ``MODELS`` and the ones ``evaluate_all`` runs only when asked.
ALL_MODELS: dict[str, type[Recommender]] = {
    **MODELS,
    "BayesianMF": BayesianMF,
    "Blend": Blend,
}
register(*ALL_MODELS.values())  # the classes a saved model file may name

__all__ = [
    "MODELS",
    "ALL_MODELS",
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
