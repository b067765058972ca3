"""Ranking metrics (precision@k, recall@k, nDCG@k) against a plain-Python loop per user."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import fastrec
from fastrec.kernels.ranking import count_user_rankings, group_rows_by_user
from fastrec.metrics import (
    ndcg_at_k,
    parse_ranking_metric,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)


# ----------------------------------------------------------------- the reference
def reference(users, truth, pred, k, threshold=4.0, gain="binary"):
    """(precision, recall, ndcg) by the documented protocol, one Python loop per user."""
    by_user = {}
    for position, (u, t, p) in enumerate(zip(users, truth, pred, strict=True)):
        by_user.setdefault(u, []).append((position, float(t), float(p)))
    precisions, recalls, ndcgs = [], [], []
    for rows in by_user.values():
        ranked = sorted(rows, key=lambda row: (-row[2], row[0]))  # ties: input order
        top = ranked[:k]
        hits = sum(t >= threshold for _, t, _ in top)
        precisions.append(hits / min(k, len(rows)))
        n_rel = sum(t >= threshold for _, t, _ in rows)
        if n_rel == 0:
            continue
        recalls.append(hits / n_rel)

        def g(t):
            return t if gain == "rating" else float(t >= threshold)

        dcg = sum(g(t) / math.log2(r + 2) for r, (_, t, _) in enumerate(top))
        ideal = sorted((g(t) for _, t, _ in rows), reverse=True)[:k]
        idcg = sum(x / math.log2(r + 2) for r, x in enumerate(ideal))
        ndcgs.append(dcg / idcg)
    mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")  # noqa: E731
    return mean(precisions), mean(recalls), mean(ndcgs)


def random_case(seed, n_users=60, max_items=25):
    """Ratings of shuffled users with raw string ids: few distinct predictions (many ties),
    users with a single rating, fewer than k ratings, and no relevant rating at all."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, max_items + 1, n_users)
    counts[:3] = 1
    users = np.repeat(np.array([f"u{i}" for i in range(n_users)], dtype=object), counts)
    truth = rng.integers(1, 11, len(users)) / 2.0
    low = np.isin(users, ["u3", "u4", "u5"])  # no relevant rating
    truth[low] = rng.integers(1, 7, low.sum()) / 2.0
    pred = np.round(rng.normal(3.5, 0.7, len(users)) * 2) / 2  # half-star grid: ties
    order = rng.permutation(len(users))
    return users[order], truth[order], pred[order]


# ----------------------------------------------------------------- against the reference
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 3, 10, 40])
@pytest.mark.parametrize("gain", ["binary", "rating"])
def test_matches_the_reference_loop(seed, k, gain):
    users, truth, pred = random_case(seed)
    want = reference(users, truth, pred, k, gain=gain)
    got = (
        precision_at_k(users, truth, pred, k=k),
        recall_at_k(users, truth, pred, k=k),
        ndcg_at_k(users, truth, pred, k=k, gain=gain),
    )
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("threshold", [0.5, 3.0, 4.5, 5.0])
def test_matches_the_reference_at_other_thresholds(threshold):
    users, truth, pred = random_case(11)
    want = reference(users, truth, pred, 5, threshold=threshold)
    got = ranking_metrics(
        users, truth, pred, ["precision@5", "recall@5", "ndcg@5"], threshold=threshold
    )
    assert list(got.values()) == pytest.approx(want, rel=1e-12)


def test_several_metrics_at_once_equal_the_single_calls():
    users, truth, pred = random_case(3)
    got = ranking_metrics(users, truth, pred, ["NDCG@5", "precision@10", "recall @ 5", "ndcg@1"])
    assert list(got) == ["ndcg@5", "precision@10", "recall@5", "ndcg@1"]
    assert got["ndcg@5"] == ndcg_at_k(users, truth, pred, k=5)
    assert got["precision@10"] == precision_at_k(users, truth, pred, k=10)
    assert got["recall@5"] == recall_at_k(users, truth, pred, k=5)
    assert got["ndcg@1"] == ndcg_at_k(users, truth, pred, k=1)


def test_int_codes_and_raw_ids_give_the_same_values():
    users, truth, pred = random_case(4)
    codes = pd.factorize(users)[0].astype(np.int32)
    raw_ints = codes.astype(np.int64) * 1000 + 7
    for ids in (codes, raw_ints, list(users), pd.Series(users)):
        assert ndcg_at_k(ids, truth, pred, k=5) == ndcg_at_k(users, truth, pred, k=5)


def test_without_ties_the_row_order_does_not_matter():
    users, truth, _ = random_case(5)
    pred = np.random.default_rng(5).permutation(len(users)) / len(users)  # all distinct
    perm = np.random.default_rng(6).permutation(len(users))
    for metric in (precision_at_k, recall_at_k, ndcg_at_k):
        assert metric(users[perm], truth[perm], pred[perm], k=4) == pytest.approx(
            metric(users, truth, pred, k=4), rel=1e-12
        )


def test_ties_rank_the_first_in_the_input_higher():
    # one user, equal predictions: the first row is ranked first
    assert precision_at_k([1, 1], [5.0, 1.0], [3.0, 3.0], k=1) == 1.0
    assert precision_at_k([1, 1], [1.0, 5.0], [3.0, 3.0], k=1) == 0.0


# ----------------------------------------------------------------- hand-computed cases
def test_hand_computed_case():
    # user 1 ranks (t=5, p=4), (t=3, p=4: tie, later), (t=4, p=3); relevant: 5 and 4.
    # user 2 has no relevant rating; user 3 has one rating, relevant.
    users = [1, 1, 1, 2, 2, 3]
    truth = [5.0, 3.0, 4.0, 2.0, 1.0, 4.5]
    pred = [4.0, 4.0, 3.0, 1.0, 2.0, 3.0]
    # precision@2: user 1: 1/2; user 2: 0/2; user 3: 1/min(2, 1) = 1
    assert precision_at_k(users, truth, pred, k=2) == pytest.approx((0.5 + 0 + 1) / 3)
    # recall@2: user 1: 1/2; user 2 left out; user 3: 1/1
    assert recall_at_k(users, truth, pred, k=2) == pytest.approx(0.75)
    # nDCG@2: user 1: (1 + 0) / (1 + 1/log2 3); user 3: 1
    user1 = 1 / (1 + 1 / math.log2(3))
    assert ndcg_at_k(users, truth, pred, k=2) == pytest.approx((user1 + 1) / 2)
    # rating gains: user 1: (5 + 3/log2 3) / (5 + 4/log2 3)
    user1 = (5 + 3 / math.log2(3)) / (5 + 4 / math.log2(3))
    assert ndcg_at_k(users, truth, pred, k=2, gain="rating") == pytest.approx((user1 + 1) / 2)
    # k=3 covers user 1's whole list: recall 1; nDCG: (1 + 0 + 1/2) / (1 + 1/log2 3)
    assert recall_at_k(users, truth, pred, k=3) == pytest.approx(1.0)
    user1 = (1 + 0.5) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(users, truth, pred, k=3) == pytest.approx((user1 + 1) / 2)


def test_default_k_and_threshold():
    users, truth, pred = random_case(8)
    assert precision_at_k(users, truth, pred) == precision_at_k(
        users, truth, pred, k=10, threshold=4.0
    )
    assert ranking_metrics(users, truth, pred) == {
        "precision@10": precision_at_k(users, truth, pred),
        "recall@10": recall_at_k(users, truth, pred),
        "ndcg@10": ndcg_at_k(users, truth, pred),
    }


# ----------------------------------------------------------------- perfect and reversed
@pytest.mark.parametrize("k", [1, 5, 10])
def test_a_perfect_predictor_reaches_the_achievable_maximum(k):
    users, truth, _ = random_case(9)
    frame = pd.DataFrame({"u": users, "rel": truth >= 4.0})
    per_user = frame.groupby("u")["rel"].agg(["size", "sum"])
    shown = np.minimum(k, per_user["size"])
    best_precision = np.mean(np.minimum(per_user["sum"], shown) / shown)
    with_rel = per_user[per_user["sum"] > 0]
    best_recall = np.mean(np.minimum(with_rel["sum"], k) / with_rel["sum"])
    assert precision_at_k(users, truth, truth, k=k) == pytest.approx(best_precision)
    assert best_precision < 1.0  # users without a relevant rating: nobody reaches 1
    assert recall_at_k(users, truth, truth, k=k) == pytest.approx(best_recall)
    assert ndcg_at_k(users, truth, truth, k=k) == pytest.approx(1.0)
    assert ndcg_at_k(users, truth, truth, k=k, gain="rating") == pytest.approx(1.0)


@pytest.mark.parametrize("k", [1, 5, 10])
def test_a_reversed_predictor_scores_lower(k):
    users, truth, _ = random_case(10)
    for metric in (precision_at_k, recall_at_k, ndcg_at_k):
        assert metric(users, truth, -truth, k=k) < metric(users, truth, truth, k=k)
    noisy = truth + np.random.default_rng(0).normal(0, 0.5, len(truth))
    assert ndcg_at_k(users, truth, -noisy, k=k) < ndcg_at_k(users, truth, noisy, k=k)


def test_no_relevant_rating_anywhere_gives_nan_with_a_warning():
    users, truth, pred = [1, 1, 2], [1.0, 2.0, 3.0], [3.0, 2.0, 1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert precision_at_k(users, truth, pred, k=2) == 0.0
    for metric in (recall_at_k, ndcg_at_k):
        with pytest.warns(RuntimeWarning, match="undefined.*threshold 4.0"):
            assert math.isnan(metric(users, truth, pred, k=2))


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize("metric", [precision_at_k, recall_at_k, ndcg_at_k])
def test_length_mismatch_is_refused(metric):
    with pytest.raises(ValueError, match="same length.*\\(3,\\), \\(2,\\) and \\(3,\\)"):
        metric([1, 1, 2], [4.0, 5.0], [1.0, 2.0, 3.0])


@pytest.mark.parametrize("metric", [precision_at_k, recall_at_k, ndcg_at_k])
@pytest.mark.parametrize("where", ["truth", "pred"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_are_refused(metric, where, bad):
    good, worse = [4.0, 5.0, 3.0], [4.0, bad, 3.0]
    args = (worse, good) if where == "truth" else (good, worse)
    with pytest.raises(ValueError, match=rf"{where} has 1 NaN or infinite.*position 1"):
        metric([1, 1, 2], *args)


@pytest.mark.parametrize("users", [[1.0, np.nan, 2.0], ["a", None, "b"]])
def test_missing_user_is_refused(users):
    with pytest.raises(ValueError, match="users has 1 missing value.*position 1"):
        ndcg_at_k(users, [4.0, 5.0, 3.0], [1.0, 2.0, 3.0])


@pytest.mark.parametrize("metric", [precision_at_k, recall_at_k, ndcg_at_k])
def test_empty_input_is_refused(metric):
    with pytest.raises(ValueError, match="empty; nothing to score"):
        metric([], [], [])


@pytest.mark.parametrize("metric", [precision_at_k, recall_at_k, ndcg_at_k])
@pytest.mark.parametrize("k", [0, -1, 2.5, True, "10", None])
def test_bad_k_is_refused(metric, k):
    with pytest.raises(ValueError, match="k must be an integer >= 1, got"):
        metric([1, 1], [4.0, 5.0], [1.0, 2.0], k=k)


def test_a_huge_k_ranks_whole_lists_without_allocating_k():
    users, truth, pred = random_case(12)
    want = reference(users, truth, pred, 10**12)
    got = ranking_metrics(users, truth, pred, ["precision@1000000000000", "ndcg@10000000000000"])
    assert list(got.values()) == pytest.approx([want[0], want[2]], rel=1e-12)


def test_numpy_integer_k_is_accepted():
    assert precision_at_k([1, 1], [4.0, 1.0], [1.0, 2.0], k=np.int64(1)) == 0.0


@pytest.mark.parametrize("threshold", [np.nan, np.inf, "four", None, True])
def test_bad_threshold_is_refused(threshold):
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        recall_at_k([1, 1], [4.0, 5.0], [1.0, 2.0], threshold=threshold)


def test_other_input_errors():
    with pytest.raises(ValueError, match="same length"):
        precision_at_k([[1, 1]], [[4.0, 5.0]], [[1.0, 2.0]])  # 2-d
    with pytest.raises(ValueError, match="truth must be numbers"):
        precision_at_k([1, 1], ["a", "b"], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"gain must be one of \('binary', 'rating'\)"):
        ndcg_at_k([1, 1], [4.0, 5.0], [1.0, 2.0], gain="exp")
    with pytest.raises(ValueError, match="gain='rating' needs ratings >= 0"):
        ndcg_at_k([1, 1], [-1.0, 5.0], [1.0, 2.0], gain="rating")
    with pytest.raises(ValueError, match="duplicates"):
        ranking_metrics([1], [4.0], [1.0], ["ndcg@10", "NDCG@10"])
    with pytest.raises(ValueError, match="metrics is empty"):
        ranking_metrics([1], [4.0], [1.0], [])


@pytest.mark.parametrize("name", ["ndcg", "ndcg@", "map@10", "ndcg@ten", "ndcg@1.5", 10, "rmse"])
def test_unknown_metric_names_are_refused(name):
    with pytest.raises(ValueError, match="unknown ranking metric.*precision@K, recall@K or ndcg@K"):
        parse_ranking_metric(name)


def test_metric_name_parsing():
    assert parse_ranking_metric(" NDCG @ 10 ") == ("ndcg", 10)
    assert parse_ranking_metric("Precision@1") == ("precision", 1)
    with pytest.raises(ValueError, match="k must be an integer >= 1, got 0 in 'recall@0'"):
        parse_ranking_metric("recall@0")


# ----------------------------------------------------------------- the kernels alone
def reference_groups(codes, n_users):
    rows = [np.flatnonzero(codes == u) for u in range(n_users)]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    return indptr, np.concatenate(rows) if rows else np.zeros(0, np.int64)


@pytest.mark.parametrize("seed", range(4))
def test_group_rows_by_user_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    n_users = 30
    codes = rng.integers(0, n_users, 200).astype(np.int32)
    codes[codes == 5] = 6  # an empty user
    indptr, rows = group_rows_by_user(codes, n_users + 3)  # 3 empty users at the end
    want_indptr, want_rows = reference_groups(codes, n_users + 3)
    np.testing.assert_array_equal(indptr, want_indptr)
    np.testing.assert_array_equal(rows, want_rows)
    assert indptr.dtype == np.int64 and rows.dtype == np.int64


def test_count_user_rankings_on_empty_and_single_rating_users():
    codes = np.array([2, 0, 2, 2], dtype=np.int64)  # user 1 empty, user 0 one rating
    truth = np.array([5.0, 4.0, 1.0, 4.5])
    pred = np.array([1.0, 2.0, 3.0, 3.0])
    indptr, rows = group_rows_by_user(codes, 4)  # user 3 empty too
    ks = np.array([1, 2], dtype=np.int64)
    n_items, n_rel, hits, dcg, idcg = count_user_rankings(indptr, rows, truth, pred, ks, 4.0, False)
    np.testing.assert_array_equal(n_items, [1, 0, 3, 0])
    np.testing.assert_array_equal(n_rel, [1, 0, 2, 0])
    # user 2 ranks rows 2 (t=1, p=3) and 3 (t=4.5, p=3: tie, later), then 0 (t=5, p=1)
    np.testing.assert_array_equal(hits, [[1, 1], [0, 0], [0, 1], [0, 0]])
    np.testing.assert_allclose(dcg[2], [0.0, 1 / math.log2(3)])
    np.testing.assert_allclose(idcg[2], [1.0, 1 + 1 / math.log2(3)])
    np.testing.assert_array_equal(dcg[[1, 3]], 0.0)
    np.testing.assert_array_equal(idcg[[1, 3]], 0.0)


# ----------------------------------------------------------------- evaluate_all
def test_evaluate_all_adds_the_ranking_columns():
    rng = np.random.default_rng(0)
    keys = rng.choice(60 * 50, 1500, replace=False)
    frame = pd.DataFrame(
        {"userId": keys // 50, "movieId": keys % 50, "rating": rng.integers(1, 11, 1500) / 2}
    )
    ratings = fastrec.Ratings.from_frame(frame)
    metrics = ["rmse", "mae", "precision@10", "recall@10", "ndcg@10"]
    table = fastrec.evaluate_all(
        ratings, models=["UserMean", "Bias"], metrics=metrics, show_progress=False, warmup=False
    )
    assert list(table.columns) == [
        "model", *metrics, "coverage", "fit_s", "predict_s", "compile_s",
    ]  # fmt: skip
    assert table.rmse.is_monotonic_increasing
    assert table.attrs["metrics"] == metrics and table.attrs["relevance_threshold"] == 4.0
    train, test = fastrec.train_test_split(ratings, test_size=0.2, seed=7)
    for name in ("UserMean", "Bias"):
        pred = fastrec.MODELS[name]().fit(train).predict(test)
        want = reference(test.user_codes, test.ratings, pred, 10)
        row = table.set_index("model").loc[name]
        assert list(row[metrics[2:]]) == pytest.approx(want, rel=1e-12)
        assert row["rmse"] == fastrec.rmse(pred, test.ratings)


def test_on_the_post_split_against_the_reference(ml_small_2016):
    train, test = fastrec.train_test_split(ml_small_2016, test_size=0.2, seed=7)
    pred = fastrec.Bias().fit(train).predict(test)
    users = test.user_ids  # raw ids
    for gain in ("binary", "rating"):
        got = ranking_metrics(
            users, test.ratings, pred, ["precision@10", "recall@10", "ndcg@10"], gain=gain
        )
        want = reference(list(users), test.ratings, pred, 10, gain=gain)
        assert list(got.values()) == pytest.approx(want, rel=1e-12)


# ======================================================= full-catalogue metrics
from fastrec.metrics import catalog_metrics, parse_catalog_metric  # noqa: E402


def catalog_reference(lists, test, k, threshold, n_items):
    """RecBole's formulas, one Python loop per user: ``lists`` {user: [items best first]},
    ``test`` [(user, item, rating)]."""
    rel = {}
    for u, i, t in test:
        if t >= threshold:
            rel.setdefault(u, set()).add(i)
    prec, rec, ndcg, ap, shown = [], [], [], [], set()
    for u, items in rel.items():
        top = lists.get(u, [])[:k]
        shown.update(top)
        hits = [1.0 if i in items else 0.0 for i in top]
        prec.append(sum(hits) / k)
        rec.append(sum(hits) / len(items))
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1 / math.log2(r + 2) for r in range(min(len(items), k)))
        ndcg.append(dcg / idcg)
        ap.append(
            sum(h * sum(hits[: r + 1]) / (r + 1) for r, h in enumerate(hits)) / min(len(items), k)
        )
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    return {
        f"catalog-precision@{k}": mean(prec),
        f"catalog-recall@{k}": mean(rec),
        f"catalog-ndcg@{k}": mean(ndcg),
        f"catalog-map@{k}": mean(ap),
        f"catalog-coverage@{k}": len(shown) / n_items,
    }


def catalog_case(seed, n_users=40, n_items=50):
    rng = np.random.default_rng(seed)
    test, lists = [], {}
    for u in range(n_users):
        items = rng.choice(n_items, rng.integers(1, 12), replace=False)
        test += [(f"u{u}", int(i), float(rng.integers(1, 11) / 2)) for i in items]
        if u % 7 != 3:  # some users get no list at all
            lists[f"u{u}"] = [
                int(i) for i in rng.choice(n_items, rng.integers(0, 15), replace=False)
            ]
    lists["stranger"] = [1, 2, 3]  # a user without test ratings: left out
    return lists, test


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 5, 10, 30])
def test_catalog_metrics_match_the_reference_loop(seed, k):
    lists, test = catalog_case(seed)
    rec_users = [u for u, items in lists.items() for _ in items]
    rec_items = [i for items in lists.values() for i in items]
    users, items, truth = zip(*test, strict=True)
    names = [f"catalog-{m}@{k}" for m in ("precision", "recall", "ndcg", "map", "coverage")]
    got = catalog_metrics(rec_users, rec_items, users, items, truth, names, 3.5, n_items=50)
    expected = catalog_reference(lists, test, k, 3.5, 50)
    assert list(got) == names
    for name in names:
        assert got[name] == pytest.approx(expected[name], rel=1e-12, abs=1e-15), name


def test_catalog_metrics_read_each_users_rows_in_the_order_given():
    lists, test = catalog_case(4)
    rows = [(u, i, r) for u, items in lists.items() for r, i in enumerate(items)]
    # round robin: every user's first item, then every second item, ...: rows interleaved,
    # each user's own order kept, so the same lists
    interleaved = sorted(rows, key=lambda row: row[2])
    users, items, truth = zip(*test, strict=True)
    names = ["catalog-map@5", "catalog-ndcg@3"]
    a = catalog_metrics([u for u, _, _ in rows], [i for _, i, _ in rows], users, items, truth,
                        names)  # fmt: skip
    b = catalog_metrics([u for u, _, _ in interleaved], [i for _, i, _ in interleaved], users,
                        items, truth, names)  # fmt: skip
    assert a == pytest.approx(b)


def test_catalog_metrics_hand_computed():
    # user a: relevant {1, 2, 3}; list [1, 9, 3]; user b: relevant {5}; list [6, 5]
    # user c: no relevant rating: left out, its list too
    users = ["a", "a", "a", "a", "b", "b", "c"]
    items = [1, 2, 3, 4, 5, 6, 7]
    truth = [5.0, 4.0, 4.5, 2.0, 4.0, 1.0, 3.0]
    rec_u, rec_i = ["a", "a", "a", "b", "b", "c"], [1, 9, 3, 6, 5, 8]
    names = ["catalog-precision@3", "catalog-recall@3", "catalog-ndcg@3", "catalog-map@3",
             "catalog-coverage@3"]  # fmt: skip
    got = catalog_metrics(rec_u, rec_i, users, items, truth, names, 4.0, n_items=10)
    d = [1, 1 / math.log2(3), 0.5]  # discounts of ranks 1, 2, 3
    assert got["catalog-precision@3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert got["catalog-recall@3"] == pytest.approx((2 / 3 + 1) / 2)
    assert got["catalog-ndcg@3"] == pytest.approx(((d[0] + d[2]) / sum(d) + d[1] / d[0]) / 2)
    assert got["catalog-map@3"] == pytest.approx(((1 + 2 / 3) / 3 + (1 / 2) / 1) / 2)
    assert got["catalog-coverage@3"] == pytest.approx(5 / 10)  # 1, 9, 3, 6, 5 (not c's 8)


def test_catalog_metrics_no_relevant_rating_gives_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match="no test rating is >= the relevance threshold"):
        got = catalog_metrics([1], [2], [1], [2], [1.0], ["catalog-ndcg@5"])
    assert math.isnan(got["catalog-ndcg@5"])


def test_catalog_metrics_refuse_bad_input():
    args = ([1, 1], [2, 2], [1], [2], [5.0])
    with pytest.raises(ValueError, match="holds an item more than once"):
        catalog_metrics(*args, ["catalog-ndcg@5"])
    with pytest.raises(ValueError, match="needs n_items"):
        catalog_metrics([1], [2], [1], [2], [5.0], ["catalog-coverage@5"])
    with pytest.raises(ValueError, match="rec_users and rec_items must be 1-d"):
        catalog_metrics([1, 2], [2], [1], [2], [5.0], ["catalog-ndcg@5"])
    with pytest.raises(ValueError, match="unknown catalog metric 'ndcg@5'"):
        catalog_metrics([1], [2], [1], [2], [5.0], ["ndcg@5"])
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        parse_catalog_metric("catalog-map@0")
    assert parse_catalog_metric(" Catalog-NDCG @ 10") == ("catalog-ndcg", 10)
