"""Every fastrec model, one module per family, all behind `base.Recommender`."""

from .als import ALS
from .base import NotFittedError, Recommender
from .baselines import Bias, ItemMean, UserItemMean, UserMean
from .svdpp import SVDpp

#: Every model fastrec has, by the name the results table prints; ``evaluate_all`` runs these.
MODELS: dict[str, type[Recommender]] = {
    cls.__name__: cls for cls in (UserMean, ItemMean, UserItemMean, Bias, ALS, SVDpp)
}

__all__ = [
    "MODELS",
    "Recommender",
    "NotFittedError",
    "UserMean",
    "ItemMean",
    "UserItemMean",
    "Bias",
    "ALS",
    "SVDpp",
]
