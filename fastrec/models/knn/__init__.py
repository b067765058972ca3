"""Memory-based collaborative filtering: the blog post's cosine models and their k-NN forms.

``UserKNN()`` and ``ItemKNN()`` (``k=None``, the defaults) are the post's "User-based" and
"Movie-based Cosine Similarity"; ``UserKNN(k=40)`` / ``ItemKNN(k=40)`` the standard
neighbourhood models (Surprise's KNNWithMeans / KNNBaseline, LensKit's ItemItem). The post
fed its formula the test ratings; here it only ever sees the training ratings (the results
page of the docs, ``docs/results.md``, gives the post's leaky figures and the honest ones).

Layout: one class per public name, one module per algorithm.

- :mod:`._base`: ``NeighborhoodModel``, what both classes share: the parameters, the
  orientation (user-based: anchors are users and targets items; item-based: swapped, so
  one code path serves both), the fit's preparation (means, the centred unit-norm anchor
  rows, the deviations from the baseline), the declared fitted state, ``predict``'s frame
  (baseline + neighbourhood term, fallbacks, clipping);
- :mod:`.all_neighbors`: the post's form (``k=None``), every neighbour stored and summed;
- :mod:`.k_neighbors`: the k form, with ``exact`` (full rows recomputed from the unit rows,
  the stored lists deferred) and ``keep`` (neighbours stored per row);
- :mod:`.neighbor_lists`: the memory-checked build of the stored similarity both use;
- :mod:`.scoring`: ``recommend_all``'s block scorer (one pass over stored rows, the
  transposed rows of the item-based pass).

Design: ``UserKNN`` / ``ItemKNN`` stay one class each (their parameters, defaults, names
and saved files are unchanged, so ``fastrec.UserKNN(k=40)`` and ``"UserKNN(k=40)"`` keep
working), and ``k`` picks the algorithm at two explicit places in ``NeighborhoodModel``
(``_fit``: ``fit_all_neighbors`` or ``fit_k_neighbors``; ``_terms``: their prediction
terms), plus the block scorer. The algorithms are plain functions over the model's arrays
rather than objects or mixins: they hold no state of their own, so the model's declared
state (``_fitted_state``, one list for both forms, ``None`` where a form has nothing) is
the whole of what is saved, and each function can be read and tested alone. Two classes
per public name (one per algorithm) were rejected: ``k`` is a constructor parameter that
``set_params``, ``clone`` and the model specs change, so the class cannot depend on it.

The kernels live in :mod:`fastrec.kernels.similarity`, :mod:`fastrec.kernels.neighbors`
and :mod:`fastrec.kernels.neighbor_scores`.
"""

from __future__ import annotations

from ._base import NeighborhoodModel

__all__ = ["ItemKNN", "UserKNN"]


class UserKNN(NeighborhoodModel):
    """User-based collaborative filtering: the post's cosine model, or its k-NN form.

    ``k=None`` (default), the post's "User-based Cosine Similarity"::

        pred(u, i) = mean_u + sum_v sim(u, v) * (r_vi - mean_v) / sum_v |sim(u, v)|

    ``sim``: cosine of the raw training rating rows of the two users (missing ratings are 0,
    norms over all of a user's ratings); both sums over ALL users, ``u`` itself included
    with ``sim(u, u) = 1``; ``r_vi - mean_v`` is 0 where ``v`` did not rate ``i``. Not
    clipped (the post's formula exactly). Its own answers where the formula has none
    (counted as fallbacks, no fallback model): an item without training ratings gets
    ``mean_u`` (every deviation is 0: what the formula gives); a user without training
    ratings gets the training global mean.

    ``k=40`` (the k-NN form; Surprise's KNNBaseline)::

        pred(u, i) = clip(b_ui + sum_{v in N} sim(u, v) (r_vi - b_vi) / sum_{v in N} |sim(u, v)|)

    ``b_ui = mu + b_u + b_i`` (the damped :class:`~fastrec.Bias` baseline, fitted as
    ``fallback_``), ``N`` the ``k`` users with the largest ``|sim(u, v)|`` among those who
    rated ``i``, ``sim`` the cosine of the users' rows of Bias residuals ``r - b``. The
    defaults were chosen on three splits (the post's, ml-latest-small 2018, the five ml-100k
    folds) against Surprise's KNNWithMeans / KNNBaseline; the figures are in the generated
    ``docs/peers.md``. (``presence=0.4`` scores better on validation slices of the four
    MovieLens sets, but worse on synthetic ratings, where which items a user rated says
    nothing of the user's taste: left off; see :class:`ItemKNN`.) Fallback: ``clip(b_ui)``,
    the Bias prediction, where ``u`` or ``i`` is unknown or ``N`` is empty.

    Parameters
    ----------
    k : int or None, default None
        Neighbours per prediction; ``None``: the post's sum over all users.
    center : {"auto", "none", "user", "item", "bias"}, default "auto"
        What is subtracted from the ratings before the cosine: nothing, the user's mean,
        the item's mean, or the Bias baseline. ``"auto"``: ``"none"`` for ``k=None``,
        ``"bias"`` otherwise.
    baseline : {"auto", "mean", "bias"}, default "auto"
        ``b`` in the formula: the user's mean ("mean", KNNWithMeans) or the Bias baseline
        (KNNBaseline). ``"auto"``: ``"mean"`` for ``k=None``, ``"bias"`` otherwise. It is
        also the answer at the pairs the neighbourhood cannot serve.
    signed : bool or None, default None
        Whether negative similarities count (ranked by ``|sim|``, weighted by ``sim``);
        ``False`` keeps only positive ones (Surprise). ``None``: ``True``.
    shrinkage : float or None, default None
        ``sim *= n_common / (n_common + shrinkage)``, ``n_common`` = items rated by both.
        ``None``: 0 (the post's form and UserKNN's k form; ItemKNN's k form: 10).
    min_support : int, default 1
        Pairs with fewer common items have similarity 0.
    presence : float or None, default None
        Added to each rated entry after centring, in units of ``s``, the root mean square of
        the centred training ratings: the cosine is taken of ``x = r - c + presence * s``
        (``c`` the ``center``; 0 where there is no rating), so that rating the same items
        counts towards similarity, beside rating them alike. ``s`` keeps it scale-free.
        ``None``: 0 (the post's form and UserKNN's k form; ItemKNN's k form: 0.4).
    keep : "auto", None or int, default "auto"
        Neighbours stored per user (the most similar), at least ``k``. ``None``: all;
        ``"auto"``: all when ``n_users**2 <= AUTO_KEEP_ENTRIES`` (1e8, in
        :mod:`fastrec.models.knn.k_neighbors`), else ``AUTO_KEEP_ENTRIES // n_users``.
        Only for the k form.
    exact : bool, default True
        k form only. ``True``: every prediction is the exact k-NN one: ``predict`` computes
        each requested user's full similarity row (one pass over the data per call, never
        the whole matrix in memory), and ``fit`` defers the stored lists to their first use
        (reading ``similarity_``, or ``recommend_all``); once they exist, ``predict`` uses
        them and recomputes only the rows whose ``keep`` stored neighbours hold fewer than
        ``k`` raters of the item (the same neighbours: the same predictions, to float
        rounding; :meth:`recomputed_count` says how many). ``False``: ``fit`` stores the
        lists and ``predict`` uses them alone (LensKit's way): exact whenever ``k`` of the
        stored neighbours rated the item, else an approximation. ``recommend_all`` ranks
        every user's items in one pass over the stored rows where they are the prediction
        (``exact=False``, or rows holding every neighbour); with ``exact=True`` and
        truncated rows it predicts every pair, and warns (at MovieLens-25M scale: hours;
        see :mod:`fastrec.models.knn.scoring`).

    Notes
    -----
    Fitted attributes: see ``NeighborhoodModel`` in :mod:`fastrec.models.knn._base`;
    ``similarity_`` (CSR, users x users: each user's stored neighbours) and
    ``neighbor_abs_sum_`` read them.
    """

    post_label = "User-based Cosine Similarity"
    _user_based = True
    _k_center = "bias"
    _k_signed = True
    _k_shrinkage = 0.0
    _k_presence = 0.0


class ItemKNN(NeighborhoodModel):
    """Item-based collaborative filtering: the post's cosine model, or its k-NN form.

    ``k=None`` (default), the post's "Movie-based Cosine Similarity"::

        pred(u, i) = mean_i + sum_j sim(i, j) * (r_uj - mean_j) / sum_j |sim(i, j)|

    ``sim``: cosine of the raw training rating columns of the two items; both sums over ALL
    items, ``i`` itself included with ``sim(i, i) = 1``; ``r_uj - mean_j`` is 0 where ``u``
    did not rate ``j``. Not clipped (the post's formula exactly). Its own answers where the
    formula has none (counted as fallbacks, no fallback model): an item without training
    ratings gets the training global mean (the formula has no ``mean_i``); a user without
    training ratings gets ``mean_i``.

    ``k=40`` (the k-NN form; Surprise's KNNBaseline, LensKit's ItemItem)::

        pred(u, i) = clip(b_ui + sum_{j in N} sim(i, j) (r_uj - b_uj) / sum_{j in N} sim(i, j))
        sim(i, j)  = n_ij / (n_ij + 10) * cos(x_i, x_j),   x_ui = r_ui - b_ui + 0.4 * s

    ``b_ui = mu + b_u + b_i`` (the damped :class:`~fastrec.Bias` baseline, fitted as
    ``fallback_``), ``N`` the ``k`` items with the largest positive ``sim(i, j)`` among
    those ``u`` rated; ``x_i`` the column of item ``i`` (``x_ui`` where ``u`` rated ``i``,
    else 0; norms over all its ratings), ``s`` the root mean square of the residuals
    ``r - b`` over the training ratings, ``n_ij`` the users who rated both. The cosine of
    the residuals says how two items' ratings move together beyond the baseline; the
    constant ``0.4 s`` on each rated entry adds which users rated both (where an item has
    few ratings, that is most of what the data say about it); the factor
    ``n_ij / (n_ij + 10)`` damps pairs with few common raters. Fallback: ``clip(b_ui)``,
    the Bias prediction, where ``u`` or ``i`` is unknown or ``N`` is empty.

    Parameters
    ----------
    k, center, baseline, signed, shrinkage, min_support, presence, keep, exact
        As :class:`UserKNN`, with users and items swapped. The k form's defaults here:
        ``center="bias"``, ``baseline="bias"``, ``signed=False``, ``shrinkage=10``,
        ``presence=0.4``.

    Notes
    -----
    The k form's defaults were chosen by ``benchmarks/choose_defaults.py`` on validation
    slices of the training ratings of four sets at once (the post's split, ml-latest-small
    2018, the ml-100k folds u1..u5, ml-1m 80/20), never on a test set: of ``center`` in
    {user, item, bias} x ``presence`` in {0, 0.2, ..., 0.6} x ``shrinkage`` in {0, 10, 25},
    the best mean ratio of validation RMSE to Bias's (0.9670, against 0.9742 for the former
    defaults, the adjusted cosine ``center="user"`` without shrinkage or presence). On the
    test parts (RMSE, former -> these defaults): the post's split 0.8673 -> 0.8611,
    ml-latest-small 2018 0.8387 -> 0.8351, ml-100k u1..u5 mean 0.9119 -> 0.9042, ml-1m
    0.8587 -> 0.8499 (LensKit 2026.4 ``ItemKNNScorer(max_nbrs=40)``, item-mean centring,
    on the same rows: 0.9070, 0.8809, 0.9180, 0.8553). On synthetic ratings
    (:func:`fastrec.datasets.synthetic`), where which items a user rated is drawn apart from
    the ratings, ``presence=0`` scores better (ml-1m shape: 0.8664 against 0.8772; the
    former defaults 0.8882): set it so on data of that kind.
    """

    post_label = "Movie-based Cosine Similarity"
    _user_based = False
    _k_center = "bias"
    _k_signed = False
    _k_shrinkage = 10.0
    _k_presence = 0.4
