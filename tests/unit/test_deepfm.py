"""aws-deepfm: finite-difference gradient checks of the network (float64), the training
examples, and the recipe on tiny synthetic data (seconds)."""
import numpy as np
import pytest
import scipy.sparse as sp

from chalicelib.algorithms import deepfm
from chalicelib.algorithms.base import History, load_model
from chalicelib.algorithms.data import from_arrays
from chalicelib.algorithms.deepfm_net import DeepFmNet
from chalicelib.algorithms.optim import finish_grads
from chalicelib.algorithms.registry import recipe_for
from tests.unit.synthetic import assert_close, idx, numeric
from tests.unit.synthetic import group_data as _group_data

GROUPS, PER_GROUP = 4, 6
N_ITEMS = GROUPS * PER_GROUP
FAST = {"embedding_size": "16", "epochs": "30", "mini_batch_size": "16"}


# --- gradients -----------------------------------------------------------------------
def _rows(rng, b, n, per_row, normalise):
    cols = np.concatenate([rng.choice(n, per_row, replace=False) for _ in range(b)])
    vals = rng.uniform(0.2, 1.0, cols.shape[0])
    m = sp.csr_matrix((vals, (np.repeat(np.arange(b), per_row), cols)), shape=(b, n))
    if normalise:
        m = sp.diags(1.0 / np.asarray(m.sum(axis=1)).ravel()) @ m
    return sp.csr_matrix(m)


@pytest.mark.parametrize("layers,tied,dropout,sampled", [
    (0, True, 0.0, False), (1, False, 0.0, False), (2, True, 0.3, False),
    (2, False, 0.0, True), (3, True, 0.2, True)])
def test_network_gradients(layers, tied, dropout, sampled):
    rng = np.random.default_rng(layers * 7 + tied)
    n_items, b = 13, 4
    net = DeepFmNet.create(rng, n_items, num_layers=layers, size=5, tied=tied, dtype=np.float64,
                           init_scale=0.5)
    net.params["b"][:] = rng.normal(size=n_items)
    for l in range(layers):
        net.params[f"c{l}"][:] = rng.normal(0, 0.5, 5)   # both sides of every relu
    X = _rows(rng, b, n_items, 3, normalise=False)
    T = _rows(rng, b, n_items, 2, normalise=True)
    cand = np.unique(np.concatenate([T.indices, [0, 5, 12]])) if sampled else None
    log_q = rng.normal(size=n_items)

    def run():
        out, tape = net.forward(X, dropout=dropout, rng=np.random.default_rng(3))
        grads = {}
        loss, dout = net.softmax_loss(out, T, grads, cand,
                                      log_inclusion=(lambda c: log_q[c]) if sampled else None)
        return loss, dout, tape, grads

    _, dout, tape, grads = run()
    net.backward(dout, tape, grads)
    grads = finish_grads(grads, np.float64)
    assert set(grads) == set(net.params)
    for name, arr in net.params.items():
        g = grads[name]
        if isinstance(g, tuple):
            dense = np.zeros_like(arr)
            dense[g[0]] = g[1]
            g = dense
        for at in np.ndindex(*arr.shape):
            assert_close(numeric(lambda: run()[0], arr, at), g[at], f"{name}{at}")


def test_softmax_over_all_items_as_candidates_is_the_full_softmax():
    rng = np.random.default_rng(1)
    net = DeepFmNet.create(rng, 7, num_layers=1, size=3, dtype=np.float64, init_scale=0.5)
    out = rng.normal(size=(3, 3))
    T = sp.csr_matrix(np.eye(7)[[1, 4, 4]])
    full, d_full = net.softmax_loss(out, T, {})
    part, d_part = net.softmax_loss(out, T, {}, np.arange(7))
    s = net.scores(out)
    ref = np.mean(np.log(np.exp(s).sum(1)) - s[np.arange(3), [1, 4, 4]])
    assert np.isclose(full, ref) and np.isclose(part, ref) and np.allclose(d_full, d_part)


# --- examples ------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 3, 10, 37, 500])
def test_periods_tile_the_sequence_from_its_end(n):
    cuts = deepfm.periods(n)
    assert cuts[0][1] == n                                   # the most recent period comes first
    covered = np.concatenate([np.arange(c, e) for c, e in cuts])
    assert sorted(covered.tolist()) == list(range(1, n))     # every item after the first, once
    for c, e in cuts:
        assert c >= 1 and e - c == max(1, round((e - 1) * deepfm.PERIOD_SHARE))


def test_periods_of_a_single_interaction_are_none():
    assert deepfm.periods(1) == [] and deepfm.periods(0) == []


def test_history_rows_are_normalised_and_drop_unknown_items(monkeypatch):
    monkeypatch.setattr(deepfm, "RECENCY", 0.5)
    m = deepfm.history_rows([[0, 2, -1, 9, 3], [], [1]], 5).toarray()
    # ages 4, 3, 0 for items 0, 2, 3: the unknown 9 and -1 are dropped, but they are
    # events all the same, so they age what came before them; weight 0.5**age
    w = np.array([0.0625, 0.125, 1.0])
    assert np.allclose(m[0, [0, 2, 3]], w / w.sum() ** deepfm.NORM_POWER)
    assert m[0, [1, 4]].tolist() == [0, 0] and not m[1].any()
    assert np.isclose(m[2, 1], 1.0)


# --- the recipe ----------------------------------------------------------------------
def group_data(n_users=48, seed=0, extra_items=()):
    return _group_data(n_users, GROUPS, PER_GROUP, item_name="i{g}{k}", seed=seed,
                       extra_items=extra_items)


def group_of(data, ids):
    return {data.item_ids[i][1] for i in ids if i >= 0}


@pytest.fixture(scope="module")
def data():
    return group_data(extra_items=["new1", "new2"])


@pytest.fixture(scope="module")
def model(data):
    return recipe_for("aws-deepfm").fit(data, FAST, seed=0)


def test_learns_what_comes_next(data, model):
    hs = [History(idx(data, "i00", "i01")), History(idx(data, "i32", "i35", "i30"))]
    ids, scores = model.recommend(hs, 4)
    assert ids.shape == (2, 4) and np.all(np.diff(scores, axis=1) <= 0)
    # the rest of the group first (3 items are left of group 3)
    assert group_of(data, ids[0]) == {"0"} and group_of(data, ids[1][:3]) == {"3"}


def test_new_events_change_recommendations_without_retraining(data, model):
    h = History(idx(data, "i10"))
    assert group_of(data, model.recommend([h], 3)[0][0]) == {"1"}
    longer = History(np.concatenate([h.items, idx(data, "i20", "i21", "i22")]))
    assert group_of(data, model.recommend([longer], 3)[0][0]) == {"2"}


def test_history_is_excluded_unless_asked(data, model):
    h = History(idx(data, "i00", "i01", "i02"))
    ids, _ = model.recommend([h], 5)
    assert not np.isin(ids[0], h.items).any()
    assert (model.recommend([h], N_ITEMS)[0][0] >= 0).sum() == N_ITEMS - 3
    ids, _ = model.recommend([h], N_ITEMS, exclude_history=False)
    assert np.isin(h.items, ids[0]).all() and (ids[0] >= 0).sum() == N_ITEMS


def test_items_never_seen_in_training_are_never_recommended(data, model):
    ids, scores = model.recommend([History(idx(data, "i00"))], N_ITEMS + 2)
    new = idx(data, "new1", "new2")
    assert not np.isin(ids[0], new).any() and (ids[0] == -1).sum() == 3   # 2 new + the history
    assert np.all(model.rank(History(idx(data, "i00")), new) == -np.inf)


def test_unknown_history_indices_are_ignored(data, model):
    h = History(idx(data, "i10", "i11"))
    noisy = History(np.concatenate([h.items, [-1, data.n_items, data.n_items + 50]]).astype(np.int32))
    for a, b in zip(model.recommend([h], 5), model.recommend([noisy], 5)):
        assert np.array_equal(a, b)


def test_empty_history_gets_the_most_popular_items(data, model):
    m = deepfm.DeepFmModel(data.item_ids, {}, model.net, model.item_counts.copy())
    m.item_counts[idx(data, "i23")[0]] += 100
    m = deepfm.DeepFmModel(data.item_ids, {}, model.net, m.item_counts)
    only_unknown = History(np.array([data.n_items + 1], np.int32))
    ids, _ = m.recommend([History.empty(), only_unknown], 1)
    assert data.item_ids[ids[0, 0]] == "i23" and data.item_ids[ids[1, 0]] == "i23"


def test_batch_and_single_paths_agree_with_rank(data, model, monkeypatch):
    monkeypatch.setattr(deepfm, "INFERENCE_GROUP", 2)
    hs = [History(idx(data, "i01")), History(idx(data, "i12", "i13", "i31")), History.empty()]
    ids, vals = model.recommend(hs, 6)
    for r, h in enumerate(hs):
        one_ids, one_vals = model.recommend([h], 6)
        assert np.array_equal(one_ids[0], ids[r]) and np.allclose(one_vals[0], vals[r])
        assert np.allclose(model.rank(h, ids[r]), vals[r])


def test_deterministic_under_a_seed(data):
    hp = dict(FAST, epochs="2", dropout="0.3")
    a, b, c = (recipe_for("aws-deepfm").fit(data, hp, seed=s) for s in (3, 3, 4))
    for k in a.net.params:
        assert np.array_equal(a.net.params[k], b.net.params[k]), k
    assert not np.array_equal(a.net.params["W0"], c.net.params["W0"])


def _fit(data, **hp):
    return recipe_for("aws-deepfm").fit(data, dict(FAST, epochs="1", **hp), seed=0)


def test_hidden_layers_and_their_width(data):
    three = _fit(data, nHiddenLayers="3", embedding_size="8")
    assert {"W0", "W1", "W2", "c2"} <= set(three.net.params) and "W3" not in three.net.params
    assert three.net.params["E_in"].shape == (N_ITEMS + 2, 8) and three.net.params["W2"].shape == (8, 8)
    assert three.meta()["num_layers"] == 3


def test_zero_hidden_layers_is_plain_factorisation(data):
    m = recipe_for("aws-deepfm").fit(data, dict(FAST, nHiddenLayers="0"), seed=0)
    assert not any(k.startswith("W") for k in m.net.params)
    h = History(idx(data, "i20", "i21"))
    x = deepfm.history_rows([h.items], data.n_items, np.float64)
    user = x @ m.net.params["E_in"]
    ref = user @ m.net.params["E_in"].T + m.net.params["b"]
    assert np.allclose(m.item_scores([h])[0][m.item_counts > 0], ref[0][m.item_counts > 0], atol=1e-5)
    assert group_of(data, m.recommend([h], 4)[0][0]) == {"2"}


def test_dropout_changes_training_not_inference(data):
    a, b = _fit(data), _fit(data, dropout="0.5")
    assert not np.allclose(a.net.params["W0"], b.net.params["W0"])
    h = [History(idx(data, "i01", "i02"))]
    assert np.array_equal(b.recommend(h, 5)[1], b.recommend(h, 5)[1])


def test_full_dropout_still_trains(data):
    m = _fit(data, dropout="1.0")
    assert all(np.isfinite(v).all() for v in m.net.params.values())


def test_epochs_and_mini_batch_size_set_the_number_of_steps(data, monkeypatch):
    steps = []

    class Counting(deepfm.Adam):
        def step(self, params, grads):
            steps.append(1)
            return super().step(params, grads)

    monkeypatch.setattr(deepfm, "Adam", Counting)
    m = recipe_for("aws-deepfm").fit(data, dict(FAST, epochs="3", mini_batch_size="7"), seed=0)
    n_examples = m.info["examples"]
    # 48 users of 6 interactions: the periods of each user label its last 5 interactions
    assert n_examples == 48 * len(deepfm.periods(PER_GROUP))
    assert len(steps) == 3 * -(-n_examples // 7) and len(m.info["history"]) == 3


def test_sampled_softmax_for_large_catalogues_learns_too(data, monkeypatch):
    monkeypatch.setattr(deepfm, "FULL_SOFTMAX_MAX_ITEMS", 10)
    monkeypatch.setattr(deepfm, "NUM_NEGATIVES", 8)
    m = recipe_for("aws-deepfm").fit(data, FAST, seed=0)
    assert m.info["sampled_softmax"]
    ids, _ = m.recommend([History(idx(data, "i00", "i01"))], 4)
    assert group_of(data, ids[0]) == {"0"}


def test_rejects_bad_hyperparameters_and_data(data):
    with pytest.raises(ValueError, match="nHiddenLayers"):
        recipe_for("aws-deepfm").fit(data, {"nHiddenLayers": "6"})
    with pytest.raises(ValueError, match="mini_batch_size"):
        recipe_for("aws-deepfm").fit(data, {"mini_batch_size": "1"})
    single = from_arrays(["a", "b"], ["x", "y"], [1, 2])
    with pytest.raises(ValueError, match="two or more interactions"):
        recipe_for("aws-deepfm").fit(single, {})


def test_save_load_round_trip(tmp_path, data, model):
    model.save(str(tmp_path))
    loaded = load_model(str(tmp_path))
    assert type(loaded) is deepfm.DeepFmModel
    hs = [History(idx(data, "i04", "i05")), History.empty(), History(idx(data, "i33"))]
    for a, b in zip(model.recommend(hs, 6), loaded.recommend(hs, 6)):
        assert np.array_equal(a, b)


def test_recent_items_weigh_more(data, model):
    assert deepfm.RECENCY < 1.0
    old_then_new = History(idx(data, "i00", "i01", "i10", "i11"))
    new_then_old = History(idx(data, "i10", "i11", "i00", "i01"))
    assert group_of(data, model.recommend([old_then_new], 1)[0][0]) == {"1"}
    assert group_of(data, model.recommend([new_then_old], 1)[0][0]) == {"0"}


def test_a_saved_model_keeps_its_input_weighting(tmp_path, data, model, monkeypatch):
    model.save(str(tmp_path))
    monkeypatch.setattr(deepfm, "RECENCY", 1.0)
    loaded = load_model(str(tmp_path))
    assert loaded.recency == model.recency < 1.0
    h = [History(idx(data, "i00", "i01", "i10", "i11"))]
    assert np.array_equal(model.recommend(h, 5)[0], loaded.recommend(h, 5)[0])
