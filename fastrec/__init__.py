"""fastrec: fast, honest explicit-rating recommenders."""

from .data import Ratings, load_ratings
from .metrics import mae, rmse
from .models import Bias, ItemMean, NotFittedError, Recommender, UserItemMean, UserMean
from .split import kfold, ml100k_folds, predefined_split, train_test_split

__version__ = "0.1.0"
