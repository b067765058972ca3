"""Every fastrec model, one module per family, all behind :class:`~fastrec.models.base.Recommender`."""

from .base import NotFittedError, Recommender
from .baselines import Bias, ItemMean, UserItemMean, UserMean

__all__ = ["Recommender", "NotFittedError", "UserMean", "ItemMean", "UserItemMean", "Bias"]
