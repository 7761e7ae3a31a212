"""The co-occurrence component of the HRNN recipes (hrnn.py "Co-occurrence") and the order-free
development variants of bench/order_free.py (issue 18)."""
import os
import sys

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms.data import from_arrays
from chalicelib.algorithms.hrnn import blend, validation_ndcg
from chalicelib.algorithms.base import History
from chalicelib.algorithms.spectral import fold_in, implicit_factors

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
from order_free import order_free  # noqa: E402


def test_blend_endpoints_and_scale():
    net = np.array([[1.0, 2.0, 3.0, -np.inf]])
    cf = np.array([[30.0, 20.0, 10.0, 5.0]])
    assert blend(net, cf, 0.0) is net
    alone = blend(net, cf, np.inf)              # the factorisation in the network's place
    assert np.allclose(alone[:, :3] * np.std(cf), cf[:, :3]) and alone[0, 3] == -np.inf
    mixed = blend(net, cf * 1000, 1.0)          # the scale of either side does not matter
    assert np.allclose(mixed[:, :3], blend(net, cf, 1.0)[:, :3]) and mixed[0, 3] == -np.inf


def test_factorisation_recovers_two_blocks_and_folds_in():
    # users 0-19 use items 0-4, users 20-39 items 5-9: a new user with items 0, 1 wants 2-4
    rows = np.repeat(np.arange(40), 5)
    cols = np.concatenate([np.arange(5) if u < 20 else np.arange(5, 10) for u in range(40)])
    x = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(40, 10))
    _, v = implicit_factors(x, 4, 0.1, 1.0, 10, np.random.default_rng(0))
    gram = v.T @ v + 0.1 * np.eye(4)
    s = v @ fold_in(v, gram, np.array([0, 1]), 1.0)
    assert set(np.argsort(-s)[:5]) == {0, 1, 2, 3, 4}
    assert np.array_equal(fold_in(v, gram, np.array([], np.int64), 1.0), np.zeros(4))


def test_validation_ndcg_excludes_history():
    scores = np.array([[5.0, 4.0, 3.0]])
    assert validation_ndcg(scores, [History(np.array([0], np.int32))], [np.array([1])], k=2) == 1.0


def test_order_free_keeps_each_users_items_and_ties_days():
    users = np.repeat(["a", "b"], 20)
    items = np.concatenate([np.arange(20), np.arange(20, 40)])
    data = from_arrays(users, items, np.arange(40) * 3600)
    free = order_free(data, seed=3)
    it, orig = free.interactions, data.interactions
    for u in range(2):
        assert sorted(it.item[it.user == u]) == sorted(orig.item[orig.user == u])
        days = it.timestamp[it.user == u]
        assert np.all(days % 86400 == 0) and np.all(np.diff(days) >= 0)       # rows in day order
        per_day = np.unique(days, return_counts=True)[1]
        assert per_day[:-1].min() >= 2 and per_day.max() <= 6
    assert not np.array_equal(it.item, orig.item)          # the order within each user changed
    assert np.array_equal(order_free(data, seed=3).interactions.item, it.item)   # seeded


def test_the_confidence_and_weight_are_chosen_on_validation_and_saved(tmp_path):
    from chalicelib.algorithms import hrnn
    from chalicelib.algorithms.base import load_model
    from chalicelib.algorithms.registry import recipe_for
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(90), 8).astype(str)
    items = np.concatenate([rng.choice(12, 8, replace=False) + (12 if u % 2 else 0) for u in range(90)])
    data = from_arrays(users, items.astype(str), np.tile(np.arange(8) * 86400, 90))
    model = recipe_for("aws-hrnn").fit(data, {"training.epochs": "1", "model.num_hidden": "32",
                                              "training.batch_size": "8"}, seed=0)
    cf = model.cooccurrence
    assert cf["alpha"] in hrnn.CF_ALPHAS and cf["weight"] in hrnn.CF_WEIGHTS
    assert model.info["cooccurrence_alpha"] == cf["alpha"] and model.info["validation_users"] >= 20
    model.save(str(tmp_path))
    loaded = load_model(str(tmp_path))
    assert loaded.cooccurrence["alpha"] == cf["alpha"] and loaded.cooccurrence["weight"] == cf["weight"]
    h = [History(np.array([0, 2, 4], np.int32))]
    assert np.allclose(loaded.item_scores(h), model.item_scores(h))


def test_neighbours_are_shrunk_cosines_cut_to_k_and_score_histories():
    from chalicelib.algorithms.neighbours import item_neighbours, neighbour_scores
    # items 0 and 1 always together (4 users), item 2 once with 0
    x = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 1, 0], [1, 1, 1], [0, 0, 1]], float))
    s = item_neighbours(x, k=1, shrink=1.0, max_regression_items=0).toarray()
    assert np.isclose(s[0, 1], 4 / (4 + 1)) and s[0, 2] == 0          # k = 1 keeps the best only
    assert np.isclose(s[2, 0], 1 / (np.sqrt(4 * 2) + 1)) and s.diagonal().sum() == 0
    scores = neighbour_scores(item_neighbours(x, k=2, shrink=1.0, max_regression_items=0), [History(np.array([0, 0], np.int32))])
    assert np.argmax(scores[0]) == 1 and scores[0, 0] == 0


def test_blend_adds_the_neighbours():
    net = np.array([[3.0, 2.0, 1.0]])
    knn = np.array([[0.0, 0.0, 9.0]])
    assert np.argmax(blend(net, None, 0.0, knn, 4.0)[0]) == 2
    assert blend(net, None, 0.0, knn, 0.0) is net


def test_item_regression_is_the_closed_form_cut_to_k_largest_in_absolute_value():
    from chalicelib.algorithms.neighbours import _ROWS_PER_CUT, item_regression, presence
    rng = np.random.default_rng(0)
    n = _ROWS_PER_CUT + 76                       # two row blocks: the mirrored inverse crosses them
    x = presence(sp.csr_matrix((rng.random((1500, n)) < 0.05).astype(np.float32)))
    kept = np.arange(n)
    dense = x.toarray().astype(np.float64)
    p = np.linalg.inv(dense.T @ dense + 5.0 * np.eye(n))
    want = -p / np.diag(p)
    np.fill_diagonal(want, 0.0)
    got = item_regression(x, kept, k=n - 1, l2=5.0).toarray()
    assert np.allclose(got, want, atol=1e-4)
    cut = item_regression(x, kept, k=3, l2=5.0)
    assert (np.diff(cut.indptr) == 3).all()
    row = np.abs(want[7])
    assert set(cut[7].indices) == set(np.argsort(-row)[:3])


def test_item_neighbours_regress_small_catalogues_and_fall_back_on_cosines():
    from chalicelib.algorithms.neighbours import item_neighbours
    x = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 1, 0], [1, 1, 1], [0, 0, 1]], float))
    regression = item_neighbours(x, k=2).toarray()
    cosine = item_neighbours(x, k=2, shrink=1.0, max_regression_items=1).toarray()
    assert np.isclose(cosine[0, 1], 4 / (4 + 1))
    assert not np.allclose(regression, cosine) and regression[0, 1] > 0
