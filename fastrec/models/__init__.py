"""Every fastrec model, one module per family, all behind `base.Recommender`."""

from .base import NotFittedError, Recommender
from .baselines import Bias, ItemMean, UserItemMean, UserMean

#: Every model fastrec has, by the name the results table prints; ``evaluate_all`` runs these.
MODELS: dict[str, type[Recommender]] = {
    cls.__name__: cls for cls in (UserMean, ItemMean, UserItemMean, Bias)
}

__all__ = [
    "MODELS",
    "Recommender",
    "NotFittedError",
    "UserMean",
    "ItemMean",
    "UserItemMean",
    "Bias",
]
