"""aws-ffnn: gradient checks of the two-tower network (float64) and the recipe on tiny
synthetic data (seconds)."""
import numpy as np
import pytest

from chalicelib.algorithms import ffnn
from chalicelib.algorithms.base import History, load_model
from chalicelib.algorithms.data import from_arrays
from chalicelib.algorithms.ffnn_net import FfnnNet
from chalicelib.algorithms.optim import merge_rows
from chalicelib.algorithms.registry import recipe_for
from tests.unit.synthetic import assert_close, idx, numeric
from tests.unit.synthetic import group_data as _group_data

GROUPS, PER_GROUP = 3, 8
FAST = {"dsize": "8", "batch_size": "16", "min_hist_length": "1", "dropout": "0.0"}


# --- gradients -------------------------------------------------------------------------
def dense(g, shape):
    if isinstance(g, list):
        rows, vals = merge_rows(g, np.float64)
        out = np.zeros(shape)
        out[rows] = vals
        return out
    return g


@pytest.mark.parametrize("residual,dropout", [(True, 0.0), (False, 0.0), (True, 0.4)])
def test_network_gradients_match_finite_differences(residual, dropout):
    rng = np.random.default_rng(0)
    n_items, b = 9, 4
    net = FfnnNet.create(rng, n_items, embed=5, dsize=3, residual=residual, dtype=np.float64,
                         init_scale=0.5)
    for k in ("b_out", "b1", "b2"):
        net.params[k][:] = rng.normal(size=net.params[k].shape)
    items = rng.integers(0, n_items, 14)
    rows, cols, w = ffnn.pool_entries(items, np.array([0, 3, 7, 7]), np.array([3, 7, 7, 14]))
    Y = np.array([[1, 2, -1], [4, -1, -1], [0, 5, 6], [8, 1, 3]])
    neg = np.array([2, 7, 7])
    logq = lambda c: np.log(0.1 + 0.05 * c)

    def loss(grads=None):
        # the same dropout masks on every evaluation: reseed
        u, tape = net.forward(rows, cols, w, b, dropout=dropout, rng=np.random.default_rng(5))
        g = {} if grads is None else grads
        value, du = net.sampled_softmax(u, Y, neg, g, log_inclusion=logq)
        if grads is not None:
            net.backward(du, tape, grads)
        return value

    grads = {}
    loss(grads)
    assert set(grads) == set(net.params)
    for name, arr in net.params.items():
        g = dense(grads[name], arr.shape)
        for at in list(np.ndindex(*arr.shape))[:40]:
            assert_close(numeric(loss, arr, at), g[at], f"{name}{at}")


def test_pool_entries_weights_sum_to_one_and_favour_recent_items():
    items = np.arange(10)
    rows, cols, w = ffnn.pool_entries(items, np.array([0, 4, 9]), np.array([4, 4, 10]))
    assert rows.tolist() == [0, 0, 0, 0, 2] and cols.tolist() == [0, 1, 2, 3, 9]
    assert np.allclose(np.bincount(rows, weights=w, minlength=3), [1.0, 0.0, 1.0])
    assert np.all(np.diff(w[:4]) > 0)     # newest (item 3) weighs most


# --- data ------------------------------------------------------------------------------
def group_data(n_users=45, seed=0, extra_items=()):
    return _group_data(n_users, GROUPS, PER_GROUP, item_name="g{g}i{k}", user_name="u{u:02d}",
                       seed=seed, extra_items=extra_items)


def group_of(data, i):
    return int(data.item_ids[i][1])


@pytest.fixture(scope="module")
def data():
    return group_data(extra_items=["zz-never-seen"])


@pytest.fixture(scope="module")
def model(data):
    return recipe_for("aws-ffnn").fit(data, FAST, seed=0)


def assert_learns_groups(data, model):
    for g in range(GROUPS):
        h = History(idx(data, f"g{g}i0", f"g{g}i3"), np.array([0, 60]))
        ids, scores = model.recommend([h], PER_GROUP - 2)
        assert np.all(np.diff(scores[0]) <= 0)
        assert [group_of(data, i) for i in ids[0]] == [g] * (PER_GROUP - 2), (g, data.item_ids[ids[0]])


def test_learns_which_items_go_together(data, model):
    assert_learns_groups(data, model)


def test_learns_without_the_spectral_start(data, monkeypatch):
    monkeypatch.setattr(ffnn, "SPECTRAL_INIT", False)
    monkeypatch.setattr(ffnn, "EPOCHS", 40)
    m = recipe_for("aws-ffnn").fit(data, FAST, seed=0)
    assert_learns_groups(data, m)


def test_new_events_change_recommendations_without_retraining(data, model):
    h = History(idx(data, "g0i1"), np.array([0]))
    before = model.recommend([h], 3)[0][0]
    assert {group_of(data, i) for i in before} == {0}
    later = History(np.concatenate([h.items, idx(data, "g2i1", "g2i2", "g2i5")]), np.arange(4) * 60)
    after = model.recommend([later], 3)[0][0]
    assert {group_of(data, i) for i in after} == {2}


def test_history_is_excluded_unless_asked(data, model):
    h = History(idx(data, "g1i0", "g1i1", "g1i2"), np.arange(3))
    ids = model.recommend([h], 30)[0][0]
    shown = ids[ids >= 0]
    assert not np.isin(shown, h.items).any() and shown.size == GROUPS * PER_GROUP - 3
    ids = model.recommend([h], 30, exclude_history=False)[0][0]
    assert np.isin(h.items, ids).all()


def test_items_never_seen_in_training_are_never_recommended(data, model):
    never = idx(data, "zz-never-seen")[0]
    ids, _ = model.recommend([History(idx(data, "g0i0"), None), History.empty()], data.n_items)
    assert never not in ids and (ids[:, -1] == -1).all()


def test_empty_history_gets_the_most_popular_items(data, model):
    counts = model.item_counts.copy()
    counts[idx(data, "g2i6")[0]] += 50
    m = ffnn.FfnnModel(data.item_ids, {}, model.net, counts, 500)
    ids, _ = m.recommend([History.empty()], 2)
    assert data.item_ids[ids[0, 0]] == "g2i6"


def test_history_indices_outside_the_catalogue_are_ignored(data, model):
    h = History(idx(data, "g1i4", "g1i5"), np.array([0, 60]))
    noisy = History(np.array([data.n_items + 3, h.items[0], -1, h.items[1], 10 ** 6], np.int32), None)
    a, b = model.recommend([h], 5), model.recommend([noisy], 5)
    assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])
    only_unknown = History(np.array([data.n_items + 7], np.int32), None)
    assert np.array_equal(model.recommend([only_unknown], 5)[0], model.recommend([History.empty()], 5)[0])


def test_batch_and_single_user_paths_agree(data, model, monkeypatch):
    hs = [History(idx(data, "g0i2"), None), History.empty(),
          History(idx(data, "g1i1", "g1i2", "g2i0"), None)]
    ids, vals = model.recommend(hs, 4)
    monkeypatch.setattr(ffnn, "INFERENCE_GROUP", 2)      # also across inference groups
    ids2, vals2 = model.recommend(hs, 4)
    assert np.array_equal(ids, ids2)
    monkeypatch.setattr(ffnn, "MAX_SCORE_CELLS", 1)      # big-catalogue path: one user per group
    assert np.array_equal(model.recommend(hs, 4)[0], ids)
    for r, h in enumerate(hs):
        one_ids, one_vals = model.recommend([h], 4)
        assert np.array_equal(one_ids[0], ids[r])
        assert np.allclose(one_vals[0], vals[r], rtol=1e-5)


def test_save_load_round_trip(tmp_path, data, model):
    model.save(str(tmp_path))
    loaded = load_model(str(tmp_path))
    assert isinstance(loaded, ffnn.FfnnModel) and loaded.hyperparameters == FAST
    hs = [History(idx(data, "g2i3", "g2i4"), None), History.empty(), History(idx(data, "g0i7"), None)]
    a, b = model.recommend(hs, 10), loaded.recommend(hs, 10)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


# --- determinism and hyperparameters -----------------------------------------------------
def _fit(data, **hp):
    return recipe_for("aws-ffnn").fit(data, dict(FAST, **hp), seed=0)


def test_deterministic_under_a_seed(data):
    hp = dict(FAST, dropout="0.3")
    a = recipe_for("aws-ffnn").fit(data, hp, seed=3)
    b = recipe_for("aws-ffnn").fit(data, hp, seed=3)
    c = recipe_for("aws-ffnn").fit(data, hp, seed=4)
    for k in a.net.params:
        assert np.array_equal(a.net.params[k], b.net.params[k]), k
    assert not np.array_equal(a.net.params["W1"], c.net.params["W1"])


def test_dsize_sets_the_hidden_layer_width(data):
    m = _fit(data, dsize="3")
    assert m.net.params["W1"].shape == (ffnn.EMBED_DIM, 3) and m.net.params["W2"].shape == (3, ffnn.EMBED_DIM)


def test_batch_size_sets_the_examples_per_step(data, monkeypatch):
    steps = []
    real = ffnn.Adam.step
    monkeypatch.setattr(ffnn.Adam, "step", lambda self, p, g: steps.append(1) or real(self, p, g))
    m = _fit(data, batch_size="7")
    per_epoch = [h["examples"] for h in m.info["history"]]
    assert len(steps) == sum(-(-n // 7) for n in per_epoch)


def test_dropout_changes_training_not_inference(data):
    a, b = _fit(data), _fit(data, dropout="0.5")
    assert not np.allclose(a.net.params["W1"], b.net.params["W1"])
    h = [History(idx(data, "g0i1", "g0i2"), None)]
    assert np.array_equal(b.recommend(h, 5)[1], b.recommend(h, 5)[1])


def test_learning_rate_zero_leaves_the_initial_parameters(data, monkeypatch):
    trained, slow = _fit(data, learning_rate="0"), _fit(data, learning_rate="0.001")
    monkeypatch.setattr(ffnn, "EPOCHS", 0)
    start = _fit(data)
    for k in start.net.params:
        assert np.array_equal(start.net.params[k], trained.net.params[k]), k
    assert not np.array_equal(slow.net.params["W1"], start.net.params["W1"])


def long_data():
    """One cycle of 150 items walked by 6 users from different starting points."""
    users, items, stamps = [], [], []
    for u in range(6):
        for k in range(150):
            users.append(f"u{u}")
            items.append(f"i{(25 * u + k) % 150:03d}")
            stamps.append(k)
    return from_arrays(users, items, stamps)


def test_max_hist_length_bounds_the_pooled_history():
    d = long_data()
    hp = dict(FAST, max_hist_length="100")
    m = recipe_for("aws-ffnn").fit(d, hp, seed=0)
    full = History(np.arange(140, dtype=np.int32), None)
    tail = History(full.items[-100:], None)
    # only the newest 100 items count (history exclusion off: it would differ)
    a, b = m.recommend([full], 10, exclude_history=False), m.recommend([tail], 10, exclude_history=False)
    assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])
    other = recipe_for("aws-ffnn").fit(d, dict(FAST, max_hist_length="140"), seed=0)
    assert not np.allclose(other.net.params["W1"], m.net.params["W1"])
    assert load_model_like(m).max_hist_length == 100


def load_model_like(m):
    return ffnn.FfnnModel.from_artifacts(m.item_ids, m.hyperparameters, m.arrays(), m.meta())


def test_min_hist_length_skips_short_users_but_answers_short_histories(data):
    short = from_arrays(["a"] * 3 + ["b"] * 9, [f"i{k}" for k in range(3)] + [f"i{k}" for k in range(9)],
                        list(range(12)))
    m = recipe_for("aws-ffnn").fit(short, dict(FAST, min_hist_length="3"), seed=0)
    assert m.info["trained_users"] == 1                   # "a" has only 3 interactions
    # a history shorter than min_hist_length gets the network's answer, not popularity
    h = History(np.array([4], np.int32), None)
    assert not np.allclose(m.item_scores([h])[0], m.item_scores([History.empty()])[0])
    with pytest.raises(ValueError, match="min_hist_length"):
        recipe_for("aws-ffnn").fit(short, dict(FAST, min_hist_length="9"), seed=0)


def test_rejects_bad_hyperparameters_and_data(data):
    for bad in ({"dsize": "0"}, {"dsize": "129"}, {"batch_size": "1001"}, {"dropout": "1.5"},
                {"learning_rate": "-0.1"}, {"max_hist_length": "99"}, {"min_hist_length": "101"},
                {"epochs": "3"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            recipe_for("aws-ffnn").fit(data, bad, seed=0)
    empty = from_arrays([], [], [], catalogue=["x"])
    with pytest.raises(ValueError, match="no interactions"):
        recipe_for("aws-ffnn").fit(empty, {}, seed=0)


def test_rank_scores_candidates_as_recommend_does(data, model):
    h = History(idx(data, "g1i0", "g1i1"), None)
    cand = np.array([idx(data, "g1i5")[0], idx(data, "zz-never-seen")[0], -4, data.n_items + 2,
                     idx(data, "g0i5")[0]])
    r = model.rank(h, cand)
    full = model.item_scores([h])[0]
    assert np.allclose(r[[0, 4]], full[cand[[0, 4]]]) and r[0] > r[4]
    assert np.isneginf(r[1:4]).all()
    pop = model.rank(History.empty(), cand[[0, 4]])
    assert np.allclose(pop, np.log1p(model.item_counts[cand[[0, 4]]]))
